"""The full-screen readers (log, keys, audit log): read-only text that wraps and scrolls; Esc closes."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from axha.tui.dialogs.audit import audit_text, hidden_count


READER_CSS = """
Reader { align: center middle; background: $background 60%; }
Reader > #frame { width: 100%; height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
Reader #title { text-style: bold; width: 100%; height: auto; }
Reader #hint { color: $text-muted; width: 100%; height: 1; }
Reader #body { height: 1fr; scrollbar-size-vertical: 1; }
Reader #body > Static { width: 100%; height: auto; }
"""


class Reader(ModalScreen[None]):
    """A read-only page of text that wraps and scrolls: arrows/PgUp/PgDn/Home/End, Esc or q closes."""

    DEFAULT_CSS = READER_CSS
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False)]
    AT_END = False  # start scrolled to the end (a log) or at the top (newest-first lists)

    def __init__(self, title: str, hint: str = "Esc closes; arrows, PgUp/PgDn, Home/End scroll"):
        super().__init__()
        self.title_text, self.hint = title, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="frame"):
            yield Label(self.title_text, id="title", markup=False)
            yield Label(self.hint, id="hint", markup=False)
            with VerticalScroll(id="body"):
                yield Static(self.content(), id="content")

    def content(self):
        return Text("")

    def on_mount(self) -> None:
        body = self.query_one("#body", VerticalScroll)
        body.focus()
        if self.AT_END:
            self.call_after_refresh(lambda: body.scroll_end(animate=False))

    def refresh_content(self) -> None:
        self.query_one("#content", Static).update(self.content())

    def action_close(self) -> None:
        self.dismiss(None)


class LogViewer(Reader):
    """The whole log of this session, long lines wrapped, the newest at the bottom (where it opens)."""

    AT_END = True

    def __init__(self, lines: Iterable[str], title: str = "Log"):
        super().__init__(f"{title} (F6)")
        self.lines = list(lines)

    def content(self):
        return Text("\n".join(self.lines) or "(nothing logged yet)")


class KeysDialog(Reader):
    """Every key of the screen underneath and of the app, in words; and what the marks on the screen mean."""

    def __init__(self, rows: list[tuple[str, str]], legend: str = "", title: str = "Keys"):
        super().__init__(f"{title} (F1)", "Esc closes. Ctrl+P opens the command palette: every action, by name.")
        self.rows, self.legend = rows, legend

    def content(self):
        from rich.table import Table

        parts = []
        table = None
        for key, what in self.rows:
            if not key:
                if table is not None:
                    parts.append(table)
                parts.append(Text(f"\n{what}", style="bold"))
                table = Table.grid(padding=(0, 2, 0, 2))
                table.add_column(no_wrap=True, style="bold")
                table.add_column(ratio=1)
                continue
            if table is None:
                table = Table.grid(padding=(0, 2, 0, 2))
                table.add_column(no_wrap=True, style="bold")
                table.add_column(ratio=1)
            table.add_row(key, what)
        if table is not None:
            parts.append(table)
        if self.legend:
            parts.append(Text(f"\n{self.legend}"))
        return Group(*parts)


class AuditViewer(Reader):
    """The audit log, newest first. Read-only commands (the dashboard's polls, preflight's reads) are hidden
    until `p` shows them; every command that changed something is always listed."""

    BINDINGS = Reader.BINDINGS + [Binding("p", "toggle_polls", "Read-only commands")]

    def __init__(self, path: Path, entries: list[dict], show_polls: bool = False, files: int = 1):
        self.path, self.entries, self.show_polls = path, entries, show_polls
        rotated = f" (+{files - 1} rotated)" if files > 1 else ""
        super().__init__(f"Audit log {path}{rotated}", self._hint())

    def _hint(self) -> str:
        return ("Newest first. p hides read-only commands; Esc closes." if self.show_polls else
                f"Newest first; {hidden_count(self.entries)} read-only commands hidden: p shows them. Esc closes.")

    def content(self):
        return audit_text(self.entries, self.show_polls)

    def action_toggle_polls(self) -> None:
        self.show_polls = not self.show_polls
        self.query_one("#hint", Label).update(self._hint())
        self.refresh_content()
        self.query_one("#body", VerticalScroll).scroll_home(animate=False)
