"""steps.drbd_*: golden tests on drbd-utils' own events2 test data, real status --json, and the real drbdadm parser."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from axha.steps import drbd_events, drbd_progress, drbd_resource_file, drbd_split_brain, drbd_status
from axha.steps.spec_load import load_cluster

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "drbd-real"
EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "cluster-example.yaml"


def events(name: str) -> drbd_events.Events2State:
    return drbd_events.parse_events2((FIX / name).read_text())


# ---------------------------------------------------------------- events2 (drbd-utils tests/v9/*.test)


def test_events2_sync_statistics_golden():
    state = events("events2-sync-statistics.txt")
    assert state.initial_done
    res = state.resource("some-resource")
    assert res.role == "Secondary" and res.disk == "UpToDate"
    assert res.device(0).minor == 1000 and res.device(0).backing_dev == "/dev/sda"
    assert res.may_promote is True and res.promotion_score == 10101
    conn = res.connection("some-peer")
    assert conn.connection == "Connected" and conn.peer_role == "Secondary" and conn.peer_node_id == 1
    assert conn.paths == (drbd_status.Path("ipv4:1.2.3.4:7789", "ipv4:5.6.7.8:7790", True),)
    pd = conn.peer_device(0)
    assert pd.replication == "SyncSource" and pd.peer_disk == "Inconsistent" and pd.sync_source
    assert pd.done == 37.5 and pd.out_of_sync_kib == 2500 and pd.eta == 10 and pd.rate_mib == 0.24
    assert res.syncing and not res.in_sync


def test_events2_sync_without_statistics_has_done_only():
    res = events("events2-sync.txt").resource("some-resource")
    pd = res.connection().peer_device(0)
    assert pd.done == 37.5 and pd.out_of_sync_kib is None and pd.eta is None


def test_events2_change_to_primary_and_uptodate():
    res = events("events2-all-create-change-statistics.txt").resource("some-resource")
    assert res.role == "Primary" and res.in_sync and res.connected
    assert res.replication == "Established" and res.peer_disk == "UpToDate"
    assert res.connection().peer_device(0).done is None  # no resync: no stale done:


def test_events2_destroy_removes_everything():
    state = events("events2-all-create-destroy.txt")
    assert state.resource("some-resource") is None and state.names() == ()


def test_events2_helper_calls_are_kept():
    state = events("events2-all-create-helper.txt")
    assert [(h.verb, h.get("helper"), h.get("status")) for h in state.helpers] == [
        ("call", "before-resync-target", None), ("response", "before-resync-target", "1")]
    assert drbd_split_brain.split_brain_signs({"n": state.resource("some-resource")}, state.helpers) == ()


def test_events2_inconsistent_local_disk_is_not_in_sync():
    res = events("events2-promotion-score-inconsistent.txt").resource("some-resource")
    assert res.disk == "Inconsistent" and res.peer_disk == "UpToDate" and res.connected
    assert not res.in_sync and res.promotion_score == 10001


@pytest.mark.parametrize("line", ["", "   ", "garbage", "exists", "change resource name"])
def test_events2_foreign_lines_are_ignored(line):
    assert drbd_events.parse_events2_line(line) is None


def test_events2_timestamp_prefix_and_colon_values():
    ev = drbd_events.parse_events2_line("2024-01-09T14:51:18.123456+00:00 create path name:r peer-node-id:1 "
                                 "conn-name:p local:ipv4:1.2.3.4:7789 peer:ipv4:5.6.7.8:7790 established:no")
    assert ev.timestamp.startswith("2024-01-09") and ev.get("local") == "ipv4:1.2.3.4:7789"


# ---------------------------------------------------------------- status --json


def test_status_json_real_drbd_utils_9_6():
    (res,) = drbd_status.parse_status_json((FIX / "status-json-beijing.json").read_text())
    assert res.name == "beijing" and res.role == "Primary" and res.node_id == 1
    assert res.device(0) == drbd_status.Device(volume=0, minor=5, disk="UpToDate", client=False, quorum=True,
                                        size_kib=307152)
    conn = res.connection("salt-node3")
    assert conn.connection == "Connected" and conn.peer_role == "Secondary" and conn.peer_node_id == 2
    assert conn.peer_device(0).percent_in_sync == 100.0 and conn.peer_device(0).out_of_sync_kib == 0
    assert res.in_sync and drbd_status.find_resource([res], "beijing") is res


def test_status_json_empty_and_bad():
    assert drbd_status.parse_status_json("") == ()
    with pytest.raises(drbd_status.DrbdParseError):
        drbd_status.parse_status_json("# No currently configured DRBD found.\n")


# ---------------------------------------------------------------- progress and split brain


def test_tracker_rate_and_eta_from_out_of_sync_countdown():
    res = events("events2-sync-statistics.txt").resource("some-resource")
    tracker = drbd_progress.SyncTracker()
    first = tracker.update("node1", res, now=100.0)
    assert first.percent == 37.5 and first.out_of_sync_kib == 2500
    assert first.rate_kib == pytest.approx(0.24 * 1024)  # no countdown yet: DRBD's own rate
    pd = res.connection().peer_device(0)
    later = replace(res, connections=(replace(res.connection(), peer_devices=(
        replace(pd, out_of_sync_kib=1500, done=62.5),)),))
    second = tracker.update("node1", later, now=110.0)
    assert second.rate_kib == pytest.approx(100.0) and second.eta == pytest.approx(15.0)
    assert second.percent == 62.5 and not second.finished


def test_tracker_finished_is_100_percent():
    res = events("events2-all-create-change-statistics.txt").resource("some-resource")
    progress = drbd_progress.SyncTracker().update("node2", res, now=1.0)
    assert progress.finished and progress.percent == 100.0 and progress.eta == 0.0


def test_split_brain_signs():
    primary = events("events2-all-create-change-statistics.txt").resource("some-resource")
    standalone = events("events2-sync-statistics.txt").resource("some-resource")
    standalone = replace(standalone, connections=(replace(standalone.connection(),
                                                          connection="StandAlone"),))
    signs = drbd_split_brain.split_brain_signs({"node1": primary, "node2": replace(standalone, role="Primary")})
    assert any("StandAlone" in s and s.startswith("node2") for s in signs)
    assert any("both nodes are Primary" in s for s in signs)
    assert drbd_split_brain.split_brain_signs({"node1": primary, "node2": None}) == ()


# ---------------------------------------------------------------- the resource file, checked by the real drbdadm


def test_render_resource_contents():
    spec = load_cluster(str(EXAMPLE))
    text = drbd_resource_file.render_resource(spec)
    a, b = spec.nodes
    assert f"resource {spec.storage.drbd.resource} {{" in text
    for link in (0, 1):
        assert f"host {a.name} address {a.links[link].address}:{spec.storage.drbd.port};" in text
        assert f"host {b.name} address {b.links[link].address}:{spec.storage.drbd.port};" in text
    assert "fencing resource-and-stonith;" in text and "auto-promote no;" in text
    assert f'fence-peer "{drbd_resource_file.FENCE_PEER}";' in text and \
        f'unfence-peer "{drbd_resource_file.UNFENCE_PEER}";' in text


needs_drbdadm = pytest.mark.skipif(shutil.which("drbdadm") is None, reason="drbd-utils not installed")


def _drbdadm(args: list[str], hostname: str | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRBD_DRIVER_VERSION_OVERRIDE": "9.2.0", "LC_ALL": "C"}
    argv = ["drbdadm", *args]
    if hostname:  # drbdadm picks its `on` section by hostname: give it the node's name in a private UTS namespace
        argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30)


@needs_drbdadm
def test_generated_file_parses_with_real_drbdadm(tmp_path):
    spec = load_cluster(str(EXAMPLE))
    res_file = tmp_path / "axigen.res"
    res_file.write_text(drbd_resource_file.render_resource(spec))
    out = _drbdadm(["-c", str(res_file), "dump", "all"], None, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "fencing          resource-and-stonith;" in out.stdout
    assert out.stdout.count("path {") == 2


@needs_drbdadm
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a private UTS namespace")
def test_each_node_brings_up_both_paths_with_its_own_addresses(tmp_path):
    spec = load_cluster(str(EXAMPLE))
    res_file = tmp_path / "axigen.res"
    res_file.write_text(drbd_resource_file.render_resource(spec))
    r = spec.storage.drbd
    for node in spec.nodes:
        peer = spec.peer(node.name)
        out = _drbdadm(["-c", str(res_file), "-d", "up", r.resource], node.name, tmp_path)
        assert out.returncode == 0, out.stderr
        for i in (0, 1):
            assert (f"drbdsetup new-path {r.resource} {1 - spec.nodes.index(node)} "
                    f"ipv4:{node.links[i].address}:{r.port} ipv4:{peer.links[i].address}:{r.port}") in out.stdout
        assert f"drbdsetup attach {r.minor} {node.backing_disk} {node.backing_disk} internal" in out.stdout
        assert "--fencing=resource-and-stonith" in out.stdout and "--auto-promote=no" in out.stdout


@needs_drbdadm
def test_broken_file_is_refused_by_real_drbdadm(tmp_path):
    spec = load_cluster(str(EXAMPLE))
    res_file = tmp_path / "axigen.res"
    res_file.write_text(drbd_resource_file.render_resource(spec).replace("protocol C;", "protocol C"))
    out = _drbdadm(["-c", str(res_file), "dump", "all"], None, tmp_path)
    assert out.returncode != 0 and "axigen.res:" in out.stderr


# ---------------------------------------------------------------- the lab's stand-in stream (drbdsetup 9.22 format)


@pytest.mark.parametrize("node, role", [("node1", "SyncSource"), ("node2", "SyncTarget")])
def test_lab_sync_stream_runs_to_uptodate(node, role):
    state, done = drbd_events.Events2State(), []
    for line in (FIX / f"events2-lab-sync-{node}.txt").read_text().splitlines():
        state.feed(line)
        conn = state.resource("axigen").connection()
        pd = conn.peer_device(0) if conn else None
        if pd is not None and pd.done is not None:
            done.append(pd.done)
            assert pd.replication == role
    res = state.resource("axigen")
    assert done == sorted(done) and 0 <= done[0] < 10 and done[-1] > 90
    assert res.in_sync and len(res.connection().paths) == 2 and all(p.established for p in res.connection().paths)


def test_data_in_sync_is_one_rule_for_install_and_maintenance():
    """Where the copies disagreed: the maintenance actions took "Connected and not syncing" as in sync, which let
    an online verify, Ahead/Behind and the bitmap exchange before a resync pass; the install required Established.
    One rule now (steps.drbd_status.data_in_sync), read by Resource.in_sync and the dashboard's DrbdLocal.in_sync."""
    from axha.steps.drbd_status import data_in_sync
    from axha.steps.maint.drbdstate import DrbdLocal
    assert data_in_sync("UpToDate", "UpToDate", "Connected", "Established")
    for repl in ("VerifyS", "VerifyT", "Ahead", "Behind", "WFBitMapS", "WFBitMapT", "SyncSource", "PausedSyncS"):
        assert not data_in_sync("UpToDate", "UpToDate", "Connected", repl), repl
        local = DrbdLocal("axigen", "Primary", "UpToDate", "Secondary", "UpToDate", "Connected", repl, None)
        assert not local.in_sync, repl
    assert not data_in_sync("UpToDate", "Outdated", "Connected", "Established")
    assert not data_in_sync("UpToDate", "UpToDate", "StandAlone", "Off")
    assert DrbdLocal("axigen", "Primary", "UpToDate", "Secondary", "UpToDate", "Connected", "Established",
                     None).in_sync


def test_split_brain_is_one_rule_for_install_and_dashboard():
    """Where the copies disagreed: the dashboard called any StandAlone a split brain (an Inconsistent node that
    never synced, after `drbdadm disconnect`, too) and needed both nodes' answers; the install's rule asked for
    data that could have diverged. The install's rule is right; both use it now."""
    from axha.steps.drbd_split_brain import split_brain_signs_of
    from axha.steps.maint.drbdstate import DrbdLocal
    from axha.steps.maint.status import detect_split_brain
    from axha.steps.maint.probe import NodeProbe
    from tests.unit.test_maint_status import SPEC

    def probe(node, disk, conn, role="Secondary"):
        return NodeProbe(node, True, drbd=DrbdLocal("axigen", role, disk, None, None, conn, "Off", None))
    never_synced = {"node1": probe("node1", "Inconsistent", "StandAlone"),
                    "node2": probe("node2", "Inconsistent", "Connecting")}
    assert not detect_split_brain(SPEC, never_synced, None).detected
    assert split_brain_signs_of({"node1": ("Secondary", "Inconsistent", (("node2", "StandAlone"),))}) == ()
    one_side = {"node1": probe("node1", "UpToDate", "StandAlone", "Primary")}   # node2 did not answer
    found = detect_split_brain(SPEC, one_side, None)
    assert found.detected and "StandAlone on node1" in found.reason
