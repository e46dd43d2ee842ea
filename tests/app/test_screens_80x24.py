"""The whole wizard at 80x24, as an admin sees it over SSH: the maintenance screen with the app's footer, the
command palette, the install screen after a failure with a long message, the inventory's storage tab in drbd
mode, preflight after a re-run. Each snapshot's docstring says what must be visible."""
from __future__ import annotations

import pytest

from axha.steps.framework import Finding, StepFinished
from tests.app.screen_text import on_screen
from tests.app.test_dialogs import LONG_ERROR
from tests.app.test_install_screen import feed_until, load_events
from tests.app.test_maintenance import recorded_state
from tests.waiting import wait_for
from tests.unit.test_maint_status import SPEC
from axha.tui.app import AxhaApp
from axha.tui.screens.maintenance import MaintenanceScreen

SIZE = (80, 24)
EXAMPLE = "tests/fixtures/cluster-example.yaml"


@pytest.fixture(autouse=True)
def fixed_state_dir(monkeypatch):
    from pathlib import Path
    monkeypatch.setenv("AXHA_STATE_DIR", "/tmp/axha-test-state")   # the log pane's title names it
    monkeypatch.chdir(Path(__file__).resolve().parents[2])


def dashboard(state_kind: str = "healthy"):
    async def run_before(pilot):
        app = pilot.app
        app.spec = SPEC
        await app.push_screen(MaintenanceScreen(None, auto_refresh=False, state=recorded_state(state_kind)))
        await wait_for(pilot, lambda: app.screen.query("#nodes"), "the dashboard")
        app.write_log("Standby node2: done: node2 is in standby; axigen-group runs on node1")
        app.write_log(LONG_ERROR)
        await pilot.pause()
    return run_before


def test_snapshot_maintenance_in_the_app(snap_compare):
    """The dashboard inside the wizard: the top line ' axha  F2 Inventory F3 Preflight F4 Install F5 Maintenance'
    with Maintenance highlighted and 'axigen' at the right; the healthy cluster; the log pane with the standby
    outcome and the long switchover error wrapped over several rows, its end '...then run the switchover again.'
    on the last row; the footer 's Switchover b Standby m Maint c Cleanup u Upgrade ^q Quit f1 Keys ^p Palette'
    inside 80 columns."""
    assert snap_compare(AxhaApp(startup_checks=False), terminal_size=SIZE, run_before=dashboard())


def test_snapshot_palette_on_maintenance(snap_compare):
    """Ctrl+P on the dashboard, 'constraint' typed: 'Clear leftover constraints (key x)' first, with what it does
    under it ('Remove cli-prefer/cli-ban (and stale drbd-fence)'); every action of the screen is in the palette
    with its key this way (x, v, k and p included)."""
    async def run_before(pilot):
        await dashboard()(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: pilot.app.screen.query("CommandList"), "the palette")
        from textual.widgets import Input
        search = pilot.app.screen.query_one(Input)
        search.cursor_blink = False       # a blinking cursor is drawn or not by the clock: the picture must not be
        await pilot.press(*"constraint")

        def filtered() -> bool:
            hits = pilot.app.screen.query_one("CommandList")
            return hits.option_count >= 1 and "Clear leftover constraints" in str(hits.get_option_at_index(0).prompt)
        await wait_for(pilot, filtered, "the palette's hits for 'constraint'")
        await pilot.pause()
    assert snap_compare(AxhaApp(startup_checks=False), terminal_size=SIZE, run_before=run_before)


def test_snapshot_install_failure_with_a_long_message(snap_compare):
    """The install stopped at fencing with a long message: '[!] fencing' in the step list, the red Failure panel
    with the message, the finding and its remedy (wrapped, scrollable), the status 'FAILED at Fencing: press r
    ...', and the log pane whose last row ends the message (nothing cut at the width)."""
    async def run_before(pilot):
        app = pilot.app
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen.query("#steps"), "the install screen")
        screen = app.screen
        feed_until(screen, load_events(), lambda e: isinstance(e, StepFinished) and e.step_id == "corosync")
        message = ("[node2] the fence device fence-node1 did not start: fence_ipmilan could not log in to the "
                   "BMC at 192.168.77.201:623 (Unable to obtain correct plug status or plug is not available). "
                   "To continue: fix the BMC password of node1 in the secrets file, then press r.")
        screen.feed(StepFinished("fencing", "failed", message, (Finding(
            "FENCE_DEVICE_STARTED", "node2", "FAIL", "fence-node1 is Stopped",
            "Check node1's BMC address, user and password (ipmitool -I lanplus -H ... power status)"),)))
        await pilot.pause()
    assert snap_compare(AxhaApp(startup_checks=False), terminal_size=SIZE, run_before=run_before)


def test_snapshot_inventory_storage_in_drbd_mode(snap_compare):
    """The example cluster's Storage tab: Storage mode drbd, then DRBD resource, minor, port, Filesystem and
    Mount point; no 'Shared device' row (drbd mode has none)."""
    async def run_before(pilot):
        app = pilot.app
        inv = app.screen
        await wait_for(pilot, lambda: app.spec is not None and inv.built
                       and inv.query_one("#f-storage-mode").value == "drbd", "the example loaded")
        await wait_for(pilot, lambda: inv._timer is None, "the check after loading")
        inv.query_one("#tabs").active = "tab-storage"
        await wait_for(pilot, lambda: on_screen(app, "Storage mode") and on_screen(app, "Mount point"),
                       "the storage tab painted")
    assert snap_compare(AxhaApp(EXAMPLE, startup_checks=False), terminal_size=SIZE, run_before=run_before)
