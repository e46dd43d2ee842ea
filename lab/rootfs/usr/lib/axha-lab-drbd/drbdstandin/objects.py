"""What a resource holds besides its devices: the connection's TCP paths and the peer; and the errors of a refused
request (drbdsetup's exit code and message)."""

from __future__ import annotations

import socket
import threading


class StateError(Exception):
    """A refused request: carries drbdsetup's exit code and message."""

    def __init__(self, rc: int, message: str) -> None:
        super().__init__(message)
        self.rc = rc
        self.message = message


class NeedFence(Exception):
    """Promotion must first outdate the unreachable peer through the fence-peer handler (SS_PRIMARY_NOP)."""

    def __init__(self, peer: "Peer") -> None:
        super().__init__("fence-peer needed")
        self.peer = peer


def state_fail(res: str, code: int, text: str) -> StateError:
    rc = {-2: 17, -16: 5, -4: 16}.get(code, 11)
    return StateError(rc, f"{res}: State change failed: ({code}) {text}")


def failure(res: str, code: int, text: str) -> StateError:
    return StateError(10, f"{res}: Failure: ({code}) {text}")


def parse_addr(text: str) -> tuple[str, int]:
    """'ipv4:1.2.3.4:7789' -> ('1.2.3.4', 7789)."""
    body = text.split(":", 1)[1] if text.startswith(("ipv4:", "ipv6:")) else text
    host, port = body.rsplit(":", 1)
    return host.strip("[]"), int(port)


class Path:
    """One TCP path of the connection (local address -> peer address)."""

    def __init__(self, local: str, peer: str) -> None:
        self.local = local
        self.peer = peer
        self.sock: socket.socket | None = None
        self.last_rx = 0.0
        self.listener: socket.socket | None = None
        self.wlock = threading.Lock()

    @property
    def established(self) -> bool:
        return self.sock is not None


class Peer:
    """The connection to the one peer node and its peer-device state."""

    def __init__(self, node_id: int, name: str, opts: dict) -> None:
        self.node_id = node_id
        self.name = name
        self.opts = opts
        self.paths: list[Path] = []
        self.want_connect = False
        self.cstate = "StandAlone"
        self.role = "Unknown"
        self.peer_disk = "DUnknown"
        self.repl = "Off"
        self.peer_state: dict = {}
        self.discard_my_data = False
        self.handshake_sent = False
        self.sync: dict | None = None
        self.received = 0
        self.sent = 0
