"""The quorum device in the lab (`axha lab up --arbiter`, Debian's real corosync-qnetd/-qdevice): installed with
the cluster; a power cut of the active node moves the service; both cluster links of node2 cut while both nodes
reach the arbiter leave exactly one side quorate, the service on it and only node2 fenced, and no split brain
when node2 returns; the arbiter powered off leaves the two nodes quorate; `quorum-device remove` returns to
two_node with the fence delay, `add` brings the device back."""
from __future__ import annotations

import json
import time

import pytest

from axha.steps.maint.service import service_answer
from axha.steps.quorum_status import parse_quorumtool_status
from tests.integration.test_maintenance import axha, crm, settled, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def qd_installed(lab, tmp_path_factory):
    """The session lab with an arbiter, reset and installed with its quorum device; the arbiter taken away
    (and the cluster file without it) afterwards."""
    from axha_lab import core, nodes

    def lab_exec(node, argv):
        return nodes.node_run(lab["instance"], node, argv, check=False, timeout=120)

    status = core.up(lab["instance"], None, lab["cluster_file"], arbiter=True)
    core.reset(lab["instance"])
    state_dir = tmp_path_factory.mktemp("axha-state-qd")
    for node in ("node1", "node2"):
        lab_exec(node, ["rm", "-f", "/root/.pyenv/shims/.pyenv-shim"])  # see test_install.unstick
    try:
        result = axha(status, state_dir, "install", "--yes", timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        wait_for("a settled cluster", lambda: settled(lab_exec))
        yield {"lab": status, "state_dir": state_dir, "exec": lab_exec}
    finally:
        core.up(lab["instance"], None, lab["cluster_file"], arbiter=False)


def quorum(ex, node):
    out = ex(node, ["corosync-quorumtool", "-s"])
    try:
        return parse_quorumtool_status(out.stdout.decode())
    except ValueError:
        return None


def device_votes_everywhere(ex):
    for node in ("node1", "node2"):
        q = quorum(ex, node)
        if q is None or not q.quorate or not q.has_qdevice or not q.local_member.qdevice_cast_vote:
            return None
    return True


def healthy(installed):
    """Settled, and the quorum device voting on both nodes."""
    ex = installed["exec"]
    return settled(ex) if device_votes_everywhere(ex) else None


def power(installed, node, state):
    from axha_lab import nodes
    (nodes.power_off if state == "off" else nodes.power_on)(installed["lab"]["instance"], node)


def smtp_from_other_than(vip, node, timeout):
    start = time.monotonic()

    def answered():
        a = service_answer(vip, "smtp", 25, timeout=1.0)
        return a if a.ok and node not in a.banner else None
    answer = wait_for(f"SMTP on the VIP from another node than {node}", answered, timeout)
    return answer, time.monotonic() - start


def back(installed, node):
    power(installed, node, "on")
    wait_for("the cluster healthy again with the device voting", lambda: healthy(installed), 300)


def test_installed_with_the_device_voting_tls_and_no_fence_delay(qd_installed):
    ex = qd_installed["exec"]
    assert device_votes_everywhere(ex)
    q = quorum(ex, "node1")
    assert not q.two_node and (q.total_votes, q.expected_votes) == (3, 3)
    tool = ex("node2", ["corosync-qdevice-tool", "-s", "-v"]).stdout.decode()
    assert "State:\t\t\tConnected" in tool and "TLS active:\t\tYes (client certificate sent)" in tool, tool
    cib = ex("node1", ["cibadmin", "--query", "--scope", "resources"]).stdout.decode()
    assert "pcmk_delay_base" not in cib
    listed = ex("arbiter", ["corosync-qnetd-tool", "-l", "-v"]).stdout.decode()
    assert listed.count("TLS active:\t\tYes (client certificate verified)") == 2, listed
    # a second install changes nothing
    again = axha(qd_installed["lab"], qd_installed["state_dir"], "install", "--yes", "--json", timeout=600)
    assert again.returncode == 0, again.stdout[-2000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["changed"] is False


@pytest.mark.parametrize("which", ["one-node", "then-the-other"])
def test_a_power_cut_of_the_active_node_moves_the_service(qd_installed, which):
    ex, vip = qd_installed["exec"], qd_installed["lab"]["vip"]
    wait_for("healthy", lambda: healthy(qd_installed), 300)
    active = crm(ex).where("axigen-group")
    power(qd_installed, active, "off")
    answer, took = smtp_from_other_than(vip, active, 120)
    print(f"power cut of {active}: SMTP from the other node after {took:.1f} s")
    survivor = "node1" if active == "node2" else "node2"
    assert survivor in answer.banner
    q = quorum(ex, survivor)
    assert q.quorate and q.has_qdevice and q.local_member.qdevice_cast_vote
    back(qd_installed, active)


def test_both_links_of_node2_cut_one_side_quorate_no_fence_race_no_split_brain(qd_installed):
    ex, vip = qd_installed["exec"], qd_installed["lab"]["vip"]
    wait_for("healthy", lambda: healthy(qd_installed), 300)
    if crm(ex).where("axigen-group") != "node2":        # the harder case: the service on the side cut off
        out = axha(qd_installed["lab"], qd_installed["state_dir"], "switchover", "--yes", "--to", "node2")
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-1000:]
    history_before = ex("node1", ["stonith_admin", "--history", "*"]).stdout.decode()
    boot_id = ex("node1", ["cat", "/proc/sys/kernel/random/boot_id"]).stdout
    ex("node2", ["sh", "-c", "ip link set link0 down; ip link set link1 down"])
    answer, took = smtp_from_other_than(vip, "node2", 120)
    print(f"both links of node2 cut: SMTP from node1 after {took:.1f} s")
    q = quorum(ex, "node1")
    assert q.quorate and q.member_names == ("node1",) and q.local_member.qdevice_cast_vote
    # the side without the device's vote did not fence: node1 never went down, only node2 was fenced, by node1
    wait_for("node2 fenced", lambda: "turning off of node2 successful" in
             ex("node1", ["stonith_admin", "--history", "*"]).stdout.decode().replace(history_before, ""), 120)
    history = ex("node1", ["stonith_admin", "--history", "*"]).stdout.decode()
    assert "of node1" not in history, history
    assert ex("node1", ["cat", "/proc/sys/kernel/random/boot_id"]).stdout == boot_id
    back(qd_installed, "node2")
    out = axha(qd_installed["lab"], qd_installed["state_dir"], "status", "--json")
    state = json.loads(out.stdout)
    assert not state["split_brain"]["detected"], state["split_brain"]


def test_the_arbiter_off_leaves_both_nodes_quorate_and_the_service_running(qd_installed):
    ex, vip = qd_installed["exec"], qd_installed["lab"]["vip"]
    wait_for("healthy", lambda: healthy(qd_installed), 300)
    active = crm(ex).where("axigen-group")
    power(qd_installed, "arbiter", "off")
    try:
        def lost_on_both():
            states = [json.loads(axha(qd_installed["lab"], qd_installed["state_dir"], "status", "--json").stdout)]
            nodes = states[0]["quorum_device"]["nodes"]
            return states[0] if not any(v["connected"] for v in nodes.values()) else None
        state = wait_for("both nodes to see the arbiter gone", lost_on_both, 120)
        assert {w["code"] for w in state["warnings"]} >= {"QDEVICE_DISCONNECTED"}
        for node in ("node1", "node2"):
            q = quorum(ex, node)
            assert q.quorate and (q.total_votes, q.expected_votes) == (2, 3), node
        assert crm(ex).where("axigen-group") == active
        assert service_answer(vip, "smtp", 25).ok
    finally:
        power(qd_installed, "arbiter", "on")
    wait_for("the device voting again", lambda: device_votes_everywhere(ex), 180)


def test_remove_returns_to_two_node_with_the_fence_delay_and_add_brings_it_back(qd_installed, tmp_path):
    from axha.steps.spec_load import load_cluster
    from axha.steps.spec_save import dump_cluster
    import dataclasses
    import shutil

    ex, lab = qd_installed["exec"], qd_installed["lab"]
    wait_for("healthy", lambda: healthy(qd_installed), 300)
    spec = load_cluster(lab["cluster_file"])
    plain = tmp_path / "plain.yaml"
    plain.write_text(dump_cluster(dataclasses.replace(spec, quorum_device=None)))
    shutil.copy(lab["cluster_file"].replace(".yaml", ".secrets.yaml"), tmp_path / "plain.secrets.yaml")
    (tmp_path / "plain.secrets.yaml").chmod(0o600)
    out = axha({**lab, "cluster_file": str(plain)}, qd_installed["state_dir"], "quorum-device", "remove", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
    for node in ("node1", "node2"):
        q = quorum(ex, node)
        assert q.quorate and q.two_node and not q.has_qdevice, node
        assert ex(node, ["systemctl", "is-active", "--quiet", "corosync-qdevice"]).returncode != 0
    assert 'name="pcmk_delay_base"' in ex("node1", ["cibadmin", "--query", "--scope", "resources"]).stdout.decode()
    again = axha({**lab, "cluster_file": str(plain)}, qd_installed["state_dir"], "quorum-device", "remove",
                 "--yes", "--json")
    assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1])["changed"] is False
    out = axha(lab, qd_installed["state_dir"], "quorum-device", "add", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
    assert device_votes_everywhere(ex)
    assert "pcmk_delay_base" not in ex("node1", ["cibadmin", "--query", "--scope", "resources"]).stdout.decode()
