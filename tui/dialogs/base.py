"""The shared layout of the modal dialogs: a title, a body that scrolls when long, and the answer row (input
and buttons) always on screen below it, the whole fitting 80x24."""
from __future__ import annotations

from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

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
