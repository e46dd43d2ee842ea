"""The maintenance dashboard on recorded cluster states (lab probes + Pacemaker 2.1.5 output), at 80x24."""
from __future__ import annotations

import pytest
from textual.app import App

from dataclasses import replace

from axha.steps.maint.status import build_state
from axha.steps.maint.probe import NodeProbe
from axha.steps.maint.service import ServiceAnswer
from tests.unit.test_maint_status import SPEC, crm_mon, probes
from axha.tui.screens.maintenance import MaintenanceScreen
from axha.tui.screens.maintenance_dashboard import render_attention
from axha.steps import axigen_versions
from tests.waiting import wait_for

# Axigen's real greetings carry no version (AXIGEN.md, Banners); the lab's stand-in sends the same
SMTP = ServiceAnswer("smtp", 25, True, "220 node1 Axigen ESMTP ready")
IMAP = ServiceAnswer("imap", 143, True, "* OK Axigen- IMAP4rev1 service is ready")
# the versions come from `axigen --version` on both nodes and the CLI's GET VERSION where Axigen runs, in the
# lab stand-in's words (lab/axigen/src/axigen.py); the recorded probes predate those two sections
BINARY = axigen_versions.parse_binary_version("Axigen Mail Server 10.5.0 (Linux/x86_64)")
RUNNING = axigen_versions.parse_cli_version("<login> 10.5.0|Linux|x86_64")


def versioned(recorded, answers):
    """The recorded probes with what the product reads today: the binary's version on every node with the
    package, the running version (CLI) on the node where the cluster runs Axigen."""
    active = build_state(SPEC, recorded, answers, 0).active_node
    return build_state(SPEC, tuple(replace(p, axigen_binary=BINARY if p.axigen_version else None,
                                           axigen_running=RUNNING if p.axigen_version and p.node == active
                                           else None) for p in recorded), answers, 0)


def recorded_state(kind: str):
    """The six dashboard states, each from real recordings (see tests/fixtures/*/SOURCES.md)."""
    answers = (SMTP, IMAP)
    if kind == "healthy":
        return versioned(probes("installed-healthy"), answers)
    if kind == "link-down":
        corosync = {p.node: p.corosync for p in probes("link1-down")}
        return versioned(tuple(replace(p, corosync=corosync[p.node]) for p in probes("installed-healthy")), answers)
    if kind == "node-offline":
        node1 = probes("installed-healthy", crm_mon=crm_mon("node2-offline"))[0]
        return versioned((node1, NodeProbe("node2", False, error="timed out")), answers)
    if kind == "syncing":
        return versioned(probes("drbd-syncing-no-cluster", crm_mon=crm_mon("healthy")), answers)
    if kind == "failed-action":
        return versioned(probes("failed-actions"), (ServiceAnswer("smtp", 25, False, error="Connection refused"),
                                                    ServiceAnswer("imap", 143, False, error="Connection refused")))
    if kind == "split-brain":
        return versioned(probes("split-brain"), answers)
    raise KeyError(kind)


class DashApp(App):
    def __init__(self, cluster_state):
        super().__init__()
        self.cluster_state = cluster_state

    def on_mount(self) -> None:
        self.push_screen(MaintenanceScreen(None, auto_refresh=False, state=self.cluster_state))


def text_of(app) -> str:
    """The text on the 80x24 screen (from the screenshot SVG, markup stripped)."""
    import html
    import re
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


@pytest.mark.parametrize("kind,must_show", [
    ("healthy", ["Service on node", "All healthy", "UpToDate"]),
    ("link-down", ["redundancy lost", "link1"]),
    ("node-offline", ["node2 did not answer", "offline"]),
    ("syncing", ["SyncTarget", "%"]),
    ("failed-action", ["failed: drbd-axigen_start_0", "DOWN"]),
    ("split-brain", ["split brain", "StandAlone"]),
])
async def test_dashboard_states(kind, must_show):
    app = DashApp(recorded_state(kind))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = text_of(app)
        for text in must_show:
            assert text in shown, f"{kind}: {text!r} not on screen"


def test_healthy_has_no_warning_and_link_down_is_loud():
    assert "All healthy" in str(render_attention(recorded_state("healthy")))
    loud = [w for w in recorded_state("link-down").warnings if w.code == "LINK_DOWN"]
    assert loud and all(w.loud for w in loud)


def test_snapshot_healthy(snap_compare):
    """Healthy lab cluster after install: the top line with F2-F5 (Maintenance highlighted); service on node1
    (marked *), DC, quorum, SMTP ok and IMAP ok (their greetings carry no version) and 'runs 10.5.0' (the CLI's
    GET VERSION on node1); both nodes online with Axigen 10.5.0 installed, DRBD Pri/UpToDate on node1 and
    Sec/UpToDate on node2, Connected, both links up; fence devices Started; the group's three members Started on
    node1; a green all-healthy line; the footer s Switchover, b Standby, m Maint, c Cleanup, u Upgrade."""
    assert snap_compare(DashApp(recorded_state("healthy")), terminal_size=(80, 24))


def test_snapshot_link_down(snap_compare):
    """Same healthy cluster but corosync link1 disconnected on both nodes: L1 column shows DOWN on a red
    background for both nodes and the attention list has two loud red 'redundancy lost' lines."""
    assert snap_compare(DashApp(recorded_state("link-down")), terminal_size=(80, 24))


def test_snapshot_node_offline(snap_compare):
    """node2 is offline for Pacemaker and unreachable over SSH: node2's state is red 'offline', its DRBD 'down',
    links '?', and the attention list says node2 did not answer."""
    assert snap_compare(DashApp(recorded_state("node-offline")), terminal_size=(80, 24))


def test_snapshot_syncing(snap_compare):
    """Initial sync in progress: node1 SyncSource and node2 SyncTarget with their percent in yellow, node2's disk
    Inconsistent in red, DRBD_SYNCING lines in the attention list."""
    assert snap_compare(DashApp(recorded_state("syncing")), terminal_size=(80, 24))


def test_snapshot_failed_action(snap_compare):
    """Failed starts: 'Service on NO NODE' in red, SMTP/IMAP DOWN, the group Stopped, failed actions listed."""
    assert snap_compare(DashApp(recorded_state("failed-action")), terminal_size=(80, 24))


def test_snapshot_split_brain(snap_compare):
    """DRBD split brain: both nodes StandAlone (Repl/oos with what is out of sync), the loud split-brain line, the
    drbd-fence constraint left by DRBD's handler, then each side's evidence (role, disk, connection, out-of-sync,
    data generation; node1 '(Pacemaker promoted it)')."""
    assert snap_compare(DashApp(recorded_state("split-brain")), terminal_size=(80, 24))


async def test_in_the_app_without_a_cluster_the_worker_reports_and_nothing_freezes():
    """Through AxhaApp: F5 opens the maintenance screen; with no cluster loaded the refresh worker's failure is shown
    on the summary line and the screen stays responsive (the palette lists the maintenance actions)."""
    from axha.tui.app import AxhaApp
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        # the refresh worker keeps running (it retries): wait for its first report
        await wait_for(pilot, lambda: "Cannot read the cluster" in text_of(app), "the refresh worker's failure")
        screen = app.screen
        assert isinstance(screen, MaintenanceScreen)
        assert "Cannot read the cluster" in text_of(app)
        from axha.tui.screens.maintenance import MaintenanceCommands
        assert MaintenanceCommands in screen.COMMANDS


def test_unreachable_node_is_one_loud_line_not_four_false_link_alarms():
    """QA finding 8: node2 does not answer SSH; its links were not read, so they are '?' and not 'redundancy lost'
    (node1's own view of its links still counts), and the switchover gates name only the real problem."""
    from axha.steps.maint.gates import switchover_gates

    state = recorded_state("node-offline")
    codes = [(a.code, a.node) for a in state.warnings]
    assert ("NODE_UNREACHABLE", "node2") in codes
    assert ("LINK_DOWN", "node2") not in codes
    _, target, findings = switchover_gates(state, None)
    failed = {f.code for f in findings if f.status == "FAIL"}
    assert target == "node2" and "NODE_UNREACHABLE" in failed
    assert "TARGET_DRBD_UNKNOWN" not in failed  # 'run drbdadm up there' would be the wrong remedy
