"""Controlled switchover: gates (all reported together), crm_simulate preview, move, follow, verify, always clear."""
from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import Callable

from axha.steps import names
from axha.steps.errors import AxhaError, CommandTimeout
from axha.steps.framework import (FAIL, Action, Confirmation, Finding, OutputLine, RunReport, Step,
                                  StepFinished, StepStarted, worst)
from axha.steps.operation import run_operation
from axha.steps.maint.gap import GapReport, ServiceGapMonitor
from axha.steps.maint.gates import switchover_gates
from axha.steps.maint.status import ClusterState, read_state
from axha.steps.maint.service import service_answers
from axha.steps.pacemaker import PacemakerParseError
from axha.steps.pacemaker_constraints import leftover_constraints, parse_constraints
from axha.steps.pacemaker_status import parse_crm_mon
from axha.steps.pacemaker import CONSTRAINTS_ARGV, CRM_MON_ARGV

MOVE_TIMEOUT = 120.0
SERVICE_TIMEOUT = 30.0
FOLLOW_INTERVAL = 0.2  # seconds between two crm_mon runs on the node while following a transition
POLL_BEGIN, POLL_END = "@@axha-poll", "@@axha-poll-end"


# ---------------------------------------------------------------- the commands


def simulate_move_argv(target: str) -> tuple[str, ...]:
    """crm_simulate of the move on a scratch copy of the live CIB (the live CIB is not touched)."""
    script = ('d=$(mktemp -d) || exit 1; trap \'rm -rf "$d"\' EXIT; '
              'cibadmin --query > "$d/cib.xml" || exit 1; '
              'CIB_file="$d/cib.xml" crm_resource --move -r "$1" -N "$2" >/dev/null 2>&1 || exit 1; '
              'crm_simulate -x "$d/cib.xml" -S')
    return ("sh", "-c", script, "sh", names.GROUP, target)


def move_argv(target: str) -> tuple[str, ...]:
    return ("crm_resource", "--move", "-r", names.GROUP, "-N", target)


def clear_argv() -> tuple[str, ...]:
    return ("crm_resource", "--clear", "-r", names.GROUP)


def follow_argv(interval: float = FOLLOW_INTERVAL) -> tuple[str, ...]:
    """A read-only loop printing crm_mon's XML every `interval` seconds, each snapshot framed by POLL_BEGIN and
    POLL_END <exit code>, until the reader stops it (SshRunner kills its process group)."""
    loop = (f'while :; do echo {POLL_BEGIN}; {shlex.join(CRM_MON_ARGV)} 2>&1; echo "{POLL_END} $?"; '
            'sleep "$1"; done')
    return ("sh", "-c", loop, "axha-follow", f"{interval:g}")


def live_check_argv() -> tuple[str, ...]:
    return ("crm_simulate", "--live-check", "--run")


def transition_summary(text: str) -> tuple[str, ...]:
    """The `Transition Summary:` lines of crm_simulate output."""
    lines = text.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.strip().startswith("Transition Summary"))
    except StopIteration:
        return ()
    out = []
    for line in lines[start + 1:]:
        if not line.strip():
            if out:
                break
            continue
        if line.strip().startswith("Executing") or not line.startswith(" "):
            break
        out.append(re.sub(r"\s+", " ", line.strip().lstrip("* ")))
    return tuple(out)


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class SwitchoverReport:
    ok: bool
    source: str | None
    target: str | None
    gates: tuple[Finding, ...]
    refused: bool = False
    preview: tuple[str, ...] = ()
    moved: bool = False
    cleared: bool | None = None      # None: nothing to clear (no move issued)
    clear_error: str = ""
    duration: float = 0.0
    gap: GapReport | None = None
    banner_after: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"ok": self.ok, "refused": self.refused, "source": self.source, "target": self.target,
                "gates": [g.to_dict() for g in self.gates], "preview": list(self.preview), "moved": self.moved,
                "cleared": self.cleared, "clear_error": self.clear_error, "duration_s": round(self.duration, 3),
                "service_gap": self.gap.to_dict() if self.gap else None, "banner_after": self.banner_after,
                "message": self.message, "warnings": list(self.warnings)}


def _noop(_event) -> None:
    pass


class Switchover:
    """One switchover run. `emit` gets framework events (StepStarted/OutputLine/StepFinished)."""

    def __init__(self, ctx, target: str | None = None, emit: Callable = _noop, *, timeout: float = MOVE_TIMEOUT,
                 measure_gap: bool = True, state: ClusterState | None = None):
        self.ctx, self.wanted, self.emit, self.timeout = ctx, target, emit, timeout
        self.measure_gap, self.state = measure_gap, state

    def say(self, step: str, node: str, line: str) -> None:
        self.emit(OutputLine(step, node, line))

    def gates(self) -> tuple[str | None, str | None, list[Finding]]:
        self.emit(StepStarted("switchover.gates", "Gates"))
        if self.state is None:
            self.state = read_state(self.ctx)
        source, target, findings = switchover_gates(self.state, self.wanted)
        failed = [f for f in findings if f.status == FAIL]
        self.emit(StepFinished("switchover.gates", "failed" if failed else "done",
                               f"{len(failed)} gate(s) failed" if failed else "all gates passed", tuple(findings)))
        return source, target, findings

    def preview(self, runner, target: str) -> tuple[str, ...]:
        self.emit(StepStarted("switchover.preview", "What Pacemaker will do (crm_simulate, on a copy)"))
        result = runner.run(simulate_move_argv(target), timeout=60)
        summary = transition_summary(result.stdout)
        for line in summary:
            self.say("switchover.preview", runner.node, line)
        if result.rc != 0 or not summary:
            self.emit(StepFinished("switchover.preview", "failed", f"crm_simulate exited {result.rc}"))
            raise AxhaError(f"the preview (crm_simulate on a CIB copy) failed on {runner.node}: "
                            f"{(result.stderr or result.stdout).strip()[-300:]}", node=runner.node,
                            remedy="Nothing was changed. Check `crm_simulate -L -R` on the node.")
        self.emit(StepFinished("switchover.preview", "done", f"{len(summary)} change(s)"))
        return summary

    def run(self, *, plan_only: bool = False, confirm: bool = True, journaled: bool = True) -> SwitchoverReport:
        """The switchover as one step of the engine (SwitchoverStep through run_operation); `confirm=False` and
        `journaled=False` for an operation that runs it as one of its stages (the upgrade asks and journals)."""
        step = SwitchoverStep(self, confirm)
        result = run_operation(self.ctx, "switchover", [step], self.emit, plan_only=plan_only, nested=not journaled)
        return step.report(result)

    def _control_node(self, target: str) -> str:
        """Run the Pacemaker commands on the target node (online: a gate), where the service is going; polling
        there keeps the DC, which computes and drives the transition, free of our crm_mon load."""
        return target

    def _move(self, runner, source, target, findings, preview, started) -> SwitchoverReport:
        monitor = ServiceGapMonitor(self.ctx.spec.vip.address).start() if self.measure_gap else None
        moved, cleared, clear_error, message, warnings = False, None, "", "", []
        banner = ""
        ok = False
        try:
            self.emit(StepStarted("switchover.move", f"Move {names.GROUP} to {target}"))
            result = runner.run(move_argv(target), timeout=30, mutating=True)
            if result.rc != 0:
                self.emit(StepFinished("switchover.move", "failed", (result.stderr or result.stdout).strip()))
                raise AxhaError(f"crm_resource --move failed on {runner.node}: "
                                f"{(result.stderr or result.stdout).strip()[-300:]}", node=runner.node)
            moved = True
            self.emit(StepFinished("switchover.move", "done", f"cli-prefer set for {target}"))
            self.follow(runner, target)
            self.emit(StepStarted("switchover.verify", "Service answers on the VIP"))
            if monitor is not None and not monitor.wait_answering(SERVICE_TIMEOUT):
                raise AxhaError(f"the group runs on {target} but SMTP on {self.ctx.spec.vip.address} does not "
                                f"answer within {SERVICE_TIMEOUT:g} s", node=target,
                                remedy=f"Check the axigen service on {target} (systemctl status axigen).")
            answers = service_answers(self.ctx.spec.vip.address)
            bad = [a for a in answers if not a.ok]
            if bad:
                raise AxhaError("after the move the VIP does not answer: " +
                                "; ".join(f"{a.protocol}: {a.error}" for a in bad), node=target)
            banner = answers[0].banner
            for a in answers:
                self.say("switchover.verify", target, f"{a.protocol.upper()}: {a.banner}")
            self.emit(StepFinished("switchover.verify", "done", "SMTP and IMAP answer on the VIP"))
            ok = True
            message = f"{names.GROUP} moved from {source} to {target}"
        except AxhaError as exc:
            message = exc.explain()
        finally:
            if moved:
                cleared, clear_error = self.clear(runner)
                if not cleared:
                    message += f"\nThe move constraint could NOT be cleared: {clear_error}"
                elif not ok:
                    message += "\nThe move constraint was cleared although the move did not finish."
            gap = monitor.stop() if monitor is not None else None
        if ok and cleared:
            warnings.extend(self.after_clear(runner, target))
        return SwitchoverReport(ok and bool(cleared), source, target, tuple(findings), preview=preview, moved=moved,
                                cleared=cleared, clear_error=clear_error, duration=time.monotonic() - started,
                                gap=gap, banner_after=banner, message=message, warnings=tuple(warnings))

    def follow(self, runner, target: str) -> None:
        """Watch crm_mon until the group runs fully on target with DRBD promoted there (or a failure, the timeout).
        One streaming command on the node runs crm_mon every FOLLOW_INTERVAL (follow_argv): the end of the
        transition is seen within ~0.2 s, without an SSH exec per look."""
        self.emit(StepStarted("switchover.follow", "Following the transition"))
        seen: dict[str, str] = {}
        clone_id = names.drbd_clone(self.ctx.spec.storage.drbd.resource)
        lines: list[str] = []
        outcome: list[str | AxhaError] = []

        def on_line(line: str) -> bool | None:
            if line == POLL_BEGIN:
                lines.clear()
            elif line.startswith(POLL_END):
                verdict = self._judge("\n".join(lines), target, clone_id, seen, runner.node)
                if verdict is not None:
                    outcome.append(verdict)
                    return True
            else:
                lines.append(line)
            return None

        try:
            result = runner.stream(follow_argv(), on_line, timeout=self.timeout, cancel=self.ctx.cancel)
        except CommandTimeout:
            result = None
        self.ctx.check_cancel()
        if not outcome:
            why = (f"did not start on {target} within {self.timeout:g} s" if result is None else
                   f"could not be followed: the crm_mon loop on {runner.node} ended "
                   f"(exit {result.rc}): {(result.stderr or result.stdout).strip()[-200:]}")
            self.emit(StepFinished("switchover.follow", "failed", why))
            raise AxhaError(f"{names.GROUP} {why}", node=target,
                            remedy="axha status shows where it runs now; check the failed actions.")
        if isinstance(outcome[0], AxhaError):
            self.emit(StepFinished("switchover.follow", "failed", str(outcome[0])))
            raise outcome[0]
        self.emit(StepFinished("switchover.follow", "done", f"{names.GROUP} started on {target}"))

    def _judge(self, xml: str, target: str, clone_id: str, seen: dict[str, str],
               node: str) -> str | AxhaError | None:
        """One crm_mon snapshot: "done" when the group runs on target with DRBD promoted only there, an error
        for a failed action of the group, None to keep following (also for a snapshot that does not parse)."""
        try:
            status = parse_crm_mon(xml)
        except PacemakerParseError:
            return None
        for line in _progress_lines(status, clone_id, seen):
            self.say("switchover.follow", node, line)
        clone = status.clone(clone_id)
        promoted = clone.promoted if clone else ()
        if status.where(names.GROUP) == target and promoted == (target,):
            return "done"
        failures = [f for f in status.failed_actions if f.resource in names.GROUP_MEMBERS]
        if failures:
            return AxhaError(f"the move failed: {failures[0].summary()}", node=failures[0].node,
                             remedy="Read the failed action (axha status); the cluster keeps the service "
                                    "where it could start it.")
        return None

    def clear(self, runner) -> tuple[bool, str]:
        self.emit(StepStarted("switchover.clear", "Clear the move constraint"))
        try:
            result = runner.run(clear_argv(), timeout=30, mutating=True)
            check = runner.run(CONSTRAINTS_ARGV, timeout=15)
            left = [c for c in leftover_constraints(parse_constraints(check.stdout))
                    if c.resource == names.GROUP and c.kind in ("cli-prefer", "cli-ban")]
        except (AxhaError, PacemakerParseError) as exc:
            self.emit(StepFinished("switchover.clear", "failed", str(exc)))
            return False, f"{exc}; run `crm_resource --clear -r {names.GROUP}` on a node"
        if result.rc != 0 or left:
            why = (result.stderr or result.stdout).strip() or ", ".join(c.id for c in left)
            self.emit(StepFinished("switchover.clear", "failed", why))
            return False, f"{why}; run `crm_resource --clear -r {names.GROUP}` on a node"
        self.emit(StepFinished("switchover.clear", "done", "no cli-prefer/cli-ban left"))
        return True, ""

    def after_clear(self, runner, target: str) -> list[str]:
        """After the clear, ask the live scheduler whether it wants to move anything back (stickiness too low)."""
        result = runner.run(live_check_argv(), timeout=30)
        moves = [l for l in transition_summary(result.stdout) if names.GROUP in l or "fs-axigen" in l
                 or "Move" in l or "Promote" in l or "Demote" in l]
        if moves:
            return [f"after clearing the constraint Pacemaker plans: {'; '.join(moves)} (resource-stickiness?)"]
        return []


class SwitchoverStep(Step):
    """check: every gate (all reported together; any FAIL refuses). plan: crm_simulate's preview of the move on a
    CIB copy, and the two changing commands. The confirmation names the node that takes over. apply: the move,
    following the transition, the VIP check and, always, the clear. verify: the move constraint is gone."""

    id, title = "switchover", "Switchover"

    def __init__(self, sw: Switchover, ask: bool):
        self.sw, self.ask = sw, ask
        self.started = time.monotonic()
        self.source: str | None = None
        self.target: str | None = None
        self.gates: list[Finding] = []
        self.preview: tuple[str, ...] = ()
        self.result: SwitchoverReport | None = None

    def check(self, ctx) -> list[Finding]:
        self.source, self.target, self.gates = self.sw.gates()
        if self.target is None and worst(self.gates) != FAIL:   # not reached: no target means no active node
            return [Finding("NO_TARGET", None, FAIL, "no node to switch over to")]
        return self.gates

    def plan(self, ctx) -> list[Action]:
        runner = ctx.runner(self.sw._control_node(self.target))
        self.preview = self.sw.preview(runner, self.target)
        return [Action(runner.node, move_argv(self.target), f"prefer {self.target} for {names.GROUP} (cli-prefer), "
                       "then follow the transition and check SMTP/IMAP on the VIP"),
                Action(runner.node, clear_argv(), "clear the move constraint (also when the move fails)")]

    def confirmation(self, ctx, plan: list[Action]) -> Confirmation | None:
        if not self.ask:
            return None
        gates = "\n".join(f"{f.status} {f.summary}" for f in self.gates)
        return Confirmation("switchover", f"Switch Axigen over from {self.source} to {self.target}?",
                            f"Gates:\n{gates}\nPacemaker will do:\n" + "\n".join(self.preview) +
                            f"\nMail service pauses for the move (a few seconds). Type {self.target}, the node that "
                            "takes over, to confirm.", expected=self.target)

    def apply(self, ctx, plan: list[Action], emit) -> None:
        runner = ctx.runner(plan[0].node)
        self.result = self.sw._move(runner, self.source, self.target, self.gates, self.preview, self.started)
        if not self.result.ok:
            raise AxhaError(self.result.message, node=self.target)

    def verify(self, ctx) -> list[Finding]:
        if self.result is not None and not self.result.cleared:
            return [Finding("MOVE_CONSTRAINT_LEFT", None, FAIL, f"the move constraint was not cleared: "
                            f"{self.result.clear_error}", f"crm_resource --clear -r {names.GROUP}")]
        return []

    def report(self, run: RunReport) -> SwitchoverReport:
        """The engine's outcome in the switchover's own report (the CLI's --json, the bench, the upgrade)."""
        if self.result is not None:
            return self.result
        took = time.monotonic() - self.started
        finished = run.finished[-1] if run.finished else None
        base = dict(source=self.source, target=self.target, gates=tuple(self.gates), preview=self.preview,
                    duration=took)
        if finished is not None and finished.status == "planned":
            return SwitchoverReport(True, message="plan only: nothing changed", **base)
        failed = [f for f in self.gates if f.status == FAIL]
        if failed:
            return SwitchoverReport(False, refused=True, **base,
                                    message="switchover refused: " + "; ".join(f.summary for f in failed))
        message = finished.message if finished is not None else "failed"
        if message.startswith("not confirmed"):
            message = "not confirmed: nothing changed"
        return SwitchoverReport(False, message=message, **base)


def _progress_lines(status, clone_id: str, seen: dict[str, str]) -> list[str]:
    """Lines for what changed since the last poll: each group member's role/node and the DRBD promotion."""
    out = []
    clone = status.clone(clone_id)
    current = {}
    if clone is not None:
        current[clone_id] = "Promoted on " + (", ".join(clone.promoted) or "none")
    group = status.group(names.GROUP)
    for member in group.members if group else ():
        current[member.id] = f"{member.role}" + (f" on {member.node}" if member.node else "")
    for key, value in current.items():
        if seen.get(key) != value:
            out.append(f"{key}: {value}")
            seen[key] = value
    return out
