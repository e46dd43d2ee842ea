"""Storage install steps replayed on commands recorded in the lab (tests/fixtures/drbd-real/lab, see SOURCES.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from axha.steps import disk as disk_rule
from axha.steps import drbd_resource_file, drbd_status
from axha.steps.framework import Confirmation, Context, PlanReady, Progress, run_steps
from axha.steps.install import disk_guard, drbd_sync, mail_store
from axha.steps.install.storage import STORAGE_STEPS
from axha.steps.runner import ReplayRunner, UnexpectedCommand
from axha.steps.sections import Section
from axha.steps.spec_load import load_cluster

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "drbd-real"
LAB = FIX / "lab"
SPEC = load_cluster(str(LAB / "cluster.yaml"))


def replay(name: str, ordered: bool = True, **options) -> Context:
    runners = {n: ReplayRunner.from_file(n, LAB / f"{name}-{n}.json", ordered=ordered) for n in SPEC.node_names}
    return Context(spec=SPEC, runners=runners, options=options)


def run(ctx: Context, confirm=None):
    events, questions = [], []

    def ask(question: Confirmation) -> bool:
        questions.append(question)
        return confirm(question) if confirm else False

    ctx.confirm = ask
    report = run_steps(ctx, [cls() for cls in STORAGE_STEPS], events.append)
    return report, events, questions


def commands(ctx: Context, node: str) -> list[tuple[str, ...]]:
    return ctx.runners[node].calls


def test_first_run_brings_drbd_up_syncs_and_moves_the_data():
    ctx = replay("first-run")
    report, events, questions = run(ctx)
    assert report.ok and report.changed and questions == []
    for runner in ctx.runners.values():
        runner.assert_done()
    # the resource file went to both nodes, validated there before it was moved in place
    for node in SPEC.node_names:
        path, data, mode = ctx.runners[node].puts[0]
        assert path == "/etc/drbd.d/axigen.res.axha-new" and data.decode() == drbd_resource_file.render_resource(SPEC)
        calls = commands(ctx, node)
        assert calls.index(("drbdadm", "-c", path, "dump", "axigen")) < \
            calls.index(("mv", "-f", path, "/etc/drbd.d/axigen.res"))
    forced = [c for c in commands(ctx, "node1") if c == ("drbdadm", "primary", "--force", "axigen")]
    assert len(forced) == 1 and not any("--force" in c for c in commands(ctx, "node2"))
    # live progress from both sides, ending at 100 %
    progress = [e for e in events if isinstance(e, Progress)]
    for node in SPEC.node_names:
        mine = [p.done for p in progress if p.node == node]
        assert mine[-1] == 100.0 and mine == sorted(mine) and len(mine) > 5
    assert any(p.eta and p.rate and "MiB/s" in p.label and "out of sync" in p.label for p in progress)
    # the copy is verified before the original is moved aside, and demoted at the end
    node1 = commands(ctx, "node1")
    diff = next(i for i, c in enumerate(node1) if c[0] == "diff")
    assert diff < node1.index(("mv", "/var/opt/axigen", "/var/opt/axigen.pre-axha"))
    assert node1[-1][:2] != ("drbdadm", "primary") and ("drbdadm", "secondary", "axigen") in node1[diff:]


def test_second_run_plans_nothing_and_changes_nothing():
    ctx = replay("second-run")
    report, events, _ = run(ctx)
    assert report.ok and not report.changed
    assert {f.status for f in report.finished} == {"skipped"}
    assert all(e.actions == () for e in events if isinstance(e, PlanReady))
    for runner in ctx.runners.values():
        runner.assert_done()


def test_second_run_plan_only_is_empty():
    ctx = replay("second-run", ordered=False)
    report = run_steps(ctx, [cls() for cls in STORAGE_STEPS], lambda e: None, plan_only=True)
    assert report.ok and {f.status for f in report.finished} == {"skipped"}


def test_rerun_after_a_killed_sync_only_follows_it():
    ctx = replay("resume-sync")
    report, events, _ = run(ctx)
    assert report.ok
    plan = next(e for e in events if isinstance(e, PlanReady) and e.step_id == "drbd-initial-sync")
    assert [a.argv[:2] for a in plan.actions] == [("drbdsetup", "events2"), ("drbdsetup", "events2"),
                                                 ("drbdadm", "secondary")]
    assert not any(c[:3] == ("drbdadm", "primary", "--force") for c in commands(ctx, "node1"))
    first = [p.done for p in events if isinstance(p, Progress) and p.node == "node1"][0]
    assert 0 < first < 100  # it picked the sync up where it was
    for runner in ctx.runners.values():
        runner.assert_done()


def test_rerun_after_a_kill_during_the_data_move_finishes_and_demotes():
    ctx = replay("resume-data")
    report, events, _ = run(ctx)
    assert report.ok
    plan = next(e for e in events if isinstance(e, PlanReady) and e.step_id == "axigen-data")
    argvs = [a.argv for a in plan.actions]
    assert ("drbdadm", "primary", "axigen") not in argvs  # still Primary from the killed run
    assert not any(a[0] == "mount" for a in argvs)  # still mounted on the temporary mount point
    assert argvs[-1] == ("drbdadm", "secondary", "axigen")
    for runner in ctx.runners.values():
        runner.assert_done()


def test_node_in_standby_is_left_to_pacemaker():
    ctx = replay("standby-rerun")
    report, events, _ = run(ctx)
    assert report.ok and not report.changed
    assert ("cibadmin", "--query", "--xpath", "//primitive[@id='drbd-axigen']") in commands(ctx, "node1")
    assert not any(c[:2] in (("drbdadm", "up"), ("drbdadm", "adjust")) for n in SPEC.node_names
                   for c in commands(ctx, n))
    for runner in ctx.runners.values():
        runner.assert_done()


def test_backing_disk_holding_a_filesystem_is_refused():
    ctx = replay("refused-disk")
    report, events, questions = run(ctx)
    assert not report.ok and report.finished[-1].step_id == "drbd-metadata"
    (question,) = questions
    assert question.expected == "/dev/vdb"
    assert "node2:/dev/vdb" in question.details and "ext4 labelled 'olddata'" in question.details
    plan = next(e for e in events if isinstance(e, PlanReady) and e.step_id == "drbd-metadata")
    wipe = [a for a in plan.actions if a.argv == ("wipefs", "-a", "/dev/vdb")]
    assert [a.node for a in wipe] == ["node2"] and wipe[0].destructive
    assert not any(c[:2] in (("wipefs", "-a"), ("drbdadm", "create-md")) for n in SPEC.node_names
                   for c in commands(ctx, n))


def test_typed_confirmation_erases_then_creates_metadata():
    ctx = replay("confirmed-wipe")
    typed = []
    ctx.confirm = lambda q: typed.append(q) or q.expected == "/dev/vdb"
    report = run_steps(ctx, [cls() for cls in STORAGE_STEPS[:3]], lambda e: None)
    assert report.ok and [q.key for q in typed] == ["wipe-backing-disk"]
    node2 = commands(ctx, "node2")
    assert node2.index(("wipefs", "-a", "/dev/vdb")) < node2.index(("drbdadm", "create-md", "--force", "axigen"))
    assert ("drbdadm", "create-md", "axigen") in commands(ctx, "node1")  # the blank disk needs no force
    for runner in ctx.runners.values():
        runner.assert_done()


def test_headless_yes_never_wipes_a_disk_without_wipe_disk():
    ctx = replay("refused-disk", ordered=False, yes=True)
    report, events, questions = run(ctx, confirm=lambda q: True)  # a blanket --yes would accept anything
    assert not report.ok and questions == []
    failed = report.finished[-1]
    assert failed.step_id == "drbd-metadata"
    (finding,) = [f for f in failed.findings if f.status == "FAIL"]
    assert finding.code == "BACKING_DISK_NOT_EMPTY" and finding.node == "node2"
    assert "--wipe-disk node2:/dev/vdb" in finding.remedy
    assert not any(c[:2] in (("wipefs", "-a"), ("drbdadm", "create-md")) for n in SPEC.node_names
                   for c in commands(ctx, n))
    # with --plan the wipe is shown, not refused
    assert drbd_sync.DrbdMetadata().check(replay("refused-disk", ordered=False, yes=True, plan=True)) == []


@pytest.mark.parametrize("option", ["wipe_disks", "wipe_disk"])
def test_cli_wipe_disk_option_is_the_confirmation(option):
    step = drbd_sync.DrbdMetadata()
    ctx = replay("refused-disk", ordered=False, **{option: {("node2", "/dev/vdb")}})
    plan = step.plan(ctx)
    assert any(a.argv == ("wipefs", "-a", "/dev/vdb") for a in plan)
    assert step.confirmation(ctx, plan) is None
    other = replay("refused-disk", ordered=False, wipe_disks={("node1", "/dev/vdb")})
    assert step.confirmation(other, step.plan(other)) is not None  # the wrong node does not count


def test_skip_initial_sync_on_new_disks_clears_the_bitmap_with_a_warning():
    ctx = replay("skip-sync", skip_initial_sync=True)
    events = []
    report = run_steps(ctx, [cls() for cls in STORAGE_STEPS[:4]], events.append)
    assert report.ok
    plan = next(e for e in events if isinstance(e, PlanReady) and e.step_id == "drbd-initial-sync")
    (action,) = plan.actions
    assert action.argv == ("drbdadm", "new-current-uuid", "--clear-bitmap", "axigen") and action.destructive
    assert "Only safe on new empty disks" in action.why
    assert ("drbdadm", "get-gi", "axigen") in commands(ctx, "node2")  # both sides proven brand new first
    for runner in ctx.runners.values():
        runner.assert_done()


def test_skip_initial_sync_never_applies_to_a_started_sync():
    ctx = replay("resume-sync", ordered=False, skip_initial_sync=True)
    plan = drbd_sync.InitialSync().plan(ctx)
    assert not any("new-current-uuid" in a.argv for a in plan)


def test_gi_just_created_from_real_drbdmeta():
    text = (FIX / "disks" / "drbdmeta-get-gi-created.txt").read_text()
    assert drbd_status.parse_gi(text)[0] == drbd_status.UUID_JUST_CREATED and drbd_status.just_created(text)
    assert not drbd_status.just_created("") and not drbd_status.just_created("No valid meta data found\n")


def test_unexpected_command_is_caught_by_replay():
    ctx = replay("second-run")
    with pytest.raises(UnexpectedCommand):
        ctx.runners["node1"].run(("wipefs", "-a", "/dev/vdb"))


def shared_spec():
    from dataclasses import replace
    return replace(SPEC, storage=replace(SPEC.storage, mode="shared"))


def test_shared_mode_formats_the_array_once_and_moves_the_data():
    ctx = replay("shared-first-run")
    ctx.spec = shared_spec()
    report, events, questions = run(ctx)
    assert report.ok and questions == []
    statuses = {f.step_id: f.status for f in report.finished}
    assert statuses == {"drbd-config": "skipped", "drbd-metadata": "skipped", "drbd-up": "skipped",
                        "drbd-initial-sync": "skipped", "filesystem": "done", "axigen-data": "done"}
    node1 = commands(ctx, "node1")
    assert ("mkfs.ext4", "-q", "-L", "axigen-data", "/dev/vdc") in node1
    assert not any(c[0] in ("drbdadm", "drbdsetup") for n in SPEC.node_names for c in commands(ctx, n))
    for runner in ctx.runners.values():
        runner.assert_done()
    again = replay("shared-second-run")
    again.spec = shared_spec()
    report, _, _ = run(again)
    assert report.ok and not report.changed


# ---------------------------------------------------------------- the guard's parsers on host recordings


def disk(kind: str) -> tuple[str, str]:
    d = FIX / "disks"
    return (d / f"wipefs-{kind}.json").read_text(), (d / f"lsblk-{kind}.json").read_text()


@pytest.mark.parametrize("kind, types", [("blank", []), ("ext4", ["ext4"]), ("xfs", ["xfs"]), ("dos", ["dos"]),
                                         ("drbdmd", ["drbd"]), ("drbdmd_ext4", ["drbd", "ext4"])])
def test_wipefs_signatures(kind, types):
    sigs = disk_rule.parse_wipefs_json(disk(kind)[0])
    assert [s.type for s in sigs] == types


def test_disk_report_describes_what_would_be_lost():
    wipefs, lsblk = disk("ext4-mounted")
    sections = {"disk_lsblk": Section("disk_lsblk", 0, lsblk), "disk_wipefs": Section("disk_wipefs", 0, wipefs)}
    report = disk_guard.DiskReport("node2", disk_rule.facts_from_sections("/dev/vdb", sections))
    text = report.describe()
    assert not report.blank and report.facts.lsblk.size == 64 * 2**20 and report.busy()
    assert "ext4 labelled 'olddata'" in text and "MOUNTED on /tmp/d1/mnt" in text and "0.1 GiB" in text
    wipefs, lsblk = disk("blank")
    sections = {"disk_lsblk": Section("disk_lsblk", 0, lsblk), "disk_wipefs": Section("disk_wipefs", 0, wipefs)}
    blank = disk_guard.DiskReport("node1", disk_rule.facts_from_sections("/dev/vdb", sections))
    assert blank.blank and blank.describe().endswith("empty")


def test_mkfs_argv():
    assert mail_store.mkfs_argv("xfs", "/dev/drbd0") == ("mkfs.xfs", "-q", "-L", "axigen-data", "/dev/drbd0")
    assert mail_store.mkfs_argv("ext4", "/dev/drbd0")[0] == "mkfs.ext4"
