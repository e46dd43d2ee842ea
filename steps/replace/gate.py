"""Before a node is replaced: the survivor serves the mail and is healthy, and the old node cannot come back.

The survivor must run the Axigen group, be online and quorate, hold DRBD UpToDate as Primary, have fencing on and
a fence device for the node being replaced. The old node is judged from the cluster's view and its BMC:
- a member online again (a resumed replacement, or the node never died): nothing to prove, the later steps only
  do what is missing;
- unclean (the cluster has not fenced it): refused, the survivor waits for fencing;
- offline: the BMC the cluster fences it through (the fence device's address in the CIB, the OLD board when the
  cluster file names a new one) is asked for its power state: off is proof; on is the replacement itself when
  that BMC is the one in the cluster file (the new server runs its fresh system), else the old server still runs
  and is refused; no answer needs the admin's typed confirmation (the node's name) that the old server is off
  for good.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from axha.steps import names
from axha.steps.errors import AxhaError
from axha.steps.framework import (FAIL, PASS, WARN, Action, ActionFinished, ActionStarted, Confirmation, Context, Emit,
                                  Finding, OutputLine, Step)
from axha.steps.install.common import read
from axha.steps.maint.status import ClusterState, read_state
from axha.steps.replace.common import survivor_of

XML_LIMIT = 1 << 20


def fence_address(xml_text: str, device: str) -> tuple[str | None, int | None]:
    """(ip, ipport) of the fence_ipmilan primitive `device` in `cibadmin --query --xpath` output (the CIB schema:
    primitive/instance_attributes/nvpair name= value=); (None, None) when it is not there."""
    text = xml_text[:XML_LIMIT].strip()
    if not text.startswith("<"):
        return None, None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None, None
    prim = root if root.tag == "primitive" and root.get("id") == device else \
        next((p for p in root.iter("primitive") if p.get("id") == device), None)
    if prim is None:
        return None, None
    params = {nv.get("name"): nv.get("value") for attrs in prim.findall("instance_attributes")
              for nv in attrs.findall("nvpair")}
    port = params.get("ipport")
    return params.get("ip"), int(port) if port and port.isdigit() else None


def fence_xpath(node: str) -> str:
    return f"//primitive[@id='{names.fence_device(node)}']"


def _f(code: str, node: str | None, ok: bool, summary: str, remedy: str = "") -> Finding:
    return Finding(code, node, PASS if ok else FAIL, summary, "" if ok else remedy)


def survivor_findings(state: ClusterState, node: str, survivor: str) -> list[Finding]:
    """Pure: is the survivor serving and healthy enough to rebuild its peer from?"""
    out = []
    s = state.node(survivor)
    reachable = s is not None and s.reachable
    out.append(_f("SURVIVOR_REACHABLE", survivor, reachable, f"{survivor} answers over SSH" if reachable else
                  f"{survivor} does not answer: {s.error if s else 'unknown'}",
                  f"The survivor must be reachable: check {survivor}'s network and SSH."))
    if not reachable:
        return out
    online = s.online and not s.unclean and not s.standby
    out.append(_f("SURVIVOR_ONLINE", survivor, online, f"{survivor} is {s.state}",
                  f"{survivor} must be online and not in standby (axha unstandby {survivor})."))
    out.append(_f("SURVIVOR_RUNS_SERVICE", survivor, state.active_node == survivor,
                  f"{names.GROUP} runs on {state.active_node or 'no node'}",
                  f"The mail service must run on {survivor} before {node} is rebuilt: look at axha status and the "
                  "failed actions, fix them, then run again."))
    out.append(_f("QUORUM", survivor, state.quorum, "the cluster is quorate" if state.quorum else "no quorum",
                  "A two-node cluster keeps quorum with one node (two_node): look at corosync-quorumtool -s."))
    d = state.drbd_of(survivor)
    good = d is not None and d.disk == "UpToDate" and d.role == "Primary"
    out.append(_f("SURVIVOR_DRBD_UPTODATE", survivor, good,
                  f"DRBD on {survivor}: {d.role}/{d.disk}" if d else f"DRBD is not up on {survivor}",
                  f"{survivor}'s copy must be UpToDate and Primary: it is the source of the full resync."))
    device = names.fence_device(node)
    fence = next((f for f in state.fencing if f["id"] == device), None)
    out.append(_f("FENCE_DEVICE_CONFIGURED", node, fence is not None and state.stonith_enabled,
                  f"{device} is configured" + ("" if state.stonith_enabled else ", but stonith-enabled is false")
                  if fence else f"no fence device {device} in the CIB",
                  "Fencing of the node must be configured (axha install sets it up)."))
    if state.split_brain.detected:
        out.append(_f("SPLIT_BRAIN", None, False, f"DRBD split brain: {state.split_brain.reason}",
                      "Recover first: axha split-brain-recover --discard NODE"))
    return out


class ReplaceGate(Step):
    """Read-only: the survivor's health and how sure it is that the old node is gone. Plans at most the record
    of the admin's confirmation (the fencing history of the node, read from the survivor)."""

    id = "replace-gate"
    title = "Survivor healthy, the old node gone"

    def __init__(self, node: str, disk_only: bool = False, package: str | None = None):
        self.node, self.disk_only, self.package = node, disk_only, package
        self.evidence = ""
        self.needs_word = False

    def finished_status(self) -> str:
        return "done"

    def check(self, ctx: Context) -> list[Finding]:
        node, survivor = self.node, survivor_of(ctx, self.node)
        state = read_state(ctx)
        findings = survivor_findings(state, node, survivor)
        if any(f.status == FAIL for f in findings):
            return findings
        if not self.disk_only:   # a wrong --package is refused before the host key or /etc/hosts change
            from axha.steps.replace.rebuild import package_findings
            refused = package_findings(ctx, node, self.package)[2]
            if refused:
                return findings + refused
        findings.append(self._disk_node(state) if self.disk_only else self._old_node(ctx, state))
        self.outcome = findings[-1].summary
        return findings

    def _disk_node(self, state: ClusterState) -> Finding:
        """--disk-only: the node itself stays; it must be an online member, passive (a gate above)."""
        view = state.pacemaker.node(self.node) if state.pacemaker is not None else None
        if view is not None and view.online and not view.unclean:
            return Finding("NODE_IS_MEMBER", self.node, PASS, f"{self.node} is an online member: only its backing "
                           "disk is replaced")
        return Finding("NODE_NOT_MEMBER", self.node, FAIL, f"{self.node} is not an online member of the cluster",
                       f"--disk-only keeps the node as it is: start the cluster on {self.node} (systemctl start "
                       f"pacemaker), or replace the whole node: axha replace-node {self.node}")

    def _old_node(self, ctx: Context, state: ClusterState) -> Finding:
        node, survivor = self.node, survivor_of(ctx, self.node)
        self.needs_word = False
        view = state.pacemaker.node(node) if state.pacemaker is not None else None
        if view is not None and view.online and not view.unclean:
            return Finding("NODE_IS_MEMBER", node, PASS, f"{node} is a member of the cluster again: only what is "
                           "missing is done")
        if view is not None and view.unclean:
            return Finding("NODE_UNCLEAN", node, FAIL, f"the cluster has not fenced {node} yet (unclean)",
                           f"Wait until fencing of {node} succeeds (crm_mon shows it OFFLINE). If it cannot succeed "
                           f"because the server is gone for good, confirm it on {survivor}: "
                           f"stonith_admin --confirm {node}")
        result = read(ctx, survivor, ["cibadmin", "--query", "--xpath", fence_xpath(node)])
        address, port = fence_address(result.stdout, names.fence_device(node))
        spec_node = ctx.spec.node(node)
        address = address or spec_node.bmc.address
        port = port or spec_node.bmc.port
        same_board = (address, port) == (spec_node.bmc.address, spec_node.bmc.port)
        try:
            power = self._power(ctx, address, port, same_board)
        except AxhaError as exc:
            self.needs_word = True
            self.evidence = f"the BMC the cluster fences {node} through ({address}:{port}) does not answer: {exc}"
            return Finding("OLD_NODE_UNPROVEN", node, WARN, self.evidence,
                           f"axha asks you to type {node} to confirm that the old server is powered off or "
                           "disconnected for good.")
        if power == "off":
            return Finding("OLD_NODE_OFF", node, PASS, f"{node} is offline and its BMC {address}:{port} says the "
                           "power is off")
        if same_board:
            return Finding("REPLACEMENT_POWERED", node, PASS,
                           f"{node} is not a member of the cluster; its BMC {address}:{port} says the power is on: "
                           "the replacement runs there")
        return Finding("OLD_NODE_STILL_ON", node, FAIL,
                       f"the old {node}'s BMC {address}:{port} (in the CIB) says its power is ON",
                       f"Power the old server off (its BMC, or unplug it) before replacing {node}; the new BMC "
                       f"{spec_node.bmc.address} is set up by this operation.")

    def _power(self, ctx: Context, address: str, port: int, same_board: bool) -> str:
        if same_board:
            return ctx.bmc(self.node).power_state()
        from axha.steps.bmc import BmcClient
        spec_node = ctx.spec.node(self.node)
        return BmcClient(address, spec_node.bmc.user, ctx.secrets.bmc_password(self.node), port=port,
                         node=self.node, audit=ctx.audit).power_state()

    def plan(self, ctx: Context) -> list[Action]:
        if not self.needs_word:
            return []
        survivor = survivor_of(ctx, self.node)
        return [Action(survivor, ("stonith_admin", "--history", self.node, "--verbose"),
                       f"show the fencing history of {self.node} beside your confirmation that it is off")]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        return Confirmation("old-node-off", f"Is the old {self.node} powered off for good?",
                            f"{self.evidence}.\nIf the old server came back with its old disk and cluster "
                            f"configuration while {self.node} is rebuilt, two nodes would claim the same name. "
                            f"Type {self.node} to confirm that it is powered off or disconnected for good.",
                            expected=self.node)

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        for action in plan:   # a reading shown beside the confirmation: run as the read it is, not as a change
            emit(ActionStarted(self.id, action.node, action.command, action.why))
            result = read(ctx, action.node, action.argv)
            for line in (result.stdout + result.stderr).splitlines()[-20:]:
                emit(OutputLine(self.id, action.node, line))
            emit(ActionFinished(self.id, action.node, action.command, result.rc, result.duration))
        emit(OutputLine(self.id, self.node, f"you confirmed that the old {self.node} is off for good"))
        self.outcome = f"the admin confirmed that the old {self.node} is off ({self.evidence})"
