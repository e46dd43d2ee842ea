"""run_preflight over recorded lab scenarios: the right FAIL on the right node, live results, re-run, reports."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from axha.checks.preflight import CHECK_IDS, CLUSTER, PreflightReport, fence_options, rerun_check, run_preflight
from tests.fixtures.preflight import replay

EXPECTED = {  # scenario -> {(node, code)} of every FAIL (the whole set: nothing else may fail)
    "baseline": set(),
    "shared": set(),
    "profile-low-ram": {("node2", "RAM_BELOW_BASELINE")},
    "profile-slow-cpu": {("node2", "CPU_BELOW_BASELINE")},
    "profile-degraded-raid": {("node1", "RAID_DEGRADED"), ("node1", "RAID_DRIVE_FAILED")},
    "bmc1-stopped": {("node1", "BMC_TIMEOUT"), ("node1", "FENCE_AGENT_TIMEOUT")},
    "bmc1-wrong-password": {("node1", "BMC_AUTH_FAILED"), ("node1", "FENCE_AGENT_AUTH_FAILED")},
    "disk2-ext4": {("node2", "DISK_HAS_FILESYSTEM")},
}


def fails(report: PreflightReport) -> set[tuple[str, str]]:
    return {(f.node, f.code) for f in report.findings if f.status == "FAIL"}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_scenario_fails_exactly_where_expected(scenario):
    report = run_preflight(replay.context(scenario))
    assert fails(report) == EXPECTED[scenario]
    assert report.ok == (not EXPECTED[scenario])


def test_baseline_passes_every_hardware_check_on_both_nodes():
    report = run_preflight(replay.context("baseline"))
    for check in ("cpu", "memory", "raid", "network", "links", "fencing", "storage"):
        for node in ("node1", "node2"):
            assert report.results[(check, node)].status == "PASS", (check, node)


def test_link_down_fails_links_on_both_ends_and_names_the_cause_on_node2():
    f = fails(run_preflight(replay.context("link1-down-node2")))
    assert ("node2", "LINK1_DOWN") in f and ("node1", "LINK1_DOWN") not in f
    assert ("node1", "LINK1_NO_CARRIER") in f  # the cable's other end went dark: true on node1
    assert not any(code.startswith("LINK0") for _, code in f)


def test_one_nic_profile():
    f = fails(run_preflight(replay.context("profile-one-nic")))
    assert {("node1", "NIC_COUNT_LOW"), ("node1", "LINK0_INTERFACE_MISSING")} <= f
    assert ("node2", "LINK0_INTERFACE_MISSING") not in f


def test_results_arrive_one_by_one_for_every_check_and_node():
    seen = []
    ctx = replay.context("baseline")
    report = run_preflight(ctx, seen.append)
    assert len(seen) == len(report.results) and len({(r.check, r.node) for r in seen}) == len(seen)
    assert {r.check for r in seen} == set(CHECK_IDS)
    assert {r.node for r in seen} == {"node1", "node2", CLUSTER}
    # per node: the facts script and each network probe (two pings, fence_ipmilan) side by side; nothing written
    for runner in ctx.runners.values():
        assert len(runner.calls) == 4 and runner.puts == []
        lists = sorted(call[4] for call in runner.calls)  # the sections each command was asked for
        assert {"fence_peer", "ping_link0", "ping_link1"} <= set(lists)
        assert any("clock" in x and "ping" not in x and "fence" not in x for x in lists)
        # only the fence_ipmilan command gets the peer BMC's options (and so its password) on stdin
        fence_flags = {call[4]: call[12] for call in runner.calls}  # argv: sh -c SCRIPT NAME sections ... fence
        assert fence_flags["fence_peer"] == "1" and fence_flags["ping_link0"] == fence_flags["ping_link1"] == "0"


def test_rerun_one_check_replaces_its_cells_only():
    ctx = replay.context("profile-low-ram")
    report = run_preflight(ctx)
    before = dict(report.results)
    seen = []
    rerun_check(ctx, report, "memory", seen.append)
    assert {(r.check, r.node) for r in seen} == {("memory", "node1"), ("memory", "node2"), ("memory", CLUSTER)}
    assert report.results[("memory", "node2")].status == "FAIL"
    assert report.results[("cpu", "node1")] is before[("cpu", "node1")]
    assert len(ctx.runners["node1"].calls) == 5  # 4 for the full run; the re-run is one more command per node


def test_bmc_password_travels_on_stdin_never_in_argv():
    ctx = replay.context("baseline")
    options = fence_options(ctx.spec, ctx.secrets, ctx.spec.node("node2"))
    assert "password=recorded" in options and "action=status" in options
    run_preflight(ctx)
    for runner in ctx.runners.values():
        assert all("recorded" not in arg for argv in runner.calls for arg in argv)


def test_unreachable_node_is_a_finding_not_a_crash():
    ctx = replay.context("baseline")
    ctx.runners["node2"].recordings.clear()  # node2 answers nothing we recorded: every command fails
    report = run_preflight(ctx)
    f = fails(report)
    assert ("node2", "NODE_UNREACHABLE") in f and not any(node == "node1" for node, _ in f)


def test_report_json_and_markdown():
    report = run_preflight(replay.context("disk2-ext4"))
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["counts"]["FAIL"] == 1
    cell = [r for r in data["results"] if r["check"] == "storage" and r["node"] == "node2"][0]
    assert cell["status"] == "FAIL" and "disk_wipefs" in cell["output"]
    md = report.to_markdown()
    assert "| Storage | PASS | FAIL | PASS |" in md and "`DISK_HAS_FILESYSTEM` (node2)" in md
    assert "wipefs -a /dev/vdb" in md


def test_checks_never_import_textual():
    code = "import axha.checks.preflight, axha.checks.view, sys; print('textual' in sys.modules or 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
