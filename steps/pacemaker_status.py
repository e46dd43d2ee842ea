"""Pure parser of `crm_mon --output-as=xml --inactive` (steps.pacemaker.CRM_MON_ARGV): the cluster's summary,
nodes, resources (clones, groups, bundles), failed actions, bans and fencing history as frozen dataclasses."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from axha.steps.pacemaker import PacemakerParseError, _bool, _parse_xml, normalize_role
from axha.steps.pacemaker_opkey import parse_op_key


@dataclass(frozen=True)
class NodeStatus:
    name: str
    id: str
    online: bool
    standby: bool
    standby_onfail: bool
    maintenance: bool
    pending: bool
    unclean: bool
    shutdown: bool
    expected_up: bool
    is_dc: bool
    resources_running: int

    @property
    def state(self) -> str:
        """One word for the admin: unclean, pending, standby, maintenance, online, offline.

        Pacemaker's own order (lib/pengine/pe_output.c node_text_status(), Pacemaker-2.1.5 line 1595, HEAD
        0a519a6e line 1902): unclean, then pending, then standby (on-fail only while online), then maintenance,
        each of the last two "OFFLINE (...)" when the node is not online. Pending comes before standby because
        the scheduler itself marks a joining node standby (lib/pengine/unpack.c, 2.1.5 lines 1420 and 1449), so
        crm_mon prints standby="true" pending="true" for it."""
        if self.unclean:
            return "unclean"
        if self.pending:
            return "pending"
        if self.standby_onfail and self.online:
            return "standby"
        if self.standby:
            return "standby" if self.online else "offline"
        if self.maintenance:
            return "maintenance" if self.online else "offline"
        return "online" if self.online else "offline"

    @property
    def in_standby(self) -> bool:
        """In standby as an admin (or on-fail) put it there; not the standby the scheduler gives a pending node."""
        return (self.standby or self.standby_onfail) and not self.pending

    def to_dict(self) -> dict:
        return {"name": self.name, "id": self.id, "online": self.online, "standby": self.standby,
                "standby_onfail": self.standby_onfail, "maintenance": self.maintenance, "pending": self.pending,
                "unclean": self.unclean, "shutdown": self.shutdown, "is_dc": self.is_dc, "state": self.state}


@dataclass(frozen=True)
class ResourceStatus:
    """One primitive instance (a clone gives one per instance). `nodes`: where it runs (empty when stopped)."""

    id: str
    agent: str
    role: str
    active: bool
    managed: bool
    failed: bool
    blocked: bool
    orphaned: bool
    nodes: tuple[str, ...]
    parent: str | None = None          # the clone or group id
    target_role: str | None = None

    @property
    def node(self) -> str | None:
        return self.nodes[0] if self.nodes else None

    def to_dict(self) -> dict:
        return {"id": self.id, "agent": self.agent, "role": self.role, "active": self.active,
                "managed": self.managed, "failed": self.failed, "blocked": self.blocked, "nodes": list(self.nodes),
                "parent": self.parent, "target_role": self.target_role}


@dataclass(frozen=True)
class CloneStatus:
    id: str
    promotable: bool
    managed: bool
    failed: bool
    instances: tuple[ResourceStatus, ...]

    def nodes_in_role(self, role: str) -> tuple[str, ...]:
        return tuple(n for r in self.instances if r.role == role for n in r.nodes)

    @property
    def promoted(self) -> tuple[str, ...]:
        return self.nodes_in_role("Promoted")

    @property
    def unpromoted(self) -> tuple[str, ...]:
        return self.nodes_in_role("Unpromoted")


@dataclass(frozen=True)
class GroupStatus:
    id: str
    managed: bool
    members: tuple[ResourceStatus, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes where any member runs (normally one)."""
        seen: list[str] = []
        for member in self.members:
            for node in member.nodes:
                if node not in seen:
                    seen.append(node)
        return tuple(seen)

    @property
    def fully_started(self) -> bool:
        """Every member active on one and the same node."""
        return bool(self.members) and all(m.active for m in self.members) and len(self.nodes) == 1


# the history entry id the controller keeps for a resource's last failure (lib/pengine/unpack.c, HEAD line 4234)
_LAST_FAILURE_SUFFIX = "_last_failure_0"


@dataclass(frozen=True)
class FailedAction:
    """One `<failure>` of crm_mon (xml/api/failure-2.8.rng). `op_key` holds the operation key, or the history
    entry's id when crm_mon wrote `id=` instead (the entry had no operation key: pe_output.c failed_action_xml(),
    2.1.5 lines 1369-1370, HEAD lines 1640-1641). `task`/`interval` are crm_mon's own attributes when it wrote
    them (only with a last-rc-change, same function), else read from the key."""

    op_key: str
    node: str
    exitstatus: str
    exitreason: str
    exitcode: str
    status: str
    task: str
    interval: str
    last_rc_change: str
    call: str = ""

    @property
    def resource(self) -> str:
        """The resource id: the key without its exact `_<task>_<interval>` tail when crm_mon gave the task and
        interval, else as Pacemaker's parse_op_key() splits it (which is what crm_mon's text view shows)."""
        return _resource_of(self.op_key, self.task, self.interval)

    def summary(self) -> str:
        reason = f" ({self.exitreason})" if self.exitreason else ""
        return f"{self.op_key} on {self.node}: {self.exitstatus or self.status}{reason}"

    def to_dict(self) -> dict:
        return {"op_key": self.op_key, "resource": self.resource, "node": self.node, "task": self.task,
                "exitstatus": self.exitstatus, "exitreason": self.exitreason, "exitcode": self.exitcode,
                "interval": self.interval, "status": self.status, "last_rc_change": self.last_rc_change}


@dataclass(frozen=True)
class FenceEvent:
    action: str
    target: str
    status: str
    delegate: str
    origin: str
    client: str
    completed: str
    exit_reason: str = ""

    def to_dict(self) -> dict:
        return {"action": self.action, "target": self.target, "status": self.status, "delegate": self.delegate,
                "origin": self.origin, "completed": self.completed, "exit_reason": self.exit_reason}


@dataclass(frozen=True)
class Ban:
    id: str
    resource: str
    node: str
    weight: str
    promoted_only: bool


@dataclass(frozen=True)
class ClusterStatus:
    """What `crm_mon --output-as=xml` says: summary, nodes, resources, failures, bans, fencing history."""

    dc: str | None
    with_quorum: bool
    version: str
    stonith_enabled: bool
    maintenance_mode: bool
    stop_all_resources: bool
    nodes: tuple[NodeStatus, ...]
    resources: tuple[ResourceStatus, ...]     # every primitive instance (flat, incl. clone/group members)
    clones: tuple[CloneStatus, ...]
    groups: tuple[GroupStatus, ...]
    failed_actions: tuple[FailedAction, ...]
    bans: tuple[Ban, ...]
    fence_history: tuple[FenceEvent, ...] = ()
    node_attributes: dict = field(default_factory=dict, compare=False, hash=False)

    def node(self, name: str) -> NodeStatus | None:
        return next((n for n in self.nodes if n.name == name), None)

    def group(self, gid: str) -> GroupStatus | None:
        return next((g for g in self.groups if g.id == gid), None)

    def clone(self, cid: str) -> CloneStatus | None:
        return next((c for c in self.clones if c.id == cid), None)

    def resource(self, rid: str) -> tuple[ResourceStatus, ...]:
        """Every instance of the primitive `rid` (one for a plain primitive, one per node for a clone)."""
        return tuple(r for r in self.resources if r.id == rid)

    def stonith_resources(self) -> tuple[ResourceStatus, ...]:
        return tuple(r for r in self.resources if r.agent.startswith("stonith:"))

    def where(self, gid: str) -> str | None:
        """The single node where group `gid` runs fully, else None."""
        group = self.group(gid)
        if group is None or not group.fully_started:
            return None
        return group.nodes[0]


def _text_attr(el: ET.Element | None, key: str, default: str = "") -> str:
    return el.get(key, default) if el is not None else default


def _node(el: ET.Element) -> NodeStatus:
    return NodeStatus(
        name=el.get("name", ""), id=el.get("id", ""), online=_bool(el.get("online")),
        standby=_bool(el.get("standby")), standby_onfail=_bool(el.get("standby_onfail")),
        maintenance=_bool(el.get("maintenance")), pending=_bool(el.get("pending")), unclean=_bool(el.get("unclean")),
        shutdown=_bool(el.get("shutdown")), expected_up=_bool(el.get("expected_up")), is_dc=_bool(el.get("is_dc")),
        resources_running=int(el.get("resources_running") or 0))


def _resource(el: ET.Element, parent: str | None) -> ResourceStatus:
    return ResourceStatus(
        id=el.get("id", ""), agent=el.get("resource_agent", "").replace("::", ":"),
        role=normalize_role(el.get("role")), active=_bool(el.get("active")),
        managed=_bool(el.get("managed", "true")), failed=_bool(el.get("failed")), blocked=_bool(el.get("blocked")),
        # Pacemaker 3.0.2 renamed orphaned to removed (xml/api/resources-2.41.rng lines 116 and 152, the old
        # name deprecated): read the new one first
        orphaned=_bool(el.get("removed", el.get("orphaned"))),
        nodes=tuple(n.get("name", "") for n in el.findall("node")),
        parent=parent, target_role=el.get("target_role"))


def _walk_resources(container: ET.Element | None):
    """Yield (resources, clones, groups) from the <resources> element, groups inside clones included."""
    resources: list[ResourceStatus] = []
    clones: list[CloneStatus] = []
    groups: list[GroupStatus] = []
    if container is None:
        return resources, clones, groups
    for el in container:
        if el.tag == "resource":
            resources.append(_resource(el, None))
        elif el.tag == "group":
            members = tuple(_resource(r, el.get("id")) for r in el.findall("resource"))
            resources.extend(members)
            groups.append(GroupStatus(el.get("id", ""), _bool(el.get("managed", "true")), members))
        elif el.tag == "clone":
            instances: list[ResourceStatus] = []
            for child in el:
                if child.tag == "resource":
                    instances.append(_resource(child, el.get("id")))
                elif child.tag == "group":
                    instances.extend(_resource(r, child.get("id")) for r in child.findall("resource"))
            resources.extend(instances)
            clones.append(CloneStatus(el.get("id", ""), _bool(el.get("multi_state")),
                                      _bool(el.get("managed", "true")), _bool(el.get("failed")), tuple(instances)))
        elif el.tag == "bundle":
            for replica in el.findall("replica"):
                resources.extend(_resource(r, el.get("id")) for r in replica.findall("resource"))
    return resources, clones, groups


def _resource_of(key: str, task: str, interval: str) -> str:
    if key.endswith(_LAST_FAILURE_SUFFIX) and len(key) > len(_LAST_FAILURE_SUFFIX):
        return key[:-len(_LAST_FAILURE_SUFFIX)]
    tail = f"_{task}_{interval}"
    if task and interval.isdigit() and key.endswith(tail) and len(key) > len(tail):
        return key[:-len(tail)]
    parsed = parse_op_key(key)
    return parsed[0] if parsed else key


def _failure(el: ET.Element) -> FailedAction:
    # failure-2.8.rng: a choice of op_key or id
    key = el.get("op_key") or el.get("id") or ""
    task, interval = el.get("task", ""), el.get("interval", "")
    parsed = parse_op_key(key)
    if parsed and not key.endswith(_LAST_FAILURE_SUFFIX):
        task = task or parsed[1]
        interval = interval or str(parsed[2])
    reason = el.get("exitreason", "")
    return FailedAction(
        op_key=key, node=el.get("node", ""), exitstatus=el.get("exitstatus", ""),
        # crm_mon writes exitreason="none" when the agent gave no reason (pe_output.c failed_action_xml(),
        # 2.1.5 line 1360, HEAD line 1629), and the schema requires the attribute
        exitreason="" if reason == "none" else reason, exitcode=el.get("exitcode", ""), status=el.get("status", ""),
        task=task, interval=interval, last_rc_change=el.get("last-rc-change", el.get("last_rc_change", "")),
        call=el.get("call", ""))


def _fence_event(el: ET.Element) -> FenceEvent:
    return FenceEvent(action=el.get("action", ""), target=el.get("target", ""), status=el.get("status", ""),
                      delegate=el.get("delegate", ""), origin=el.get("origin", ""), client=el.get("client", ""),
                      completed=el.get("completed", ""), exit_reason=el.get("exit-reason", ""))


def parse_crm_mon(text: str) -> ClusterStatus:
    """Parse `crm_mon --output-as=xml` (Pacemaker 2.x `<pacemaker-result>`, or the 1.1 `<crm_mon>` root)."""
    root = _parse_xml(text, "crm_mon")
    if root.tag not in ("pacemaker-result", "crm_mon"):
        raise PacemakerParseError(f"crm_mon printed <{root.tag}>, expected <pacemaker-result>")
    status = root.find("status")
    if root.tag == "pacemaker-result" and root.find("summary") is None and status is not None \
            and status.get("code", "0") != "0":
        errors = "; ".join((e.text or "").strip() for e in status.iter("error")) or status.get("message", "")
        raise PacemakerParseError(f"crm_mon failed: {errors}",
                                  remedy="Start the cluster on this node (corosync, then pacemaker), then retry.")
    summary = root.find("summary")
    dc = summary.find("current_dc") if summary is not None else None
    options = summary.find("cluster_options") if summary is not None else None
    resources, clones, groups = _walk_resources(root.find("resources"))
    attrs = {n.get("name", ""): {a.get("name", ""): a.get("value", "") for a in n.findall("attribute")}
             for n in root.findall("node_attributes/node")}
    return ClusterStatus(
        dc=dc.get("name") if dc is not None and _bool(dc.get("present")) else None,
        with_quorum=_bool(_text_attr(dc, "with_quorum")),
        version=_text_attr(dc, "version"),
        # Pacemaker 3.0.2 renamed stonith-enabled to fencing-enabled (xml/api/crm_mon-2.42.rng lines 112 and 121,
        # the old name deprecated, both still written by pe_output.c cluster_options_xml, HEAD lines 1246-1261)
        stonith_enabled=_bool(_text_attr(options, "fencing-enabled", _text_attr(options, "stonith-enabled"))),
        maintenance_mode=_bool(_text_attr(options, "maintenance-mode")),
        stop_all_resources=_bool(_text_attr(options, "stop-all-resources")),
        nodes=tuple(_node(n) for n in root.findall("nodes/node")),
        resources=tuple(resources), clones=tuple(clones), groups=tuple(groups),
        failed_actions=tuple(_failure(f) for f in root.findall("failures/failure")),
        bans=tuple(Ban(b.get("id", ""), b.get("resource", ""), b.get("node", ""), b.get("weight", ""),
                       _bool(b.get("promoted-only", b.get("master_only")))) for b in root.findall("bans/ban")),
        fence_history=tuple(_fence_event(e) for e in root.findall("fence_history/fence_event")),
        node_attributes=attrs)
