"""The install screen driven with Pilot on a RECORDED real lab install (tests/fixtures/install/install-events.jsonl):
the event stream is replayed into the screen; SVG snapshots of the plan view and the sync progress at 80x24."""
from __future__ import annotations

import json
from pathlib import Path

from textual.app import App
from textual.widgets import OptionList

from axha.steps.framework import (Action, ActionFinished, ActionStarted, Finding, OutputLine, PlanReady, Progress,
                             StepFinished, StepStarted)
from axha.tui.screens.install import InstallScreen, failure_text, plan_text, StepView

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "install" / "install-events.jsonl"
KINDS = {cls.__name__: cls for cls in (StepStarted, PlanReady, ActionStarted, OutputLine, Progress, ActionFinished,
                                       StepFinished)}


def load_events(path: Path = FIXTURE) -> list:
    """The recorded stream back into engine events (actions and findings included)."""
    events = []
    for line in path.read_text().splitlines():
        data = json.loads(line)
        cls = KINDS[data.pop("event")]
        data.pop("t", None)
        if cls is PlanReady:
            data["actions"] = tuple(Action(a["node"], tuple(a["command"].split()), a["why"],
                                           destructive=a["destructive"]) for a in data["actions"])
        if cls is StepFinished:
            data["findings"] = tuple(Finding(**f) for f in data.get("findings", ()))
        events.append(cls(**data))
    return events


class Host(App):
    def on_mount(self) -> None:
        self.push_screen(InstallScreen(None))


def feed_until(screen, events, stop) -> None:
    for event in events:
        screen.feed(event)
        if stop(event):
            return


async def test_replayed_install_ends_with_every_step_finished():
    events = load_events()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        feed_until(screen, events, lambda e: False)
        await pilot.pause()
        states = {v.id: v.state for v in screen.views.values()}
        assert states["corosync"] == "done" and states["axigen-role"] == "done"
        assert list(states)[:2] == ["access", "drbd-config"] and "verify" in states
        assert not screen.query_one("#failure-box").has_class("-shown")
        options = screen.query_one("#steps", OptionList)
        assert options.option_count == len(states)


async def test_selecting_a_step_shows_its_commands_per_node():
    events = load_events()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        feed_until(screen, events, lambda e: False)
        steps = screen.query_one("#steps", OptionList)
        steps.focus()
        steps.highlighted = list(screen.views).index("corosync")
        await pilot.pause()
        assert screen.selected == "corosync"
        text = plan_text(screen.views["corosync"]).plain
        assert "[node1] $ corosync-keygen -k /etc/corosync/authkey" in text
        assert "[node2] $ install -m 0400" in text


async def test_progress_shows_the_sync_panel():
    events = load_events()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        feed_until(screen, events, lambda e: isinstance(e, Progress))
        await pilot.pause()
        assert screen.query_one("#sync").has_class("-shown")


async def test_worker_progress_is_collapsed():
    """Many Progress events from the engine thread become few messages: only the latest per node is applied."""
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for i in range(500):
            screen.emit(Progress("drbd-initial-sync", "node1", float(i % 100), 100.0))
        await pilot.pause()
        assert screen._latest == {} and not screen._progress_posted


def test_failure_panel_says_why_where_and_what_next():
    view = StepView("fencing", "Fencing", state="failed", message="[node2] fence device did not start",
                    findings=(Finding("FENCE_DEVICE_ANSWERS", "node1", "FAIL", "BMC does not answer",
                                      "Check node1's BMC address"),))
    view.output.append(("node2", "Failed: Unable to obtain correct plug status or plug is not available"))
    text = failure_text(view).plain
    assert "[node2] fence device did not start" in text and "-> Check node1's BMC address" in text
    assert "[node2] Failed: Unable to obtain" in text and "press r" in text


def test_plan_text_marks_destructive_actions():
    view = StepView("drbd-metadata", "DRBD metadata", actions=(
        Action("node1", ("drbdadm", "create-md", "axigen"), "create DRBD metadata", destructive=True),))
    text = plan_text(view).plain
    assert "[node1] $ drbdadm create-md axigen" in text and "DESTRUCTIVE" in text


def _to(events, predicate):
    async def run_before(pilot):
        screen = pilot.app.screen
        feed_until(screen, events, predicate)
        await pilot.pause()
    return run_before


def test_snapshot_plan_view(snap_compare):
    """80x24: the step list (access to corosync [x] done), the legend of the marks under it ([x] done, [=] no
    change, [>] running, [p] planned, [!] failed, [ ] to do), the corosync commands per node (long ones wrapped),
    the log pane's last lines wrapped at the width, and the footer r Run install, p Plan only, c Cancel."""
    events = load_events()

    def corosync_done(e):
        return isinstance(e, StepFinished) and e.step_id == "corosync"
    assert snap_compare(Host(), terminal_size=(80, 24), run_before=_to(events, corosync_done))


def test_snapshot_sync_progress(snap_compare):
    """80x24: the initial sync at about 80 % on node1 (bar, percent, ETA) and node2, each with its replication
    state, rate and what is left on one line that fits the panel (disk states dropped for room), while the sync
    step runs."""
    events = load_events()

    def eighty(e):
        return isinstance(e, Progress) and e.total and e.done / e.total >= 0.8
    assert snap_compare(Host(), terminal_size=(80, 24), run_before=_to(events, eighty))


async def test_failure_panel_at_80x24_leaves_commands_and_sync_panel_visible(tmp_path):
    """QA 3: a failed sync used to squeeze Commands to 0 lines and push the sync panel off the screen."""
    events = load_events()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        feed_until(screen, events, lambda e: isinstance(e, Progress))
        findings = tuple(Finding("DRBD_NOT_CONNECTED", n, "FAIL", "resource down", "Bring the resource up")
                         for n in ("node1", "node2"))
        screen.feed(StepFinished("drbd-initial-sync", "failed", "DRBD initial sync failed", findings))
        await pilot.pause()
        top = screen.query_one("#top").region
        plan, box, sync = (screen.query_one(s).region for s in ("#plan", "#failure-box", "#sync"))
        assert screen.query_one("#failure-box").has_class("-shown")
        assert plan.height >= 4 and box.height >= 4          # borders + at least 2 lines of text each
        assert sync.height >= 6 and sync.bottom <= top.bottom  # both nodes' bars on screen
        app.save_screenshot(str(tmp_path / "failure.svg"))


def test_plan_text_of_a_planned_step_says_whether_it_will_ask():
    """QA 5: the Commands panel shows the engine's plan note (no data found: no question) under the commands."""
    view = StepView("drbd-metadata", "DRBD metadata", state="planned",
                    message="1 command(s); destructive, but no data found on the disk: no question",
                    actions=(Action("node1", ("drbdadm", "create-md", "axigen"), "metadata", destructive=True),))
    text = plan_text(view).plain
    assert "plan: 1 command(s); destructive, but no data found on the disk: no question" in text


async def test_cancel_with_nothing_running_says_so_and_the_marks_are_explained():
    """Issue 16: `c` with nothing running said 'cancelling: the running command is stopped'; the marks of the
    step list were never explained. Now the status says nothing is running and the legend is under the list."""
    from tests.app.screen_text import on_screen

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        feed_until(screen, load_events(), lambda e: isinstance(e, StepFinished) and e.step_id == "corosync")
        await pilot.press("c")
        await pilot.pause()
        assert "Nothing is running: there is nothing to cancel." in str(screen.query_one("#status").render())
        for mark in ("[x] done", "[=] no change", "[>] running", "[p] planned", "[!] failed", "[ ] to do"):
            assert on_screen(app, mark), mark
