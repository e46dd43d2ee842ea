"""The preflight screen: a node x check matrix that fills in live, a detail pane with output and remedy."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from axha.checks.preflight import CHECKS, CLUSTER, CheckResult, PreflightReport, check_by_id, rerun_check, run_preflight
from axha.tui.commands import KeyCommands
from axha.tui.widgets.navbar import NavBar

STYLE = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold white on red", "SKIP": "dim",
         "...": "italic cyan", "": "dim"}
SEVERITY_ORDER = {"FAIL": 0, "WARN": 1, "SKIP": 2, "PASS": 3}  # the detail pane lists findings in this order


def cell(status: str) -> Text:
    return Text(f" {status or '-':^5} ", style=STYLE.get(status, ""))


class PreflightScreen(Screen):
    """Runs `checks.preflight` in a worker thread; results arrive as messages and fill the matrix."""

    DEFAULT_CSS = """
    PreflightScreen #matrix { height: 14; }
    PreflightScreen #status { height: 1; padding: 0 1; background: $boost; }
    PreflightScreen #detail-box { height: 1fr; border-top: solid $primary; }
    PreflightScreen #detail { padding: 0 1; }
    """
    KEYS_TITLE = "Preflight"
    BINDINGS = [
        # short labels: with the app's F1, ^p and ^q the footer must fit 80 columns
        Binding("r", "rerun", "Re-run", tooltip="Re-run the selected check on both nodes"),
        Binding("a", "run_all", "All", tooltip="Run every check again"),
        Binding("j", "export_json", "JSON", tooltip="Write the report as JSON (asks where)"),
        Binding("m", "export_markdown", "MD", tooltip="Write the report as Markdown (asks where)"),
    ]
    COMMANDS = Screen.COMMANDS | {KeyCommands}

    @dataclass
    class ResultArrived(Message):
        """One check's result for one node (or the pair) is in."""

        bubble = False
        result: CheckResult

    @dataclass
    class RunFinished(Message):
        bubble = False
        report: PreflightReport | None
        error: str = ""

    def __init__(self, ctx_factory, name: str | None = None, export_dir: str | Path = "."):
        super().__init__(name=name)
        self.ctx_factory = ctx_factory
        self.export_dir = Path(export_dir)
        self.rerunning: str | None = None   # the check being re-run alone (None: a full run)
        self.ctx = None
        self.report: PreflightReport | None = None
        self.nodes: tuple[str, ...] = ()
        self.running = False
        self.started = 0.0
        self.auto_selected = False

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield NavBar()
        yield DataTable(id="matrix", cursor_type="cell", zebra_stripes=True)
        yield Static("Preflight: starting...", id="status")
        with VerticalScroll(id="detail-box"):
            yield Static("Select a cell to see its findings, the remedy and the command output.", id="detail")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.action_run_all()

    def _build_table(self, nodes: tuple[str, ...]) -> None:
        table = self.query_one("#matrix", DataTable)
        table.clear(columns=True)
        table.add_column("Check", key="check", width=16)
        for subject in (*nodes, CLUSTER):
            table.add_column(subject, key=subject, width=9)
        for check in CHECKS:  # "..." where a result will come; "-" where none can (no comparison of the pair)
            pending = [cell("...") for _ in nodes] + [cell("..." if check.pair else "")]
            table.add_row(check.title, *pending, key=check.id)
        self.nodes = nodes

    # ------------------------------------------------------------ running

    def action_run_all(self) -> None:
        if self.running:
            self.notify("a preflight run is already going on", severity="warning")
            return
        self._start(None)

    def action_rerun(self) -> None:
        if self.running:
            self.notify("wait for the current run to finish", severity="warning")
            return
        if self.report is None:
            self._start(None)
            return
        self._start(self.selected_check())

    def _start(self, check_id: str | None) -> None:
        self.running = True
        self.rerunning = check_id
        self.started = time.monotonic()
        table = self.query_one("#matrix", DataTable)
        if self.nodes:
            for subject in (*self.nodes, CLUSTER):
                for check in CHECKS:
                    if (check_id is None or check.id == check_id) and (subject != CLUSTER or check.pair):
                        table.update_cell(check.id, subject, cell("..."))
        what = f"re-running {check_by_id(check_id).title}" if check_id else "running every check on both nodes"
        self.query_one("#status", Static).update(f"Preflight: {what} (read-only)...")
        self.run_checks(check_id)

    @work(thread=True, exclusive=True, group="preflight")
    def run_checks(self, check_id: str | None) -> None:
        try:
            if self.ctx is None:
                self.ctx = self.ctx_factory()
                nodes = self.ctx.spec.node_names
                self.app.call_from_thread(self._build_table, nodes)
            emit = lambda r: self.post_message(self.ResultArrived(r))  # noqa: E731 - any thread
            if check_id is None:
                report = run_preflight(self.ctx, emit)
            else:
                report = rerun_check(self.ctx, self.report, check_id, emit)
            self.post_message(self.RunFinished(report))
        except Exception as exc:  # noqa: BLE001 - shown on the screen, never a crash
            explain = getattr(exc, "explain", None)
            self.post_message(self.RunFinished(None, explain() if explain else f"{type(exc).__name__}: {exc}"))

    def on_preflight_screen_result_arrived(self, message: ResultArrived) -> None:
        result = message.result
        if not self.nodes:
            return
        self.query_one("#matrix", DataTable).update_cell(result.check, result.node, cell(result.status))
        if self.report is None:
            self.report = PreflightReport(self.ctx.spec.name if self.ctx else "?", self.nodes)
        self.report.add(result)
        if self.selected() == (result.check, result.node):
            self.show_detail(result.check, result.node)
        done = sum(1 for _ in self.report.results)
        elapsed = time.monotonic() - self.started
        self.query_one("#status", Static).update(f"Preflight: {done} results in {elapsed:.1f} s...")

    def on_preflight_screen_run_finished(self, message: RunFinished) -> None:
        self.running = False
        status = self.query_one("#status", Static)
        if message.report is None:
            status.update(Text(f"Preflight failed: {message.error}", style="bold red"))
            return
        self.report = message.report
        counts = self.report.counts()
        verdict = "ready" if self.report.ok else "NOT ready"
        style = "bold green" if self.report.ok else "bold red"
        tally = f"{counts['FAIL']} FAIL, {counts['WARN']} WARN, {counts['PASS']} PASS"
        rerun = self.rerunning
        if rerun is not None:  # say that it ran again, when, and what it found now
            check = check_by_id(rerun)
            found = ", ".join(f"{subject} {self.report.results[(rerun, subject)].status}"
                              for subject in (*self.nodes, CLUSTER) if (rerun, subject) in self.report.results)
            said = f"Re-ran {check.title} at {time.strftime('%H:%M:%S')}: {found}"
            status.update(Text.assemble(f"{said}; overall ", (verdict, style)))
            line = f"preflight: {said.lower()[0]}{said[1:]}; overall {verdict}: {tally}"
        else:
            status.update(Text.assemble(("Preflight: ", ""), (verdict, style), f" - {tally}",
                                        "  (r re-run, a all, j/m export)"))
            line = f"preflight: {verdict}: {tally} in {time.monotonic() - self.started:.1f} s"
        write_log = getattr(self.app, "write_log", None)  # AxhaApp's log pane; absent in a bare host app
        if write_log is not None:
            write_log(line)
        if not message.report.results:
            return
        if not self.auto_selected:  # after the first run, jump to the first problem (once, not over the admin)
            self.auto_selected = True
            first = next((r for r in self.report.ordered() if r.status == "FAIL"), None) or \
                next((r for r in self.report.ordered() if r.status == "WARN"), None)
            if first is not None:
                self.select(first.check, first.node)

    # ------------------------------------------------------------ selection and detail

    def selected(self) -> tuple[str, str] | None:
        table = self.query_one("#matrix", DataTable)
        if not self.nodes or table.row_count == 0:
            return None
        coordinate = table.cursor_coordinate
        subjects = (*self.nodes, CLUSTER)
        check = CHECKS[coordinate.row].id
        if coordinate.column == 0:
            return (check, "")
        return (check, subjects[coordinate.column - 1])

    def selected_check(self) -> str:
        current = self.selected()
        return current[0] if current else CHECKS[0].id

    def select(self, check_id: str, subject: str) -> None:
        table = self.query_one("#matrix", DataTable)
        row = [c.id for c in CHECKS].index(check_id)
        column = (*self.nodes, CLUSTER).index(subject) + 1
        table.move_cursor(row=row, column=column)
        table.focus()
        self.show_detail(check_id, subject)

    @on(DataTable.CellHighlighted, "#matrix")
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        current = self.selected()
        if current:
            self.show_detail(*current)

    def show_detail(self, check_id: str, subject: str) -> None:
        detail = self.query_one("#detail", Static)
        check = check_by_id(check_id)
        if self.report is None:
            detail.update(f"{check.title}: waiting for results...")
            return
        subjects = [subject] if subject else [*self.nodes, CLUSTER]
        results = [self.report.results[(check_id, s)] for s in subjects if (check_id, s) in self.report.results]
        if not results:
            detail.update(f"{check.title} on {subject or 'both nodes'}: running...")
            return
        text = Text()
        for result in results:
            text.append(f"{check.title} - {result.node}: ", style="bold")
            text.append(result.status, style=STYLE[result.status])
            text.append("\n")
            # what needs the admin first: FAIL, WARN, SKIP, then PASS (stable: the check's order within each)
            for f in sorted(result.findings, key=lambda f: SEVERITY_ORDER.get(f.status, len(SEVERITY_ORDER))):
                text.append(f"{f.status:4} ", style=STYLE[f.status])
                text.append(f"{f.code}", style="bold")
                text.append(f": {f.summary}\n")
                if f.remedy and f.status in ("FAIL", "WARN", "SKIP"):
                    text.append("  What to do: ", style="bold cyan")
                    text.append(f"{f.remedy}\n")
            if subject and result.output:
                text.append("\nCommand output:\n", style="bold")
                text.append(result.output + "\n", style="dim")
        detail.update(text)
        self.query_one("#detail-box", VerticalScroll).scroll_home(animate=False)

    # ------------------------------------------------------------ export

    def export_path(self, suffix: str) -> Path:
        """Where an export goes unless the admin says otherwise: beside the cluster file, else the current
        directory; always absolute, so the message says exactly where it is."""
        cluster = getattr(self.app, "cluster_path", None)
        folder = Path(cluster).expanduser().absolute().parent if cluster else self.export_dir.absolute()
        name = self.report.cluster if self.report is not None else "cluster"
        return folder / f"preflight-{name}.{suffix}"

    def _ask_export(self, suffix: str, render) -> None:
        from axha.tui.dialogs.questions import PathDialog

        if self.report is None or not self.report.results:
            self.notify("nothing to export yet: run the checks first", severity="warning")
            return

        def chosen(path: Path | None) -> None:
            if path is None:
                self.notify("export cancelled; nothing written")
                return
            self._export(path, render())
        kind = "JSON" if suffix == "json" else "Markdown"
        self.app.push_screen(PathDialog(f"Write the preflight report as {kind} to:", self.export_path(suffix),
                                        "Enter writes it (an existing file is replaced); Esc cancels."), chosen)

    def _export(self, path: Path, content: str) -> Path | None:
        from axha.steps.files import atomic_write

        path = Path(path).absolute()
        try:
            atomic_write(path, content, 0o644)
        except OSError as exc:
            self.notify(f"not written: {path}: {exc.strerror or exc}", severity="error", markup=False)
            return None
        self.notify(f"report written to {path}", markup=False)
        write_log = getattr(self.app, "write_log", None)
        if write_log is not None:
            write_log(f"preflight report written to {path}")
        return path

    def action_export_json(self) -> None:
        self._ask_export("json", lambda: self.report.to_json())

    def action_export_markdown(self) -> None:
        self._ask_export("md", lambda: self.report.to_markdown())
