"""Live DRBD sync progress of both nodes (percent bar, rate, ETA, out-of-sync), fed by framework Progress events."""
from __future__ import annotations

import re
from typing import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from axha.steps.framework import Progress


def format_eta(seconds: float | None) -> str:
    """12.3 -> '0:00:12'; None -> '--:--' (no estimate yet)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "ETA --:--"
    seconds = int(round(seconds))
    return f"ETA {seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def fit_detail(label: str, width: int) -> str:
    """The engine's `SyncSource UpToDate/Inconsistent · 51.2 MiB/s · 620.4 MiB out of sync` in `width` cells:
    first the disk states go (the dashboard shows them), then 'out of sync' becomes 'left', then it is cut (pure)."""
    if len(label) <= width or width <= 0:
        return label
    shorter = re.sub(r" +", " ", re.sub(r"\s[A-Za-z]+/[A-Za-z]+(?=\s|$)", "", label, count=1)).strip()
    if len(shorter) <= width:
        return shorter
    shorter = re.sub(r"out-of-sync (\S+ \S+)", r"\1 left", shorter).replace(" out of sync", " left")
    return shorter if len(shorter) <= width else shorter[: max(1, width - 1)] + "~"


class NodeSync(Vertical):
    """One node's line pair: name, bar, percent, ETA; then replication state, rate and what is left."""

    DEFAULT_CSS = """
    NodeSync { height: 2; }
    NodeSync > Horizontal { height: 1; }
    NodeSync .node { width: 8; text-style: bold; }
    NodeSync ProgressBar { width: 1fr; }
    NodeSync ProgressBar Bar { width: 1fr; }
    NodeSync .eta { width: 14; text-align: right; }
    NodeSync .detail { padding-left: 2; color: $text-muted; }
    NodeSync.-finished .detail { color: $success; }
    """

    def __init__(self, node: str, **kwargs):
        super().__init__(**kwargs)
        self.node = node
        self.label = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.node, classes="node")
            yield ProgressBar(total=100, show_eta=False, show_percentage=True)
            yield Label(format_eta(None), classes="eta")
        yield Label("waiting for DRBD events", classes="detail")

    def show(self, event: Progress) -> None:
        self.query_one(ProgressBar).update(total=event.total or 100, progress=event.done)
        finished = event.done >= (event.total or 100)
        self.query_one(".eta", Label).update("done" if finished else format_eta(event.eta))
        self.label = event.label or ""
        self._show_detail()
        self.set_class(finished, "-finished")

    def _show_detail(self) -> None:
        detail = self.query_one(".detail", Label)
        width = max(0, self.content_region.width - detail.styles.padding.left)  # the Label itself is auto-wide
        detail.update(fit_detail(self.label, width) if self.label else "waiting for DRBD events")

    def on_resize(self) -> None:
        if self.label:
            self._show_detail()


class SyncProgress(Widget):
    """Both nodes of the initial sync. Call `update_progress(event)` on the main thread for each Progress."""

    DEFAULT_CSS = """
    SyncProgress { height: auto; border: round $primary; padding: 0 1; }
    """

    def __init__(self, nodes: Iterable[str], *, step_id: str = "drbd-initial-sync", **kwargs):
        super().__init__(**kwargs)
        self.nodes, self.step_id = tuple(nodes), step_id
        self.border_title = "DRBD sync"

    def compose(self) -> ComposeResult:
        for node in self.nodes:
            yield NodeSync(node, id=f"sync-{node}")

    def update_progress(self, event: Progress) -> bool:
        """Show a Progress event of our step; False when it is not ours (other step or unknown node)."""
        if event.step_id != self.step_id or event.node not in self.nodes:
            return False
        self.query_one(f"#sync-{event.node}", NodeSync).show(event)
        return True
