"""The audit log stays useful under a polling dashboard: read-only answers written only when they change (with the
count of repeats left out), crm_mon's own clock not counted as a change, every changing command written in full,
and rotation by size that keeps a bounded number of files and never drops a changing entry."""
from __future__ import annotations

import json
from pathlib import Path

from axha.steps.audit import AuditLog
from axha.steps.runner import Result

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "pacemaker"
CRM_MON = ("crm_mon", "--one-shot", "--inactive", "--output-as=xml")


def result(argv, stdout="", rc=0, node="node1") -> Result:
    return Result(node, tuple(argv), rc, stdout, "", 0.01)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_same_answer_is_written_once_and_the_change_carries_the_repeats(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    healthy = (FIX / "crm_mon-healthy.xml").read_text()
    for _ in range(5):
        audit.record(result(CRM_MON, healthy))
    audit.record(result(CRM_MON, (FIX / "crm_mon-node2-offline.xml").read_text()))
    entries = audit.entries()
    assert len(entries) == 2
    assert "unchanged" not in entries[0]
    assert entries[1]["unchanged"] == 4 and entries[1]["unchanged_since"] == entries[0]["time"]


def test_crm_mons_clock_is_not_a_change(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    healthy = (FIX / "crm_mon-healthy.xml").read_text()
    assert '<last_update time="Thu Nov 26 23:36:54 2026"/>' in healthy
    audit.record(result(CRM_MON, healthy))
    audit.record(result(CRM_MON, healthy.replace("23:36:54", "23:36:56")))
    assert len(audit.entries()) == 1


def test_changing_commands_are_always_written_and_nodes_are_apart(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    for _ in range(3):
        audit.record(result(("crm_resource", "--cleanup")), mutating=True)
    audit.record(result(("hostname",), "node1"))
    audit.record(result(("hostname",), "node2", node="node2"))
    entries = audit.entries()
    assert [e["mutating"] for e in entries] == [True, True, True, False, False]


def test_every_audit_log_of_one_file_shares_what_it_saw(tmp_path):
    """The dashboard opens a context (and an AuditLog) per poll: the repeats are still left out."""
    path = tmp_path / "audit.jsonl"
    for _ in range(4):
        AuditLog(path).record(result(("drbdsetup", "status", "--json"), "[]"))
    assert len(AuditLog(path).entries()) == 1


def test_a_long_unchanged_answer_is_summarised(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl", summary_every=0.0)
    audit.record(result(("corosync-cfgtool", "-s"), "LINK ID 0\n"))
    audit.record(result(("corosync-cfgtool", "-s"), "LINK ID 0\n"))
    summary = audit.entries()[-1]
    assert summary["summary"] is True and summary["unchanged"] == 1 and summary["stdout"] == ""


def test_rotation_keeps_n_files_and_every_changing_entry(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, rotate_bytes=2000, keep=2)
    for i in range(200):
        audit.record(result(("crm_mon",), f"poll {i} " + "x" * 200))
        if i % 10 == 0:
            audit.record(result(("crm_resource", "--move", str(i))), mutating=True)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.1.jsonl", "audit.2.jsonl", "audit.changes.jsonl", "audit.jsonl"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.glob("audit*.jsonl") if "changes" not in p.name)
    moves = [e["argv"][-1] for p in tmp_path.iterdir() for e in lines(p) if e["mutating"]]
    assert sorted(moves, key=int) == [str(i) for i in range(0, 200, 10)]
    assert all(e["mutating"] for e in lines(tmp_path / "audit.changes.jsonl"))


def test_history_reaches_into_the_rotated_files_newest_last(tmp_path):
    """Issue 16: the audit view read only the current file, which right after a rotation holds a few polls. The
    history reads back through audit.1.jsonl ... and audit.changes.jsonl until it has enough changes."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, rotate_bytes=2000, keep=2)
    for i in range(200):
        audit.record(result(("crm_mon",), f"poll {i} " + "x" * 200))
        if i % 10 == 0:
            audit.record(result(("crm_resource", "--move", str(i))), mutating=True)
    current = [e for e in audit.entries() if e["mutating"]]
    assert len(current) < 5
    recent, files = audit.history(3)
    assert [e["argv"][-1] for e in recent if e["mutating"]][-3:] == ["170", "180", "190"]
    everything, files = audit.history(1000)
    assert files == 4
    assert [e["argv"][-1] for e in everything if e["mutating"]] == [str(i) for i in range(0, 200, 10)]
    times = [e["time"] for e in everything]
    assert times == sorted(times)
    assert AuditLog(tmp_path / "none.jsonl").history(10) == ([], 0)
