"""The lab's arbiter (`axha lab up --arbiter`): a third host running the real corosync-qnetd of Debian's package,
with its own CA as the package's postinst makes one, reachable from both nodes over the management net whatever
happens to their cluster links, with its own power switch; `--no-arbiter` takes it away again."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from axha_lab import core, nodes
from axha.steps.install.qdevice import pem_body
from axha.steps.spec_load import load_cluster
from axha.steps.ssh import SshRunner
from tests.waiting import wait_until

pytestmark = pytest.mark.lab
QNETD_CA = "/etc/corosync/qnetd/nssdb/qnetd-cacert.crt"


@pytest.fixture
def with_arbiter(lab):
    """The session lab with an arbiter for one test, taken away afterwards (the cluster file back without it)."""
    status = core.up(lab["instance"], None, lab["cluster_file"], arbiter=True)
    try:
        yield status
    finally:
        core.up(lab["instance"], None, lab["cluster_file"], arbiter=False)


def reaches(lab_exec, node: str, address: str, port: int) -> bool:
    """A TCP connection from inside the node (bash's /dev/tcp: nothing else installed on a node does it)."""
    probe = f"timeout 3 bash -c '</dev/tcp/{address}/{port}'"
    return lab_exec(node, ["bash", "-c", probe]).returncode == 0


def test_the_arbiter_runs_its_own_qnetd_reachable_from_both_nodes(with_arbiter, lab_exec):
    arbiter = with_arbiter["arbiter"]
    assert arbiter["power"] == "on" and arbiter["qnetd_port"] == 5403
    qd = load_cluster(with_arbiter["cluster_file"]).quorum_device
    assert (qd.host, qd.port, qd.algorithm, qd.ssh_host) == (arbiter["ssh_address"], 5403, "ffsplit",
                                                             arbiter["ssh_address"])

    out = lab_exec("arbiter", ["corosync-qnetd-tool", "-s"])
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert "Supported (client certificate required)" in text and "Connected clusters:\t\t0" in text, text
    # the arbiter's CA is its own (made on the arbiter as the postinst does), not the lab host's
    # (the export file is certutil -L's text form, then the PEM: corosync-qnetd-certutil.sh init_qnetd_ca())
    ca = pem_body(lab_exec("arbiter", ["cat", QNETD_CA]).stdout.decode())
    assert ca and ca != pem_body(Path(QNETD_CA).read_text())
    for node in ("node1", "node2"):
        assert reaches(lab_exec, node, qd.host, qd.port), f"{node} does not reach the arbiter"
        # a node is not an arbiter: corosync-qnetd is not running there
        assert lab_exec(node, ["corosync-qnetd-tool", "-s"]).returncode != 0

    # the lab's known_hosts vouches for the arbiter like for the nodes: the product's SSH reaches it verified
    spec = load_cluster(with_arbiter["cluster_file"])
    runner = SshRunner(spec.quorum_device.ssh_target, key_file=spec.ssh.key_file, known_hosts=spec.ssh.known_hosts,
                       use_agent=False, connect_timeout=5)
    try:
        assert runner.run(["hostname"], timeout=30).stdout.strip() == "arbiter"
    finally:
        runner.close()


def test_the_arbiter_has_a_power_switch_and_starts_qnetd_at_boot(with_arbiter, lab_exec):
    instance = with_arbiter["instance"]
    address = with_arbiter["arbiter"]["ssh_address"]
    axha = [sys.executable, "-m", "axha", "lab", "--instance", str(instance), "power", "arbiter"]
    out = subprocess.run(axha + ["off"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "arbiter: power off" in out.stdout, out.stderr
    assert core.status(instance)["arbiter"]["power"] == "off"
    assert not reaches(lab_exec, "node1", address, 5403)
    out = subprocess.run(axha + ["on"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "arbiter: power on" in out.stdout, out.stderr
    nodes.wait_booted(instance, "arbiter")
    wait_until(lambda: reaches(lab_exec, "node2", address, 5403), "qnetd on the arbiter to listen again", 120)
    assert lab_exec("arbiter", ["corosync-qnetd-tool", "-s"]).returncode == 0


def test_no_arbiter_takes_it_away(lab, lab_exec):
    core.up(lab["instance"], None, lab["cluster_file"], arbiter=True)
    status = core.up(lab["instance"], None, lab["cluster_file"], arbiter=False)
    assert status["arbiter"] is None
    assert load_cluster(lab["cluster_file"]).quorum_device is None
    assert "axlab%d-arbiter" % lab["instance"] not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                                     text=True).stdout
    assert lab_exec("node1", ["true"]).returncode == 0          # the nodes untouched
