"""steps.disk, the one rule for "may axha write to this disk", on the guard's real output (recorded on this kind of
machine: tests/fixtures/drbd-real/SOURCES.md), and where preflight and the install used to disagree."""
from __future__ import annotations

import json
from pathlib import Path

from axha.steps import disk
from axha.steps.framework import Context
from axha.steps.install import disk_guard, drbd_sync
from axha.steps.runner import Recorded, ReplayRunner
from axha.steps.sections import split_sections
from tests.unit.test_maint_status import SPEC

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "drbd-real"


def guard(name: str, device: str) -> disk.DiskFacts:
    text = (FIX / "disks" / f"guard-{name}.txt").read_text()
    return disk.facts_from_sections(device, split_sections(text))


def test_blank_disk():
    facts = guard("blank", "/dev/loop6")
    assert facts.blank and facts.in_use() == () and facts.content() == () and facts.content_code() is None
    assert facts.describe("node1") == "node1:/dev/loop6 (0.1 GiB): empty"


def test_mounted_filesystem_is_in_use_and_holds_data():
    facts = guard("ext4-mounted", "/dev/loop5")
    assert facts.in_use() == ("mounted on /tmp/dg/me",) and not facts.blank
    assert facts.types == ("ext4",) and facts.content_code() == "DISK_HAS_FILESYSTEM"
    assert "ext4 labelled 'olddata'" in facts.describe("node2") and "MOUNTED on /tmp/dg/me" in facts.describe("n")


def test_active_swap_is_in_use():
    """Where the copies disagreed: the install's old guard read only wipefs and lsblk, so an active swap disk was
    "holding data" and offered for wiping after a typed confirmation; preflight called it in use. In use wins:
    nothing writes to it, whatever is confirmed."""
    facts = guard("swap", "/dev/loop4")
    assert facts.in_use() == ("used as swap",) and facts.types == ("swap",)


def _metadata_ctx(guard_name: str, device: str, **options):
    """The DRBD metadata step on node1 whose backing disk answers with a recorded guard output."""
    first = json.loads((FIX / "lab" / "first-run-node1.json").read_text())["commands"]
    real: dict = {}
    for c in first:                      # the first answers: before DRBD was brought up
        real.setdefault(tuple(c["argv"]), c)
    status = real[("drbdsetup", "status", "axigen", "--json")]
    dump_md = real[("drbdadm", "dump-md", "axigen")]
    text = (FIX / "disks" / f"guard-{guard_name}.txt").read_text()
    blank = (FIX / "disks" / "guard-blank.txt").read_text()
    from dataclasses import replace
    spec = replace(SPEC, nodes=(replace(SPEC.nodes[0], backing_disk=device), SPEC.nodes[1]))
    runners = {}
    for node, dev, out in (("node1", device, text), ("node2", spec.nodes[1].backing_disk, blank)):
        runners[node] = ReplayRunner(node, [
            Recorded(tuple(status["argv"]), status["rc"], status["stdout"], status["stderr"]),
            Recorded(tuple(dump_md["argv"]), dump_md["rc"], dump_md["stdout"], dump_md["stderr"]),
            Recorded(disk.guard_argv(dev), 0, out)], ordered=False)
    return Context(spec=spec, runners=runners, options=dict(options))


def test_install_refuses_a_disk_in_use_even_when_the_wipe_is_confirmed():
    step = drbd_sync.DrbdMetadata()
    ctx = _metadata_ctx("swap", "/dev/loop4", wipe_disks={("node1", "/dev/loop4")})
    (finding,) = step.check(ctx)
    assert finding.code == "BACKING_DISK_IN_USE" and finding.status == "FAIL" and "used as swap" in finding.summary
    assert [a.node for a in step.plan(ctx)] == ["node2"]   # nothing on node1, not even with --wipe-disk


def test_install_refuses_a_mounted_disk():
    step = drbd_sync.DrbdMetadata()
    ctx = _metadata_ctx("ext4-mounted", "/dev/loop5")
    (finding,) = step.check(ctx)
    assert finding.code == "BACKING_DISK_MOUNTED" and "mounted on /tmp/dg/me" in finding.summary


def test_a_reader_that_did_not_answer_is_never_read_as_blank():
    text = (FIX / "disks" / "guard-blank.txt").read_text().replace("@@axha-rc disk_wipefs 0", "@@axha-rc disk_wipefs 1")
    (why,) = disk.unreadable(split_sections(text))
    assert why.startswith("wipefs: ")
    runner = ReplayRunner("node1", [Recorded(disk.guard_argv("/dev/loop6"), 0, text)], ordered=False)
    ctx = Context(spec=SPEC, runners={"node1": runner})
    import pytest
    from axha.steps.errors import CommandFailed
    with pytest.raises(CommandFailed, match="cannot read what /dev/loop6 on node1 holds: wipefs"):
        disk_guard.read_disk(ctx, "node1", "/dev/loop6")


def test_preflight_and_install_judge_the_same_facts_alike():
    """Both read DISK_COMMANDS through the same script functions; the verdict follows the same facts."""
    from axha.checks.script import SCRIPT
    for name, cmd in disk.DISK_COMMANDS:
        assert f"want {name} && sec {name} {cmd}\n" in SCRIPT
        if name in disk.GUARD_SECTIONS:
            assert f"sec {name} {cmd}\n" in disk.GUARD_SCRIPT
    assert disk.DISK_FUNCS in SCRIPT and disk.DISK_FUNCS in disk.GUARD_SCRIPT
