"""Switchover gates and flow on recorded real states (lab probes + Pacemaker 2.1.5 output)."""
import pytest

from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, Context
from axha.steps.maint.gates import switchover_gates
from axha.steps.maint.switchover import Switchover, move_argv, simulate_move_argv, transition_summary
from axha.steps.runner import Recorded, ReplayRunner
from tests.unit.test_maint_status import FIX, SPEC, crm_mon, state


def failed_codes(findings):
    return sorted(f.code for f in findings if f.status == FAIL)


def healthy(**replace):
    replace.setdefault("crm_mon", crm_mon("healthy"))
    return state("maintenance-drbd-healthy", **replace)


def test_healthy_cluster_passes_every_gate():
    source, target, findings = switchover_gates(healthy())
    assert (source, target) == ("node1", "node2")
    assert failed_codes(findings) == []
    assert {f.code for f in findings} >= {"NODE_ONLINE", "TARGET_DRBD_UPTODATE", "NO_FAILED_ACTIONS",
                                          "NO_LEFTOVER_CONSTRAINT", "FENCING_STARTED", "CLUSTER_MANAGED"}


@pytest.mark.parametrize("fixture,code", [
    ("node2-standby", "NODE_STANDBY"),
    ("failed-action", "FAILED_ACTIONS"),
    ("fence-stopped", "FENCING_STOPPED"),
    ("maintenance", "CLUSTER_MAINTENANCE"),
    ("node2-offline", "NODE_OFFLINE"),
])
def test_each_refusal_reason(fixture, code):
    _, _, findings = switchover_gates(healthy(crm_mon=crm_mon(fixture)))
    assert code in failed_codes(findings)
    failing = [f for f in findings if f.code == code]
    assert all(f.remedy for f in failing)


def test_leftover_move_constraint_refuses():
    moved = (FIX / "pacemaker" / "constraints-moved.xml").read_text()
    _, _, findings = switchover_gates(healthy(constraints=moved))
    assert failed_codes(findings) == ["LEFTOVER_CONSTRAINT"]
    assert "cli-prefer-axigen-group" in next(f.summary for f in findings if f.code == "LEFTOVER_CONSTRAINT")


def test_target_syncing_refuses():
    s = state("drbd-syncing-no-cluster", crm_mon=crm_mon("healthy"))
    _, target, findings = switchover_gates(s)
    assert target == "node2"
    assert {"TARGET_DRBD_NOT_UPTODATE", "TARGET_DRBD_SYNCING"} <= set(failed_codes(findings))


def test_all_failures_reported_together():
    s = state("split-brain", crm_mon=crm_mon("failed-action"))
    codes = failed_codes(switchover_gates(s)[2])
    assert {"SPLIT_BRAIN", "DRBD_NOT_CONNECTED", "FAILED_ACTIONS", "LEFTOVER_CONSTRAINT"} <= set(codes)


def test_to_same_node_refused_and_unknown_node_is_input_error():
    from axha.steps.errors import InputError
    assert "TARGET_IS_ACTIVE" in failed_codes(switchover_gates(healthy(), "node1")[2])
    with pytest.raises(InputError):
        switchover_gates(healthy(), "node9")


def ctx_with(recordings: dict) -> Context:
    runners = {n: ReplayRunner(n, list(recordings.get(n, []))) for n in SPEC.node_names}
    return Context(spec=SPEC, runners=runners, confirm=lambda q: True)


def test_refused_switchover_runs_nothing():
    ctx = ctx_with({})
    events = []
    report = Switchover(ctx, emit=events.append, state=healthy(crm_mon=crm_mon("node2-standby"))).run()
    assert report.refused and not report.ok and not report.moved
    assert "NODE_STANDBY" in failed_codes(report.gates)
    assert all(r.calls == [] for r in ctx.runners.values())


def test_plan_only_previews_on_a_copy():
    sim = (FIX / "pacemaker" / "sim-move.txt").read_text()
    ctx = ctx_with({"node2": [Recorded(simulate_move_argv("node2"), 0, sim)]})  # run on the target node
    report = Switchover(ctx, state=healthy(), measure_gap=False).run(plan_only=True)
    assert report.ok and not report.moved
    assert any("Promote" in line and "node2" in line for line in report.preview)
    assert any(line.startswith("Move") and "fs-axigen" in line for line in report.preview)
    assert ctx.runners["node2"].calls == [simulate_move_argv("node2")] and ctx.runners["node1"].calls == []


def test_transition_summary_of_real_crm_simulate():
    lines = transition_summary((FIX / "pacemaker" / "sim-move.txt").read_text())
    assert lines[0] == "Demote drbd-axigen:0 ( Promoted -> Unpromoted node1 )"
    assert lines[1] == "Promote drbd-axigen:1 ( Unpromoted -> Promoted node2 )" and len(lines) == 5


FOLLOW = (FIX / "maint" / "follow-move-to-node1.txt").read_text()


def follow_with(output: str, target: str):
    from axha.steps.maint.switchover import follow_argv

    ctx = ctx_with({target: [Recorded(follow_argv(), -1, output)]})
    events = []
    return Switchover(ctx, target, emit=events.append, measure_gap=False), ctx.runners[target], events


def _snapshots(output: str) -> list[str]:
    return output.split("@@axha-poll\n")[1:]


def test_follow_reads_the_real_transition_until_the_group_runs_on_the_target():
    from axha.steps.framework import OutputLine, StepFinished

    switchover, runner, events = follow_with(FOLLOW, "node1")
    switchover.follow(runner, "node1")
    assert events[-1] == StepFinished("switchover.follow", "done", "axigen-group started on node1")
    said = [e.line for e in events if isinstance(e, OutputLine)]
    # the recording starts with the group on node2, passes through the demotion, ends promoted on node1
    assert any("node2" in line for line in said[:5]) and any("node1" in line for line in said[-3:])
    assert any("Demoting" in line or "Stopping" in line for line in said)


def test_follow_that_never_sees_the_target_is_an_error_not_a_success():
    # the same real transition, followed as if the group were meant to reach node2: it never does
    switchover, runner, events = follow_with(FOLLOW.split("@@axha-poll\n")[0] + "".join(
        "@@axha-poll\n" + s for s in _snapshots(FOLLOW)[4:]), "node2")
    with pytest.raises(AxhaError) as info:
        switchover.follow(runner, "node2")
    assert "could not be followed" in str(info.value)
    assert events[-1].status == "failed"


def test_follow_stops_on_a_failed_action_of_the_group():
    failed = "@@axha-poll\n" + crm_mon("failed-action") + "@@axha-poll-end 0\n"
    switchover, runner, events = follow_with(failed * 3, "node2")
    with pytest.raises(AxhaError) as info:
        switchover.follow(runner, "node2")
    assert "the move failed" in str(info.value) and "axigen" in str(info.value)
    assert events[-1].status == "failed"


def _answers(ok: bool):
    from axha.steps.maint.service import ServiceAnswer

    return tuple(ServiceAnswer(proto, port, ok, "220 node1 Axigen ESMTP ready" if ok else "",
                               "" if ok else "connection refused", 0.01)
                 for proto, port in (("smtp", 25), ("imap", 143)))


def full_move_ctx(target: str):
    from axha.steps.maint.switchover import clear_argv, follow_argv, live_check_argv
    from axha.steps.pacemaker import CONSTRAINTS_ARGV

    recs = [Recorded(simulate_move_argv(target), 0, (FIX / "pacemaker" / "sim-move.txt").read_text()),
            Recorded(move_argv(target), 0, ""),
            Recorded(follow_argv(), -1, FOLLOW),
            Recorded(clear_argv(), 0, ""),
            Recorded(CONSTRAINTS_ARGV, 0, (FIX / "pacemaker" / "constraints-healthy.xml").read_text()),
            Recorded(live_check_argv(), 0, (FIX / "pacemaker" / "sim-live-settled.txt").read_text())]
    runners = {n: ReplayRunner(n, list(recs) if n == target else [], ordered=False) for n in SPEC.node_names}
    return Context(spec=SPEC, runners=runners, confirm=lambda q: True)


def test_a_whole_switchover_follows_checks_the_vip_then_clears(monkeypatch):
    import axha.steps.maint.switchover as sw

    monkeypatch.setattr(sw, "service_answers", lambda address, timeout=3.0: _answers(True))
    ctx = full_move_ctx("node1")
    events = []
    state = healthy(crm_mon=crm_mon("moved-node2"))  # the group on node2: node1 is the target
    report = Switchover(ctx, "node1", emit=events.append, measure_gap=False, state=state).run(confirm=False)
    assert report.ok and report.moved and report.cleared and report.warnings == ()
    calls = [c[:2] for c in ctx.runners["node1"].calls]
    assert calls[:3] == [("sh", "-c"), ("crm_resource", "--move"), ("sh", "-c")]  # preview, move, follow
    assert ("crm_resource", "--clear") in calls and ("crm_simulate", "--live-check") in calls
    finished = [e.step_id for e in events if type(e).__name__ == "StepFinished"]
    # the clear comes after the VIP check: run beside it, its crm_simulate competed with the mail service
    # starting on the same node and lengthened the service gap (bench/switchover: 1.60 -> 1.66 s median)
    assert finished.index("switchover.follow") < finished.index("switchover.verify") < finished.index(
        "switchover.clear")


def test_the_move_constraint_is_cleared_when_the_vip_stays_silent(monkeypatch):
    import axha.steps.maint.switchover as sw

    monkeypatch.setattr(sw, "service_answers", lambda address, timeout=3.0: _answers(False))
    ctx = full_move_ctx("node1")
    report = Switchover(ctx, "node1", measure_gap=False, state=healthy(crm_mon=crm_mon("moved-node2"))).run(
        confirm=False)
    assert not report.ok and report.moved and report.cleared
    assert "does not answer" in report.message and "cleared although the move did not finish" in report.message


def test_a_switchover_run_as_a_stage_leaves_the_outer_journal_alone(monkeypatch, tmp_path):
    """The upgrade runs a switchover as one of its stages (journaled=False): the engine must neither write the
    switchover's step into the upgrade's journal nor finish it (run_steps finishes the journal it runs in)."""
    import axha.steps.maint.switchover as sw
    from axha.steps.journal import Journal

    monkeypatch.setattr(sw, "service_answers", lambda address, timeout=3.0: _answers(True))
    ctx = full_move_ctx("node1")
    outer = Journal(tmp_path / "upgrade.json", SPEC.name)
    outer.mark("switchover", "running")
    ctx.journal = outer
    report = Switchover(ctx, "node1", measure_gap=False, state=healthy(crm_mon=crm_mon("moved-node2"))).run(
        confirm=False, journaled=False)
    assert report.ok and ctx.journal is outer
    assert not outer.data.get("finished") and set(outer.data["steps"]) == {"switchover"}
    assert outer.state("switchover") == "running"
