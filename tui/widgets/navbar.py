"""The top line of every screen: where you are among the four screens, the F-key to each, and the cluster."""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

# (screen name, key, label): the F-keys live here, so the footer keeps its 80 columns for the screen's own keys
TABS = (("inventory", "F2", "Inventory"), ("preflight", "F3", "Preflight"), ("install", "F4", "Install"),
        ("maintenance", "F5", "Maintenance"))


def nav_text(current: str, cluster: str, width: int) -> Text:
    """` axha  F2 Inventory  F3 Preflight ...  cluster`: the current screen reversed, the cluster cut to fit."""
    text = Text(" axha ", style="bold")
    for name, key, label in TABS:
        text.append(" ")
        style = "reverse bold" if name == current else ""
        text.append(f"{key}", style=style or "bold")
        text.append(f" {label}", style=style)
    room = width - text.cell_len - 2
    if cluster and room >= 4:
        shown = cluster if len(cluster) <= room else cluster[: room - 1] + "~"
        text.append(" " * (width - text.cell_len - len(shown) - 1))
        text.append(shown, style="italic")
    return text


class NavBar(Widget):
    """One line: the screens with their F-keys (the shown one highlighted) and the loaded cluster."""

    DEFAULT_CSS = """
    NavBar { dock: top; height: 1; width: 100%; background: $panel; color: $text; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "sub_title", lambda _: self.refresh(), init=False)

    def render(self) -> Text:
        app = self.app
        screen = self.screen
        current = getattr(app, "current", "") or (screen.name or "")
        for name, _, _ in TABS:  # a screen shown on its own (tests, a bare host app) still finds its tab
            if type(screen).__name__.lower().startswith(name):
                current = name
        spec = getattr(app, "spec", None)
        cluster = spec.name if spec is not None else ("no cluster file" if hasattr(app, "spec") else "")
        return nav_text(current, cluster, self.size.width or 80)
