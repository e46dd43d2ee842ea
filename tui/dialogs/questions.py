"""The dialogs that ask for an answer: a node (the picker), the upgrade's first page, the preflight export path."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.containers import Horizontal
from textual.widgets import Button, Checkbox, Input, Static

from axha.tui.dialogs.base import Dialog


def safe_node(nodes: tuple[str, ...], risky: Iterable[str]) -> str | None:
    """The node a picker should offer first: the first that is not risky (runs the service, DRBD Primary)."""
    risky = set(risky)
    return next((n for n in nodes if n not in risky), None)


class NodePicker(Dialog):
    """Pick one node (standby/unstandby, the split-brain victim). The focus starts on `default` (the caller
    passes the passive node), never on the node that runs the service; Cancel is next to it."""

    def __init__(self, title: str, nodes: tuple[str, ...], detail: str = "", default: str | None = None,
                 labels: dict[str, str] | None = None):
        super().__init__()
        self.title_text, self.nodes, self.detail, self.default = title, nodes, detail, default
        self.labels = labels or {}   # a button's words when they are not the choice's name
        self.add_class("-calm")

    def body(self) -> Iterable:
        if self.detail:
            yield Static(self.detail, id="detail", markup=False)

    def answer(self) -> Iterable:
        with Horizontal(id="buttons"):
            for node in self.nodes:
                yield Button(self.labels.get(node, node), id=f"pick-{node}",
                             variant="primary" if node == self.default else "default")
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
