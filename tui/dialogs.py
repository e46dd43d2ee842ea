"""Modal dialogs, each fitting 80x24: a title, a body that scrolls when long, and the answer row (input and
buttons) always on screen below it, the focus on the safe choice. Host keys, typed confirmations, node pickers,
the upgrade's first page, the preflight export path, and the full-screen readers (log, audit log, keys)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

DIALOG_CSS = """
Dialog {
    align: center middle;
    background: $background 60%;
}
Dialog > #frame {
    width: 76;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $warning;
    background: $surface;
    padding: 0 1;
}
Dialog.-calm > #frame { border: thick $primary; }
Dialog #title { text-style: bold; width: 100%; height: auto; }
Dialog #body { height: auto; width: 100%; scrollbar-size-vertical: 1; }
Dialog #body > Static { width: 100%; height: auto; }
Dialog #body > .gap { margin: 1 0 0 0; }
Dialog .fingerprint { text-style: bold; color: $warning; }
Dialog #more { height: 1; width: 100%; color: $text-muted; text-align: right; display: none; }
Dialog #more.-shown { display: block; }
Dialog #answer { height: auto; width: 100%; }
Dialog #ask { margin: 1 0 0 0; }
Dialog #answer Input { width: 100%; }
Dialog #answer Checkbox { width: 100%; height: auto; border: none; padding: 0; }
Dialog #buttons { height: auto; width: 100%; align: right middle; }
Dialog #buttons Button { margin: 0 0 0 1; min-width: 10; }
"""
FRAME_ROWS = 2  # the frame's top and bottom border


class Dialog(ModalScreen):
    """The shared layout. Subclasses yield their body from `body()` and their input/buttons from `answer()`;
    the body's height is capped on every resize so that the title and the answer row always fit the screen."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("pageup", "scroll_body(-1)", "Scroll up", show=False),
                Binding("pagedown", "scroll_body(1)", "Scroll down", show=False)]
    CANCEL_VALUE = None

    title_text = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="frame"):
            yield Label(self.title_text, id="title", markup=False)
            with VerticalScroll(id="body", can_focus=False):
                yield from self.body()
            yield Static("", id="more")
            with Vertical(id="answer"):
                yield from self.answer()

    def body(self) -> Iterable:
        return ()

    def answer(self) -> Iterable:
        return ()

    def on_mount(self) -> None:
        self._fit()
        self.focus_safe()
        self.watch(self.query_one("#body"), "scroll_y", lambda _old, _new: self._show_more(), init=False)

    def on_resize(self, event: Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        """Cap the body so title + body + answer fit the screen's height (the body scrolls beyond that), and
        say so under the body when it does."""
        answer = self.query_one("#answer")
        title = self.query_one("#title")
        fixed = FRAME_ROWS + 1 + max(1, title.outer_size.height) + self._answer_rows(answer)
        self.query_one("#body").styles.max_height = max(2, self.size.height - fixed)
        self.call_after_refresh(self._show_more)

    def _show_more(self) -> None:
        body = self.query_one("#body", VerticalScroll)
        more = self.query_one("#more", Static)
        hidden = body.max_scroll_y
        if hidden > 0:
            below = max(0, hidden - round(body.scroll_y))
            more.update(f"{below} more line(s) below: PgDn / PgUp scroll" if below else
                        "the end; PgUp scrolls back")
        more.set_class(hidden > 0, "-shown")

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one("#body", VerticalScroll)
        if direction > 0:
            body.scroll_page_down(animate=False)
        else:
            body.scroll_page_up(animate=False)

    def _answer_rows(self, answer) -> int:
        """Rows of the answer area; before the first layout, from the widgets' kinds (Input and Button: 3)."""
        if answer.outer_size.height:
            return answer.outer_size.height
        rows = 0
        for child in answer.children:
            if isinstance(child, Horizontal):
                rows += 3
            elif isinstance(child, Input):
                rows += 3
            else:
                rows += 1
        return rows

    def focus_safe(self) -> None:
        """Put the focus on the choice that changes nothing (overridden where typing is the safeguard)."""
        buttons = self.query("#cancel")
        if buttons:
            buttons.first().focus()

    def action_cancel(self) -> None:
        self.dismiss(self.CANCEL_VALUE)


class HostKeyDialog(Dialog):
    """Shows an unknown host key's fingerprint; dismisses True (accept, remember in known_hosts) or False."""

    CANCEL_VALUE = False
    BINDINGS = [Binding("escape", "cancel", "Refuse")]

    def __init__(self, error):
        super().__init__()
        self.error = error
        self.title_text = f"Unknown SSH host key: {error.node or ''} ({error.hostname})"

    def body(self) -> Iterable:
        e = self.error
        short = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa", "rsa-sha2-512": "rsa"}.get(
            e.key_type, "ecdsa" if e.key_type.startswith("ecdsa") else "*")
        yield Static(f"{e.key_type} key fingerprint:", classes="gap", markup=False)
        yield Static(e.fingerprint, classes="fingerprint", id="fingerprint", markup=False)
        yield Static("Compare it with the node's own key, on its console:\n"
                     f"  ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub\n"
                     "Accept only if they match. Accepting adds it to known_hosts.", classes="gap", markup=False)

    def answer(self) -> Iterable:
        with Horizontal(id="buttons"):
            yield Button("Refuse", id="cancel")
            yield Button("Accept", id="accept", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")


class TypedConfirm(Dialog):
    """A steps.framework.Confirmation: the admin types the expected text (or `yes`) to confirm; Esc cancels.
    The focus starts in the field: typing the exact text is the safeguard, and Enter on anything else does
    nothing (Confirm stays disabled until the text matches)."""

    CANCEL_VALUE = False

    def __init__(self, confirmation):
        super().__init__()
        self.confirmation = confirmation
        self.expected = confirmation.expected or "yes"
        self.title_text = confirmation.title

    def body(self) -> Iterable:
        if self.confirmation.details:
            yield Static(self.confirmation.details, id="details", markup=False)

    def answer(self) -> Iterable:
        yield Static(Text.assemble("Type ", (self.expected, "bold"), " exactly to continue (Esc cancels):"),
                     id="ask")
        yield Input(placeholder=f"type {self.expected} here", id="typed", select_on_focus=False)
        with Horizontal(id="buttons"):
            yield Button("Cancel", id="cancel")
            yield Button("Confirm", id="confirm", variant="error", disabled=True)

    def _answer_rows(self, answer) -> int:
        return answer.outer_size.height or 7  # the question line, the field (3) and the buttons (3)

    def focus_safe(self) -> None:
        self.query_one("#typed", Input).focus()

    def matches(self) -> bool:
        return self.query_one("#typed", Input).value.strip() == self.expected

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not self.matches()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.matches():
            self.dismiss(True)
        else:
            self.notify(f"type {self.expected} exactly, or Esc to cancel", severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm" and self.matches())


def safe_node(nodes: tuple[str, ...], risky: Iterable[str]) -> str | None:
    """The node a picker should offer first: the first that is not risky (runs the service, DRBD Primary)."""
    risky = set(risky)
    return next((n for n in nodes if n not in risky), None)


class NodePicker(Dialog):
    """Pick one node (standby/unstandby, the split-brain victim). The focus starts on `default` (the caller
    passes the passive node), never on the node that runs the service; Cancel is next to it."""

    def __init__(self, title: str, nodes: tuple[str, ...], detail: str = "", default: str | None = None):
        super().__init__()
        self.title_text, self.nodes, self.detail, self.default = title, nodes, detail, default
        self.add_class("-calm")

    def body(self) -> Iterable:
        if self.detail:
            yield Static(self.detail, id="detail", markup=False)

    def answer(self) -> Iterable:
        with Horizontal(id="buttons"):
            for node in self.nodes:
                yield Button(node, id=f"pick-{node}", variant="primary" if node == self.default else "default")
            yield Button("Cancel", id="cancel")

    def focus_safe(self) -> None:
        target = f"#pick-{self.default}" if self.default in self.nodes else "#cancel"
        self.query_one(target, Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        self.dismiss(None if bid == "cancel" else bid.removeprefix("pick-"))


class UpgradeDialog(Dialog):
    """The upgrade wizard's first page: the package file, whether to switch back at the end, the licence.
    Dismisses (path, switch_back, accept_license) or None."""

    def __init__(self, versions: str = ""):
        super().__init__()
        self.versions = versions
        self.title_text = "Rolling upgrade of Axigen (passive node first, one switchover)"
        self.add_class("-calm")

    def body(self) -> Iterable:
        yield Static(self.versions or "Versions: not read yet.", id="versions", markup=False)
        yield Static("Each stage asks before it changes a node; the journal lets a stopped upgrade resume.",
                     classes="gap", markup=False)

    def answer(self) -> Iterable:
        yield Input(placeholder="/path/to/axigen .deb, .rpm or axigen-X.Y.Z.x86_64.deb.run", id="package",
                    select_on_focus=False)
        yield Checkbox("Switch back to the current node at the end", id="switch-back")
        yield Checkbox("I accept Axigen's licence (needed for the vendor's .run installer)", id="license")
        with Horizontal(id="buttons"):
            yield Button("Cancel", id="cancel")
            yield Button("Start", id="start", variant="warning")

    def _answer_rows(self, answer) -> int:
        return answer.outer_size.height or 8

    def focus_safe(self) -> None:
        self.query_one("#package", Input).focus()  # Enter in the field starts nothing; Start must be pressed

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "start":
            self.dismiss(None)
            return
        path = self.query_one("#package", Input).value.strip()
        if not path:
            self.notify("enter the package path", severity="error")
            self.query_one("#package", Input).focus()
            return
        self.dismiss((path, self.query_one("#switch-back", Checkbox).value,
                      self.query_one("#license", Checkbox).value))


class PathDialog(Dialog):
    """Ask for a file to write (the preflight export): the field holds an absolute default; dismisses the
    absolute Path, or None."""

    def __init__(self, title: str, default: Path, detail: str = ""):
        super().__init__()
        self.title_text, self.default, self.detail = title, Path(default).absolute(), detail
        self.add_class("-calm")

    def body(self) -> Iterable:
        if self.detail:
            yield Static(self.detail, markup=False)

    def answer(self) -> Iterable:
        yield Input(str(self.default), id="path", select_on_focus=False)
        with Horizontal(id="buttons"):
            yield Button("Cancel", id="cancel")
            yield Button("Write", id="write", variant="primary")

    def _answer_rows(self, answer) -> int:
        return answer.outer_size.height or 6

    def focus_safe(self) -> None:
        self.query_one("#path", Input).focus()

    def _done(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self.notify("enter a file name", severity="error")
            return
        self.dismiss(Path(text).expanduser().absolute())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "write":
            self._done()
        else:
            self.dismiss(None)


# ---------------------------------------------------------------- readers: the whole screen, Esc closes

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


# ---------------------------------------------------------------- audit entries in words (pure)

AUDIT_SHOWN = 400


def is_read_only(entry: dict) -> bool:
    """A command that changed nothing (a poll, a check); notes and file writes are not."""
    argv = entry.get("argv") or []
    return bool(argv) and not entry.get("mutating") and not str(argv[0]).startswith("<")


def hidden_count(entries: list[dict]) -> int:
    return sum(1 for e in entries if is_read_only(e))


def audit_line(e: dict) -> Text:
    """`HH:MM:SS node rc * $ argv` for a command (`*`: it changed something), the note's text for a note."""
    when = str(e.get("time", ""))[11:19]
    node = str(e.get("node", ""))
    argv = e.get("argv") or []
    line = Text(f"{when} {node:<8} ")
    if not argv:
        line.append(str(e.get("stdout", "")).strip()[:300], style="italic")
        return line
    rc = e.get("rc")
    line.append(f"rc={rc} ", style="" if rc == 0 else "bold red")
    line.append("* " if e.get("mutating") else "  ", style="bold yellow")
    line.append("$ " + " ".join(str(a) for a in argv)[:300])
    if e.get("unchanged"):
        line.append(f"  (same answer {e['unchanged']} more times before)", style="dim")
    return line


def audit_text(entries: list[dict], show_polls: bool, limit: int = AUDIT_SHOWN) -> Group | Text:
    shown = [e for e in reversed(entries) if show_polls or not is_read_only(e)][:limit]
    if not shown:
        return Text("No command that changed something is logged yet." if not show_polls and entries else
                    "The audit log is empty.")
    return Group(*(audit_line(e) for e in shown))
