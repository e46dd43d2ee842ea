"""The quorum device in the product: corosync.conf with a device and without two_node (checked by this machine's
corosync), no fence delay with a device, the install's and the operations' steps, the parsers of what the
installed Debian packages print, and `axha quorum-device` at the command line (exit 2 naming file and key)."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from axha.steps.install import corosync, fencing, install_steps, qdevice
from axha.steps.spec import QuorumDeviceSpec
from axha.steps.spec_load import load_cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests/fixtures/cluster-example.yaml"
SPEC = load_cluster(EXAMPLE)
QD_SPEC = dataclasses.replace(SPEC, quorum_device=QuorumDeviceSpec("192.168.77.13", algorithm="lms"))


def test_the_conf_with_a_device_has_no_two_node_and_the_device_section():
    text = corosync.render_conf(QD_SPEC)
    assert "two_node" not in text
    quorum = text[text.index("quorum {"):text.index("logging {")]
    for line in ("provider: corosync_votequorum", "device {", "votes: 1", "model: net", "net {", "tls: on",
                 "host: 192.168.77.13", "port: 5403", "algorithm: lms"):
        assert line in quorum, line
    assert quorum.count("{") == quorum.count("}")
    plain = corosync.render_conf(SPEC)
    assert "two_node: 1" in plain and "device" not in plain[plain.index("quorum {"):]


def test_a_hostile_device_host_cannot_break_out_of_the_conf():
    from axha.steps.errors import InputError
    for bad in ("x\n}\ntotem { token: 1", "a{b", "a}b", "a b"):
        spec = dataclasses.replace(SPEC, quorum_device=QuorumDeviceSpec(bad))
        with pytest.raises(InputError):
            corosync.render_conf(spec)


@pytest.mark.skipif(shutil.which("corosync") is None, reason="corosync not installed")
def test_real_corosync_parses_the_conf_with_a_device(tmp_path):
    """corosync -t reads the whole file before it looks for the local node: a parse error (or votequorum's
    two_node + device refusal, which needs the node) would come first."""
    key = tmp_path / "authkey"
    key.write_bytes(b"k" * 256)
    conf = tmp_path / "corosync.conf"
    conf.write_text(corosync.render_conf(QD_SPEC).replace("crypto_hash: sha256", f"crypto_hash: sha256\n    keyfile: {key}"))
    out = subprocess.run(["corosync", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert "parser error" not in out.stderr and "No valid name found for local host" in out.stderr, out.stderr


def test_no_fence_delay_with_a_quorum_device():
    def delays(spec):
        return "".join(o.xml for o in fencing.fencing_change(spec).objects).count('name="pcmk_delay_base"')
    assert delays(SPEC) == 1 and delays(QD_SPEC) == 0


def test_the_install_has_the_device_steps_only_with_a_device():
    plain = [s.id for s in install_steps(SPEC, {})]
    with_device = [s.id for s in install_steps(QD_SPEC, {})]
    assert not any(i.startswith("q") for i in plain)
    assert with_device.index("qdevice-preflight") < with_device.index("qnetd") < \
        with_device.index("qdevice-certs") < with_device.index("corosync") < with_device.index("qdevice") < \
        with_device.index("pacemaker")
    assert "qdevice-packages" in [s.id for s in install_steps(QD_SPEC, {"install_packages": True})]
    assert len(set(with_device)) == len(with_device)


def test_add_and_remove_order():
    assert [s.id for s in qdevice.add_steps(QD_SPEC)] == [
        "qdevice-preflight", "qnetd", "qdevice-certs", "corosync", "qdevice", "fencing"]
    # removal: the delay back while the device still votes, then the device stopped, then two_node
    assert [s.id for s in qdevice.remove_steps(SPEC)] == [
        "fencing", "qdevice-stop", "corosync", "qdevice-certs-remove", "two-node-quorum"]


def test_reach_keeps_host_and_port_out_of_the_script():
    argv = qdevice.reach_argv("$(reboot)", 5403)
    assert argv[:4] == ("timeout", "5", "bash", "-c") and "$(reboot)" not in argv[4]
    assert argv[-2:] == ("$(reboot)", "5403")


def test_paths_of_the_certutil_scripts():
    assert qdevice.qnetd_crt("axigen") == "/etc/corosync/qnetd/nssdb/cluster-axigen.crt"
    assert qdevice.node_crt("axigen") == "/etc/corosync/qdevice/net/nssdb/cluster-axigen.crt"
    assert qdevice.P12 == "/etc/corosync/qdevice/net/nssdb/qdevice-net-node.p12"


@pytest.mark.skipif(shutil.which("corosync-qnetd") is None, reason="corosync-qnetd not installed")
def test_qnetd_version_of_the_installed_package():
    out = subprocess.run(["corosync-qnetd", "-v"], capture_output=True, text=True)
    version = qdevice.parse_qnetd_version(out.stdout + out.stderr)
    assert version is not None and version[:1] == (3,)
    assert qdevice.parse_qnetd_version("corosync-qnetd: command not found") is None
    assert qdevice.parse_qnetd_version("Corosync Qdevice Network Daemon, version '2.4.5'\n") == (2, 4, 5)


@pytest.mark.skipif(not Path(qdevice.QNETD_DB, "cert9.db").exists() or shutil.which("certutil") is None,
                    reason="no qnetd database on this machine")
def test_the_ca_read_back_from_a_real_database_is_the_exported_file():
    out = subprocess.run(["certutil", "-L", "-d", qdevice.QNETD_DB, "-n", qdevice.CA_NICKNAME, "-a"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    body = qdevice.pem_body(out.stdout)
    assert body and len(body) > 300
    # corosync-qnetd-certutil -i exports the same certificate (text form, then -a) to qnetd-cacert.crt
    assert qdevice.pem_body(Path(qdevice.QNETD_CA_FILE).read_text()) == body
    assert qdevice.pem_body("certutil: Could not find cert: QNet CA") is None


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "axha", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd=REPO)


def test_cli_add_without_a_device_in_the_file_is_exit_2_naming_file_and_key(tmp_path):
    out = cli("quorum-device", "add", "--cluster", str(EXAMPLE), "--plan")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{EXAMPLE}: quorum_device: no quorum_device" in out.stderr, out.stderr


def test_cli_remove_with_a_device_still_in_the_file_is_exit_2(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(EXAMPLE.read_text() + "quorum_device:\n  host: 192.168.77.13\n")
    # no secrets file: the cluster file's refusal comes before any secret is asked for
    out = cli("quorum-device", "remove", "--cluster", str(path), "--plan")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "quorum_device: the cluster file still has a quorum_device" in out.stderr, out.stderr


def test_cli_refuses_without_confirmation_off_a_terminal(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(EXAMPLE.read_text() + "quorum_device:\n  host: 192.168.77.13\n")
    out = cli("quorum-device", "add", "--cluster", str(path))
    assert out.returncode == 2 and "needs a confirmation" in out.stderr + out.stdout, out.stderr


def test_the_real_tools_recorded_in_the_lab_read():
    """What Debian's corosync 3.1.7 and corosync-qdevice/qnetd 3.0.3 printed after `axha quorum-device add` in the
    lab (tests/fixtures/qdevice/SOURCES.md, "Recorded in the lab")."""
    from axha.steps.quorum_status import (parse_qdevice_status, parse_qnetd_list, parse_qnetd_status,
                                          parse_quorumtool_status)
    fix = REPO / "tests/fixtures/qdevice"
    q = parse_quorumtool_status((fix / "lab-quorumtool-3.1.7-qdevice.txt").read_text())
    assert q.quorate and q.has_qdevice and not q.two_node and (q.total_votes, q.expected_votes) == (3, 3)
    assert q.local_member.name == "node1" and q.local_member.qdevice_cast_vote and q.qdevice_counted
    d = parse_qdevice_status((fix / "lab-qdevice-tool-3.0.3-s-v.txt").read_text())
    assert d.connected and (d.host, d.port, d.cluster_name) == ("192.168.86.13", 5403, "axigen")
    assert d.tls_active and d.client_certificate_sent and d.algorithm == "Fifty-Fifty split"
    clusters = parse_qnetd_list((fix / "lab-qnetd-tool-3.0.3-l-v.txt").read_text())
    assert [c.name for c in clusters] == ["axigen"]
    assert {n.nodeid: n.effective_vote for n in clusters[0].nodes} == {1: "ACK", 2: "ACK"}
    assert all(n.client_certificate_verified for n in clusters[0].nodes)
    s = parse_qnetd_status((fix / "lab-qnetd-tool-3.0.3-s-v.txt").read_text())
    assert s.client_certificate_required and (s.connected_clients, s.connected_clusters) == (2, 1)
