"""DRBD 9 state: the Resource DTOs (shared by status --json and events2), the one in-sync rule, the
`drbdsetup status --json` parser, and `drbdadm get-gi`'s generation identifiers."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable


SYNC_STATES = ("SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "StartingSyncS", "StartingSyncT",
               "WFBitMapS", "WFBitMapT", "WFSyncUUID")
VERIFY_STATES = ("VerifyS", "VerifyT")
GOOD_DISK = "UpToDate"


def data_in_sync(disk: str | None, peer_disk: str | None, connection: str | None, replication: str | None) -> bool:
    """The one rule for "both copies hold the same, current data" (the install's wait, the switchover's and the
    maintenance actions' gates): UpToDate here and on the peer, Connected, replication Established. Not while a
    resync or an online verify runs, not Ahead/Behind (the peer lags: drbd.conf(5) on-congestion), not in the
    WFBitMap/StartingSync steps before a resync. (The maintenance actions once took "Connected and not syncing",
    which let Ahead/Behind and a verify pass.)"""
    return disk == GOOD_DISK and peer_disk == GOOD_DISK and connection == "Connected" and replication == "Established"


class DrbdParseError(ValueError):
    """Output that is not what drbdsetup prints."""


# ---------------------------------------------------------------- state DTOs (shared by status --json and events2)


@dataclass(frozen=True)
class PeerDevice:
    """One volume as seen towards one peer. Sizes in KiB, like drbdsetup prints them."""

    volume: int
    replication: str = "Off"
    peer_disk: str = "DUnknown"
    peer_client: bool = False
    resync_suspended: str = "no"
    out_of_sync_kib: int | None = None
    done: float | None = None          # percent of the running resync or verify already done
    eta: float | None = None           # DRBD's own estimate, seconds
    rate_mib: float | None = None      # DRBD's measured resync rate, MiB/s
    percent_in_sync: float | None = None

    @property
    def syncing(self) -> bool:
        return self.replication in SYNC_STATES

    @property
    def sync_source(self) -> bool:
        return self.replication in ("SyncSource", "PausedSyncS", "StartingSyncS", "WFBitMapS")


@dataclass(frozen=True)
class Path:
    local: str
    peer: str
    established: bool = False


@dataclass(frozen=True)
class Connection:
    peer_node_id: int
    name: str
    connection: str = "StandAlone"
    peer_role: str = "Unknown"
    congested: bool = False
    peer_devices: tuple[PeerDevice, ...] = ()
    paths: tuple[Path, ...] = ()

    def peer_device(self, volume: int = 0) -> PeerDevice | None:
        return next((pd for pd in self.peer_devices if pd.volume == volume), None)


@dataclass(frozen=True)
class Device:
    volume: int
    minor: int | None = None
    disk: str = "Diskless"
    client: bool = False
    quorum: bool = True
    size_kib: int | None = None
    backing_dev: str | None = None


@dataclass(frozen=True)
class Resource:
    """One DRBD resource as the local node sees it."""

    name: str
    role: str = "Unknown"
    node_id: int | None = None
    suspended: bool = False
    devices: tuple[Device, ...] = ()
    connections: tuple[Connection, ...] = ()
    may_promote: bool | None = None
    promotion_score: int | None = None

    def device(self, volume: int = 0) -> Device | None:
        return next((d for d in self.devices if d.volume == volume), None)

    def connection(self, peer: str | None = None) -> Connection | None:
        """The connection to the named peer (or the only one)."""
        for conn in self.connections:
            if peer is None or conn.name == peer:
                return conn
        return None

    @property
    def disk(self) -> str:
        dev = self.device(0)
        return dev.disk if dev else "Diskless"

    @property
    def connected(self) -> bool:
        return bool(self.connections) and all(c.connection == "Connected" for c in self.connections)

    @property
    def peer_disk(self) -> str:
        conn = self.connection()
        pd = conn.peer_device(0) if conn else None
        return pd.peer_disk if pd else "DUnknown"

    @property
    def replication(self) -> str:
        conn = self.connection()
        pd = conn.peer_device(0) if conn else None
        return pd.replication if pd else "Off"

    @property
    def syncing(self) -> bool:
        return any(pd.syncing for c in self.connections for pd in c.peer_devices)

    @property
    def in_sync(self) -> bool:
        """data_in_sync for every volume and every peer (see there)."""
        if not self.devices or not self.connections:
            return False
        disks = {d.volume: d.disk for d in self.devices}
        return all(c.peer_devices and all(data_in_sync(disks.get(pd.volume, "DUnknown"), pd.peer_disk, c.connection,
                                                       pd.replication) for pd in c.peer_devices)
                   for c in self.connections)


# ---------------------------------------------------------------- drbdsetup status --json


def _num(value, kind=float):
    if value is None or isinstance(value, bool):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return None
    return None if kind is float and number != number else number  # NaN -> None


def parse_status_json(text: str) -> tuple[Resource, ...]:
    """`drbdsetup status [RES] --json` -> resources. An empty output (no resource up) gives ()."""
    if not text.strip():
        return ()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DrbdParseError(f"drbdsetup status --json: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list):
        raise DrbdParseError("drbdsetup status --json: expected a list of resources")
    return tuple(_resource_from_json(r) for r in data)


def _resource_from_json(r: dict) -> Resource:
    devices = tuple(Device(volume=int(d.get("volume", 0)), minor=_num(d.get("minor"), int),
                           disk=d.get("disk-state", "Diskless"), client=bool(d.get("client", False)),
                           quorum=bool(d.get("quorum", True)), size_kib=_num(d.get("size"), int))
                    for d in r.get("devices", []))
    conns = []
    for c in r.get("connections", []):
        pds = tuple(_peer_device_from_json(pd) for pd in c.get("peer_devices", []))
        paths = tuple(Path(local=_json_host(p.get("this_host")), peer=_json_host(p.get("remote_host")),
                           established=bool(p.get("established"))) for p in c.get("paths", []))
        conns.append(Connection(peer_node_id=int(c.get("peer-node-id", -1)), name=c.get("name", ""),
                                connection=c.get("connection-state", "StandAlone"),
                                peer_role=c.get("peer-role", "Unknown"), congested=bool(c.get("congested")),
                                peer_devices=pds, paths=paths))
    return Resource(name=r.get("name", ""), role=r.get("role", "Unknown"), node_id=_num(r.get("node-id"), int),
                    suspended=bool(r.get("suspended", False)), devices=devices, connections=tuple(conns))


def _json_host(host) -> str:
    if not isinstance(host, dict):
        return ""
    return f"{host.get('family', 'ipv4')}:{host.get('address', '')}:{host.get('port', '')}"


def _peer_device_from_json(pd: dict) -> PeerDevice:
    eta = _num(pd.get("estimated-seconds-to-finish"))
    return PeerDevice(
        volume=int(pd.get("volume", 0)), replication=pd.get("replication-state", "Off"),
        peer_disk=pd.get("peer-disk-state", "DUnknown"), peer_client=bool(pd.get("peer-client", False)),
        resync_suspended=str(pd.get("resync-suspended", "no")), out_of_sync_kib=_num(pd.get("out-of-sync"), int),
        done=_num(pd.get("percent-resync-done")),
        eta=None if eta == 987654321 else eta,  # drbdsetup's "no estimate yet"
        rate_mib=_num(pd.get("db/dt [MiB/s]")), percent_in_sync=_num(pd.get("percent-in-sync")))


def find_resource(resources: Iterable[Resource], name: str) -> Resource | None:
    return next((r for r in resources if r.name == name), None)


# ---------------------------------------------------------------- generation identifiers

UUID_JUST_CREATED = "0000000000000004"  # what create-md writes: a disk that never held replicated data


def parse_gi(text: str) -> tuple[str, ...]:
    """`drbdadm get-gi RES` -> its fields (current UUID, bitmap UUID, history UUIDs, flags...)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and ":" in ln), "")
    return tuple(line.split(":")) if line else ()


def just_created(text: str) -> bool:
    """True when get-gi shows metadata straight from create-md (no data ever written through DRBD)."""
    fields = parse_gi(text)
    return bool(fields) and fields[0].upper() == UUID_JUST_CREATED
