"""The dashboard (steps.maint.status warnings) on every healthy-cluster sample of the upstream formats: no warning;
and the misreadings of issue 12 as the dashboard showed them (tests/fixtures/upstream/SOURCES.md)."""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from axha.steps.maint.status import build_state
from axha.steps.maint.probe import parse_probe, split_sections
from axha.steps.maint.service import ServiceAnswer
from axha.steps.spec_load import load_cluster
from tests.unit.test_upstream_corosync import CFGTOOL_FAMILIES
from tests.unit.test_upstream_drbd import down_resource_output
from tests.unit.test_upstream_pacemaker import _as_pacemaker_3, variant
from tests.unit.upstream_pcmk import run_crm_mon
from tests.unit.upstream_render import Link, cfgtool_exit_code, render_cfgtool

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SPEC = load_cluster(str(FIX / "maint" / "cluster-lab8.yaml"))
ANSWERS = (ServiceAnswer("smtp", 25, True, "220 node1 ESMTP ready"), ServiceAnswer("imap", 143, True, "* OK ready"))
RECORDED = json.loads((FIX / "maint" / "probe-installed-healthy.json").read_text())["nodes"]
NODEIDS = {"node1": 1, "node2": 2}


def probe_text(node: str, **sections: tuple[int, str]) -> str:
    """The node's recorded healthy probe with some sections' (rc, output) replaced."""
    text = RECORDED[node]["commands"][0]["stdout"]
    for name, (rc, body) in sections.items():
        old_rc, old = split_sections(text)[name]
        begin, end = f"@@axha {name}\n", f"@@axha-rc {name} {old_rc}"
        start = text.index(begin) + len(begin)
        text = text[:start] + body + ("" if body.endswith("\n") else "\n") + "\n" + text[text.index(end):].replace(
            end, f"@@axha-rc {name} {rc}", 1)
    return text


def cfgtool(family: str, node: str, connected=((True, True), (True, True))) -> tuple[int, str]:
    me = next(n for n in SPEC.nodes if n.name == node)
    peer = NODEIDS[SPEC.peer(node).name]
    links = [Link(i, me.links[i].address, {peer: connected[i][0 if node == "node1" else 1]}) for i in (0, 1)]
    ids = sorted(NODEIDS.values())
    return (cfgtool_exit_code(family, NODEIDS[node], ids, links),
            render_cfgtool(family, NODEIDS[node], ids, links))


def state(per_node: dict[str, dict[str, tuple[int, str]]]):
    probes = tuple(parse_probe(n, 0, probe_text(n, **per_node.get(n, {})), SPEC) for n in SPEC.node_names)
    return build_state(SPEC, probes, ANSWERS, taken_at=0)


def recorded_crm_mon(node: str) -> str:
    return split_sections(RECORDED[node]["commands"][0]["stdout"])["crm_mon"][1]


CRM_MON = {
    "recorded-2.1.5": lambda node: recorded_crm_mon(node),
    "pacemaker-3.0.2-names": lambda node: _as_pacemaker_3(recorded_crm_mon(node), drop_old=False),
    "pacemaker-3-old-names-gone": lambda node: _as_pacemaker_3(recorded_crm_mon(node), drop_old=True),
}
HEALTHY = list(itertools.product(CFGTOOL_FAMILIES, CRM_MON))


@pytest.mark.parametrize("family,mon", HEALTHY, ids=[f"corosync-{f}-{m}" for f, m in HEALTHY])
def test_no_warning_on_any_healthy_sample(family, mon):
    s = state({n: {"corosync": cfgtool(family, n), "crm_mon": (0, CRM_MON[mon](n))} for n in SPEC.node_names})
    assert s.warnings == ()
    assert [(l.node, l.link, l.up) for l in s.links] == [(n, i, True) for n in SPEC.node_names for i in (0, 1)]
    assert s.stonith_enabled and s.active_node is not None


@pytest.mark.parametrize("family", CFGTOOL_FAMILIES)
def test_a_link_down_is_one_warning_per_node_on_every_version(family):
    """corosync 3.0.4-3.1.0 exit 1 with a link down: that output is still read, so the loss is shown."""
    down = ((True, True), (False, False))
    s = state({n: {"corosync": cfgtool(family, n, down)} for n in SPEC.node_names})
    assert [(w.code, w.node) for w in s.warnings] == [("LINK_DOWN", "node1"), ("LINK_DOWN", "node2")]
    assert all("link1" in w.text for w in s.warnings)


def test_misreading_1_cfgtool_3_0_4_was_four_link_down_warnings():
    s = state({n: {"corosync": cfgtool("3.0.4", n)} for n in SPEC.node_names})
    assert not [w for w in s.warnings if w.code == "LINK_DOWN"]


def test_misreading_2_pending_node_is_not_shown_in_standby():
    rc, xml = run_crm_mon(variant("node2-pending"))
    s = state({n: {"crm_mon": (rc, xml)} for n in SPEC.node_names})
    node2 = s.node("node2")
    assert node2.state == "pending" and not node2.standby
    assert "NODE_PENDING" in [w.code for w in s.warnings] and "NODE_STANDBY" not in [w.code for w in s.warnings]


def test_misreading_3_to_6_failed_action_and_timed_move_are_described_right():
    rc, xml = run_crm_mon(variant("migrate-to-failed"))
    s = state({n: {"crm_mon": (rc, xml)} for n in SPEC.node_names})
    failed, = [w for w in s.warnings if w.code == "FAILED_ACTION"]
    assert s.failed_actions[0]["resource"] == "vm_idcc_devel" and "migrate_to" in failed.text
    constraints = (0, variant("timed-move").decode())
    s = state({n: {"constraints": constraints} for n in SPEC.node_names})
    left, = [w for w in s.warnings if w.code == "LEFTOVER_CONSTRAINT"]
    assert left.node == "node2" and "pinned to node2" in left.text and "None" not in left.text


@pytest.mark.parametrize("order", ["stderr-first", "stdout-first"])
def test_minor_down_drbd_resource_error_text(order):
    s_probe = parse_probe("node2", 0, probe_text("node2", drbd=(10, down_resource_output(order))), SPEC)
    assert s_probe.drbd is None and "No such resource" in s_probe.drbd_error
    assert not re.fullmatch(r"[\[\]{},]+", s_probe.drbd_error)
