"""The cluster's live state: one read-only round trip per node plus the SMTP/IMAP answer on the VIP."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from axha.steps import names
from axha.steps.drbd_split_brain import DIVERGING_DISKS, split_brain_signs_of
from axha.steps.maint.drbdstate import DrbdLocal
from axha.steps.maint.probe import NodeProbe, probe_node
from axha.steps.maint.service import ServiceAnswer, service_answers
from axha.steps.pacemaker_cib import CibVersion
from axha.steps.pacemaker_constraints import LocationConstraint, leftover_constraints
from axha.steps.pacemaker_status import ClusterStatus
from axha.steps.runner import concurrently

# ---------------------------------------------------------------- the whole cluster


@dataclass(frozen=True)
class LinkView:
    node: str
    link: int
    address: str
    up: bool
    peer_state: str

    def to_dict(self) -> dict:
        return {"node": self.node, "link": self.link, "address": self.address, "up": self.up,
                "peer_state": self.peer_state}


@dataclass(frozen=True)
class NodeView:
    name: str
    reachable: bool
    error: str
    state: str                 # online | standby | maintenance | offline | unclean | pending | unknown | unreachable
    online: bool
    standby: bool
    maintenance: bool
    unclean: bool
    is_dc: bool
    axigen_version: str | None
    pacemaker_running: bool
    axigen_binary: str | None = None
    axigen_running: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "reachable": self.reachable, "error": self.error, "state": self.state,
                "online": self.online, "standby": self.standby, "maintenance": self.maintenance,
                "unclean": self.unclean, "is_dc": self.is_dc, "axigen_version": self.axigen_version,
                "axigen_installed": self.axigen_version, "axigen_binary": self.axigen_binary,
                "axigen_running": self.axigen_running, "pacemaker_running": self.pacemaker_running}


@dataclass(frozen=True)
class SplitBrain:
    detected: bool
    reason: str = ""
    evidence: tuple[tuple[str, dict], ...] = ()

    def to_dict(self) -> dict:
        return {"detected": self.detected, "reason": self.reason, "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class Attention:
    """One thing the admin should look at; `loud` ones (redundancy or service at risk) are shown in red."""

    code: str
    node: str | None
    text: str
    loud: bool = False

    def to_dict(self) -> dict:
        return {"code": self.code, "node": self.node, "text": self.text, "loud": self.loud}


@dataclass(frozen=True)
class ClusterState:
    """Everything the dashboard and `axha status --json` show, built purely from the probes."""

    cluster: str
    taken_at: float
    node_names: tuple[str, ...]
    nodes: tuple[NodeView, ...]
    active_node: str | None
    dc: str | None
    quorum: bool
    maintenance_mode: bool
    stonith_enabled: bool
    resources: tuple[dict, ...]
    drbd: tuple[tuple[str, DrbdLocal | None], ...]
    links: tuple[LinkView, ...]
    fencing: tuple[dict, ...]
    failed_actions: tuple[dict, ...]
    leftover_constraints: tuple[LocationConstraint, ...]
    service_answers: tuple[ServiceAnswer, ...]
    split_brain: SplitBrain
    warnings: tuple[Attention, ...]
    cib_version: CibVersion | None = None
    quorum_device: dict | None = None     # with one in the cluster file: quorum_device_view()
    pacemaker: ClusterStatus | None = field(default=None, compare=False)
    probes: tuple[NodeProbe, ...] = field(default=(), compare=False)

    def node(self, name: str) -> NodeView | None:
        return next((n for n in self.nodes if n.name == name), None)

    def drbd_of(self, name: str) -> DrbdLocal | None:
        return dict(self.drbd).get(name)

    def answer(self, protocol: str) -> ServiceAnswer | None:
        return next((a for a in self.service_answers if a.protocol == protocol), None)

    def other(self, name: str) -> str | None:
        return next((n for n in self.node_names if n != name), None)

    def to_json(self) -> dict:
        return {
            "cluster": self.cluster,
            "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.taken_at)),
            "active_node": self.active_node,
            "dc": self.dc,
            "quorum": self.quorum,
            "maintenance_mode": self.maintenance_mode,
            "stonith_enabled": self.stonith_enabled,
            "nodes": [n.to_dict() for n in self.nodes],
            "resources": list(self.resources),
            "drbd": {name: (d.to_dict() if d else None) for name, d in self.drbd},
            "links": [l.to_dict() for l in self.links],
            "fencing": list(self.fencing),
            "failed_actions": list(self.failed_actions),
            "leftover_constraints": [c.to_dict() for c in self.leftover_constraints],
            "service_answers": {a.protocol: a.to_dict() for a in self.service_answers},
            "split_brain": self.split_brain.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "quorum_device": self.quorum_device,
            "cib_version": ({"admin_epoch": self.cib_version.admin_epoch, "epoch": self.cib_version.epoch,
                             "num_updates": self.cib_version.num_updates} if self.cib_version else None),
        }


def _pick_pacemaker(probes: tuple[NodeProbe, ...]) -> ClusterStatus | None:
    """The DC's own view when it answered, else any node's with Pacemaker running."""
    views = [p.pacemaker for p in probes if p.pacemaker is not None]
    for view in views:
        for probe in probes:
            if probe.pacemaker is view and view.dc == probe.node:
                return view
    return views[0] if views else None


def _node_view(name: str, probe: NodeProbe | None, pcmk: ClusterStatus | None) -> NodeView:
    status = pcmk.node(name) if pcmk else None
    reachable = bool(probe and probe.reachable)
    version = probe.axigen_version if probe else None
    versions = {"axigen_binary": probe.axigen_binary if probe else None,
                "axigen_running": probe.axigen_running if probe else None}
    running = bool(probe and probe.pacemaker is not None)
    if status is None:
        state = "unreachable" if not reachable else "unknown" if running else "stopped"
        return NodeView(name, reachable, probe.error if probe else "", state, False, False, False, False, False,
                        version, running, **versions)
    return NodeView(name, reachable, probe.error if probe else "", status.state, status.online, status.in_standby,
                    status.maintenance, status.unclean, status.is_dc, version, running, **versions)


def _links(spec, probes: dict[str, NodeProbe], nodeids: dict[str, int]) -> tuple[LinkView, ...]:
    out = []
    for node in spec.nodes:
        probe = probes.get(node.name)
        peer = spec.peer(node.name).name
        for index, link in enumerate(node.links):
            status = probe.corosync.link(index) if probe and probe.corosync else None
            if status is None:
                out.append(LinkView(node.name, index, link.address, False, "unknown"))
                continue
            peer_id = nodeids.get(peer)
            state = status.peer_state(peer_id) if peer_id is not None else None
            if state is None:
                others = [s for _, s in status.peers if s != "localhost"]
                state = others[0] if others else "no peer"
            out.append(LinkView(node.name, index, status.address or link.address, state == "connected", state))
    return tuple(out)


def detect_split_brain(spec, probes: dict[str, NodeProbe], pcmk: ClusterStatus | None) -> SplitBrain:
    """DRBD split brain by steps.drbd_split_brain's one rule (split_brain_signs_of), with each node's evidence."""
    drbd = {n: p.drbd for n, p in probes.items() if p.drbd is not None}
    if not drbd:
        return SplitBrain(False)
    promoted = ()
    if pcmk is not None:
        clone = pcmk.clone(names.drbd_clone(spec.storage.drbd.resource))
        promoted = clone.promoted if clone else ()
    evidence = tuple((name, {**d.to_dict(), "data_generation": probes[name].drbd_gi,
                             "pacemaker_promoted_here": name in promoted}) for name, d in sorted(drbd.items()))
    peers = {n: spec.peer(n).name for n in drbd}
    signs = split_brain_signs_of({n: (d.role, d.disk, ((peers[n], d.connection),) if d.connection else ())
                                  for n, d in sorted(drbd.items())})
    if not signs:
        return SplitBrain(False, evidence=evidence)
    primaries = [n for n, d in drbd.items() if d.role == "Primary"]
    standalone = sorted(n for n, d in drbd.items() if d.connection == "StandAlone" and d.disk in DIVERGING_DISKS)
    if len(primaries) > 1:
        reason = "both nodes are DRBD Primary" + ("" if all(d.connection == "Connected" for d in drbd.values())
                                                  else " and not connected")
    else:   # the dashboard's short words for the rule's StandAlone sign
        reason = f"DRBD is StandAlone on {', '.join(standalone)} (it refused to reconnect: the data diverged)"
    return SplitBrain(True, reason, evidence)


def _warnings(state_nodes, links, drbd, pcmk, split, answers, leftovers, fencing) -> list[Attention]:
    out: list[Attention] = []
    for n in state_nodes:
        if not n.reachable:
            out.append(Attention("NODE_UNREACHABLE", n.name, f"{n.name} did not answer over SSH: {n.error}", True))
        elif n.state == "stopped":
            out.append(Attention("CLUSTER_STOPPED", n.name, f"Pacemaker is not running on {n.name}", True))
        elif n.state in ("offline", "unclean", "unknown"):
            out.append(Attention("NODE_" + n.state.upper(), n.name, f"{n.name} is {n.state} in the cluster", True))
        elif n.state in ("standby", "maintenance"):
            out.append(Attention("NODE_" + n.state.upper(), n.name, f"{n.name} is in {n.state}"))
        elif n.state == "pending":
            out.append(Attention("NODE_PENDING", n.name, f"{n.name} is joining the cluster (pending): it runs no "
                                 "resources yet"))
    for link in links:
        # "unknown": not checked (the node did not answer over SSH, or corosync is stopped there), which the
        # node's own attention already says; redundancy is judged only from links that were read
        if not link.up and link.peer_state != "unknown":
            out.append(Attention("LINK_DOWN", link.node, f"corosync link{link.link} on {link.node} is "
                                f"{link.peer_state}: redundancy lost", True))
    for name, d in drbd:
        if d is not None and d.syncing:
            pct = f" {d.sync_percent:.1f}%" if d.sync_percent is not None else ""
            out.append(Attention("DRBD_SYNCING", name, f"DRBD on {name} is {d.replication}{pct}"))
        elif d is not None and d.disk != "UpToDate":
            out.append(Attention("DRBD_NOT_UPTODATE", name, f"DRBD disk on {name} is {d.disk}", True))
    if split.detected:
        out.append(Attention("SPLIT_BRAIN", None, f"DRBD split brain: {split.reason}", True))
    if pcmk is not None and pcmk.maintenance_mode:
        out.append(Attention("MAINTENANCE_MODE", None, "cluster is in maintenance mode: resources unmanaged", True))
    for f in fencing:
        if not f["active"]:
            out.append(Attention("FENCING_STOPPED", None, f"fence device {f['id']} is {f['role']}", True))
    for a in pcmk.failed_actions if pcmk is not None else ():
        out.append(Attention("FAILED_ACTION", a.node, f"failed: {a.summary()}", True))
    for c in leftovers:
        out.append(Attention("LEFTOVER_CONSTRAINT", c.node, c.describe()))
    for a in answers:
        if not a.ok:
            out.append(Attention("SERVICE_NOT_ANSWERING", None, f"{a.protocol.upper()} on the VIP: {a.error}", True))
    return out


def quorum_device_view(spec, by_node) -> dict | None:
    """The quorum device as each node sees it: corosync-qdevice connected to the arbiter, the device's vote cast
    for the node and counted there, and corosync's votes (None without a quorum_device in the cluster file)."""
    qd = spec.quorum_device
    if qd is None:
        return None
    nodes = {}
    for name in spec.node_names:
        probe = by_node.get(name)
        quorum = probe.quorum if probe else None
        device = probe.qdevice if probe else None
        nodes[name] = {
            "connected": bool(device and device.connected),
            "state": device.state if device else None,
            "error": (probe.qdevice_error or probe.error) if probe and device is None else "",
            "vote": bool(quorum and quorum.device_votes_here),
            "registered": bool(quorum and quorum.has_qdevice),
            "total_votes": quorum.total_votes if quorum else None,
            "expected_votes": quorum.expected_votes if quorum else None,
            "quorate": quorum.quorate if quorum else None,
            "two_node": quorum.two_node if quorum else None,
        }
    return {"host": qd.host, "port": qd.port, "algorithm": qd.algorithm, "nodes": nodes}


def _qdevice_warnings(view: dict | None, nodes) -> list[Attention]:
    out: list[Attention] = []
    reachable = {n.name for n in nodes if n.reachable and n.state not in ("stopped",)}
    for name, seen in (view or {}).get("nodes", {}).items():
        if name not in reachable:
            continue    # the node's own attention says it
        if seen["two_node"]:
            out.append(Attention("QDEVICE_NOT_CONFIGURED", name, f"corosync on {name} runs two_node, not the "
                                 "quorum device of the cluster file: run axha quorum-device add", True))
        elif not seen["connected"]:
            out.append(Attention("QDEVICE_DISCONNECTED", name, f"corosync-qdevice on {name} is not connected to "
                                 f"the arbiter ({seen['state'] or seen['error'] or 'no answer'}): a split would "
                                 "have no tie-breaker", True))
        elif not seen["vote"]:
            out.append(Attention("QDEVICE_NO_VOTE", name, f"the quorum device does not vote for {name}"))
    return out


def build_state(spec, probes: tuple[NodeProbe, ...], answers: tuple[ServiceAnswer, ...],
                taken_at: float | None = None) -> ClusterState:
    """Pure: probes + service answers -> ClusterState."""
    by_node = {p.node: p for p in probes}
    pcmk = _pick_pacemaker(probes)
    nodes = tuple(_node_view(n, by_node.get(n), pcmk) for n in spec.node_names)
    active = pcmk.where(names.GROUP) if pcmk else None
    resources: list[dict] = []
    fencing: list[dict] = []
    failed: list[dict] = []
    nodeids: dict[str, int] = {}
    if pcmk is not None:
        resources = [r.to_dict() for r in pcmk.resources]
        fencing = [{"id": r.id, "role": r.role, "active": r.active, "node": r.node, "target_role": r.target_role}
                   for r in pcmk.stonith_resources()]
        failed = [f.to_dict() for f in pcmk.failed_actions]
        nodeids = {n.name: int(n.id) for n in pcmk.nodes if n.id.isdigit()}
    constraints_probe = next((p for p in probes if p.constraints), None)
    leftovers = leftover_constraints(constraints_probe.constraints) if constraints_probe else ()
    drbd = tuple((n, by_node[n].drbd if n in by_node else None) for n in spec.node_names)
    links = _links(spec, by_node, nodeids)
    split = detect_split_brain(spec, by_node, pcmk)
    cib = next((p.cib_version for p in probes if p.cib_version is not None), None)
    qdevice = quorum_device_view(spec, by_node)
    warnings = _warnings(nodes, links, drbd, pcmk, split, answers, leftovers, fencing) + \
        _qdevice_warnings(qdevice, nodes)
    return ClusterState(
        cluster=spec.name, taken_at=taken_at if taken_at is not None else time.time(),
        node_names=spec.node_names, nodes=nodes, active_node=active,
        dc=pcmk.dc if pcmk else None, quorum=bool(pcmk and pcmk.with_quorum),
        maintenance_mode=bool(pcmk and pcmk.maintenance_mode), stonith_enabled=bool(pcmk and pcmk.stonith_enabled),
        resources=tuple(resources), drbd=drbd, links=links, fencing=tuple(fencing), failed_actions=tuple(failed),
        leftover_constraints=leftovers, service_answers=answers, split_brain=split, warnings=tuple(warnings),
        cib_version=cib, quorum_device=qdevice, pacemaker=pcmk, probes=probes)


def read_state(ctx, *, with_service: bool = True) -> ClusterState:
    """One refresh: both nodes probed at once (one command each) and the VIP asked, in parallel."""
    spec = ctx.spec
    calls = [lambda n=n: probe_node(ctx.runner(n), spec) for n in spec.node_names]
    if with_service:
        calls.append(lambda: service_answers(spec.vip.address))
    results = concurrently(calls)
    probes = tuple(r if isinstance(r, NodeProbe) else NodeProbe(n, False, error=str(r))
                   for n, r in zip(spec.node_names, results))
    answers = results[len(spec.node_names)] if with_service else ()
    return build_state(spec, probes, () if isinstance(answers, Exception) else answers)
