"""Errors the engine raises: each says what happened, where, and what to do next."""
from __future__ import annotations


class AxhaError(Exception):
    """Base of every expected failure; the CLI prints it without a traceback and exits 1 (or 2 for bad input)."""

    exit_code = 1

    def __init__(self, message: str, *, node: str | None = None, remedy: str = ""):
        self.node, self.remedy = node, remedy
        super().__init__(message)

    def explain(self) -> str:
        where = f"[{self.node}] " if self.node else ""
        text = f"{where}{self}"
        return f"{text}\n  -> {self.remedy}" if self.remedy else text


class InputError(AxhaError):
    """Bad input from the admin (cluster file, secrets, arguments): exit code 2."""

    exit_code = 2


class ConnectError(AxhaError):
    """A node or BMC could not be reached or authenticated."""


class HostKeyError(ConnectError):
    """A node's SSH host key is unknown (needs the admin's acceptance) or changed (refused); for a changed key,
    `old_fingerprints` are those known_hosts has for the host (shown next to the new one)."""

    def __init__(self, message: str, *, node: str | None = None, remedy: str = "", fingerprint: str = "",
                 key_type: str = "", changed: bool = False, hostname: str = "", key=None,
                 old_fingerprints: tuple[str, ...] = ()):
        super().__init__(message, node=node, remedy=remedy)
        self.fingerprint, self.key_type, self.changed, self.hostname, self.key = (
            fingerprint, key_type, changed, hostname, key)
        self.old_fingerprints = old_fingerprints


class CommandTimeout(AxhaError):
    """A remote command did not finish within its timeout."""


class CommandFailed(AxhaError):
    """A remote command exited non-zero where success was required."""

    def __init__(self, result, message: str = "", remedy: str = ""):
        self.result = result
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
        text = message or f"`{result.display}` exited {result.rc}"
        if detail:
            text += ": " + " | ".join(detail)
        super().__init__(text, node=result.node, remedy=remedy)


class Cancelled(AxhaError):
    """The admin cancelled the operation."""
