"""Journals bound to the cluster instance they describe: the id read from recorded crm_attribute answers, a fresh
journal bound, the same id resumed, another id (or none) set aside with a note, a finished operation started anew,
and run_steps doing all of it around an install."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from axha.steps import instance
from axha.steps.errors import ConnectError
from axha.steps.framework import Context, OutputLine, Step, run_steps
from axha.steps.journal import KEEP_ASIDE, Journal, set_aside_file
from axha.steps.runner import Recorded, ReplayRunner

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "instance"
ANSWERS = json.loads((FIX / "crm_attribute-query.json").read_text())
OLD, NEW = "3f1c2b9e-5d7a-4c1e-9b8f-2a6d4e0c7b15", "9d0e4c21-77aa-4b7e-8e55-0c1f3a5b6d72"


def answer(kind: str, offline: bool = False, value: str | None = None) -> Recorded:
    rec = ANSWERS[kind]
    stdout = rec["stdout"].replace(OLD, value) if value else rec["stdout"]
    argv = instance.OFFLINE_QUERY_ARGV if offline else instance.QUERY_ARGV
    return Recorded(argv, rec["rc"], stdout, rec["stderr"])


def node(name: str, *answers: Recorded) -> ReplayRunner:
    return ReplayRunner(name, list(answers), ordered=False)


class Unreachable:
    node = "node1"

    def run(self, argv, **_):
        raise ConnectError("cannot connect to 192.0.2.1:22: No route to host", node=self.node)


# ---------------------------------------------------------------- reading the id


@pytest.mark.parametrize("kind, expected", [("value", ("value", OLD)), ("no-such-property", ("none", None)),
                                            ("not-running", ("not-running", None)),
                                            ("no-cib-file", ("not-running", None))])
def test_parse_recorded_answers(kind, expected):
    rec = ANSWERS[kind]
    assert instance.parse_query(rec["rc"], rec["stdout"], rec["stderr"]) == expected


def test_live_cib_decides():
    read = instance.read_instance({"node1": node("node1", answer("value")), "node2": node("node2")})
    assert read == instance.InstanceRead(OLD, True, "node1 (live CIB)")


def test_stopped_cluster_is_read_from_the_cib_on_disk():
    runners = {"node1": node("node1", answer("not-running"), answer("no-cib-file", offline=True)),
               "node2": node("node2", answer("not-running"), answer("value", offline=True))}
    read = instance.read_instance(runners)
    assert (read.value, read.known) == (OLD, True) and instance.CIB_FILE in read.source


def test_fresh_servers_have_no_id_and_an_unreachable_pair_says_nothing():
    fresh = {n: node(n, answer("not-running"), answer("no-cib-file", offline=True)) for n in ("node1", "node2")}
    assert instance.read_instance(fresh).value is None and instance.read_instance(fresh).known
    unreachable = instance.read_instance({"node1": Unreachable(), "node2": Unreachable()})
    assert not unreachable.known and unreachable.describe().startswith("unknown")


def test_an_unreachable_node_is_skipped():
    read = instance.read_instance({"node1": Unreachable(), "node2": node("node2", answer("value"))})
    assert read.value == OLD and read.source == "node2 (live CIB)"


# ---------------------------------------------------------------- the journal


def test_fresh_journal_is_bound_and_the_same_id_resumes(tmp_path):
    path = tmp_path / "install.json"
    journal = Journal(path, "axigen")
    assert journal.bind(None) is None and journal.instance is None   # a fresh cluster: nothing to bind yet
    journal.mark("access", "done")
    assert journal.bind(OLD) is None and journal.instance == OLD       # the id written by the install
    assert json.loads(path.read_text())["instance"] == OLD
    again = Journal(path, "axigen")
    assert again.bind(OLD) is None and again.state("access") == "done"


@pytest.mark.parametrize("now", [NEW, None])
def test_journal_of_an_earlier_installation_is_set_aside(tmp_path, now):
    path = tmp_path / "upgrade.json"
    old = Journal(path, "axigen")
    old.bind(OLD)
    old.mark("final", "done", "both nodes run 10.5.1")
    journal = Journal(path, "axigen")
    note = journal.bind(now)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("upgrade.json.stale-")]
    assert len(aside) == 1 and not path.exists()
    assert note == (f"journal {path} belongs to an earlier installation of this cluster (instance {OLD}, the "
                    f"cluster now has {now or 'none'}): set aside as {aside[0].name}")
    assert journal.state("final") == "pending" and journal.instance == now
    assert json.loads(aside[0].read_text())["steps"]["final"]["state"] == "done"   # kept for the admin


def test_unbound_journal_with_progress_is_adopted_by_the_install_only(tmp_path):
    """An upgrade journal written by an axha without instance ids cannot show it belongs to this installation."""
    path = tmp_path / "upgrade.json"
    Journal(path, "axigen").mark("upgrade-first", "done")
    kept = Journal(path, "axigen")
    assert kept.bind(None, adopt=False) is None and kept.state("upgrade-first") == "done"   # no id to compare
    note = kept.bind(NEW, adopt=False)
    assert note.startswith(f"journal {path} was written before this cluster had an instance id")
    assert kept.state("upgrade-first") == "pending" and kept.instance == NEW
    assert list(tmp_path.glob("upgrade.json.stale-*"))
    Journal(path, "axigen").mark("access", "done")
    adopted = Journal(path, "axigen")
    assert adopted.bind(NEW) is None and adopted.state("access") == "done"


def test_finished_operation_starts_anew_and_is_kept_as_history(tmp_path):
    path = tmp_path / "upgrade.json"
    journal = Journal(path, "axigen")
    journal.bind(OLD)
    journal.mark("final", "done")
    assert journal.start_anew_if_finished() is None   # not finished: a resume
    journal.finish()
    again = Journal(path, "axigen")
    note = again.start_anew_if_finished()
    history = [p.name for p in tmp_path.iterdir() if ".done-" in p.name]
    assert note and history and history[0] in note
    assert again.state("final") == "pending" and again.instance == OLD and not again.finished


def test_journal_written_before_finish_existed_counts_as_finished_by_its_final_steps(tmp_path):
    journal = Journal(tmp_path / "upgrade.json", "axigen")
    journal.mark("gates", "done")
    assert journal.start_anew_if_finished(("final",)) is None
    journal.mark("final", "done")
    assert journal.start_anew_if_finished(("final",)) is not None and journal.state("gates") == "pending"


def test_set_aside_keeps_a_bounded_history(tmp_path):
    path = tmp_path / "install.json"
    for _ in range(KEEP_ASIDE + 3):
        path.write_text("{}")
        assert set_aside_file(path, "done") is not None
    assert len(list(tmp_path.glob("install.json.done-*"))) == KEEP_ASIDE
    assert set_aside_file(path, "done") is None   # no file: nothing to move


def test_open_bound_journal_for_the_upgrade(tmp_path, monkeypatch):
    from axha.steps.session import journal_path, open_bound_journal
    from axha.steps.spec_load import load_cluster

    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path))
    spec = load_cluster(Path(__file__).resolve().parents[1] / "fixtures" / "cluster-example.yaml")
    old = Journal(journal_path(spec, "upgrade"))
    old.bind(OLD)
    old.mark("gates", "running")
    ctx = Context(spec, {n: node(n, answer("value")) for n in spec.node_names})
    journal, note = open_bound_journal(ctx, "upgrade")
    assert note is None and journal.state("gates") == "running"          # same instance: resumed
    ctx = Context(spec, {n: node(n, answer("value", value=NEW)) for n in spec.node_names})
    journal, note = open_bound_journal(ctx, "upgrade")
    assert "belongs to an earlier installation" in note and journal.state("gates") == "pending"
    journal.mark("gates", "running")
    journal, note = open_bound_journal(ctx, "upgrade", restart=True)
    assert note.startswith("upgrade restarted") and journal.state("gates") == "pending"
    journal.mark("final", "done")   # an upgrade journal of before finish() existed: done when 'final' is
    journal, note = open_bound_journal(ctx, "upgrade", final_steps=("final",))
    assert "the previous upgrade finished" in note and journal.state("final") == "pending"


# ---------------------------------------------------------------- run_steps


class Noop(Step):
    def __init__(self, step_id: str):
        self.id = self.title = step_id


def test_run_steps_binds_resumes_and_starts_a_finished_install_anew(tmp_path):
    path = tmp_path / "install.json"
    runners = {n: node(n, answer("value")) for n in ("node1", "node2")}

    def run(journal):
        events: list = []
        report = run_steps(Context(None, runners, journal=journal), [Noop("access"), Noop("verify")],
                           events.append)
        return report, [e.line for e in events if isinstance(e, OutputLine)]

    half = Journal(path, "axigen")
    half.mark("access", "done")               # an install stopped before the cluster had its id
    report, notes = run(Journal(path, "axigen"))
    assert report.ok and any("access finished earlier" in n for n in notes)
    done = json.loads(path.read_text())
    assert done["instance"] == OLD and done["finished"]
    report, notes = run(Journal(path, "axigen"))   # a new run of a finished install is a new install
    assert report.ok and any("previous install finished" in n for n in notes)
    assert list(tmp_path.glob("install.json.done-*"))
