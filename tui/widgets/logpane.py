"""The log pane: the app's running log (engine events, saves, errors), shown at the bottom of every screen.

Long lines wrap at the pane's width (continuations indented), so an error's advice is never cut off; the pane
follows new lines unless the admin scrolled up to read, and says so in its border. F6 shows the whole log."""
from __future__ import annotations

import textwrap
from collections import deque
from typing import Iterable

from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Log

KEEP = 2000   # source lines kept (the app keeps its own history too)


def wrap_line(line: str, width: int) -> list[str]:
    """One log line as lines of at most `width` cells: continuations indented two more than the line (pure)."""
    line = line.expandtabs()
    if width < 12 or len(line) <= width:
        return [line]
    indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
    if len(indent) > width // 2:
        indent = "  "
    return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False,
                         replace_whitespace=False) or [line]


class LogPane(Log):
    """A Log that shows the app's log history, wraps long lines and follows new ones (app.write_log feeds it).

    `following` goes False when the admin scrolls up (arrows, PgUp, mouse) and True again at the end (End key)."""

    DEFAULT_CSS = """
    LogPane {
        height: 4;
        border-top: solid $primary;
        border-title-color: $text-muted;
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
        overflow-x: hidden;
        scrollbar-background: $surface;
        scrollbar-color: $primary 50%;
    }
    LogPane.-hidden { display: none; }
    """

    following: reactive[bool] = reactive(True)
    """True while new lines scroll the pane to its end."""

    def __init__(self, **kwargs):
        super().__init__(max_lines=KEEP * 2, auto_scroll=False, **kwargs)
        self._source: deque[str] = deque(maxlen=KEEP)
        self._wrapped_at = 0     # the width the shown lines were wrapped for (0: not yet known)
        self._adjusting = False  # our own scrolling and re-wrapping: not the admin's

    def on_mount(self) -> None:
        app = self.app
        self.set_title(getattr(app, "log_title", "Log"))
        lines = list(getattr(app, "log_lines", ()))
        if lines:
            self.write_lines(lines)
        panes = getattr(app, "log_panes", None)
        if panes is not None:
            panes.add(self)

    def on_unmount(self) -> None:
        panes = getattr(self.app, "log_panes", None)
        if panes is not None:
            panes.discard(self)

    # ------------------------------------------------------------ writing and wrapping

    @property
    def text_width(self) -> int:
        """Cells available for text (0 until the pane has been laid out)."""
        return max(0, self.scrollable_content_region.width)

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> "LogPane":
        new = [part for line in lines for part in (str(line).splitlines() or [""])]
        self._source.extend(new)
        width = self._wrapped_at
        if width:  # before the first layout the lines wait in _source; on_resize wraps them
            super().write_lines([w for line in new for w in wrap_line(line, width)], scroll_end=False)
            if self.following if scroll_end is None else scroll_end:
                self._to_end()
        return self

    def _rewrap(self, width: int) -> None:
        self._adjusting = True
        try:
            self._wrapped_at = width
            self.clear()
            super().write_lines([w for line in self._source for w in wrap_line(line, width)], scroll_end=False)
        finally:
            self._adjusting = False

    def _to_end(self) -> None:
        self._adjusting = True
        try:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        finally:
            self._adjusting = False

    def on_resize(self, event: Resize) -> None:
        width = self.text_width
        if width and width != self._wrapped_at:
            self._rewrap(width)
        if self.following:
            self._to_end()
            self.call_after_refresh(self._to_end)  # once the new height is laid out

    # ------------------------------------------------------------ following

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._adjusting:
            return
        if new_value >= self.max_scroll_y:
            self.following = True
        elif new_value < old_value:
            self.following = False

    def set_title(self, title: str) -> None:
        """The pane's title (the audit log's path); while scrolled back it starts with how to follow again."""
        self._title = title
        self.border_title = title if self.following else f"scrolled back: End follows again - {title}"

    def watch_following(self, following: bool) -> None:
        self.set_title(getattr(self, "_title", "Log"))
