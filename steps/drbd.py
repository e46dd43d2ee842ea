"""DRBD 9: parsers for `drbdsetup status --json` and `events2`, sync progress, split-brain signs, the resource file."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from importlib import resources as _resources
from string import Template
from typing import Iterable, Mapping

from axha.steps.render import conf_word

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
FENCE_PEER = "/usr/lib/drbd/crm-fence-peer.9.sh"
UNFENCE_PEER = "/usr/lib/drbd/crm-unfence-peer.9.sh"
VERIFY_ALG = "sha256"
# Dynamic resync controller: plan 2 s ahead, up to 720 MiB/s when idle, never below 20 MiB/s under application I/O.
RESYNC = (("c-plan-ahead", "20"), ("c-max-rate", "720M"), ("c-min-rate", "20M"), ("resync-rate", "100M"))


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


# ---------------------------------------------------------------- drbdsetup events2


_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?$")
VERBS = ("exists", "create", "change", "destroy", "call", "response", "rename")


@dataclass(frozen=True)
class Event2:
    """One events2 line: `<verb> <object> key:value ...` (values split at the first colon only)."""

    verb: str
    object: str
    fields: tuple[tuple[str, str], ...] = ()
    timestamp: str | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)


def parse_events2_line(line: str) -> Event2 | None:
    """A line of `drbdsetup events2 [--now] [--statistics] [--timestamps]`; None for blank or foreign lines."""
    words = line.split()
    stamp = None
    if words and _TIMESTAMP.match(words[0]):
        stamp, words = words[0], words[1:]
    if len(words) < 2 or words[0] not in VERBS:
        return None
    fields = []
    for word in words[2:]:
        key, sep, value = word.partition(":")
        if not sep:
            return None
        fields.append((key, value))
    return Event2(words[0], words[1], tuple(fields), stamp)


def _flag(value: str | None) -> bool:
    return value == "yes"


class Events2State:
    """Folds events2 lines into Resource snapshots, as drbdsetup itself keeps its object tree."""

    def __init__(self) -> None:
        self._res: dict[str, dict] = {}
        self.initial_done = False  # the `exists -` line was seen: what follows are live changes
        self.helpers: list[Event2] = []  # call/response helper events, e.g. split-brain, fence-peer

    def feed(self, line: str) -> Event2 | None:
        event = parse_events2_line(line)
        if event is not None:
            self.apply(event)
        return event

    def apply(self, ev: Event2) -> None:
        if ev.verb == "exists" and ev.object == "-":
            self.initial_done = True
            return
        if ev.object == "helper":
            self.helpers.append(ev)
            return
        name = ev.get("name")
        if name is None:
            return
        if ev.object == "resource":
            if ev.verb == "destroy":
                self._res.pop(name, None)
            else:
                self._res.setdefault(name, {"devices": {}, "conns": {}}).update(ev.as_dict())
            return
        res = self._res.setdefault(name, {"devices": {}, "conns": {}})
        if ev.object == "device":
            self._update(res["devices"], int(ev.get("volume", "0")), ev)
        elif ev.object in ("connection", "peer-device", "path"):
            peer = int(ev.get("peer-node-id", "-1"))
            if ev.object == "connection":
                self._update(res["conns"], peer, ev, extra={"pds": {}, "paths": {}})
                return
            conn = res["conns"].setdefault(peer, {"pds": {}, "paths": {}, "conn-name": ev.get("conn-name", "")})
            if ev.object == "peer-device":
                self._update(conn["pds"], int(ev.get("volume", "0")), ev)
            else:
                self._update(conn["paths"], (ev.get("local"), ev.get("peer")), ev)

    @staticmethod
    def _update(table: dict, key, ev: Event2, extra: dict | None = None) -> None:
        if ev.verb == "destroy":
            table.pop(key, None)
            return
        entry = table.setdefault(key, dict(extra or {}))
        entry.update(ev.as_dict())

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._res))

    def resource(self, name: str) -> Resource | None:
        raw = self._res.get(name)
        if raw is None:
            return None
        devices = tuple(Device(volume=vol, minor=_num(d.get("minor"), int), disk=d.get("disk", "Diskless"),
                               client=_flag(d.get("client")), quorum=d.get("quorum", "yes") == "yes",
                               size_kib=_num(d.get("size"), int),
                               backing_dev=None if d.get("backing_dev") in (None, "none") else d["backing_dev"])
                        for vol, d in sorted(raw["devices"].items()))
        conns = tuple(_connection_from_events(peer, c) for peer, c in sorted(raw["conns"].items()))
        may = raw.get("may_promote")
        return Resource(name=name, role=raw.get("role", "Unknown"), suspended=raw.get("suspended", "no") != "no",
                        devices=devices, connections=conns, may_promote=None if may is None else may == "yes",
                        promotion_score=_num(raw.get("promotion_score"), int))


def _connection_from_events(peer: int, c: dict) -> Connection:
    pds = tuple(PeerDevice(volume=vol, replication=p.get("replication", "Off"),
                           peer_disk=p.get("peer-disk", "DUnknown"), peer_client=_flag(p.get("peer-client")),
                           resync_suspended=p.get("resync-suspended", "no"),
                           out_of_sync_kib=_num(p.get("out-of-sync"), int), done=_num(p.get("done")),
                           eta=_num(p.get("eta")), rate_mib=_num(p.get("dbdt1")))
                for vol, p in sorted(c["pds"].items()))
    paths = tuple(Path(local=p.get("local", ""), peer=p.get("peer", ""), established=_flag(p.get("established")))
                  for p in c["paths"].values())
    return Connection(peer_node_id=peer, name=c.get("conn-name", ""), connection=c.get("connection", "StandAlone"),
                      peer_role=c.get("role", "Unknown"), congested=_flag(c.get("congested")),
                      peer_devices=_clear_stale_sync(pds), paths=paths)


def _clear_stale_sync(pds: tuple[PeerDevice, ...]) -> tuple[PeerDevice, ...]:
    # events2 only prints done:/eta: while a resync runs; after it ends the last values would linger.
    return tuple(pd if pd.syncing else replace(pd, done=None, eta=None, rate_mib=None) for pd in pds)


def parse_events2(text: str) -> Events2State:
    state = Events2State()
    for line in text.splitlines():
        state.feed(line)
    return state


# ---------------------------------------------------------------- sync progress


@dataclass(frozen=True)
class SyncProgress:
    """Progress of one node's resync towards its peer: percent, rate (KiB/s) and ETA (s), None when unknown."""

    node: str
    peer: str
    replication: str
    disk: str
    peer_disk: str
    percent: float
    out_of_sync_kib: int | None
    rate_kib: float | None
    eta: float | None
    finished: bool


@dataclass
class SyncTracker:
    """Turns successive Resource snapshots into SyncProgress. The rate comes from the out-of-sync countdown over at
    least `window` seconds (events arrive in bursts), falling back to DRBD's own dbdt figure."""

    window: float = 2.0
    clock: object = time.monotonic
    _history: dict = field(default_factory=dict)

    def update(self, node: str, res: Resource, now: float | None = None) -> SyncProgress | None:
        conn = res.connection()
        pd = conn.peer_device(0) if conn else None
        if conn is None or pd is None:
            return None
        now = self.clock() if now is None else now
        rate = self._measure((node, conn.name), pd.out_of_sync_kib, now)
        if rate is None and pd.rate_mib:
            rate = pd.rate_mib * 1024.0
        finished = res.in_sync
        percent = 100.0 if finished else _percent(pd, res.device(0))
        oos = pd.out_of_sync_kib
        eta = 0.0 if finished else (oos / rate if oos is not None and rate else pd.eta)
        return SyncProgress(node=node, peer=conn.name, replication=pd.replication, disk=res.disk,
                            peer_disk=pd.peer_disk, percent=round(percent, 2), out_of_sync_kib=oos,
                            rate_kib=rate, eta=eta, finished=finished)

    def _measure(self, key, oos: int | None, now: float) -> float | None:
        history = self._history.setdefault(key, [])
        if oos is None:
            return None
        if history and oos > history[-1][1]:
            history.clear()  # a new resync started: old samples say nothing about it
        history.append((now, oos))
        old = [sample for sample in history if now - sample[0] >= self.window]
        if not old:
            return None
        start = old[-1]
        del history[:history.index(start)]
        return max(0.0, (start[1] - oos) / (now - start[0]))


def human_kib(kib: float) -> str:
    """1536 -> '1.5 MiB'; sizes as an admin reads them."""
    value, unit = float(kib), "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} {unit}" if unit == "KiB" else f"{value:.1f} {unit}"


def _percent(pd: PeerDevice, dev: Device | None) -> float:
    if pd.done is not None:
        return pd.done
    if pd.out_of_sync_kib is not None and dev is not None and dev.size_kib:
        return max(0.0, 100.0 * (1 - pd.out_of_sync_kib / dev.size_kib))
    if pd.percent_in_sync is not None:
        return pd.percent_in_sync
    return 0.0


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


# ---------------------------------------------------------------- split brain


# a StandAlone connection is a split brain's sign only when this node has data that could have diverged
DIVERGING_DISKS = ("UpToDate", "Outdated", "Consistent")


def split_brain_signs_of(views: Mapping[str, tuple[str, str, tuple[tuple[str, str], ...]]],
                         helpers: Iterable[Event2] = ()) -> tuple[str, ...]:
    """The one rule for "this looks like a DRBD split brain", in plain words per sign (empty: no sign). views:
    node -> (role, disk, ((peer name, connection state), ...)). Signs: DRBD called its split-brain handler; a
    node's connection is StandAlone while it holds data that could have diverged (DRBD drops to StandAlone after
    detecting a split brain; a StandAlone node with Inconsistent or no data has nothing to diverge); both nodes
    Primary (axha never allows two primaries, so their data diverges)."""
    signs: list[str] = []
    for ev in helpers:
        if ev.verb == "call" and ev.get("helper") in ("split-brain", "initial-split-brain"):
            signs.append(f"DRBD called its {ev.get('helper')} handler for resource {ev.get('name')}")
    for node, (_role, disk, conns) in views.items():
        for peer, state in conns:
            if state == "StandAlone" and disk in DIVERGING_DISKS:
                signs.append(f"{node}: connection to {peer or 'the peer'} is StandAlone with local data "
                             f"{disk} (DRBD disconnects like this after detecting a split brain)")
    primaries = [node for node, (role, _, _) in views.items() if role == "Primary"]
    if len(primaries) > 1:
        signs.append(f"both nodes are Primary ({', '.join(primaries)}): their data can diverge")
    return tuple(signs)


def split_brain_signs(states: Mapping[str, Resource | None], helpers: Iterable[Event2] = ()) -> tuple[str, ...]:
    """split_brain_signs_of for drbdsetup's view of each node (None: not up there)."""
    return split_brain_signs_of({node: (res.role, res.disk, tuple((c.name, c.connection) for c in res.connections))
                                 for node, res in states.items() if res is not None}, helpers)


# ---------------------------------------------------------------- the resource file


def render_resource(spec) -> str:
    """/etc/drbd.d/<res>.res for a ClusterSpec: one `on` section per node, two replication paths (link0, link1),
    protocol C, resource-and-stonith fencing with the Pacemaker handlers, auto-promote off (Pacemaker promotes).
    Every value goes in as one word (steps.render.conf_word): a space, `;`, a brace or a quote is refused."""
    drbd = spec.storage.drbd
    hosts = "".join(_on_section(i, node, drbd) for i, node in enumerate(spec.nodes))
    a, b = spec.nodes
    paths = "".join(
        f"    path {{\n"
        f"      host {conf_word(a.name, 'the node name')} address {_addr(a.links[i].address, drbd.port)};\n"
        f"      host {conf_word(b.name, 'the node name')} address {_addr(b.links[i].address, drbd.port)};\n"
        f"    }}\n" for i in (0, 1))
    template = Template(_resources.files("axha.assets").joinpath("drbd/resource.res.tmpl").read_text())
    resync = "".join(f"    {key} {value};\n" for key, value in RESYNC)
    return template.substitute(resource=conf_word(drbd.resource, "the DRBD resource name"), hosts=hosts,
                               paths=paths, resync=resync, verify_alg=VERIFY_ALG, fence_peer=FENCE_PEER,
                               unfence_peer=UNFENCE_PEER, cluster=conf_word(spec.name, "the cluster name"))


def _addr(ip: str, port: int) -> str:
    ip = conf_word(ip, "a link address")
    return f"ipv6 [{ip}]:{int(port)}" if ":" in ip else f"{ip}:{int(port)}"


def _on_section(index: int, node, drbd) -> str:
    return (f"  on {conf_word(node.name, 'the node name')} {{\n"
            f"    node-id {int(index)};\n"
            f"    device {conf_word(drbd.device, 'the DRBD device')} minor {int(drbd.minor)};\n"
            f"    disk {conf_word(node.backing_disk, 'the backing disk')};\n"
            f"    meta-disk internal;\n"
            f"    address {_addr(node.link0.address, drbd.port)};\n"
            f"  }}\n")


def resource_path(resource: str) -> str:
    return f"/etc/drbd.d/{resource}.res"


# ---------------------------------------------------------------- argv helpers (the exact commands)


def status_argv(resource: str) -> tuple[str, ...]:
    return ("drbdsetup", "status", resource, "--json")


def events2_follow_argv(resource: str) -> tuple[str, ...]:
    return ("drbdsetup", "events2", "--statistics", resource)


def drbdadm_argv(command: str, resource: str, *options: str, config: str | None = None) -> tuple[str, ...]:
    head = ("drbdadm",) + (("-c", config) if config else ())
    return head + (command,) + tuple(options) + (resource,)
