"""Maintenance of an installed cluster: status, switchover, rolling upgrade, node and cluster actions."""
