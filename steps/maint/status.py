"""The cluster's live state: one read-only round trip per node plus the SMTP/IMAP answer on the VIP."""
from __future__ import annotations

import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from axha.steps import axigen_versions, names
from axha.steps.corosync_status import CFGTOOL_ARGV, CorosyncStatus, parse_cfgtool
from axha.steps.drbd import DIVERGING_DISKS, split_brain_signs_of
from axha.steps.drbd import status_argv as drbd_status_argv
from axha.steps.errors import AxhaError
from axha.steps.maint.drbdstate import DrbdLocal, DrbdStatusError, parse_drbd_status, status_error
from axha.steps.pacemaker import CONSTRAINTS_ARGV, CRM_MON_ARGV, PacemakerParseError
from axha.steps.pacemaker_cib import CibVersion, parse_cib_version
from axha.steps.pacemaker_constraints import LocationConstraint, leftover_constraints, parse_constraints
from axha.steps.pacemaker_status import ClusterStatus, parse_crm_mon
from axha.steps.runner import concurrently
from axha.steps.sections import SEC_FUNC
from axha.steps.sections import split_sections as read_sections

PROBE_TIMEOUT = 25.0
STEP_TIMEOUT = 8  # seconds per probe command on the node (a hung crm_mon must not stall the refresh)
SERVICE_PORTS = (("smtp", 25), ("imap", 143))


def probe_commands(spec) -> list[tuple[str, tuple[str, ...]]]:
    """The read-only commands of one refresh, by section name (all in one shell round trip)."""
    return [
        ("uname", ("uname", "-n")),
        ("crm_mon", CRM_MON_ARGV),
        ("constraints", CONSTRAINTS_ARGV),
        ("cib", ("cibadmin", "--query", "--no-children")),
        ("drbd", drbd_status_argv(spec.storage.drbd.resource)),
        ("gi", ("drbdadm", "get-gi", spec.storage.drbd.resource)),
        ("corosync", CFGTOOL_ARGV),
        ("axigen", axigen_versions.package_version_argv(spec.axigen.package)),
        ("axigen_bin", axigen_versions.binary_version_argv()),
        ("axigen_cli", axigen_versions.cli_version_argv(timeout=3)),
    ]


def probe_argv(spec) -> tuple[str, ...]:
    """One `sh -c` running every probe command in the one-round-trip protocol of steps.sections (each command's
    output between its markers, with its exit code), each bounded by STEP_TIMEOUT."""
    parts = [f"sec {name} timeout {STEP_TIMEOUT} {shlex.join(argv)}" for name, argv in probe_commands(spec)]
    return ("sh", "-c", SEC_FUNC + "\n" + "\n".join(parts))


def split_sections(text: str) -> dict[str, tuple[int, str]]:
    """{name: (rc, output)} from the output of probe_argv() (steps.sections.split_sections; a section cut short
    has rc -1), each output ending with a newline when it has any."""
    return {name: (s.rc, s.text + "\n" if s.text else "") for name, s in read_sections(text).items()}


# ---------------------------------------------------------------- one node


@dataclass(frozen=True)
class NodeProbe:
    """What one node told us in one round trip; parse problems are kept per part, never raised."""

    node: str
    reachable: bool
    error: str = ""
    hostname: str = ""
    pacemaker: ClusterStatus | None = None
    pacemaker_error: str = ""
    constraints: tuple[LocationConstraint, ...] = ()
    cib_version: CibVersion | None = None
    drbd: DrbdLocal | None = None
    drbd_error: str = ""
    corosync: CorosyncStatus | None = None
    corosync_error: str = ""
    axigen_version: str | None = None     # installed: the package database (dpkg or rpm)
    axigen_binary: str | None = None      # installed: `axigen --version`
    axigen_running: str | None = None     # running: the CLI's GET VERSION (only where Axigen runs)
    drbd_gi: str = ""          # data generation identifiers (split-brain evidence)


def parse_probe(node: str, rc: int, stdout: str, spec) -> NodeProbe:
    """Pure: the framed output of probe_argv() -> NodeProbe."""
    sections = split_sections(stdout)
    if not sections:
        return NodeProbe(node, False, error=f"probe printed nothing useful (rc {rc}): {stdout.strip()[:200]}")
    kw: dict[str, Any] = {"hostname": sections.get("uname", (1, ""))[1].strip()}
    mon_rc, mon = sections.get("crm_mon", (1, ""))
    try:
        kw["pacemaker"] = parse_crm_mon(mon)
    except PacemakerParseError as exc:
        kw["pacemaker_error"] = str(exc)
    c_rc, constraints = sections.get("constraints", (1, ""))
    if c_rc == 0:
        try:
            kw["constraints"] = parse_constraints(constraints)
        except PacemakerParseError:
            pass
    v_rc, version = sections.get("cib", (1, ""))
    if v_rc == 0:
        try:
            kw["cib_version"] = parse_cib_version(version)
        except (PacemakerParseError, ValueError):
            pass
    d_rc, drbd = sections.get("drbd", (1, ""))
    if d_rc == 0:
        try:
            kw["drbd"] = parse_drbd_status(drbd, spec.storage.drbd.resource)
        except DrbdStatusError as exc:
            kw["drbd_error"] = str(exc)
    else:
        kw["drbd_error"] = status_error(drbd, d_rc)
    g_rc, gi = sections.get("gi", (1, ""))
    kw["drbd_gi"] = gi.strip().splitlines()[-1] if g_rc == 0 and gi.strip() else ""
    k_rc, coro = sections.get("corosync", (1, ""))
    # the node ids place corosync 3.0.0-3.0.1's numbered nodes; Pacemaker's ids of corosync nodes are theirs
    pcmk = kw.get("pacemaker")
    parsed = parse_cfgtool(coro, [int(n.id) for n in pcmk.nodes if n.id.isdigit()] if pcmk else None)
    # links printed are links read, whatever the exit code: 3.0.x exits 1 when a link is down
    # (steps/corosync_status.py)
    if parsed.links:
        kw["corosync"] = parsed
    else:
        kw["corosync_error"] = coro.strip().splitlines()[-1] if coro.strip() else f"corosync-cfgtool exited {k_rc}"
    kw["axigen_version"] = axigen_versions.parse_package_version(*sections.get("axigen", (1, "")))
    b_rc, binary = sections.get("axigen_bin", (1, ""))
    kw["axigen_binary"] = axigen_versions.parse_binary_version(binary) if b_rc == 0 else None
    c_rc, cli = sections.get("axigen_cli", (1, ""))
    kw["axigen_running"] = axigen_versions.parse_cli_version(cli) if c_rc == 0 else None
    return NodeProbe(node, True, **kw)


def probe_node(runner, spec) -> NodeProbe:
    try:
        result = runner.run(probe_argv(spec), timeout=PROBE_TIMEOUT)
    except AxhaError as exc:
        return NodeProbe(runner.node, False, error=str(exc))
    return parse_probe(runner.node, result.rc, result.stdout, spec)


# ---------------------------------------------------------------- the service on the VIP


@dataclass(frozen=True)
class ServiceAnswer:
    protocol: str
    port: int
    ok: bool
    banner: str = ""
    error: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "port": self.port, "ok": self.ok, "banner": self.banner,
                "error": self.error, "seconds": round(self.seconds, 3)}


_GOOD = {"smtp": "220", "imap": "* OK", "pop3": "+OK"}
_BYE = {"smtp": b"QUIT\r\n", "imap": b"a1 LOGOUT\r\n", "pop3": b"QUIT\r\n"}


def service_answer(address: str, protocol: str, port: int, timeout: float = 3.0) -> ServiceAnswer:
    """Connect, read the greeting, say goodbye. ok = the greeting is the protocol's positive answer."""
    start = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 1024:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
            try:
                sock.sendall(_BYE.get(protocol, b"QUIT\r\n"))
            except OSError:
                pass
    except OSError as exc:
        return ServiceAnswer(protocol, port, False, error=str(exc) or type(exc).__name__,
                             seconds=time.monotonic() - start)
    banner = data.decode(errors="replace").strip().splitlines()[0] if data.strip() else ""
    ok = banner.startswith(_GOOD.get(protocol, ""))
    return ServiceAnswer(protocol, port, ok, banner=banner, error="" if ok else "no greeting" if not banner else
                         "unexpected greeting", seconds=time.monotonic() - start)


def service_answers(address: str, timeout: float = 3.0) -> tuple[ServiceAnswer, ...]:
    return tuple(service_answer(address, proto, port, timeout) for proto, port in SERVICE_PORTS)


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
    """DRBD split brain by steps.drbd's one rule (split_brain_signs_of), with each node's evidence."""
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
    warnings = _warnings(nodes, links, drbd, pcmk, split, answers, leftovers, fencing)
    return ClusterState(
        cluster=spec.name, taken_at=taken_at if taken_at is not None else time.time(),
        node_names=spec.node_names, nodes=nodes, active_node=active,
        dc=pcmk.dc if pcmk else None, quorum=bool(pcmk and pcmk.with_quorum),
        maintenance_mode=bool(pcmk and pcmk.maintenance_mode), stonith_enabled=bool(pcmk and pcmk.stonith_enabled),
        resources=tuple(resources), drbd=drbd, links=links, fencing=tuple(fencing), failed_actions=tuple(failed),
        leftover_constraints=leftovers, service_answers=answers, split_brain=split, warnings=tuple(warnings),
        cib_version=cib, pacemaker=pcmk, probes=probes)


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
