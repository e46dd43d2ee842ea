"""The axha lab: two simulated cluster nodes (namespaces, real sshd, IPMI BMCs) on one Linux machine."""
