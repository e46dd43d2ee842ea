"""The install screen: the steps with their state, the exact commands of the selected step, DRBD sync progress,
the live log, and on failure the reason, node, output and what to do next. The engine runs in a worker."""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from axha.steps.framework import (ActionFinished, ActionStarted, OutputLine, PlanReady, Progress, StepFinished,
                             StepStarted)
from axha.tui.commands import KeyCommands
from axha.tui.widgets.logpane import LogPane
from axha.tui.widgets.navbar import NavBar
from axha.tui.widgets.sync_progress import SyncProgress

MARKS = {"pending": ("[ ]", ""), "running": ("[>]", "bold yellow"), "done": ("[x]", "green"),
         "skipped": ("[=]", "green"), "planned": ("[p]", "cyan"), "failed": ("[!]", "bold red")}
TAIL = 12   # output lines kept per step for the failure panel
# what the marks in the step list mean: under the list, and on the Keys page (F1)
LEGEND = Text.assemble(("[x]", "green"), " done  ", ("[=]", "green"), " no change\n", ("[>]", "bold yellow"),
                       " running  ", ("[p]", "cyan"), " planned\n", ("[!]", "bold red"), " failed  [ ] to do")


@dataclass
class StepView:
    """What the screen knows about one step (main thread only)."""

    id: str
    title: str
    state: str = "pending"
    message: str = ""
    actions: tuple = ()
    findings: tuple = ()
    output: deque = None

    def __post_init__(self):
        if self.output is None:
            self.output = deque(maxlen=TAIL)


def plan_text(view: StepView | None) -> Text:
    """The exact commands of a step, per node, with why (pure)."""
    text = Text()
    if view is None:
        return Text("Select a step to see its commands.")
    text.append(f"{view.title}\n", style="bold")
    if not view.actions:
        text.append("nothing to do" if view.state in ("skipped", "planned", "done") else
                    "the plan is made when the step starts (it reads the real state first)", style="dim")
        return text
    for action in view.actions:
        text.append(f"[{action.node}] ", style="bold cyan")
        text.append(f"$ {action.command}\n")
        text.append(f"    # {action.why}\n", style="dim")
        if action.destructive:
            text.append("    DESTRUCTIVE (asks first only if data is found on the disk)\n", style="bold red")
    if view.state == "planned" and view.message:
        text.append(f"plan: {view.message}\n", style="bold")
    return text


def failure_text(view: StepView) -> Text:
    """Why a step failed, where, its last output, and what to do next (pure)."""
    text = Text()
    text.append(f"{view.title} failed\n", style="bold red")
    text.append(f"{view.message}\n")
    for f in view.findings:
        if f.status == "FAIL":
            text.append(f"{'[' + f.node + '] ' if f.node else ''}{f.code}: {f.summary}\n")
            if f.remedy:
                text.append(f"  -> {f.remedy}\n", style="yellow")
    if view.output:
        text.append("last output:\n", style="bold")
        for node, line in view.output:
            text.append(f"  [{node}] {line}\n", style="dim")
    text.append("Next: fix the cause, then press r: the install re-checks every step and resumes here.",
                style="bold")
    return text


class InstallScreen(Screen):
    """Build the cluster step by step. `ctx_factory()` opens a Context (called in the worker only)."""

    KEYS_TITLE = "Install"
    KEYS_LEGEND = ("Step list: [x] done, [=] no change needed (the real state was already right), [>] running, "
                   "[p] planned (p: plan only), [!] failed, [ ] not run yet.")
    BINDINGS = [
        Binding("r", "run", "Run install", tooltip="Run the install (or resume it: every step re-checks the "
                "real state first)"),
        Binding("p", "plan", "Plan only", tooltip="Show every command the install would run, changing nothing"),
        Binding("c", "cancel", "Cancel", tooltip="Stop the running install (a re-run resumes where it stopped)"),
    ]
    COMMANDS = Screen.COMMANDS | {KeyCommands}
    DEFAULT_CSS = """
    InstallScreen #top { height: 1fr; }
    InstallScreen #left { width: 27; height: 100%; }
    InstallScreen #steps { width: 100%; height: 1fr; border: round $primary; }
    InstallScreen #legend { height: 3; padding: 0 1; color: $text-muted; }
    InstallScreen #right { width: 1fr; }
    InstallScreen #plan { height: 1fr; min-height: 4; border: round $primary; padding: 0 1; }
    InstallScreen #failure-box { display: none; height: 1fr; min-height: 4; border: round $error; padding: 0 1; }
    InstallScreen #failure-box.-shown { display: block; }
    InstallScreen SyncProgress { display: none; }
    InstallScreen SyncProgress.-shown { display: block; }
    InstallScreen LogPane { height: 6; }
    InstallScreen #status { height: 1; padding: 0 1; }
    """

    class EngineEvent(Message):
        """An engine event from the worker (progress arrives as ProgressReady instead, collapsed)."""

        def __init__(self, event) -> None:
            super().__init__()
            self.event = event

    class ProgressReady(Message):
        """Progress is waiting in the screen's latest-progress slot (many events become one message)."""

    class StepsKnown(Message):
        def __init__(self, steps: list[tuple[str, str]]) -> None:
            super().__init__()
            self.steps = steps

    def __init__(self, ctx_factory=None, *, options: dict | None = None, nodes: tuple[str, ...] = ("node1", "node2"),
                 name: str | None = None):
        super().__init__(name=name)
        self.ctx_factory, self.options = ctx_factory, dict(options or {})
        self.nodes = nodes
        self.views: dict[str, StepView] = {}
        self.selected: str | None = None
        self._latest: dict[tuple[str, str], Progress] = {}
        self._progress_lock = threading.Lock()
        self._progress_posted = False
        self._cancel: threading.Event | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        spec = getattr(self.app, "spec", None)
        if spec is not None:
            self.nodes = tuple(spec.node_names)
        yield NavBar()
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield OptionList(id="steps")
                yield Static(LEGEND, id="legend")
            with Vertical(id="right"):
                with VerticalScroll(id="plan"):
                    yield Static(plan_text(None), id="plan-text")
                with VerticalScroll(id="failure-box"):   # scrolls: at 80x24 it shares the space with Commands
                    yield Static("", id="failure")
                yield SyncProgress(self.nodes, id="sync")
        yield Static("r: run the install   p: show the plan only   c: cancel", id="status")
        yield LogPane()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#steps", OptionList).border_title = "Steps"
        self.query_one("#plan", VerticalScroll).border_title = "Commands"

    # ------------------------------------------------------------ feeding events (main thread)

    def feed(self, event) -> None:
        """Apply one engine event to the screen (main thread). The worker and the replay tests both use this."""
        if isinstance(event, StepStarted):
            view = self._view(event.step_id, event.title)
            view.state, view.message = "running", ""
            self._select(event.step_id)
            self._status(f"{event.title}...")
        elif isinstance(event, PlanReady):
            self._view(event.step_id).actions = tuple(event.actions)
        elif isinstance(event, ActionStarted):
            self._log(f"[{event.node}] $ {event.command}    # {event.why}")
        elif isinstance(event, OutputLine):
            self._view(event.step_id).output.append((event.node, event.line))
            self._log(f"[{event.node}] {event.line}")
        elif isinstance(event, ActionFinished):
            if event.rc != 0:
                self._log(f"[{event.node}] exited {event.rc} after {event.duration:.1f} s")
        elif isinstance(event, Progress):
            self.query_one(SyncProgress).update_progress(event)
        elif isinstance(event, StepFinished):
            view = self._view(event.step_id)
            view.state, view.message, view.findings = event.status, event.message, tuple(event.findings)
            self._log(f"-> {event.step_id}: {event.status}" + (f" ({event.message})" if event.message else ""))
            if event.status == "failed":
                self.query_one("#failure", Static).update(failure_text(view))
                box = self.query_one("#failure-box", VerticalScroll)
                box.border_title = "Failure"
                box.add_class("-shown")
                self._select(event.step_id)
                self._status(f"FAILED at {view.title}: press r to run again after fixing the cause")
        self._refresh_steps()

    def _view(self, step_id: str, title: str = "") -> StepView:
        if step_id not in self.views:
            self.views[step_id] = StepView(step_id, title or step_id)
        elif title:
            self.views[step_id].title = title
        return self.views[step_id]

    def _refresh_steps(self) -> None:
        steps = self.query_one("#steps", OptionList)
        highlighted = steps.highlighted
        steps.clear_options()
        for view in self.views.values():
            mark, style = MARKS.get(view.state, ("[?]", ""))
            steps.add_option(Option(Text.assemble((mark + " ", style), view.id[:21]), id=view.id))
        if self.selected in self.views:
            steps.highlighted = list(self.views).index(self.selected)
        elif highlighted is not None:
            steps.highlighted = highlighted
        self._show_selected()

    def _show_selected(self) -> None:
        self.query_one("#plan-text", Static).update(plan_text(self.views.get(self.selected)))
        sync = self.query_one(SyncProgress)
        view = self.views.get(sync.step_id)
        # the sync panel while the sync runs, or when its step is selected
        sync.set_class(view is not None and view.state != "pending" and
                       (view.state == "running" or self.selected == sync.step_id), "-shown")

    def _select(self, step_id: str) -> None:
        self.selected = step_id

    def _log(self, line: str) -> None:
        write_log = getattr(self.app, "write_log", None)  # AxhaApp: the one log, kept for F6 and every pane
        if write_log is not None:
            write_log(line)
            return
        for pane in self.query(LogPane):
            pane.write_lines([line])

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    @on(OptionList.OptionHighlighted, "#steps")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.selected:
            self.selected = event.option.id
            self._show_selected()

    def on_install_screen_engine_event(self, message: EngineEvent) -> None:
        self.feed(message.event)

    def on_install_screen_progress_ready(self, _: ProgressReady) -> None:
        with self._progress_lock:
            latest, self._latest, self._progress_posted = self._latest, {}, False
        for event in latest.values():
            self.feed(event)

    def on_install_screen_steps_known(self, message: StepsKnown) -> None:
        for step_id, title in message.steps:
            self._view(step_id, title)
        if self.selected is None and message.steps:
            self.selected = message.steps[0][0]
        self._refresh_steps()

    # ------------------------------------------------------------ the worker

    def emit(self, event) -> None:
        """The engine's emit (worker thread): progress collapses to the latest per node; the rest is posted."""
        if isinstance(event, Progress):
            with self._progress_lock:
                self._latest[(event.step_id, event.node)] = event
                if self._progress_posted:
                    return
                self._progress_posted = True
            self.post_message(self.ProgressReady())
            return
        self.post_message(self.EngineEvent(event))

    def action_run(self) -> None:
        self._start(plan_only=False)

    def action_plan(self) -> None:
        self._start(plan_only=True)

    def action_cancel(self) -> None:
        if not self.running:
            self._status("Nothing is running: there is nothing to cancel.")
            return
        if self._cancel is None:
            self._status("Still connecting to the nodes: press c again in a moment to cancel.")
            return
        self._cancel.set()
        self._status("cancelling: the running command is stopped, a re-run resumes here")

    def _start(self, plan_only: bool) -> None:
        if self.ctx_factory is None:
            self.notify("no cluster connection (replay mode)", severity="warning")
            return
        if self.running:
            self.notify("the install is running: c cancels it", severity="warning")
            return
        self.query_one("#failure-box", VerticalScroll).remove_class("-shown")
        self.running = True
        self.run_engine(plan_only)

    @work(thread=True, exclusive=True, group="install")
    def run_engine(self, plan_only: bool) -> None:
        from axha.steps.framework import StepFinished as Finished
        from axha.steps.framework import run_steps
        from axha.steps.install import install_steps

        try:
            try:
                ctx = self.ctx_factory(journal=None if plan_only else "install")
            except TypeError:
                ctx = self.ctx_factory()
            ctx.options.update(self.options)
            self._cancel = ctx.cancel
            steps = install_steps(ctx.spec, ctx.options)
            self.post_message(self.StepsKnown([(s.id, s.title) for s in steps]))
            report = run_steps(ctx, steps, self.emit, plan_only=plan_only)
            text = ("plan ready: select a step to see its commands" if plan_only else
                    "cluster installed and verified" if report.ok else "install stopped: see the failure panel")
            self.app.call_from_thread(self._status, text)
        except Exception as exc:  # connection or input problems: shown, never a traceback
            explain = exc.explain() if hasattr(exc, "explain") else f"{type(exc).__name__}: {exc}"
            self.post_message(self.EngineEvent(Finished("connect", "failed", explain)))
        finally:
            self.running, self._cancel = False, None
            try:
                from axha.steps.session import close_context
                close_context(ctx)  # noqa: F821 - ctx may not exist when the factory failed
            except Exception:
                pass
