"""steps.pacemaker parsers on real crm_mon / cibadmin output (tests/fixtures/pacemaker/SOURCES.md)."""
from pathlib import Path

import pytest

from axha.steps import names
from axha.steps.pacemaker import PacemakerParseError
from axha.steps.pacemaker_cib import parse_cib_version
from axha.steps.pacemaker_constraints import leftover_constraints, parse_constraints
from axha.steps.pacemaker_status import parse_crm_mon

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "pacemaker"


def mon(name: str):
    return parse_crm_mon((FIX / f"crm_mon-{name}.xml").read_text())


def test_healthy_cluster():
    s = mon("healthy")
    assert s.dc == "node1" and s.with_quorum and s.stonith_enabled and not s.maintenance_mode
    assert [(n.name, n.state) for n in s.nodes] == [("node1", "online"), ("node2", "online")]
    assert s.where(names.GROUP) == "node1"
    clone = s.clone(names.drbd_clone("axigen"))
    assert clone.promotable and clone.promoted == ("node1",) and clone.unpromoted == ("node2",)
    assert [m.id for m in s.group(names.GROUP).members] == list(names.GROUP_MEMBERS)
    assert {r.id: (r.role, r.node) for r in s.stonith_resources()} == {
        "fence-node1": ("Started", "node2"), "fence-node2": ("Started", "node1")}
    assert s.failed_actions == ()
    assert s.node_attributes["node1"]["master-drbd-axigen"] == "10000"


def test_failed_action():
    failure, = mon("failed-action").failed_actions
    assert (failure.resource, failure.node, failure.task, failure.exitcode) == ("axigen", "node1", "monitor", "7")
    assert "not running" in failure.summary()


@pytest.mark.parametrize("fixture,state", [("node2-offline", "offline"), ("node2-unclean", "unclean"),
                                           ("node2-standby", "standby")])
def test_node_states(fixture, state):
    s = mon(fixture)
    assert s.node("node2").state == state and s.node("node1").state == "online"


def test_offline_peer_leaves_no_unpromoted_instance():
    clone = mon("node2-offline").clone("drbd-axigen-clone")
    assert clone.promoted == ("node1",) and clone.unpromoted == ()


def test_maintenance_mode():
    assert mon("maintenance").maintenance_mode


def test_fence_device_stopped():
    fence = {r.id: r for r in mon("fence-stopped").stonith_resources()}
    assert fence["fence-node1"].role == "Stopped" and not fence["fence-node1"].active
    assert fence["fence-node1"].target_role == "Stopped"


def test_move_drags_promotion_with_the_group():
    s = mon("moved-node2")
    assert s.where(names.GROUP) == "node2"
    assert s.clone("drbd-axigen-clone").promoted == ("node2",)


def test_old_master_slave_names_are_mapped():
    s = mon("1.1.15-master-slave")
    clone = s.clone("pgsql-ha")
    assert clone.promoted == ("centos-pg-1",)
    assert clone.unpromoted == ("centos-pg-2", "centos-pg-3")
    assert s.dc == "centos-pg-3" and not s.stonith_enabled


def test_bans_include_drbd_fence_rule():
    bans = {b.id: b for b in mon("ban-and-fence").bans}
    assert bans["cli-ban-axigen-group-on-node1"].node == "node1"
    assert bans["drbd-fence-by-handler-rule-drbd-axigen-clone"].promoted_only


def test_constraints_leftovers():
    healthy = parse_constraints((FIX / "constraints-healthy.xml").read_text())
    assert len(healthy) == 2 and leftover_constraints(healthy) == ()
    moved = leftover_constraints(parse_constraints((FIX / "constraints-moved.xml").read_text()))
    assert [(c.kind, c.resource, c.node) for c in moved] == [("cli-prefer", "axigen-group", "node2")]
    both = leftover_constraints(parse_constraints((FIX / "constraints-ban-and-fence.xml").read_text()))
    assert [c.kind for c in both] == ["cli-ban", "drbd-fence"]
    assert both[1].rule_nodes == ("node1",) and both[1].role == "Promoted"
    assert "node1" in both[1].describe()


def test_cib_version():
    version = parse_cib_version((FIX / "cib-healthy.xml").read_text())
    assert (version.admin_epoch, version.epoch, version.num_updates) == (0, 12, 41)


def test_garbage_is_a_clear_error():
    with pytest.raises(PacemakerParseError, match="not XML"):
        parse_crm_mon("crm_mon: Error: cluster is not available on this node\n")
    with pytest.raises(PacemakerParseError, match="Connection to cluster failed"):
        parse_crm_mon((FIX / "crm_mon-not-running.xml").read_text())
