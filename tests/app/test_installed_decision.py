"""Who decides that the cluster is installed: the live cluster, never a journal. A finished install journal on a
cluster whose crm_mon shows no Axigen group (a lab re-created, servers re-installed) keeps the wizard on Inventory
and says why; crm_mon showing the group opens Maintenance; the palette's restart sets the install journal aside."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from axha.steps.framework import Context
from axha.steps.pacemaker import CRM_MON_ARGV
from axha.steps.runner import Recorded, ReplayRunner
from axha.tui import app as app_module
from axha.tui.app import AxhaApp
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "tests/fixtures/cluster-example.yaml"
CLUSTER_ID = "axigen-8699453a"   # steps.session.cluster_id of EXAMPLE
NO_GROUP = REPO / "tests/fixtures/install/crm_mon-fencing.xml"     # installed up to fencing: no Axigen group
HEALTHY = REPO / "tests/fixtures/pacemaker/crm_mon-healthy.xml"
NOT_RUNNING = REPO / "tests/fixtures/pacemaker/crm_mon-not-running.xml"


@pytest.fixture(autouse=True)
def state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path))
    monkeypatch.chdir(REPO)
    # no real screen behind Maintenance/Install: the test is about which screen opens, not what it shows
    monkeypatch.setitem(app_module.SCREENS, "maintenance", ("axha.tui.screens.no_such_maint", "X", "Maintenance", "h"))
    monkeypatch.setitem(app_module.SCREENS, "install", ("axha.tui.screens.no_such_install", "X", "Install", "h"))


def done_install_journal(tmp_path) -> Path:
    path = tmp_path / CLUSTER_ID / "journal" / "install.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "cluster": CLUSTER_ID, "instance": "3f1c2b9e-old", "finished": "x",
                                "steps": {"access": {"state": "done"}, "verify": {"state": "done"}}}))
    return path


def cluster_answers(monkeypatch, node1: Path, node2: Path | None = None) -> None:
    """Both nodes answer crm_mon with recorded real output (no SSH: the example's addresses may be a live lab)."""
    def fake_open_context(spec, secrets, **_):
        runners = {name: ReplayRunner(name, [Recorded(CRM_MON_ARGV, 0 if xml != NOT_RUNNING else 102,
                                                      xml.read_text())], ordered=False)
                   for name, xml in zip(spec.node_names, (node1, node2 or node1))}
        return Context(spec, runners)

    import axha.steps.session
    monkeypatch.setattr(axha.steps.session, "open_context", fake_open_context)


def logged(app, text: str) -> bool:
    return any(text in line for line in app.log_lines)


async def test_done_journal_without_the_group_on_the_cluster_stays_on_inventory(tmp_path, monkeypatch):
    done_install_journal(tmp_path)
    cluster_answers(monkeypatch, NO_GROUP)
    app = AxhaApp(EXAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: logged(app, "install not done"))
        await wait_for(pilot, lambda: not app.workers)   # the startup check is over: nothing else will switch
        assert app.current == "inventory"
        line = next(line for line in app.log_lines if "install not done" in line)
        assert "No Axigen group (axigen-group) on the cluster (crm_mon on node1)" in line
        assert any("a journal alone never decides" in line for line in app.log_lines)


async def test_no_answer_from_the_cluster_stays_on_inventory(monkeypatch, tmp_path):
    done_install_journal(tmp_path)
    cluster_answers(monkeypatch, NOT_RUNNING)
    app = AxhaApp(EXAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: logged(app, "Could not ask the cluster whether it is installed"))
        await wait_for(pilot, lambda: not app.workers)
        assert app.current == "inventory"


async def test_the_group_on_the_cluster_opens_maintenance(monkeypatch):
    cluster_answers(monkeypatch, NOT_RUNNING, HEALTHY)   # node1 down, node2 answers: no journal needed
    app = AxhaApp(EXAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.current == "maintenance")
        assert logged(app, "The cluster is installed (crm_mon on node2 shows axigen-group)")
        await wait_for(pilot, lambda: app.screen.is_mounted and bool(app.screen.query("NavBar")))


async def test_palette_restart_sets_the_install_journal_aside(tmp_path, monkeypatch):
    journal = done_install_journal(tmp_path)
    cluster_answers(monkeypatch, NO_GROUP)
    app = AxhaApp(EXAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.spec is not None and not app.workers)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Restart the install" in titles and "Restart the upgrade" in titles
        app.restart_operation("install")
        assert not journal.exists() and list(journal.parent.glob("install.json.restarted-*"))
        assert logged(app, "install restarted: the previous journal is kept as")
        await wait_for(pilot, lambda: app.current == "install")
        await wait_for(pilot, lambda: app.screen.is_mounted and bool(app.screen.query("NavBar")))
