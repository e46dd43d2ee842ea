"""The exact DRBD command lines (tests/fixtures replay recorded exchanges by these argv)."""
from __future__ import annotations


def status_argv(resource: str) -> tuple[str, ...]:
    return ("drbdsetup", "status", resource, "--json")


def events2_follow_argv(resource: str) -> tuple[str, ...]:
    return ("drbdsetup", "events2", "--statistics", resource)


def drbdadm_argv(command: str, resource: str, *options: str, config: str | None = None) -> tuple[str, ...]:
    head = ("drbdadm",) + (("-c", config) if config else ())
    return head + (command,) + tuple(options) + (resource,)
