"""The log pane: the app's running log (engine events, saves, errors), shown at the bottom of every screen."""
from __future__ import annotations

from textual.widgets import Log


class LogPane(Log):
    """A Log that shows the app's whole log history and follows new lines (app.write_log feeds it)."""

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

    def __init__(self, **kwargs):
        super().__init__(max_lines=2000, **kwargs)

    def on_mount(self) -> None:
        app = self.app
        self.border_title = getattr(app, "log_title", "Log")
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
