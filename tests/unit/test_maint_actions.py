"""Maintenance actions on recorded lab states: split-brain recovery asks for the victim's name and changes nothing
without it; the backup script archives the CIB and config files; the service-gap arithmetic."""
from __future__ import annotations

import json
import tarfile

from axha.steps.framework import Context
from axha.steps.maint.actions import Actions, backup_argv
from axha.steps.maint.gap import ServiceGapMonitor
from axha.steps.maint.status import ServiceAnswer, probe_argv
from axha.steps.runner import LocalRunner, Recorded, ReplayRunner
from tests.unit.test_maint_status import FIX, SPEC


def replay_ctx(name: str, confirm):
    data = json.loads((FIX / "maint" / f"probe-{name}.json").read_text())["nodes"]
    runners = {}
    for node, rec in data.items():
        cmd = rec["commands"][0]
        runners[node] = ReplayRunner(node, [Recorded(tuple(cmd["argv"]), cmd["rc"], cmd["stdout"])], ordered=False)
    return Context(spec=SPEC, runners=runners, confirm=confirm)


def test_split_brain_recovery_needs_the_victims_name_typed():
    asked = []

    def refuse(question):
        asked.append(question)
        return False
    ctx = replay_ctx("split-brain", refuse)
    report = Actions(ctx).split_brain_recover("node2")
    assert not report.ok and "nothing changed" in report.message
    question, = asked
    assert question.expected == "node2" and "node1" in question.details
    assert "StandAlone" in question.details
    for runner in ctx.runners.values():
        assert set(runner.calls) == {probe_argv(SPEC)}  # only the read-only probe ran


def test_split_brain_recovery_refused_without_split_brain():
    ctx = replay_ctx("maintenance-drbd-healthy", lambda q: True)
    report = Actions(ctx).split_brain_recover("node2")
    assert not report.ok and "no split brain" in report.message


def test_backup_script_archives_cib_and_files(tmp_path):
    conf = tmp_path / "corosync.conf"
    conf.write_text("totem { }\n")
    argv = list(backup_argv(SPEC, "STAMP", "node1"))
    argv[4] = str(tmp_path / "backups")                       # REMOTE_BACKUP_DIR
    argv = argv[:6] + [str(conf), str(tmp_path / "absent.res")]  # files: one present, one absent
    result = LocalRunner("node1").run(argv, timeout=30)
    assert result.rc == 0, result.stderr
    path = result.stdout.strip().splitlines()[-1]
    assert path == str(tmp_path / "backups" / "STAMP-node1.tar.gz")
    with tarfile.open(path) as tar:
        members = tar.getnames()
    assert "cib.xml" in members and str(conf).lstrip("/") in members
    assert not any("absent" in m for m in members)


def test_gap_monitor_measures_the_longest_unanswered_run():
    answers = iter([True, True, False, False, False, True, True, False, True] + [True] * 100)

    def probe():
        ok = next(answers)
        return ServiceAnswer("smtp", 25, ok, "220 x" if ok else "", "" if ok else "refused")
    monitor = ServiceGapMonitor("192.0.2.1", interval=0.01, probe=probe).start()
    assert monitor.wait_answering(2)
    import time
    time.sleep(0.2)
    report = monitor.stop()
    assert report.failures == 4 and report.answering_at_end
    assert 0.02 <= report.longest_gap < 0.5 and report.total_gap >= report.longest_gap
