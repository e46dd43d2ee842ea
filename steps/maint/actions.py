"""Node and cluster actions as steps of the one engine: standby, maintenance mode, cleanup, clear constraints,
DRBD verify, backup, split-brain recovery.

Each is a framework.Step run by steps.operation.run_operation (the install's run_steps): check reads the live
state (a FAIL refuses before anything changes), plan lists the exact commands per node (empty: nothing to do, a
second run changes nothing), the engine asks the step's confirmation, apply runs the plan, verify reads the state
again. `Actions` runs one and turns its RunReport into the ActionReport the front ends show."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from axha.steps import cib, names
from axha.steps.drbd_argv import drbdadm_argv
from axha.steps.errors import CommandTimeout, InputError
from axha.steps.framework import FAIL, Action, Confirmation, Context, Emit, Finding, RunReport, Step, wait_for
from axha.steps.maint.backup import backup_argv, make_backup
from axha.steps.maint import status
from axha.steps.maint.status import ClusterState
from axha.steps.operation import run_operation

SETTLE_TIMEOUT = 120


def _noop(_event) -> None:
    pass


@dataclass(frozen=True)
class ActionReport:
    ok: bool
    action: str
    message: str
    changed: bool = False
    details: tuple[str, ...] = ()
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "action": self.action, "message": self.message, "changed": self.changed,
                "details": list(self.details), **({"data": self.data} if self.data else {})}


# ---------------------------------------------------------------- argv (the exact commands)


def standby_argv(node: str, on: bool) -> tuple[str, ...]:
    if on:
        return ("crm_attribute", "--node", node, "--name", "standby", "--update", "on", "--lifetime", "forever")
    return ("crm_attribute", "--node", node, "--name", "standby", "--delete", "--lifetime", "forever")


def maintenance_argv(on: bool) -> tuple[str, ...]:
    if on:
        return ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true")
    return ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--delete")


def settle_argv(timeout: int = SETTLE_TIMEOUT) -> tuple[str, ...]:
    return ("crm_resource", "--wait", f"--timeout={timeout}s")


CLEANUP_ARGV = ("crm_resource", "--cleanup")


def delete_constraint_argv(cid: str) -> tuple[str, ...]:
    return ("cibadmin", "--delete", "--scope", "constraints", "--xml-text", f'<rsc_location id="{cib.attr(cid)}"/>')


def clear_argv(resource: str) -> tuple[str, ...]:
    return ("crm_resource", "--clear", "-r", resource)


# ---------------------------------------------------------------- the steps


def _fail(code: str, summary: str, remedy: str = "", node: str | None = None) -> Finding:
    return Finding(code, node, FAIL, summary, remedy)


def _drbd_in_sync(state: ClusterState) -> bool:
    return bool(state.drbd) and all(d is not None and d.in_sync for _, d in state.drbd)


class ClusterStep(Step):
    """A step on the live cluster: check() reads the state once and picks the node that runs cluster-wide
    commands (the DC, else an online node with Pacemaker running); `outcome` and `details` say what it did."""

    needs_cluster = True

    def __init__(self) -> None:
        self.state: ClusterState | None = None
        self.control: str | None = None
        self.outcome = ""
        self.details: tuple[str, ...] = ()

    def check(self, ctx: Context) -> list[Finding]:
        self.state = status.read_state(ctx, with_service=False)
        for name in ([self.state.dc] if self.state.dc else []) + list(self.state.node_names):
            node = self.state.node(name) if name else None
            if node is not None and node.reachable and node.pacemaker_running:
                self.control = name
                break
        if self.control is None and self.needs_cluster:
            return [_fail("NO_CLUSTER_NODE", "no node with a running cluster answered",
                          "Check both nodes (axha status).")]
        return self.refusals(ctx, self.state)

    def refusals(self, ctx: Context, state: ClusterState) -> list[Finding]:
        return []

    def settle(self) -> Action:
        return Action(self.control, settle_argv(), "wait until the cluster has settled", timeout=SETTLE_TIMEOUT + 15)

    def after(self, ctx: Context) -> ClusterState:
        return status.read_state(ctx, with_service=False)


class StandbyStep(ClusterStep):
    def __init__(self, node: str, on: bool):
        super().__init__()
        self.node, self.on = node, on
        self.id = "standby" if on else "unstandby"
        self.title = f"{'Standby' if on else 'Unstandby'} {node}"

    def plan(self, ctx: Context) -> list[Action]:
        view = self.state.node(self.node)
        if view is not None and view.standby == self.on:
            self.outcome = f"{self.node} is already {'in standby' if self.on else 'active'}"
            return []
        return [Action(self.control, standby_argv(self.node, self.on),
                       f"{'put' if self.on else 'take'} {self.node} {'in' if self.on else 'out of'} standby"),
                self.settle()]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        if self.on and self.state.active_node == self.node:
            return Confirmation("standby", f"Put {self.node} in standby? It runs the mail service: it moves to "
                                f"{self.state.other(self.node)}.", "Mail pauses for the move (a few seconds). "
                                f"Type {self.node} to confirm.", expected=self.node, by_command=True)
        return None

    def verify(self, ctx: Context) -> list[Finding]:
        after = self.after(ctx)
        view = after.node(self.node)
        if view is None or view.standby != self.on:
            return [_fail("STANDBY_NOT_SET", f"{self.node} is {'not ' if self.on else 'still '}in standby",
                          "axha status shows the node's state.", self.node)]
        if not self.outcome:
            self.outcome = (f"{self.node} {'is in standby' if self.on else 'is active again'}; {names.GROUP} runs "
                            f"on {after.active_node or 'nowhere'}")
        return []


class MaintenanceStep(ClusterStep):
    id = "maintenance"

    def __init__(self, on: bool):
        super().__init__()
        self.on = on
        self.title = f"Maintenance mode {'on' if on else 'off'}"

    def plan(self, ctx: Context) -> list[Action]:
        if self.state.maintenance_mode == self.on:
            self.outcome = f"maintenance mode is already {'on' if self.on else 'off'}"
            return []
        plan = [Action(self.control, maintenance_argv(self.on), f"maintenance mode {'on' if self.on else 'off'}")]
        return plan if self.on else plan + [self.settle()]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        what = ("Pacemaker stops starting, stopping and monitoring the resources: nothing fails over until it is "
                "turned off again." if self.on else
                "Pacemaker manages the resources again (and may start or move them).")
        return Confirmation("maintenance", f"Turn maintenance mode {'on' if self.on else 'off'}?", what,
                            by_command=True)

    def verify(self, ctx: Context) -> list[Finding]:
        if self.after(ctx).maintenance_mode != self.on:
            return [_fail("MAINTENANCE_NOT_SET", f"maintenance mode is not {'on' if self.on else 'off'}",
                          "axha status shows the cluster's properties.")]
        if not self.outcome:
            self.outcome = "maintenance mode " + ("on: Pacemaker no longer starts, stops or monitors resources"
                                                  if self.on else "off: Pacemaker manages the resources again")
        return []


class CleanupStep(ClusterStep):
    id, title = "cleanup", "Clean up failed actions"

    def plan(self, ctx: Context) -> list[Action]:
        self.details = tuple(f"{a['op_key']} on {a['node']}" for a in self.state.failed_actions)
        if not self.details:
            self.outcome = "no failed actions: nothing to clean up"
            return []
        return [Action(self.control, CLEANUP_ARGV, "clean up the failed actions"), self.settle()]

    def verify(self, ctx: Context) -> list[Finding]:
        left = [f"{a['op_key']} on {a['node']}" for a in self.after(ctx).failed_actions]
        if left:
            return [_fail("FAILED_ACTIONS_BACK", f"failed actions came back: {'; '.join(left)}",
                          "Fix the cause (the failed action's reason in axha status), then clean up again.")]
        if not self.outcome:
            self.outcome = f"cleaned {len(self.details)} failed action(s)"
        return []


class ClearConstraintsStep(ClusterStep):
    id, title = "clear-constraints", "Clear leftover location constraints"

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[str] = []
        self.cleared: list[str] = []

    def plan(self, ctx: Context) -> list[Action]:
        left = self.state.leftover_constraints
        if not left:
            self.outcome = "there are no leftover constraints (cli-prefer, cli-ban, drbd-fence): nothing to clear"
            return []
        plan, self.kept, self.cleared = [], [], []
        for c in left:
            if c.kind == "drbd-fence" and not _drbd_in_sync(self.state):
                self.kept.append(f"{c.id}: kept, DRBD is not UpToDate and connected on both nodes (the handler "
                                 "removes it itself after the resync)")
                continue
            argv = delete_constraint_argv(c.id) if c.kind == "drbd-fence" else clear_argv(c.resource)
            plan.append(Action(self.control, argv, f"remove {c.describe()}"))
            self.cleared.append(c.describe())
        return plan + [self.settle()] if plan else plan

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        return Confirmation("clear-constraints", f"Remove {len(self.cleared)} leftover location constraint(s)?",
                            "\n".join(self.cleared), by_command=True)

    def verify(self, ctx: Context) -> list[Finding]:
        self.details = tuple(self.cleared) + tuple(self.kept)
        if self.kept:
            return [_fail("CONSTRAINT_KEPT", f"cleared {len(self.cleared)}, kept {len(self.kept)}",
                          "Let DRBD finish its resync (axha status), then clear again.")]
        if not self.outcome:
            self.outcome = f"cleared {len(self.cleared)}, kept 0"
        return []


class VerifyDrbdStep(ClusterStep):
    id, title = "verify-drbd", "DRBD online verify"
    needs_cluster = False

    def refusals(self, ctx: Context, state: ClusterState) -> list[Finding]:
        if not _drbd_in_sync(state):
            return [_fail("DRBD_NOT_IN_SYNC", "DRBD must be connected and UpToDate on both nodes to verify",
                          "Wait for the resync (axha status), then start the verify.")]
        return []

    def plan(self, ctx: Context) -> list[Action]:
        node = self.state.active_node or self.state.node_names[0]
        self.outcome = (f"online verify started from {node}; the dashboard shows its progress, out-of-sync blocks "
                        "are reported in the kernel log and by `drbdsetup status --verbose --statistics`")
        return [Action(node, drbdadm_argv("verify", ctx.spec.storage.drbd.resource), "start the online verify")]


class SplitBrainStep(ClusterStep):
    """Discard `victim`'s changes: on it `drbdadm disconnect`/`secondary`/`connect --discard-my-data`; on the
    survivor `drbdadm connect`. The confirmation asks for the victim's name, also on the command line."""

    id = "split-brain-recover"
    needs_cluster = False

    def __init__(self, spec, victim: str):
        super().__init__()
        self.victim, self.survivor = victim, spec.peer(victim).name
        self.title = f"Split-brain recovery: discard {victim}"

    def refusals(self, ctx: Context, state: ClusterState) -> list[Finding]:
        if not state.split_brain.detected:
            return [_fail("NO_SPLIT_BRAIN", "no split brain detected: nothing to recover")]
        if state.active_node == self.victim:
            return [_fail("VICTIM_IS_ACTIVE", f"{self.victim} runs the mail service: discarding its data would lose "
                          f"the mail it has now", f"Pick {self.survivor} as the victim, or first move the service "
                          f"with `axha standby {self.victim}` and then recover.", self.victim)]
        return []

    def plan(self, ctx: Context) -> list[Action]:
        res = ctx.spec.storage.drbd.resource
        d, sd = self.state.drbd_of(self.victim), self.state.drbd_of(self.survivor)
        plan = []
        if d is not None and d.connection not in ("StandAlone", None):
            plan.append(Action(self.victim, drbdadm_argv("disconnect", res), "disconnect the victim"))
        if d is not None and d.role == "Primary":
            plan.append(Action(self.victim, drbdadm_argv("secondary", res), "demote the victim"))
        plan.append(Action(self.victim, drbdadm_argv("connect", res, "--discard-my-data"),
                           "reconnect discarding the victim's data", destructive=True))
        if sd is None or sd.connection in ("StandAlone", None):
            plan.append(Action(self.survivor, drbdadm_argv("connect", res), "reconnect the survivor"))
        return plan

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        sb = self.state.split_brain
        evidence = "\n".join(f"{node}: {ev.get('role')} {ev.get('disk')} {ev.get('connection')}, "
                             f"{ev.get('out_of_sync_kib')} KiB out of sync" for node, ev in sb.evidence)
        return Confirmation("split-brain-recover", f"Discard every change made on {self.victim} since the split?",
                            f"{sb.reason}\n{evidence}\n{self.survivor}'s data will be copied over {self.victim}'s. "
                            "Type the node name to confirm.", expected=self.victim)

    def verify(self, ctx: Context) -> list[Finding]:
        def connected():
            d = status.read_state(ctx, with_service=False).drbd_of(self.victim)
            return d if d is not None and d.connection == "Connected" else None
        try:
            after = wait_for(f"DRBD on {self.victim} connected", connected, 30, ctx, interval=0.5, node=self.victim)
        except CommandTimeout:
            return [_fail("NOT_RECONNECTED", f"{self.victim} did not reconnect within 30 s",
                          "axha status shows both sides' DRBD state.", self.victim)]
        self.details = (f"{self.victim}: {after.to_dict()}",)
        self.outcome = f"{self.victim} reconnected and resyncs from {self.survivor}"
        return []


class BackupStep(Step):
    id, title = "backup", "Backup of the whole configuration"

    def __init__(self, local_dir: str | Path, stamp: str | None = None):
        self.local_dir, self.stamp = local_dir, stamp
        self.outcome, self.details, self.made = "", (), {}

    def plan(self, ctx: Context) -> list[Action]:
        stamp = self.stamp or "<time>"
        return [Action(n, backup_argv(ctx.spec, stamp, n), f"archive the CIB and the configuration on {n}, then "
                       f"copy it to {self.local_dir}") for n in ctx.spec.node_names]

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        self.made = make_backup(ctx, self.local_dir, self.stamp, emit=emit)

    def verify(self, ctx: Context) -> list[Finding]:
        missing = [f for f in self.made.get("files", []) if ":" not in f and not Path(f).is_file()]
        if missing:
            return [_fail("BACKUP_MISSING", f"the local copies are missing: {', '.join(missing)}")]
        self.details = tuple(self.made.get("files", ()))
        self.outcome = f"backup {self.made.get('stamp')} kept on both nodes and in {self.made.get('local')}"
        return []


# ---------------------------------------------------------------- the front ends' entry point


class Actions:
    """The admin's one-shot actions on a live cluster, each one step run by the engine (run_operation)."""

    def __init__(self, ctx, emit: Callable = _noop, *, plan_only: bool = False):
        self.ctx, self.emit, self.plan_only = ctx, emit, plan_only

    @property
    def spec(self):
        return self.ctx.spec

    def run(self, step: Step) -> ActionReport:
        report = run_operation(self.ctx, step.id, [step], self.emit, plan_only=self.plan_only)
        return _report(step, report)

    def _known(self, node: str) -> None:
        if node not in self.spec.node_names:
            raise InputError(f"{node}: not a node of this cluster (nodes: {', '.join(self.spec.node_names)})")

    def standby(self, node: str, on: bool = True) -> ActionReport:
        self._known(node)
        return self.run(StandbyStep(node, on))

    def maintenance(self, on: bool) -> ActionReport:
        return self.run(MaintenanceStep(on))

    def cleanup(self) -> ActionReport:
        return self.run(CleanupStep())

    def clear_constraints(self) -> ActionReport:
        return self.run(ClearConstraintsStep())

    def verify_drbd(self) -> ActionReport:
        return self.run(VerifyDrbdStep())

    def split_brain_recover(self, victim: str) -> ActionReport:
        self._known(victim)
        return self.run(SplitBrainStep(self.spec, victim))

    def backup(self, local_dir: str | Path, stamp: str | None = None) -> ActionReport:
        step = BackupStep(local_dir, stamp)
        report = self.run(step)
        return ActionReport(report.ok, report.action, report.message, report.changed, report.details, data=step.made)


def _report(step: Step, report: RunReport) -> ActionReport:
    """The engine's RunReport of a one-step operation in the words the front ends show."""
    finished = report.finished[-1] if report.finished else None
    details = tuple(getattr(step, "details", ()))
    if report.ok:
        if finished is not None and finished.status == "planned":
            return ActionReport(True, step.id, f"plan only: nothing changed ({finished.message})", False, details)
        return ActionReport(True, step.id, getattr(step, "outcome", "") or (finished.message if finished else "done"),
                            report.changed, details)
    message = finished.message if finished is not None else "failed"
    if message.startswith("not confirmed"):
        message = "not confirmed: nothing changed"
    elif finished is not None and finished.findings:
        first = finished.findings[0]
        message = first.summary + (f". {first.remedy}" if first.remedy else "")
    return ActionReport(False, step.id, message, report.changed, details)
