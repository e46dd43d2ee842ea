"""Maintenance actions on recorded lab states: split-brain recovery asks for the victim's name and changes nothing
without it; the backup script archives the CIB and config files; the service-gap arithmetic."""
from __future__ import annotations

import json
import tarfile

from axha.steps.framework import Context
from axha.steps.maint.actions import Actions
from axha.steps.maint.backup import backup_argv
from axha.steps.maint.gap import ServiceGapMonitor
from axha.steps.maint.probe import probe_argv
from axha.steps.maint.service import ServiceAnswer
from axha.steps.runner import LocalRunner, Recorded, ReplayRunner
from tests.unit.test_maint_status import FIX, SPEC
from tests.waiting import wait_until


def test_split_brain_recovery_needs_the_victims_name_typed():
    asked = []

    def refuse(question):
        asked.append(question)
        return False
    ctx = recorded_ctx("split-brain", refuse)
    report = Actions(ctx).split_brain_recover("node2")
    assert not report.ok and "nothing changed" in report.message
    question, = asked
    assert question.expected == "node2" and "node1" in question.details
    assert "StandAlone" in question.details
    for runner in ctx.runners.values():
        assert set(runner.calls) == {probe_argv(SPEC)}  # only the read-only probe ran


def test_split_brain_recovery_refused_without_split_brain():
    ctx = recorded_ctx("maintenance-drbd-healthy", lambda q: True)
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
    import time
    scripted = [True, True, False, False, False, True, True, False, True]
    answers = iter(scripted + [True] * 100)
    polls: list[tuple[float, float]] = []   # (entered, returned) of each probe

    def probe():
        entered = time.monotonic()
        ok = next(answers)
        polls.append((entered, time.monotonic()))
        return ServiceAnswer("smtp", 25, ok, "220 x" if ok else "", "" if ok else "refused")
    monitor = ServiceGapMonitor("192.0.2.1", interval=0.01, probe=probe).start()
    assert monitor.wait_answering(2)
    # every scripted answer counted: the monitor records a poll before it starts the next one
    wait_until(lambda: len(polls) > len(scripted), "the monitor to poll past the scripted answers")
    report = monitor.stop()
    assert report.failures == 4 and report.answering_at_end
    # a gap runs from the failed poll's start to the next success's end: within the time from the end of the poll
    # before it to the start of the poll after it (polls 3-5 failed, 6 answered; 8 failed, 9 answered), however
    # slow the machine
    longest_window = max(polls[6][0] - polls[1][1], polls[9][0] - polls[6][1])
    assert 0.02 <= report.longest_gap <= longest_window and report.total_gap >= report.longest_gap


# ---------------------------------------------------------------- the actions as engine steps (issue 13)


def recorded_ctx(name: str, confirm=None, extra: dict | None = None, **options) -> Context:
    """A Context whose nodes answer the recorded probe of `name` (any number of times) plus `extra` commands
    ({node: [(argv, rc, stdout)]}); anything else fails the test."""
    data = json.loads((FIX / "maint" / f"probe-{name}.json").read_text())["nodes"]
    runners = {}
    for node, rec in data.items():
        cmd = rec["commands"][0]
        # the probe's answer as recorded, under today's probe command (older recordings lack later sections,
        # which the status reader takes as not reported)
        recorded = [Recorded(probe_argv(SPEC), cmd["rc"], cmd["stdout"])]
        recorded += [Recorded(tuple(argv), rc, out) for argv, rc, out in (extra or {}).get(node, ())]
        runners[node] = ReplayRunner(node, recorded, ordered=False)
    return Context(spec=SPEC, runners=runners, confirm=confirm or (lambda q: False), options=dict(options))


def changing_calls(ctx: Context) -> list[tuple[str, tuple[str, ...]]]:
    probe = probe_argv(SPEC)
    return [(node, argv) for node, r in ctx.runners.items() for argv in r.calls if argv != probe]


def test_standby_of_the_active_node_plans_its_commands_and_asks_for_its_name():
    from axha.steps.framework import PlanReady
    from axha.steps.maint.actions import settle_argv, standby_argv
    from tests.unit.test_maint_status import state
    active = state("installed-healthy").active_node
    asked, events = [], []
    ctx = recorded_ctx("installed-healthy", lambda q: asked.append(q) or False)
    report = Actions(ctx, events.append).standby(active, True)
    assert not report.ok and report.message == "not confirmed: nothing changed"
    question, = asked
    assert question.expected == active and question.by_command and "mail service" in question.title
    plan, = [e.actions for e in events if isinstance(e, PlanReady)]
    assert [a.argv for a in plan] == [standby_argv(active, True), settle_argv()]
    assert changing_calls(ctx) == []                       # asked before anything ran


def test_the_plan_of_an_action_is_shown_and_nothing_runs():
    from tests.unit.test_maint_status import state
    active = state("installed-healthy").active_node
    events = []
    ctx = recorded_ctx("installed-healthy", lambda q: True)
    report = Actions(ctx, events.append, plan_only=True).standby(active, True)
    assert report.ok and report.message.startswith("plan only: nothing changed") and not report.changed
    assert changing_calls(ctx) == []


def test_an_action_with_nothing_to_do_changes_nothing_and_asks_nothing():
    from tests.unit.test_maint_status import state
    passive = state("installed-healthy").other(state("installed-healthy").active_node)
    asked = []
    for call, words in ((lambda a: a.cleanup(), "nothing to clean up"),
                        (lambda a: a.clear_constraints(), "nothing to clear"),
                        (lambda a: a.maintenance(False), "already off"),
                        (lambda a: a.standby(passive, False), "already active")):
        ctx = recorded_ctx("installed-healthy", lambda q: asked.append(q) or True)
        report = call(Actions(ctx))
        assert report.ok and words in report.message and not report.changed, report
        assert changing_calls(ctx) == []
    assert asked == []


def test_cleanup_runs_on_the_failed_actions_and_verifies_they_are_gone():
    """The recorded failed-actions state answers every read, so after the cleanup the failures are still there:
    the step's verify reads the cluster again and reports them instead of claiming success."""
    from axha.steps.maint.actions import CLEANUP_ARGV, settle_argv
    from tests.unit.test_maint_status import state
    dc = state("failed-actions").dc
    ctx = recorded_ctx("failed-actions", extra={dc: [(CLEANUP_ARGV, 0, ""), (settle_argv(), 0, "")]})
    report = Actions(ctx).cleanup()
    assert changing_calls(ctx) == [(dc, CLEANUP_ARGV), (dc, settle_argv())]
    assert not report.ok and "failed actions came back" in report.message and report.changed


def test_verify_drbd_is_refused_while_drbd_is_not_in_sync():
    ctx = recorded_ctx("drbd-syncing-no-cluster")
    report = Actions(ctx).verify_drbd()
    assert not report.ok and "UpToDate on both nodes" in report.message
    assert changing_calls(ctx) == []


def test_the_command_line_answers_by_command_questions_and_asks_the_rest(tmp_path, monkeypatch):
    """README, Confirmations: `axha maintenance on` is the answer to "Turn maintenance mode on?"; the node that
    takes over a switchover or the node whose changes are discarded must still be typed (or --yes)."""
    import argparse
    from axha.steps.framework import Confirmation
    from axha.tui.clihelp import context_for_cli
    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path))   # the context opens the cluster's audit log
    args = argparse.Namespace(yes=False, plan=False, json=True)
    ctx = context_for_cli(args, SPEC, None)
    assert ctx.confirm(Confirmation("maintenance", "Turn maintenance mode on?", "", by_command=True))
    assert not ctx.confirm(Confirmation("switchover", "Switch over?", "", expected="node2"))
    assert ctx.options["journal_operations"]


def test_an_action_runs_in_a_journal_of_its_own_bound_to_the_cluster(tmp_path, monkeypatch):
    from axha.steps import instance
    from axha.steps.journal import Journal
    from axha.steps.session import journal_path
    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path))
    query = [(instance.QUERY_ARGV, 0, "7c9e6679-7425-40de-944b-e07fc1f90ae7\n")]
    ctx = recorded_ctx("installed-healthy", extra={"node1": query, "node2": query}, journal_operations=True)
    report = Actions(ctx).cleanup()
    assert report.ok and ctx.journal is None
    journal = Journal(journal_path(SPEC, "cleanup"))
    assert journal.data.get("instance") == "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    assert journal.data["steps"]["cleanup"]["state"] == "done" and journal.data.get("finished")
