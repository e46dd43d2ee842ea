"""The storage steps on the lab: DRBD up and in sync with the mail data on /dev/drbd0, a re-run plans nothing, an
interrupted sync is finished by a re-run, and a backing disk holding a file is refused and left alone.
AXHA_RECORD_DIR=DIR also writes each run's commands and real outputs as ReplayRunner fixtures into DIR."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from axha.steps.framework import Progress, run_steps
from axha.steps.install.storage import STORAGE_STEPS
from tests.integration.storage_lab import lab_context
from tests.waiting import wait_until

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
MAIL = "/var/opt/axigen/domains/example.com/msg1"


def steps():
    return [cls() for cls in STORAGE_STEPS]


def record(ctx, name: str) -> None:
    target = os.environ.get("AXHA_RECORD_DIR")
    if target:
        for node, runner in ctx.runners.items():
            runner.dump(Path(target) / f"{name}-{node}.json", "axha lab (real drbd-utils drbdadm over the DRBD "
                        "stand-in, util-linux, e2fsprogs) via tests/integration/test_install_storage.py")


def run(lab, **options):
    ctx = lab_context(lab["instance"], lab["cluster_file"], record=True, **options)
    events = []
    report = run_steps(ctx, steps(), events.append)
    return ctx, report, events


def seed_mail(lab_exec) -> None:
    """What an installed Axigen leaves on node1: a store with a hard link and a symlink."""
    script = (f"mkdir -p {os.path.dirname(MAIL)} && echo 'mail one' > {MAIL} && "
              f"ln {MAIL} /var/opt/axigen/domains/hard && ln -s domains /var/opt/axigen/link")
    assert lab_exec("node1", ["sh", "-c", script]).returncode == 0


def drbd_state(lab_exec, node: str):
    from axha.steps import drbd_status
    out = lab_exec(node, ["drbdsetup", "status", "axigen", "--json"])
    return drbd_status.find_resource(drbd_status.parse_status_json(out.stdout.decode()), "axigen")


def test_fresh_install_then_rerun_plans_nothing(fresh_lab, lab_exec):
    seed_mail(lab_exec)
    axigen = lab_exec("node1", ["systemctl", "start", "axigen"]).returncode == 0  # when the stand-in is installed
    ctx, report, events = run(fresh_lab)
    record(ctx, "first-run")
    assert report.ok, [f.message for f in report.finished if f.status == "failed"]
    progress = [e for e in events if isinstance(e, Progress)]
    assert {p.node for p in progress} == {"node1", "node2"}
    assert all(max(p.done for p in progress if p.node == n) == 100.0 for n in ("node1", "node2"))
    for node in ("node1", "node2"):
        state = drbd_state(lab_exec, node)
        assert state.in_sync and state.role == "Secondary", state
    # the mail is on /dev/drbd0, read back through a fresh mount
    script = "drbdadm primary axigen && mount /dev/drbd0 /mnt && cat /mnt/domains/example.com/msg1; " \
             "umount /mnt; drbdadm secondary axigen"
    assert lab_exec("node1", ["sh", "-c", script]).stdout.decode() == "mail one\n"
    assert lab_exec("node1", ["cat", "/var/opt/axigen.pre-axha/domains/example.com/msg1"]).returncode == 0
    if axigen:  # Axigen was stopped before its files were copied (Pacemaker starts it later)
        assert ["systemctl", "stop", "axigen"] in [c["argv"] for c in ctx.runners["node1"].commands]
        assert lab_exec("node1", ["systemctl", "is-active", "axigen"]).returncode != 0

    ctx2 = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"], record=True)
    again = run_steps(ctx2, steps(), lambda e: None)
    record(ctx2, "second-run")
    assert again.ok and not again.changed
    assert {f.status for f in again.finished} == {"skipped"}


def test_killed_in_the_middle_of_the_sync_then_rerun_finishes(fresh_lab, lab_exec):
    first = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"])
    assert run_steps(first, steps()[:3], lambda e: None).ok  # config, metadata, up
    child = subprocess.Popen([sys.executable, "-c", _SYNC_ONLY, str(fresh_lab["instance"]),
                              fresh_lab["cluster_file"]], cwd=REPO, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    for line in child.stdout:  # the child prints each Progress percent; kill it hard mid-way
        if line.startswith("progress") and 20.0 < float(line.split()[2]) < 80.0:
            os.killpg(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert drbd_state(lab_exec, "node1").syncing
    ctx, report, events = run(fresh_lab)
    record(ctx, "resume-sync")
    assert report.ok
    forced = [c for r in ctx.runners.values() for c in r.commands if c["argv"][:3] == ["drbdadm", "primary", "--force"]]
    assert forced == []  # the re-run only followed the running sync
    assert all(drbd_state(lab_exec, n).in_sync for n in ("node1", "node2"))


_SYNC_ONLY = """
import sys
from axha.steps.framework import Progress, run_steps
from axha.steps.install.drbd_sync import InitialSync
from tests.integration.storage_lab import lab_context
ctx = lab_context(int(sys.argv[1]), sys.argv[2])
def emit(e):
    if isinstance(e, Progress):
        print("progress", e.node, e.done, flush=True)
run_steps(ctx, [InitialSync()], emit)
"""


def test_backing_disk_with_a_file_is_refused_and_kept(fresh_lab, lab_exec):
    script = "mkfs.ext4 -q -L olddata /dev/vdb && mount /dev/vdb /mnt && echo precious > /mnt/keep.txt && umount /mnt"
    assert lab_exec("node2", ["sh", "-c", script]).returncode == 0
    ctx, report, events = run(fresh_lab)
    record(ctx, "refused-disk")
    failed = [f for f in report.finished if f.status == "failed"]
    assert not report.ok and failed[0].step_id == "drbd-metadata" and "not confirmed" in failed[0].message
    plan = next(e for e in events if getattr(e, "step_id", "") == "drbd-metadata" and hasattr(e, "actions"))
    assert any(a.argv == ("wipefs", "-a", "/dev/vdb") and a.destructive for a in plan.actions)
    out = lab_exec("node2", ["sh", "-c", "mount -o ro /dev/vdb /mnt && cat /mnt/keep.txt; umount /mnt"])
    assert out.stdout.decode() == "precious\n"
    assert not any(c["argv"][:2] in (["wipefs", "-a"], ["drbdadm", "create-md"])
                   for r in ctx.runners.values() for c in r.commands)
    # `axha install --yes` accepts every question: still no wipe without --wipe-disk node2:/dev/vdb
    headless = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"], yes=True)
    headless.confirm = lambda question: True
    report = run_steps(headless, steps(), lambda e: None)
    assert not report.ok and report.finished[-1].findings[0].code == "BACKING_DISK_NOT_EMPTY"
    out = lab_exec("node2", ["sh", "-c", "mount -o ro /dev/vdb /mnt && cat /mnt/keep.txt; umount /mnt"])
    assert out.stdout.decode() == "precious\n"


def test_skip_initial_sync_on_brand_new_disks(fresh_lab, lab_exec):
    from axha.steps.install.drbd_sync import InitialSync
    ctx = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"], record=True, skip_initial_sync=True)
    events = []
    report = run_steps(ctx, steps()[:4], events.append)
    record(ctx, "skip-sync")
    assert report.ok, [f.message for f in report.finished]
    plan = next(e for e in events if getattr(e, "step_id", "") == InitialSync.id and hasattr(e, "actions"))
    (action,) = plan.actions
    assert action.argv == ("drbdadm", "new-current-uuid", "--clear-bitmap", "axigen") and action.destructive
    assert "SKIP THE INITIAL SYNC" in action.why
    assert all(drbd_state(lab_exec, n).in_sync for n in ("node1", "node2"))
    # once used, the metadata is no longer brand new: a skip is refused on a non-fresh pair
    again = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"], skip_initial_sync=True)
    assert InitialSync().plan(again) == []


def test_shared_storage_mode_formats_the_array_and_moves_the_data(fresh_lab, lab_exec, tmp_path):
    import yaml
    data = yaml.safe_load(Path(fresh_lab["cluster_file"]).read_text())
    data["storage"]["mode"] = "shared"
    cluster = tmp_path / "shared.yaml"
    cluster.write_text(yaml.safe_dump(data))
    seed_mail(lab_exec)
    ctx = lab_context(fresh_lab["instance"], str(cluster), record=True)
    events = []
    report = run_steps(ctx, steps(), events.append)
    record(ctx, "shared-first-run")
    assert report.ok, [f.message for f in report.finished]
    done = {f.step_id: f.status for f in report.finished}
    assert all(done[s] == "skipped" for s in ("drbd-config", "drbd-metadata", "drbd-up", "drbd-initial-sync"))
    assert done["filesystem"] == done["axigen-data"] == "done"
    assert not any(c["argv"][0] in ("drbdadm", "drbdsetup") for r in ctx.runners.values() for c in r.commands)
    out = lab_exec("node2", ["sh", "-c", "mount /dev/vdc /mnt && cat /mnt/domains/example.com/msg1; umount /mnt"])
    assert out.stdout.decode() == "mail one\n"  # the other node reads the same array
    ctx2 = lab_context(fresh_lab["instance"], str(cluster), record=True)
    again = run_steps(ctx2, steps(), lambda e: None)
    record(ctx2, "shared-second-run")
    assert again.ok and not again.changed


def test_killed_during_the_data_move_then_rerun_finishes(fresh_lab, lab_exec):
    seed_mail(lab_exec)
    first = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"])
    assert run_steps(first, steps()[:5], lambda e: None).ok  # up to the filesystem
    # what a kill right after the temporary mount leaves behind: node1 Primary, the new filesystem mounted
    script = "drbdadm primary axigen && mkdir -p /run/axha-data && mount /dev/drbd0 /run/axha-data"
    assert lab_exec("node1", ["sh", "-c", script]).returncode == 0
    ctx, report, events = run(fresh_lab)
    record(ctx, "resume-data")
    assert report.ok, [f.message for f in report.finished]
    assert lab_exec("node1", ["findmnt", "-S", "/dev/drbd0"]).returncode != 0
    assert drbd_state(lab_exec, "node1").role == "Secondary"
    assert lab_exec("node1", ["cat", "/var/opt/axigen.pre-axha/domains/example.com/msg1"]).returncode == 0


@pytest.mark.parametrize("stop_after", [1, 2, 3, 4, 5])
def test_stopped_at_a_step_boundary_then_rerun_finishes(fresh_lab, lab_exec, stop_after):
    seed_mail(lab_exec)
    first = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"])
    assert run_steps(first, steps()[:stop_after], lambda e: None).ok
    ctx, report, _ = run(fresh_lab)
    assert report.ok, [f.message for f in report.finished]
    done = [f.step_id for f in report.finished if f.status == "done"]
    # exactly the steps not yet run did work. One exception: the lab's DRBD stand-in cannot open /dev/drbd0 on a
    # Secondary (real DRBD 9 can, read-only), so a formatted device is re-checked after promotion, never formatted
    expected = [s.id for s in steps()[stop_after:]]
    assert [d for d in done if d not in expected] in ([], ["filesystem"])
    assert set(expected) <= set(done)
    if stop_after == 5:
        assert not any(c["argv"][0].startswith("mkfs") for c in ctx.runners["node1"].commands)
    assert all(drbd_state(lab_exec, n).in_sync for n in ("node1", "node2"))
    assert lab_exec("node1", ["cat", "/var/opt/axigen.pre-axha/domains/example.com/msg1"]).returncode == 0


def test_confirmed_wipe_erases_and_installs(fresh_lab, lab_exec):
    script = "mkfs.ext4 -q -L olddata /dev/vdb"
    assert lab_exec("node2", ["sh", "-c", script]).returncode == 0
    questions = []
    ctx = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"], record=True)
    ctx.confirm = lambda q: questions.append(q) or q.expected == "/dev/vdb"  # the admin typed the path
    report = run_steps(ctx, steps()[:3], lambda e: None)
    record(ctx, "confirmed-wipe")
    assert report.ok, [f.message for f in report.finished]
    assert [q.key for q in questions] == ["wipe-backing-disk"]
    node2 = [c["argv"] for c in ctx.runners["node2"].commands]
    assert node2.index(["wipefs", "-a", "/dev/vdb"]) < node2.index(["drbdadm", "create-md", "--force", "axigen"])
    assert not any(a[:2] == ["wipefs", "-a"] for a in (c["argv"] for c in ctx.runners["node1"].commands))
    sigs = lab_exec("node2", ["wipefs", "-n", "-J", "/dev/vdb"]).stdout.decode()
    assert "olddata" not in sigs


def test_rerun_with_a_node_in_standby_leaves_drbd_to_pacemaker(fresh_lab, lab_exec):
    """After the whole install, node2 in standby has DRBD down on purpose: the storage steps must not bring it up."""
    from axha.steps.install import install_steps
    from axha.steps.secrets import load_secrets
    from axha.steps.session import close_context, open_context
    from axha.steps.spec_load import load_cluster

    spec = load_cluster(fresh_lab["cluster_file"])
    full = open_context(spec, load_secrets(spec), confirm=lambda q: False)
    try:
        assert run_steps(full, install_steps(spec, {}), lambda e: None).ok
    finally:
        close_context(full)
    assert lab_exec("node1", ["crm_standby", "-N", "node2", "-v", "on"]).returncode == 0
    try:
        wait_until(lambda: drbd_state(lab_exec, "node2") is None, "Pacemaker to stop DRBD on node2", 60, interval=1)
        ctx = lab_context(fresh_lab["instance"], fresh_lab["cluster_file"], record=True)
        events = []
        report = run_steps(ctx, steps(), events.append)
        record(ctx, "standby-rerun")
        assert report.ok and not report.changed, [f.message for f in report.finished]
        assert drbd_state(lab_exec, "node2") is None  # still down: Pacemaker's decision stands
        assert not any(c["argv"][0] == "drbdadm" and c["argv"][1] in ("up", "adjust", "primary")
                       for r in ctx.runners.values() for c in r.commands)
    finally:
        lab_exec("node1", ["crm_standby", "-N", "node2", "-v", "off"])
