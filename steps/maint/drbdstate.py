"""The DRBD facts maintenance shows and gates on, one node's view, built on D1's steps.drbd_status parser."""
from __future__ import annotations

from dataclasses import dataclass

from axha.steps.drbd_status import DrbdParseError, SYNC_STATES, data_in_sync, find_resource, parse_status_json

VERIFY_STATES = ("VerifyS", "VerifyT")
DrbdStatusError = DrbdParseError


@dataclass(frozen=True)
class DrbdLocal:
    """One node's view of the resource: its own role/disk and its view of the peer."""

    resource: str
    role: str                  # Primary | Secondary | Unknown
    disk: str                  # UpToDate | Inconsistent | Outdated | Diskless | ...
    peer_role: str | None      # None: no connection configured
    peer_disk: str | None
    connection: str | None     # Connected | Connecting | StandAlone | ...
    replication: str | None    # Established | SyncSource | SyncTarget | Off | ...
    sync_percent: float | None  # progress while syncing or verifying, else None
    out_of_sync_kib: int = 0
    suspended: bool = False
    node_id: int | None = None

    @property
    def syncing(self) -> bool:
        return self.replication in SYNC_STATES

    @property
    def verifying(self) -> bool:
        return self.replication in VERIFY_STATES

    @property
    def in_sync(self) -> bool:
        return data_in_sync(self.disk, self.peer_disk, self.connection, self.replication)

    def to_dict(self) -> dict:
        return {"resource": self.resource, "role": self.role, "disk": self.disk, "peer_role": self.peer_role,
                "peer_disk": self.peer_disk, "connection": self.connection, "replication": self.replication,
                "sync_percent": self.sync_percent, "out_of_sync_kib": self.out_of_sync_kib,
                "suspended": self.suspended}


def parse_drbd_status(text: str, resource: str) -> DrbdLocal | None:
    """`drbdsetup status <res> --json`: None when the resource is not up on this node."""
    res = find_resource(parse_status_json(text), resource)
    if res is None:
        return None
    conn = res.connection()
    if conn is None:
        return DrbdLocal(resource, res.role, res.disk, None, None, None, None, None, suspended=res.suspended,
                         node_id=res.node_id)
    pd = conn.peer_device(0)
    repl = pd.replication if pd else "Off"
    moving = repl in SYNC_STATES or repl in VERIFY_STATES
    percent = None
    if moving and pd is not None:
        percent = pd.done if pd.done is not None else pd.percent_in_sync
    return DrbdLocal(
        resource=resource, role=res.role, disk=res.disk, peer_role=conn.peer_role,
        peer_disk=pd.peer_disk if pd else "DUnknown", connection=conn.connection, replication=repl,
        sync_percent=percent, out_of_sync_kib=(pd.out_of_sync_kib or 0) if pd else 0, suspended=res.suspended,
        node_id=res.node_id)


# `drbdsetup status RES --json` for a resource that is not up: `[` and `]` on stdout, `RES: No such resource` on
# stderr, exit 10 (user/v9/drbdsetup.c status_cmd(), drbd-utils v9.22.0 409097fe02 lines 3215-3275, HEAD
# b4b2f5b922 line 3575). Under `2>&1` the lines can come in either order (stdout is flushed at exit).
_JSON_PUNCTUATION = set("[]{},")


def status_error(text: str, rc: int) -> str:
    """What a failed `drbdsetup status RES --json` said, in one line: its stderr message, not JSON brackets."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    words = [line for line in lines if not set(line) <= _JSON_PUNCTUATION]
    missing = next((line for line in words if line.endswith("No such resource")), None)
    if missing is not None:
        return f"the DRBD resource is not up on this node (drbdsetup: {missing})"
    return words[-1] if words else f"drbdsetup exited {rc}"
