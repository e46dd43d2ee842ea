"""The sync progress widget, fed with Progress events made from a real recorded lab sync (events2 streams)."""
from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Label, ProgressBar

from axha.steps import drbd_events, drbd_progress
from axha.steps.framework import Progress
from axha.steps.install.drbd_sync import progress_event
from axha.tui.widgets.sync_progress import SyncProgress, format_eta

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "drbd-real"


def recorded_progress(node: str) -> list[Progress]:
    """Replay node's recorded `drbdsetup events2 --statistics` stream. It replays in far less than the tracker's
    2 s window, so rate and ETA come from DRBD's own dbdt figure, as at the start of a real sync."""
    state, tracker, out = drbd_events.Events2State(), drbd_progress.SyncTracker(), []
    for line in (FIX / f"events2-lab-sync-{node}.txt").read_text().splitlines():
        state.feed(line)
        res = state.resource("axigen")
        if res is not None and state.initial_done:
            progress = tracker.update(node, res)
            if progress is not None:
                out.append(progress_event("drbd-initial-sync", progress, res))
    return out


def middle(events: list[Progress]) -> Progress:
    return next(e for e in events if 40.0 <= e.done <= 60.0)


class SyncApp(App):
    def compose(self) -> ComposeResult:
        yield SyncProgress(("node1", "node2"))


async def test_shows_both_nodes_percent_rate_eta_and_out_of_sync():
    app = SyncApp()
    async with app.run_test(size=(80, 24)) as pilot:
        widget = app.query_one(SyncProgress)
        ev1, ev2 = middle(recorded_progress("node1")), middle(recorded_progress("node2"))
        assert widget.update_progress(ev1) and widget.update_progress(ev2)
        await pilot.pause()
        node1 = app.query_one("#sync-node1")
        assert node1.query_one(ProgressBar).progress == ev1.done
        assert str(node1.query_one(".eta", Label).render()) == format_eta(ev1.eta)
        detail = str(node1.query_one(".detail", Label).render())
        assert detail.startswith("SyncSource UpToDate/Inconsistent") and "out of sync" in detail
        assert "SyncTarget Inconsistent/UpToDate" in str(app.query_one("#sync-node2 .detail", Label).render())
        # a Progress of another step, or of an unknown node, changes nothing
        assert not widget.update_progress(Progress("filesystem", "node1", 1.0, 100.0))
        assert not widget.update_progress(Progress("drbd-initial-sync", "node9", 1.0, 100.0))
        assert node1.query_one(ProgressBar).progress == ev1.done


async def test_finished_sync_reads_done():
    app = SyncApp()
    async with app.run_test(size=(80, 24)) as pilot:
        widget = app.query_one(SyncProgress)
        for node in ("node1", "node2"):
            last = recorded_progress(node)[-1]
            assert last.done == 100.0
            widget.update_progress(last)
        await pilot.pause()
        for node in ("node1", "node2"):
            assert str(app.query_one(f"#sync-{node} .eta", Label).render()) == "done"
            assert app.query_one(f"#sync-{node}").has_class("-finished")


def test_format_eta():
    assert format_eta(None) == "ETA --:--" and format_eta(3725.4) == "ETA 1:02:05" and format_eta(float("nan"))


def test_snapshot_mid_sync_80x24(snap_compare):
    """Both nodes half-way through the lab's recorded initial sync: node1 SyncSource and node2 SyncTarget, each
    with its bar and percent, an ETA on the right, and below it the replication state, rate and what is left."""
    events = [middle(recorded_progress("node1")), middle(recorded_progress("node2"))]

    async def feed(pilot):
        for event in events:
            pilot.app.query_one(SyncProgress).update_progress(event)
        await pilot.pause()

    assert snap_compare(SyncApp(), terminal_size=(80, 24), run_before=feed)
