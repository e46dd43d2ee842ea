"""QA findings 3, 6, 7: a plan tells the steps they plan, --wipe-disk is checked against the cluster file, and an
interrupted install journals the running step as failed."""
from __future__ import annotations

from pathlib import Path

import pytest

from axha.steps.errors import InputError
from axha.steps.framework import Action, Context, Step, run_steps
from axha.steps.journal import Journal
from axha.steps.spec_load import parse_cluster
from axha.tui.cmd_install import check_wipes, interrupted

EXAMPLE = (Path(__file__).parents[1] / "fixtures" / "cluster-example.yaml").read_text()


class Recorder(Step):
    id, title = "probe", "records what it was told"

    def __init__(self):
        self.seen = []

    def plan(self, ctx):
        self.seen.append(ctx.options.get("plan"))
        return [Action("node1", ("true",), "probe")]


def test_plan_only_tells_every_step_it_is_planning_and_restores_the_option():
    ctx = Context(spec=None, runners={}, options={"plan": False})
    step = Recorder()
    report = run_steps(ctx, [step], lambda e: None, plan_only=True)
    assert report.ok and step.seen == [True]
    assert ctx.options["plan"] is False  # the context is usable for a real run afterwards


@pytest.mark.parametrize("pairs, words", [
    ([("node3", "/dev/vdb")], "node3 is not a node of this cluster (node1, node2)"),
    ([("node1", "/dev/vdc")], "/dev/vdc is not the disk axha would write on node1 (/dev/vdb)"),
    ([("node2", "/dev/sda")], "/dev/sda is not the disk axha would write on node2 (/dev/vdb)"),
])
def test_wipe_disk_must_name_a_node_and_its_own_disk(pairs, words):
    spec = parse_cluster(EXAMPLE, "c.yaml")
    with pytest.raises(InputError) as info:
        check_wipes(spec, pairs)
    assert words in str(info.value) and info.value.exit_code == 2


def test_wipe_disk_of_the_backing_disk_is_accepted_and_shared_mode_names_the_shared_device():
    check_wipes(parse_cluster(EXAMPLE, "c.yaml"), [("node1", "/dev/vdb"), ("node2", "/dev/vdb")])
    shared = parse_cluster(EXAMPLE.replace("mode: drbd", "mode: shared\n  device: /dev/vdc"), "c.yaml")
    check_wipes(shared, [("node1", "/dev/vdc")])
    with pytest.raises(InputError):
        check_wipes(shared, [("node1", "/dev/vdb")])


def test_interrupt_marks_the_running_step_failed(tmp_path):
    journal = Journal(tmp_path / "install.json", "axigen")
    journal.mark("access", "done")
    journal.mark("drbd-initial-sync", "running")
    interrupted(Context(spec=None, runners={}, journal=journal))
    again = Journal(tmp_path / "install.json", "axigen")
    assert again.state("access") == "done"
    assert again.state("drbd-initial-sync") == "failed"
    assert "interrupted" in again.entry("drbd-initial-sync")["message"]


class Wiper(Step):
    """A destructive step whose question depends on what the disk holds (like drbd-metadata)."""
    id, title = "wiper", "erases a disk"

    def __init__(self, holds_data):
        self.holds_data = holds_data

    def plan(self, ctx):
        return [Action("node1", ("wipefs", "-a", "/dev/vdb"), "erase", destructive=True)]

    def confirmation(self, ctx, plan):
        from axha.steps.framework import Confirmation
        return Confirmation("wipe", "Erase /dev/vdb?", "ext4 found", "/dev/vdb") if self.holds_data else None


@pytest.mark.parametrize("holds_data, words", [
    (False, "destructive, but no data found on the disk: no question"),
    (True, "asks before running (type '/dev/vdb', or pass --wipe-disk NODE:PATH), else this step refuses"),
])
def test_plan_of_a_destructive_step_says_whether_it_will_ask(holds_data, words):
    """QA 5/6: the plan says what really happens: a question (or --wipe-disk) only when the disk holds data."""
    seen = []
    report = run_steps(Context(spec=None, runners={}), [Wiper(holds_data)], seen.append, plan_only=True)
    assert report.ok and words in seen[-1].message


def test_role_plan_tolerates_only_the_not_yet_pushed_fencing_and_apply_keeps_the_full_gate():
    """QA 4: a plan of a fresh cluster has fencing only planned; crm_verify's no-STONITH complaint is expected there,
    never when applying (fencing is pushed by then)."""
    from axha.steps import cib
    from axha.steps.install.role import AxigenRoleStep
    spec = parse_cluster(EXAMPLE, "c.yaml")
    step = AxigenRoleStep()
    applying = step.change(Context(spec=spec, runners={}, options={}))
    planning = step.change(Context(spec=spec, runners={}, options={"plan": True}))
    assert not set(cib.NO_STONITH_YET) & set(applying.allowed_errors)
    assert set(cib.NO_STONITH_YET) <= set(planning.allowed_errors)
    assert planning.objects == applying.objects
