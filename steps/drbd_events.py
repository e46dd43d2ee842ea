"""DRBD 9: `drbdsetup events2` lines parsed and folded into Resource snapshots (Events2State)."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from axha.steps.drbd_status import Connection, Device, Path, PeerDevice, Resource, _num


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
