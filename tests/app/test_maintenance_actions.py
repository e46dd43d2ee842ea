"""The maintenance actions through the real AxhaApp at 80x24: outcomes in words (cancelled, nothing to clear),
pickers that start on the passive node, a switchover confirmed with the node's name, a dashboard that does not
wait for a silent VIP, the footer and the palette with every key."""
from __future__ import annotations

import threading

import pytest

from axha.steps.framework import Context
from tests.app.screen_text import on_screen, screen_lines
from tests.app.test_maintenance import IMAP, SMTP, recorded_state, versioned
from tests.waiting import wait_for, wait_for_dialog
from tests.unit.test_maint_status import SPEC, crm_mon, probes
from tests.unit.test_maint_switchover import _answers, full_move_ctx, healthy
from axha.tui.app import AxhaApp
from axha.tui.dialogs.confirm import TypedConfirm
from axha.tui.dialogs.questions import NodePicker
from axha.tui.screens.maintenance import MaintenanceScreen
from axha.tui.widgets.logpane import LogPane
from axha.steps.maint.status import ClusterState

SIZE = (80, 24)


def logged(app, text: str) -> bool:
    return any(text in line for line in app.log_lines)


async def open_dashboard(pilot, app, ctx, state: ClusterState) -> MaintenanceScreen:
    """The maintenance screen on `state`, its actions on `ctx` (whose confirm is the app's dialog)."""
    ctx.confirm = app.confirm_from_worker
    screen = MaintenanceScreen(lambda: ctx, auto_refresh=False, state=state)
    app.spec = SPEC
    await app.push_screen(screen)
    await wait_for(pilot, lambda: on_screen(app, "Service on"), "the dashboard")
    return screen


async def test_a_cancelled_confirmation_is_logged_as_cancelled_not_failed(monkeypatch):
    """Issue 16: Esc on 'Turn maintenance mode on?' was logged 'Maintenance mode on: FAILED: not confirmed'. The
    question is the engine's (MaintenanceStep.confirmation), asked after it read the state."""
    import axha.steps.maint.status as status

    monkeypatch.setattr(status, "read_state", lambda ctx, with_service=True: recorded_state("healthy"))
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_dashboard(pilot, app, Context(SPEC, {}), recorded_state("healthy"))
        await pilot.press("m")
        await wait_for_dialog(pilot, TypedConfirm, "typed")   # the question, ready for keys
        await pilot.press("escape")
        await wait_for(pilot, lambda: logged(app, "Maintenance mode on: cancelled; nothing was changed."),
                       "the cancel in the log")
        assert not any("FAILED" in line for line in app.log_lines)


async def test_clear_constraints_with_none_left_says_so_without_asking(monkeypatch):
    import axha.steps.maint.status as status

    monkeypatch.setattr(status, "read_state", lambda ctx, with_service=True: recorded_state("healthy"))
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, app, Context(SPEC, {}), recorded_state("healthy"))
        await pilot.press("x")
        await wait_for(pilot, lambda: logged(app, "there are no leftover constraints"), "the answer")
        assert not isinstance(app.screen, TypedConfirm) and screen.running is None


@pytest.mark.parametrize("key,title", [("b", "Standby / unstandby which node?"), ("p", "Whose changes are DISCARDED?")])
async def test_node_pickers_start_on_the_passive_node(key, title):
    """Issue 16: the standby and split-brain pickers had the focus on the active Primary (node1 here)."""
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_dashboard(pilot, app, Context(SPEC, {}), recorded_state("healthy"))
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(app.screen, NodePicker), "the picker")
        assert on_screen(app, title)
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "pick-node2", "node2 focused")
        await pilot.press("escape")
        await wait_for(pilot, lambda: logged(app, "cancelled; nothing was changed"), "the cancel in the log")


class AnsweringVip:
    """The switchover's SMTP gap monitor for a VIP that answers at once (no socket: the test has no lab)."""

    def __init__(self, address, **_):
        self.address = address

    def start(self):
        return self

    def wait_answering(self, timeout):
        return True

    def stop(self):
        from axha.steps.maint.gap import GapReport
        return GapReport(1, 0, 0.0, 0.0, "220 node1 Axigen ESMTP ready", True)


async def test_a_switchover_is_confirmed_with_the_target_name_at_80x24(monkeypatch):
    """The whole switchover from the dashboard on recorded output: `s`, the question with its field and buttons
    on screen, `yes` refused, the target's name typed, the move done and logged."""
    import axha.steps.maint.switchover as sw

    state = healthy(crm_mon=crm_mon("moved-node2"))
    monkeypatch.setattr(sw, "read_state", lambda ctx, **_: state)
    monkeypatch.setattr(sw, "service_answers", lambda address, timeout=3.0: _answers(True))
    monkeypatch.setattr(sw, "ServiceGapMonitor", AnsweringVip)
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_dashboard(pilot, app, full_move_ctx("node1"), state)
        await pilot.press("s")
        dialog = await wait_for_dialog(pilot, TypedConfirm, "typed")   # the switchover question, ready for keys
        await pilot.pause()
        assert dialog.expected == "node1"
        for widget in (dialog.query_one("#typed"), dialog.query_one("#confirm"), dialog.query_one("#cancel")):
            assert widget.region.bottom <= SIZE[1]
        await pilot.press("y", "e", "s", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirm)
        await pilot.press("backspace", "backspace", "backspace", *"node1", "enter")
        await wait_for(pilot, lambda: logged(app, "Switchover: done: axigen-group moved from node2 to node1"),
                       "the switchover's outcome", timeout=60)


async def test_the_dashboard_does_not_wait_for_a_silent_vip(monkeypatch):
    """The Maintenance screen showed a sync at 20 % while Install showed 40 %: its refresh waited for the VIP's
    connect timeouts (no VIP during an install), so the DRBD figures it showed were seconds old. Now the nodes
    are shown as soon as they answer, and the VIP's answers join when they come."""
    import axha.steps.maint.service as service
    import axha.steps.maint.status as status

    released = threading.Event()

    def silent_vip(address, timeout=3.0):
        released.wait(30)
        return (SMTP, IMAP)
    monkeypatch.setattr(service, "service_answers", silent_vip)
    nodes_only = versioned(probes("drbd-syncing-no-cluster", crm_mon=crm_mon("healthy")), ())
    monkeypatch.setattr(status, "read_state", lambda ctx, with_service=True: (
        nodes_only if not with_service else pytest.fail("the refresh waited for the VIP")))
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        app.spec = SPEC
        await app.push_screen(MaintenanceScreen(lambda: Context(SPEC, {}), auto_refresh=True))
        try:
            await wait_for(pilot, lambda: on_screen(app, "SyncTarget 20%"), "the sync shown while the VIP is silent")
            assert not on_screen(app, "SMTP ok")
        finally:
            released.set()
        await wait_for(pilot, lambda: on_screen(app, "SMTP ok"), "the VIP's answers joining")
        assert on_screen(app, "SyncTarget 20%")


async def test_the_footer_fits_80_columns_and_f1_and_the_palette_list_every_key():
    """Issue 16: the footer was cut at 80 columns and x, v, k, p were listed nowhere. On every screen the
    footer's keys end inside 80 columns with F1 Keys, ^p Palette and ^q Quit among them; F1 lists every key of
    the screen; the palette has each action with its key."""
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("f2", "f3", "f4", "f5"):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen.query("Footer FooterKey"), f"the footer after {key}")
            await pilot.pause()
            footer = screen_lines(app)[-1]
            for shown in ("f1 Keys", "^p Palette", "^q Quit"):
                assert shown in footer, f"{key}: {shown!r} not in {footer!r}"
            keys = app.screen.query("Footer FooterKey")
            assert max(k.region.right for k in keys) <= SIZE[0]
        await pilot.press("f1")
        await wait_for(pilot, lambda: on_screen(app, "Maintenance keys"), "the keys page")
        listed = dict(app.screen.rows)
        for key, words in (("x", "Clear leftover"), ("v", "DRBD online verify"), ("k", "Backup"),
                           ("p", "Split-brain recovery"), ("F6", "whole log"), ("F4", "Install")):
            assert words in listed.get(key, ""), key
        await pilot.press("escape")
        from axha.tui.commands import KeyCommands
        provider = KeyCommands(app.screen)
        titles = [title for title, _, _ in provider._commands()]
        for key in "sbmcxuvkpar":
            assert any(title.endswith(f"(key {key})") for title in titles), key
        system = [c.title for c in app.get_system_commands(app.screen)]
        assert "Go to Install (key F4)" in system and "Quit (key Ctrl+Q)" in system
        assert isinstance(app.screen.query_one(LogPane), LogPane)


async def test_replace_node_from_the_dashboard_picks_the_passive_node_then_what_to_replace(monkeypatch):
    """Issue 14: key n asks which node (focus on the one not running the service), then the whole node or its
    disk only, and runs the engine's replace-node on it (the engine's own questions are tested with it)."""
    import axha.steps.replace as replace
    from axha.steps.replace import ReplaceReport

    calls = []

    def fake(ctx, node, emit, **options):
        calls.append((node, options))
        return ReplaceReport(True, node, f"{node} rebuilt: both nodes online, DRBD UpToDate on both", True, ())
    monkeypatch.setattr(replace, "replace_node", fake)
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_dashboard(pilot, app, Context(SPEC, {}), recorded_state("healthy"))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NodePicker) and on_screen(app, "Rebuild which node"),
                       "the node picker")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "pick-node2", "node2 focused")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on_screen(app, "Replace what of node2?"), "what to replace")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "pick-node", "whole node focused")
        assert on_screen(app, "Whole node") and on_screen(app, "Disk only")
        await pilot.press("enter")
        await wait_for(pilot, lambda: logged(app, "Replace node2: done: node2 rebuilt"), "the outcome")
        assert calls == [("node2", {"disk_only": False})]
        await pilot.press("n")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "pick-node2", "node2 focused")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on_screen(app, "Replace what of node2?"), "what to replace")
        await pilot.press("escape")
        await wait_for(pilot, lambda: logged(app, "Replace node: cancelled; nothing was changed."), "the cancel")
        assert len(calls) == 1
