"""open_context against a real throwaway sshd (both nodes on 127.0.0.1), state paths, and the CLI event printer."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from axha.steps.framework import Action, Finding, OutputLine, PlanReady, Progress, StepFinished, StepStarted
from axha.steps.secrets import Secrets
from axha.steps.session import (close_context, cluster_id, journal_path, open_context, open_journal, state_dir,
                           state_paths)
from axha.steps.spec_load import parse_cluster
from tests.sshd_server import start_sshd, stop_sshd
from axha.tui.clihelp import format_event, print_event

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def state(monkeypatch, tmp_path):
    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path / "state"))


def local_spec(server, tmp_path):
    text = f"""
cluster: local
ssh: {{key_file: {server.client_key}, known_hosts: {server.known_hosts}}}
nodes:
  - name: node1
    ssh_address: 127.0.0.1
    ssh_port: {server.port}
    link0: {{address: 10.0.0.1, interface: l0}}
    link1: {{address: 10.0.1.1, interface: l1}}
    bmc: {{address: 127.0.0.71, user: admin}}
    backing_disk: /dev/vdb
  - name: node2
    ssh_address: localhost
    ssh_port: {server.port}
    link0: {{address: 10.0.0.2, interface: l0}}
    link1: {{address: 10.0.1.2, interface: l1}}
    bmc: {{address: 127.0.0.72, user: admin}}
    backing_disk: /dev/vdb
vip: {{address: 10.0.0.100, cidr: 24, interface: l0}}
"""
    return parse_cluster(text, str(tmp_path / "local.yaml"))


def test_state_paths(tmp_path):
    spec = parse_cluster((REPO / "tests/fixtures/cluster-example.yaml").read_text(), "x.yaml")
    audit, journal_dir = state_paths(spec)
    base = tmp_path / "state" / cluster_id(spec)
    assert cluster_id(spec).startswith("axigen-") and len(cluster_id(spec)) == len("axigen-") + 8
    assert audit == base / "audit.jsonl"
    assert journal_dir == base / "journal"
    assert journal_path(spec, "install") == journal_dir / "install.json"


def test_two_clusters_with_the_same_name_never_share_state(tmp_path):
    """Finding QA-2: another cluster also named 'axigen' (other nodes) gets its own audit log and journals, and a
    journal written for one cluster is refused by the other."""
    text = (REPO / "tests/fixtures/cluster-example.yaml").read_text()
    one = parse_cluster(text, "one.yaml")
    other = parse_cluster(text.replace("192.168.77.11", "192.168.77.21"), "other.yaml")
    assert one.name == other.name and state_dir(one) != state_dir(other)
    assert cluster_id(one) == cluster_id(parse_cluster(text, "moved/elsewhere.yaml"))  # follows the cluster
    from axha.steps.errors import InputError
    from axha.steps.journal import Journal
    open_journal(one, "upgrade").mark("gates", "done")
    with pytest.raises(InputError, match="belongs to cluster"):
        Journal(journal_path(one, "upgrade"), cluster_id(other))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")
def test_open_context_runs_on_both_nodes_and_redacts(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    try:
        spec = local_spec(server, tmp_path)
        known = server.known_hosts.read_text()
        server.known_hosts.write_text(known + known.replace("[127.0.0.1]", "[localhost]"))
        secrets = Secrets(bmc_passwords={"node1": "Bmc-Pw-One", "node2": "Bmc-Pw-Two"})
        ctx = open_context(spec, secrets, journal="install")
        try:
            outs = {name: ctx.runner(name).run(["echo", "Bmc-Pw-One"]).stdout for name in spec.node_names}
            assert outs == {"node1": "Bmc-Pw-One\n", "node2": "Bmc-Pw-One\n"}
            assert ctx.local.run(["echo", "hi"]).stdout == "hi\n"
            client = ctx.bmc("node2")
            assert (client.address, client.user) == ("127.0.0.72", "admin") and ctx.bmc("node2") is client
            ctx.journal.mark("access", "done")
        finally:
            close_context(ctx)
            close_context(ctx)  # twice is fine
        audit_text = state_paths(spec)[0].read_text()
        assert "Bmc-Pw-One" not in audit_text and audit_text.count('"node": "node') >= 2
        assert json.loads(journal_path(spec, "install").read_text())["steps"]["access"]["state"] == "done"
    finally:
        stop_sshd(server)


def test_format_event_lines():
    action = Action("node1", ("drbdadm", "create-md", "axigen"), "DRBD metadata", destructive=True)
    assert format_event(StepStarted("storage", "Storage")) == "== Storage"
    assert format_event(PlanReady("storage", (action,))) == "   [node1] $ drbdadm create-md axigen    # DRBD metadata"
    assert format_event(OutputLine("s", "node2", "hello")) == "   [node2] hello"
    line = format_event(Progress("s", "node1", 512, 1024, rate=40.0, eta=75, label="sync", unit="MiB"))
    assert line == "   [node1] sync  50.0%, 40.0 MiB/s, ETA 1m15s"
    assert format_event(StepFinished("storage", "done", "applied")) == "-> storage: done (applied)"
    finding = Finding("RAM_BELOW_BASELINE", "node1", "FAIL", "2 GiB RAM", "add memory")
    assert format_event(finding) == "FAIL  [node1] RAM_BELOW_BASELINE: 2 GiB RAM\n      -> add memory"
    # a failed step shows what refused it, code and remedy; passing findings beside it are not repeated
    passed = Finding("SURVIVOR_RUNS_SERVICE", "node2", "PASS", "node2 runs the service")
    refused = Finding("PACKAGE_NOT_SURVIVORS", None, "FAIL", "p.deb is version 10.5.0, node2 runs 10.5.1", "give 10.5.1")
    assert format_event(StepFinished("replace-gate", "failed", refused.summary, (passed, refused))).splitlines() == [
        "-> replace-gate: failed (p.deb is version 10.5.0, node2 runs 10.5.1)",
        "FAIL  PACKAGE_NOT_SURVIVORS: p.deb is version 10.5.0, node2 runs 10.5.1", "      -> give 10.5.1"]


def test_print_event_json(capsys):
    print_event(StepFinished("x", "failed", "boom"), json_mode=True)
    print_event(Finding("A_B", None, "PASS", "ok"), json_mode=True)
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first == {"event": "StepFinished", "step_id": "x", "status": "failed", "message": "boom", "findings": []}
    assert second["code"] == "A_B" and second["status"] == "PASS"


def test_remote_command_quotes_once_with_locale_timeout_and_sudo():
    from axha.steps.ssh import remote_command
    from axha.steps.ssh_known_hosts import known_hosts_name

    root = remote_command(["echo", "a b", "$HOME"], 60, sudo=False)
    assert root == ("env LC_ALL=C LANG=C sh -c 'echo \"AXHA-PID $$\" >&2; exec timeout -k 5 \"$0\" \"$@\"' "
                    "65s echo 'a b' '$HOME'")
    assert remote_command(["id"], 1.5, sudo=True).startswith("sudo -n -- env LC_ALL=C LANG=C sh -c ")
    assert known_hosts_name("10.0.0.1", 22) == "10.0.0.1" and known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    with pytest.raises(ValueError):
        remote_command([], 10, sudo=False)
