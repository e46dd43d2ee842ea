"""Replacing a failed node (`axha replace-node NODE`): a guided rebuild of one node from the survivor, while the
survivor keeps serving mail. One operation of the engine (run_operation, journal `replace-node`): every step reads
the real state, shows its commands, asks what it must, applies, verifies; a rerun continues where a crash stopped,
and a rerun after success changes nothing.

Order (replace_steps): the gate (the survivor healthy, the old node gone), the new host key, preflight of the new
server alone, /etc/hosts and names (the install's access step), [cluster packages], a clean slate on the new
server, Axigen at the survivor's version (off at boot, not running), the DRBD resource file and metadata (the
install's steps and disk guard), fencing with the node's (new) BMC, corosync from the survivor, Pacemaker joins
(it starts DRBD there and the resync begins), the resync followed with progress, the final verification,
[`--prove`: switch over to the new node and back]. With `--disk-only` the node stays as it is: metadata on its
new backing disk, attached, resynced, verified.

The survivor's running service is never touched: nothing stops, moves or restarts the group (a changed fence
address restarts only the survivor-side fence device), and no node is ever made Primary by this operation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from axha.steps.errors import AxhaError, InputError
from axha.steps.framework import FAIL, PASS, Action, Confirmation, Context, Emit, Finding, OutputLine, Step, wait_for

OPERATION = "replace-node"
CONSTRAINTS_SETTLE = 60.0


class ReplacedVerify(Step):
    """The install's verification of the whole cluster, and stricter for a rebuilt node: both nodes online, DRBD
    UpToDate on both, no failed actions, no leftover constraints (DRBD's after-resync handler removes the
    fence-peer constraint once the new node is UpToDate: waited for, bounded)."""

    id = "replace-verify"
    title = "Verify: both nodes online, data in sync, fencing, no failed actions or leftover constraints"

    def __init__(self, node: str):
        self.node = node

    def finished_status(self) -> str:
        return "done"

    def verify(self, ctx: Context) -> list[Finding]:
        from axha.steps.install.verify import VerifyStep
        from axha.steps.maint.status import read_state

        findings = [f for f in VerifyStep().verify(ctx) if f.code != "NO_FAILED_ACTIONS"]
        seen = []

        def settled():
            seen[:] = [read_state(ctx, with_service=False)]
            return seen[0] if not seen[0].leftover_constraints else None
        try:
            state = wait_for("no leftover constraints", settled, CONSTRAINTS_SETTLE, ctx, interval=2.0)
        except AxhaError:
            state = seen[0]
        for name in ctx.spec.node_names:
            n = state.node(name)
            ok = n is not None and n.online and not n.standby and not n.unclean
            findings.append(Finding("NODE_ONLINE", name, PASS if ok else FAIL, f"{name} is {n.state if n else '?'}",
                                    "" if ok else f"Look at crm_mon -1 and the pacemaker log on {name}."))
        failed = state.failed_actions
        findings.append(Finding("NO_FAILED_ACTIONS", None, FAIL if failed else PASS,
                                f"{len(failed)} failed action(s): " + "; ".join(f"{a['op_key']} on {a['node']}"
                                                                               for a in failed)
                                if failed else "no failed actions",
                                "Read them (crm_mon -1 --inactive), fix the cause, then axha cleanup and run again."
                                if failed else ""))
        left = state.leftover_constraints
        findings.append(Finding("NO_LEFTOVER_CONSTRAINT", None, FAIL if left else PASS,
                                "leftover constraint(s): " + "; ".join(c.describe() for c in left) if left
                                else "no leftover constraints",
                                "axha clear-constraints (after checking why they exist)" if left else ""))
        return findings


class Prove(Step):
    """`--prove`: the service switched over to the new node and back, through the switchover's own gates, each
    move's service gap reported."""

    id = "prove"
    title = "Prove it: switch over to the new node and back"
    destructive = True

    def __init__(self, node: str, emit: Emit):
        self.node, self.emit = node, emit

    def plan(self, ctx: Context) -> list[Action]:
        from axha.steps.maint.switchover import clear_argv, move_argv
        survivor = ctx.spec.peer(self.node).name
        return [Action(self.node, move_argv(self.node), f"switch over to {self.node} (the switchover's gates first)"),
                Action(self.node, clear_argv(), "clear the move constraint"),
                Action(survivor, move_argv(survivor), f"switch back to {survivor}"),
                Action(survivor, clear_argv(), "clear the move constraint")]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        return Confirmation("prove", f"Switch the mail service to {self.node} and back?",
                            f"Two switchovers: mail pauses for a few seconds each time. Type {self.node}.",
                            expected=self.node)

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        from axha.steps.maint.switchover import Switchover
        gaps = []
        for to in (self.node, ctx.spec.peer(self.node).name):
            report = Switchover(ctx, to, emit).run(confirm=False, journaled=False)
            if not report.ok:
                raise AxhaError(f"the switchover to {to} failed: {report.message}", node=to,
                                remedy="axha status shows where the service runs; fix the cause, run again.")
            gap = report.gap.longest_gap if report.gap else None
            gaps.append(f"{to} ({gap:.1f} s gap)" if gap is not None else to)
            emit(OutputLine(self.id, to, f"the service ran on {to}: {report.message}"))
        self.outcome = "switched over to " + ", then back to ".join(gaps)


def replace_steps(spec, node: str, options: dict, emit: Emit = lambda e: None) -> list[Step]:
    """The steps of `axha replace-node NODE` (see the module docstring). options: disk_only, prove,
    install_packages, package (a local Axigen package file), plus the engine's (wipe_disks, accept_host_key)."""
    from axha.steps.install.access import AccessStep
    from axha.steps.install.drbd_config import DrbdConfig
    from axha.steps.install.drbd_sync import DrbdMetadata
    from axha.steps.install.packages import PackagesStep
    from axha.steps.install.pacemaker import PacemakerStep
    from axha.steps.replace.gate import ReplaceGate
    from axha.steps.replace.host_key import NewHostKey
    from axha.steps.replace.preflight import NewNodePreflight
    from axha.steps.replace.rebuild import AxigenPackage, CleanSlate, CorosyncFromSurvivor, ReplacementFencing
    from axha.steps.replace.resync import DiskAttach, Resync

    if node not in spec.node_names:
        raise InputError(f"{node}: not a node of this cluster (nodes: {', '.join(spec.node_names)})")
    if spec.storage.mode != "drbd" and options.get("disk_only"):
        raise InputError("--disk-only is for DRBD clusters: a shared array has no per-node backing disk")
    if options.get("disk_only"):
        steps: list[Step] = [ReplaceGate(node, disk_only=True), DrbdConfig(), DrbdMetadata(), DiskAttach(node),
                             Resync(), ReplacedVerify(node)]
    else:
        steps = [ReplaceGate(node, package=options.get("package")), NewHostKey(node), NewNodePreflight(node), AccessStep()]
        if options.get("install_packages"):
            steps.append(PackagesStep())
        steps += [CleanSlate(node), AxigenPackage(node, options.get("package"))]
        if spec.storage.mode == "drbd":
            steps += [DrbdConfig(), DrbdMetadata()]
        steps += [ReplacementFencing(node), CorosyncFromSurvivor(node), PacemakerStep()]
        if spec.storage.mode == "drbd":
            steps.append(Resync())
        steps.append(ReplacedVerify(node))
    if options.get("prove"):
        steps.append(Prove(node, emit))
    return steps


@dataclass(frozen=True)
class ReplaceReport:
    ok: bool
    node: str
    message: str
    changed: bool
    steps: tuple[tuple[str, str, str], ...]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "node": self.node, "message": self.message, "changed": self.changed,
                "steps": [{"step": s, "status": st, "message": m} for s, st, m in self.steps]}


def replace_node(ctx: Context, node: str, emit: Callable = lambda e: None, *, plan_only: bool = False,
                 **options) -> ReplaceReport:
    """Run the replacement of `node` (see replace_steps for the options) as one operation of the engine."""
    saved = dict(ctx.options)   # this run's options only: a wizard's context outlives the operation
    ctx.options.update({k: v for k, v in options.items() if v is not None})
    try:
        return _replace(ctx, node, emit, plan_only)
    finally:
        ctx.options.clear()
        ctx.options.update(saved)


def _replace(ctx: Context, node: str, emit: Callable, plan_only: bool) -> ReplaceReport:
    from axha.steps.operation import run_operation

    steps = replace_steps(ctx.spec, node, ctx.options, emit)
    key_step = next((s for s in steps if s.id == "host-key"), None)
    if plan_only and key_step is not None:
        # nothing after the host key can read the new server before its key is accepted: plan up to there first
        head = steps[:steps.index(key_step) + 1]
        report = run_operation(ctx, OPERATION, head, emit, plan_only=True)
        if not report.ok or key_step.seen is not None:
            done = tuple((f.step_id, f.status, f.message) for f in report.finished)
            message = (f"plan: refused at {done[-1][0]}: {done[-1][2]}" if not report.ok else
                       "plan only: nothing changed; the steps after the new host key (preflight, rebuild, resync) "
                       "are planned once it is accepted")
            return ReplaceReport(report.ok, node, message, False, done)
    report = run_operation(ctx, OPERATION, steps, emit, plan_only=plan_only)
    done = tuple((f.step_id, f.status, f.message) for f in report.finished)
    if plan_only:
        message = "plan only: nothing changed" if report.ok else f"plan: refused at {done[-1][0]}: {done[-1][2]}"
    elif report.ok:
        what = f"{node}'s new backing disk resynced" if ctx.options.get("disk_only") else f"{node} rebuilt"
        message = (f"{what}: both nodes online, DRBD UpToDate on both" if report.changed else
                   f"nothing to do: {node} is a healthy member, its data in sync")
    else:
        message = f"stopped at {done[-1][0]}: {done[-1][2]}" if done else "nothing ran"
        if done and done[-1][2].startswith("not confirmed"):
            message = f"not confirmed at {done[-1][0]}: nothing was changed by that step; run again to continue"
    return ReplaceReport(report.ok, node, message, report.changed, done)
