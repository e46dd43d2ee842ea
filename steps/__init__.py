"""axha engine: the cluster file, transports, journal, audit and every step that changes a cluster."""
