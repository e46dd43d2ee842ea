"""The step framework: findings, planned actions, events, the context steps run in, and the engine loop."""
from __future__ import annotations

import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

from axha.steps.errors import AxhaError, Cancelled, CommandFailed

T = TypeVar("T")

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"


@dataclass(frozen=True)
class Finding:
    """A verdict. `code` is a stable UPPER_SNAKE name (RAM_BELOW_BASELINE) that tests and --json consumers match."""

    code: str
    node: str | None
    status: str
    summary: str
    remedy: str = ""
    detail: str = ""

    def to_dict(self) -> dict:
        return {"code": self.code, "node": self.node, "status": self.status, "summary": self.summary,
                "remedy": self.remedy, "detail": self.detail}


def worst(findings: Sequence[Finding]) -> str:
    """The overall status of a set of findings: FAIL beats WARN beats PASS; empty or all SKIP is SKIP."""
    statuses = {f.status for f in findings}
    for status in (FAIL, WARN, PASS):
        if status in statuses:
            return status
    return SKIP


@dataclass(frozen=True)
class Action:
    """One command a step will run on one node. `stdin` may carry secrets: it is never shown or logged."""

    node: str
    argv: tuple[str, ...]
    why: str
    stdin: str | None = None
    timeout: float = 120.0
    destructive: bool = False

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def to_dict(self) -> dict:
        return {"node": self.node, "command": self.command, "why": self.why, "destructive": self.destructive}


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class StepStarted:
    step_id: str
    title: str


@dataclass(frozen=True)
class PlanReady:
    step_id: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class ActionStarted:
    step_id: str
    node: str
    command: str
    why: str


@dataclass(frozen=True)
class OutputLine:
    step_id: str
    node: str
    line: str


@dataclass(frozen=True)
class Progress:
    """Progress of a long action: done/total in `unit`, rate per second and ETA in seconds (None if unknown)."""

    step_id: str
    node: str
    done: float
    total: float
    rate: float | None = None
    eta: float | None = None
    label: str = ""
    unit: str = "%"


@dataclass(frozen=True)
class ActionFinished:
    step_id: str
    node: str
    command: str
    rc: int
    duration: float


@dataclass(frozen=True)
class StepFinished:
    """status: done (applied and verified), skipped (nothing to do / already done), planned (plan only), failed."""

    step_id: str
    status: str
    message: str = ""
    findings: tuple[Finding, ...] = ()


Event = Any
Emit = Callable[[Event], None]


def event_to_dict(event: Event) -> dict:
    """A JSON-ready dict of an event, for `--json` streams."""
    out: dict[str, Any] = {"event": type(event).__name__}
    for key, value in vars(event).items():
        if isinstance(value, tuple) and value and hasattr(value[0], "to_dict"):
            value = [v.to_dict() for v in value]
        out[key] = value
    return out


# ---------------------------------------------------------------- confirmation


@dataclass(frozen=True)
class Confirmation:
    """A question for the admin before a destructive or disruptive action. When `expected` is set the admin must
    type exactly that text (e.g. the disk path or the node name); a plain yes is not enough.

    The engine asks every question an operation needs; each front end answers them by one policy (README,
    "Confirmations"). `by_command`: the question only asks whether the admin meant this operation on this target;
    a command line that names both (`axha standby node1`, `axha maintenance on`) is that answer already, while
    the wizard, where one key starts the operation, asks it. Questions that protect data (a disk wipe, the node
    whose changes are discarded, the node that takes over) are never `by_command`."""

    key: str
    title: str
    details: str
    expected: str | None = None
    by_command: bool = False


Confirm = Callable[[Confirmation], bool]


def refuse_all(_: Confirmation) -> bool:
    return False


# ---------------------------------------------------------------- context


@dataclass
class Context:
    """Everything a step needs: the spec, secrets, one runner per node, the BMC clients, audit and journal."""

    spec: Any
    runners: dict[str, Any]
    secrets: Any = None
    audit: Any = None
    journal: Any = None
    bmc: Callable[[str], Any] | None = None
    confirm: Confirm = refuse_all
    cancel: threading.Event = field(default_factory=threading.Event)
    options: dict[str, Any] = field(default_factory=dict)
    local: Any = None  # a runner for the machine axha runs on (checks from the wizard's side)

    def runner(self, node: str):
        return self.runners[node]

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled by the admin", remedy="Run again to continue where it stopped.")

    def execute(self, action: Action, emit: Emit, step_id: str):
        """Run one planned action as a changing command, streaming its output as events; raise on failure."""
        self.check_cancel()
        emit(ActionStarted(step_id, action.node, action.command, action.why))
        runner = self.runners[action.node]
        result = runner.stream(action.argv, lambda line: emit(OutputLine(step_id, action.node, line)),
                               timeout=action.timeout, stdin=action.stdin, mutating=True, cancel=self.cancel)
        emit(ActionFinished(step_id, action.node, action.command, result.rc, result.duration))
        if result.stopped:
            self.check_cancel()
        if result.rc != 0:
            raise CommandFailed(result, f"{action.why} failed on {action.node}: `{action.command}` exited {result.rc}",
                                remedy="Read the output above, fix the cause, then run again: axha resumes here.")
        return result


# ---------------------------------------------------------------- steps


class Step:
    """check -> plan (shown) -> apply -> verify. An empty plan means there is nothing to do.

    `outcome`, when a step sets it, is the sentence its StepFinished (and journal entry) carries instead of the
    engine's generic one ("already in place", "applied in N s")."""

    id: str = ""
    title: str = ""
    destructive: bool = False
    outcome: str = ""

    def finished_status(self) -> str:
        """The status of a run whose plan was empty: "skipped" (nothing to do); a step that only reads and
        judges (a gate, a final verification) says "done" when it did its reading this time."""
        return "skipped"

    def check(self, ctx: Context) -> list[Finding]:
        """Preconditions read from the real state; any FAIL stops the run before anything changes."""
        return []

    def plan(self, ctx: Context) -> list[Action]:
        """The exact commands per node that would bring the real state to the wanted state."""
        return []

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        for action in plan:
            ctx.execute(action, emit, self.id)

    def verify(self, ctx: Context) -> list[Finding]:
        """Read the real state again; FAIL findings mean the step did not reach its goal."""
        return []

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        """The question to ask before applying a destructive plan (None: no question needed)."""
        return None


@dataclass(frozen=True)
class RunReport:
    ok: bool
    finished: tuple[StepFinished, ...]
    changed: bool

    def to_dict(self) -> dict:
        return {"ok": self.ok, "changed": self.changed, "steps": [event_to_dict(f) for f in self.finished]}


def run_steps(ctx: Context, steps: Sequence[Step], emit: Emit, *, plan_only: bool = False,
              bound: bool = False) -> RunReport:
    """Run steps in order, journaled (see _run_steps); with plan_only, only show what each would do. `bound`: the
    caller has already checked ctx.journal against the cluster (steps.session.bind_opened_journal)."""
    if plan_only:  # every front end's plan reads like `axha install --plan`: steps know they only plan
        previous = ctx.options.get("plan")
        ctx.options["plan"] = True
        try:
            return _run_steps(ctx, steps, emit, True, bound)
        finally:
            ctx.options["plan"] = previous
    return _run_steps(ctx, steps, emit, False, bound)


def _plan_note(step: Step, ctx: Context, plan: list[Action]) -> str:
    """What a planned step will really do before its destructive commands: ask (and for what), or not."""
    note = f"{len(plan)} command(s)"
    if not any(a.destructive for a in plan):
        return note
    question = step.confirmation(ctx, plan)
    if question is None:
        return f"{note}; destructive, but no data found on the disk: no question"
    typed = f" (type {question.expected!r}" if question.expected else " (confirm"
    return (f"{note}; data found: asks before running{typed}, or pass --wipe-disk NODE:PATH), "
            f"else this step refuses: {question.title}")


def _run_steps(ctx: Context, steps: Sequence[Step], emit: Emit, plan_only: bool, bound: bool = False) -> RunReport:
    """Run steps in order, journaled: each checks the real state first, so a re-run resumes and a finished install
    changes nothing. Stops at the first failure."""
    finished: list[StepFinished] = []
    changed = False

    def finish(event: StepFinished) -> None:
        finished.append(event)
        emit(event)

    for index, step in enumerate(steps):
        emit(StepStarted(step.id, step.title))
        try:
            if index == 0 and not plan_only and not bound:
                for note in _open_journal(ctx):
                    emit(OutputLine(step.id, "journal", note))
            ctx.check_cancel()
            findings = step.check(ctx)
            blocking = [f for f in findings if f.status == FAIL]
            if blocking:
                _journal(ctx, step.id, "failed", blocking[0].summary)
                finish(StepFinished(step.id, "failed", blocking[0].summary, tuple(findings)))
                return RunReport(False, tuple(finished), changed)
            plan = step.plan(ctx)
            emit(PlanReady(step.id, tuple(plan)))
            if plan_only:
                finish(StepFinished(step.id, "planned" if plan else step.finished_status(),
                                    _plan_note(step, ctx, plan) if plan else step.outcome or "nothing to do"))
                continue
            if not plan:
                problems = [f for f in step.verify(ctx) if f.status == FAIL]
                if problems:
                    _journal(ctx, step.id, "failed", problems[0].summary)
                    finish(StepFinished(step.id, "failed", problems[0].summary, tuple(problems)))
                    return RunReport(False, tuple(finished), changed)
                said = step.outcome or "already in place"
                _journal(ctx, step.id, "done", said)
                finish(StepFinished(step.id, step.finished_status(), said))
                continue
            question = step.confirmation(ctx, plan)
            if question is not None and not ctx.confirm(question):
                _journal(ctx, step.id, "failed", "not confirmed")
                finish(StepFinished(step.id, "failed", f"not confirmed: {question.title}"))
                return RunReport(False, tuple(finished), changed)
            _journal(ctx, step.id, "running")
            started = time.monotonic()
            changed = True
            step.apply(ctx, plan, emit)
            problems = [f for f in step.verify(ctx) if f.status == FAIL]
            if problems:
                _journal(ctx, step.id, "failed", problems[0].summary)
                finish(StepFinished(step.id, "failed", problems[0].summary, tuple(problems)))
                return RunReport(False, tuple(finished), changed)
            said = step.outcome or f"applied in {time.monotonic() - started:.1f} s"
            _journal(ctx, step.id, "done", said)
            finish(StepFinished(step.id, "done", said))
        except AxhaError as exc:
            _journal(ctx, step.id, "failed", str(exc))
            finish(StepFinished(step.id, "failed", exc.explain()))
            return RunReport(False, tuple(finished), changed)
    if ctx.journal is not None and not plan_only:
        ctx.journal.finish()   # a later run is a new operation (it still re-checks every step)
    return RunReport(True, tuple(finished), changed)


def _open_journal(ctx: Context) -> list[str]:
    """Before a journaled run obeys its journal: set it aside when it belongs to another instance of the cluster,
    start a new one when its operation finished (steps.instance.bind_journal); the notes, plus what it resumes."""
    if ctx.journal is None:
        return []
    from axha.steps.instance import bind_journal

    nodes = list(ctx.spec.node_names) if ctx.spec is not None else list(ctx.runners)
    notes = bind_journal(ctx.journal, ctx.runners, nodes)
    done = [s for s, e in ctx.journal.data.get("steps", {}).items() if e.get("state") == "done"]
    if done:
        notes.append(f"journal {ctx.journal.path.name}: {', '.join(done)} finished earlier; each is re-checked "
                     f"against the real state")
    return notes


def _journal(ctx: Context, step_id: str, state: str, message: str = "") -> None:
    if ctx.journal is not None:
        ctx.journal.mark(step_id, state, message)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, ctx: Context, interval: float = 1.0,
             node: str | None = None, remedy: str = "") -> T:
    """The engine's one polling wait: probe() until it returns something truthy, bounded by `timeout` (then
    CommandTimeout naming `what`), cancellable at once between polls (ctx.cancel)."""
    from axha.steps.errors import CommandTimeout

    deadline = time.monotonic() + timeout
    while True:
        ctx.check_cancel()
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CommandTimeout(f"{what}: not reached within {timeout:g} s", node=node,
                                 remedy=remedy or "Look at the node's logs (corosync, pacemaker), fix the cause, "
                                 "run again.")
        ctx.cancel.wait(interval)
