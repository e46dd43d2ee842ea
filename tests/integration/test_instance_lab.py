"""The cluster instance id on the lab: the install writes it into the CIB (the same on both nodes) and binds its
journal to it; a journal left by an earlier installation of the same servers is set aside, never obeyed; a rerun
keeps the id and starts a new install journal (the finished one is kept as history)."""
from __future__ import annotations

import json
import re

import pytest

from axha.steps import instance
from axha.steps.session import cluster_id
from axha.steps.spec_load import load_cluster
from tests.integration.test_install import axha, check_cluster, unstick

pytestmark = pytest.mark.lab
EARLIER = "00000000-0000-4000-8000-000000000000"


def live_id(lab_exec, node: str) -> str:
    out = lab_exec(node, list(instance.QUERY_ARGV))
    assert out.returncode == 0, (node, out.returncode, out.stderr)
    return out.stdout.decode().strip()


def test_install_writes_the_instance_id_and_sets_an_earlier_journal_aside(fresh_lab, lab_exec, tmp_path):
    unstick(lab_exec)
    assert lab_exec("node1", list(instance.QUERY_ARGV)).returncode != 0   # a fresh lab has no id
    journals = tmp_path / cluster_id(load_cluster(fresh_lab["cluster_file"])) / "journal"
    journals.mkdir(parents=True)
    earlier = {"version": 1, "cluster": journals.parent.name, "instance": EARLIER, "finished": "2026-11-30T00:00:00Z",
               "steps": {"verify": {"state": "done"}, "final": {"state": "done"}}}
    (journals / "install.json").write_text(json.dumps(earlier))

    first = axha(fresh_lab, tmp_path, "--yes")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    check_cluster(fresh_lab, lab_exec)
    written = live_id(lab_exec, "node1")
    assert re.fullmatch(r"[0-9a-f-]{36}", written) and live_id(lab_exec, "node2") == written
    assert f"belongs to an earlier installation of this cluster (instance {EARLIER}, the cluster now has none)" \
        in first.stdout
    stale = list(journals.glob("install.json.stale-*"))
    assert len(stale) == 1 and json.loads(stale[0].read_text())["instance"] == EARLIER
    journal = json.loads((journals / "install.json").read_text())
    assert journal["instance"] == written and journal["finished"]

    second = axha(fresh_lab, tmp_path, "--yes")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    assert live_id(lab_exec, "node1") == written   # kept, never replaced
    assert "the previous install finished: this is a new one" in second.stdout
    assert list(journals.glob("install.json.done-*"))
    assert json.loads((journals / "install.json").read_text())["instance"] == written
