"""The preflight screen driven with Textual's Pilot over recorded lab runs (ReplayRunner), plus an SVG snapshot."""
from __future__ import annotations

import json
from pathlib import Path

from textual.app import App
from textual.widgets import DataTable, Static

from tests.waiting import wait_for, wait_for_dialog
from tests.fixtures.preflight import replay
from axha.tui.screens.preflight import PreflightScreen
from axha.tui.dialogs.questions import PathDialog


class Host(App):
    """A bare app showing only the preflight screen, fed by a recorded scenario."""

    def __init__(self, scenario: str, export_dir: Path | str = "."):
        super().__init__()
        self.scenario, self.export_dir = scenario, export_dir
        self.messages: list = []
        self.contexts: list = []

    def make_context(self):
        ctx = replay.context(self.scenario)
        self.contexts.append(ctx)
        return ctx

    def on_mount(self) -> None:
        self.push_screen(PreflightScreen(self.make_context, export_dir=self.export_dir))


def cell_text(app, check: str, subject: str) -> str:
    table = app.screen.query_one("#matrix", DataTable)
    return str(table.get_cell(check, subject)).strip()


async def wait_done(pilot) -> PreflightScreen:
    screen = pilot.app.screen
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(screen, PreflightScreen) and not screen.running
    return screen


async def test_results_arrive_fail_selected_remedy_shown_and_rerun(tmp_path):
    app = Host("disk2-ext4", tmp_path)
    arrived = []
    async with app.run_test(size=(80, 24), message_hook=lambda m: arrived.append(m)) as pilot:
        screen = await wait_done(pilot)
        # (the hook may see a message more than once: once posted, once handled; count each message once)
        results = {id(m): m.result for m in arrived if isinstance(m, PreflightScreen.ResultArrived)}
        assert len(results) == len(screen.report.results) == 32
        assert cell_text(app, "storage", "node2") == "FAIL"
        assert cell_text(app, "storage", "node1") == "PASS"
        # the first FAIL is selected by itself, and its remedy shows
        assert screen.selected() == ("storage", "node2")
        detail = str(screen.query_one("#detail", Static).render())
        assert "DISK_HAS_FILESYSTEM" in detail and "What to do:" in detail and "wipefs -a /dev/vdb" in detail
        assert "# disk_wipefs" in detail  # the command output is there too
        assert "NOT ready" in str(screen.query_one("#status", Static).render())
        # move to another cell with the keyboard: the detail follows
        await pilot.press("left")
        assert screen.selected() == ("storage", "node1")
        assert "DISK_OK" in str(screen.query_one("#detail", Static).render())
        # re-run the selected check: one more round trip per node, its cells refreshed, nothing else
        calls = len(app.contexts[0].runners["node2"].calls)
        arrived.clear()
        await pilot.press("r")
        await wait_done(pilot)
        again = {id(m): (m.result.check, m.result.node) for m in arrived
                 if isinstance(m, PreflightScreen.ResultArrived)}
        assert sorted(again.values()) == [("storage", "cluster"), ("storage", "node1"), ("storage", "node2")]
        assert len(app.contexts[0].runners["node2"].calls) == calls + 1
        assert cell_text(app, "storage", "node2") == "FAIL"
        # re-running says so: which check, when, what it found now
        status = str(screen.query_one("#status", Static).render())
        assert status.startswith("Re-ran Storage at ") and "node1 PASS, node2 FAIL" in status and "NOT ready" in status
        # export both formats: each asks where, offering an absolute path, and says where it wrote
        for key, name in (("j", "preflight-axigen.json"), ("m", "preflight-axigen.md")):
            await pilot.press(key)
            field = (await wait_for_dialog(pilot, PathDialog, "path")).query_one("#path")   # the export dialog
            assert field.value == str(tmp_path.absolute() / name) and field.has_focus
            await pilot.press("enter")
            await wait_for(pilot, lambda: (tmp_path / name).exists(), f"{name} written")
        data = json.loads((tmp_path / "preflight-axigen.json").read_text())
        assert data["ok"] is False and data["counts"]["FAIL"] == 1
        assert "`DISK_HAS_FILESYSTEM` (node2)" in (tmp_path / "preflight-axigen.md").read_text()


async def test_run_all_again_reuses_the_context():
    app = Host("baseline")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_done(pilot)
        assert screen.report.ok and cell_text(app, "fencing", "node1") == "PASS"
        await pilot.press("a")
        await wait_done(pilot)
        from axha.checks.preflight import CHECKS, script_plan
        per_run = len(script_plan(CHECKS))  # the local facts, then each network probe
        assert per_run == 4
        assert len(app.contexts) == 1 and len(app.contexts[0].runners["node1"].calls) == 2 * per_run
        assert "ready" in str(screen.query_one("#status", Static).render())


async def test_unreachable_node_shows_on_its_column():
    class Broken(Host):
        def make_context(self):
            ctx = super().make_context()
            ctx.runners["node2"].recordings.clear()
            return ctx

    app = Broken("baseline")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_done(pilot)
        assert cell_text(app, "cpu", "node2") == "FAIL" and cell_text(app, "cpu", "node1") == "PASS"
        assert "NODE_UNREACHABLE" in str(screen.query_one("#detail", Static).render())


def test_snapshot_mixed_result_80x24(snap_compare):
    """The picture must show, at 80x24: the matrix with columns Check | node1 | node2 | cluster and the twelve
    checks from CPU to Firewall; node1's RAID cell a red FAIL (degraded-raid profile), every other hardware cell a
    green PASS, the two Time cells yellow WARN (no time sync service in the lab); the status line 'Preflight: NOT
    ready - 3 FAIL, 2 WARN, 36 PASS'; the detail pane for RAID on node1 with RAID_DEGRADED (md md0 (raid1) is
    degraded ... /dev/sdb1) and its 'What to do:' line, then RAID_DEGRADED of the controller (virtual drive 0/0 RAID1
    is Dgrd) cut by the pane's height; the footer with r Re-run, a All, j JSON, m MD."""

    async def run_before(pilot):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(Host("profile-degraded-raid"), terminal_size=(80, 24), run_before=run_before)


async def test_detail_lists_what_needs_the_admin_before_what_passed():
    app = Host("node2-no-resource-agents")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_done(pilot)
        result = screen.report.results[("software", "node2")]
        statuses = [f.status for f in result.findings]
        assert "PASS" in statuses and set(statuses) & {"WARN", "FAIL"}
        assert statuses.index("PASS") < max(statuses.index(s) for s in ("WARN", "FAIL") if s in statuses)  # recorded
        screen.select("software", "node2")
        await pilot.pause()
        lines = [line for line in str(screen.query_one("#detail", Static).render()).splitlines()
                 if line[:4].strip() in ("PASS", "WARN", "FAIL", "SKIP")]
        shown = [line[:4].strip() for line in lines]
        assert shown == sorted(shown, key=["FAIL", "WARN", "SKIP", "PASS"].index) and shown[-1] == "PASS"
