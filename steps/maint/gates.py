"""The gates of a switchover (and of the upgrade, which switches over): every condition evaluated on the live
state, all reported together, any FAIL refuses. Pure: a ClusterState in, findings out."""
from __future__ import annotations

from axha.steps import names
from axha.steps.errors import InputError
from axha.steps.framework import FAIL, PASS, Finding
from axha.steps.maint.status import ClusterState


def _f(code: str, node: str | None, ok: bool, summary: str, remedy: str = "", status: str | None = None) -> Finding:
    return Finding(code, node, status or (PASS if ok else FAIL), summary, "" if ok else remedy)


def switchover_gates(state: ClusterState, target: str | None = None) -> tuple[str | None, str | None, list[Finding]]:
    """Pure: (source, target, findings). Every gate is evaluated; any FAIL refuses the switchover."""
    out: list[Finding] = []
    source = state.active_node
    if source is None:
        out.append(_f("NO_ACTIVE_NODE", None, False, f"{names.GROUP} is not fully running on any node",
                      "Look at the resources and failed actions (axha status), fix them, then retry."))
    if target is not None and target not in state.node_names:
        raise InputError(f"--to {target}: not a node of this cluster (nodes: {', '.join(state.node_names)})")
    if target is None:
        target = state.other(source) if source else None
    if source is not None and target == source:
        out.append(_f("TARGET_IS_ACTIVE", target, False, f"{names.GROUP} already runs on {target}",
                      f"Nothing to do; to move it away use --to {state.other(target)}."))
    for node in state.nodes:
        if not node.reachable:
            out.append(_f("NODE_UNREACHABLE", node.name, False, f"{node.name} does not answer over SSH: {node.error}",
                          "Check the node's power and network (axha status), then retry."))
            continue
        online = node.online and not node.unclean
        out.append(_f("NODE_OFFLINE" if not online else "NODE_ONLINE", node.name, online,
                      f"{node.name} is {node.state}" if not online else f"{node.name} is online",
                      f"Start the cluster on {node.name} (pcs cluster start / systemctl start pacemaker)."))
        if node.standby:
            out.append(_f("NODE_STANDBY", node.name, False, f"{node.name} is in standby",
                          f"axha unstandby {node.name}"))
        if node.maintenance:
            out.append(_f("NODE_MAINTENANCE", node.name, False, f"{node.name} is in maintenance",
                          f"crm_attribute -N {node.name} -n maintenance -D"))
    unreachable = {n.name for n in state.nodes if not n.reachable}
    standby = [n.name for n in state.nodes if n.standby]
    # a node in standby stops its DRBD and fence device and DRBD's handler adds a constraint: those gates are
    # consequences, and their own remedies would be wrong while the standby lasts
    after_standby = f" (a consequence of the standby: axha unstandby {standby[0]} first)" if standby else ""
    if target is not None and target not in unreachable:
        d = state.drbd_of(target)
        if d is None:
            out.append(_f("TARGET_DRBD_UNKNOWN", target, False, f"DRBD resource is not up on {target}",
                          f"Bring the resource up on {target} (drbdadm up) and let it sync."))
        else:
            uptodate = d.disk == "UpToDate"
            out.append(_f("TARGET_DRBD_NOT_UPTODATE" if not uptodate else "TARGET_DRBD_UPTODATE", target, uptodate,
                          f"DRBD disk on {target} is {d.disk}",
                          "Wait until the resync finishes (axha status shows the progress), then retry."
                          if d.syncing else
                          f"No resync is running, so waiting will not help: look at DRBD on both nodes (axha "
                          f"status); once the active node is UpToDate and Connected, `drbdadm invalidate "
                          f"<resource>` on {target} resyncs it from the peer."))
            if d.syncing or d.verifying:
                pct = f" ({d.sync_percent:.1f}%)" if d.sync_percent is not None else ""
                out.append(_f("TARGET_DRBD_SYNCING", target, False, f"DRBD on {target} is {d.replication}{pct}",
                              "Wait for the resync/verify to finish, then retry."))
            if d.connection != "Connected":
                out.append(_f("DRBD_NOT_CONNECTED", target, False,
                              f"DRBD on {target} is {d.connection or 'not connected'} to its peer",
                              "Restore replication first (axha status; split brain: axha split-brain-recover)."))
    if state.split_brain.detected:
        out.append(_f("SPLIT_BRAIN", None, False, f"DRBD split brain: {state.split_brain.reason}",
                      "Recover first: axha split-brain-recover --discard NODE"))
    failed = state.failed_actions
    out.append(_f("FAILED_ACTIONS" if failed else "NO_FAILED_ACTIONS", None, not failed,
                  f"{len(failed)} failed action(s): " + "; ".join(f"{a['op_key']} on {a['node']}" for a in failed)
                  if failed else "no failed actions", "Fix the cause, then: axha cleanup"))
    left = state.leftover_constraints
    out.append(_f("LEFTOVER_CONSTRAINT" if left else "NO_LEFTOVER_CONSTRAINT", None, not left,
                  "leftover constraint(s): " + "; ".join(c.describe() for c in left) if left
                  else "no leftover location constraints",
                  "axha clear-constraints (after checking why they exist)" + after_standby))
    fencing_ok = bool(state.fencing) and all(f["active"] for f in state.fencing) and state.stonith_enabled
    if not state.stonith_enabled:
        summary = "stonith-enabled is false: fencing is off"
    elif not state.fencing:
        summary = "no fence devices configured"
    else:
        summary = "; ".join(f"{f['id']} {f['role']}" + (f" on {f['node']}" if f["node"] else "") for f in state.fencing)
    out.append(_f("FENCING_STOPPED" if not fencing_ok else "FENCING_STARTED", None, fencing_ok,
                  summary if not fencing_ok else f"fencing started: {summary}",
                  "Start the fence devices (crm_resource -r fence-NODE --meta -d target-role) and clean up."
                  + after_standby))
    out.append(_f("CLUSTER_MAINTENANCE" if state.maintenance_mode else "CLUSTER_MANAGED", None,
                  not state.maintenance_mode, "cluster is in maintenance mode" if state.maintenance_mode
                  else "cluster manages its resources", "axha maintenance off"))
    if not state.quorum:
        out.append(_f("NO_QUORUM", None, False, "the cluster has no quorum", "Bring both nodes back online."))
    return source, target, out
