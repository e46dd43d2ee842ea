"""The cluster file's optional `quorum_device`: read, validated with file, line and key, written back."""
from __future__ import annotations

from pathlib import Path

import pytest

from axha.steps.spec_load import SpecError, parse_cluster
from axha.steps.spec_save import dump_cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "tests/fixtures/cluster-example.yaml").read_text()


def with_qdevice(block: str) -> str:
    return EXAMPLE + "quorum_device:\n" + "".join(f"  {line}\n" for line in block.strip().splitlines())


def test_without_the_key_there_is_no_quorum_device():
    assert parse_cluster(EXAMPLE, "c.yaml").quorum_device is None
    assert "quorum_device" not in dump_cluster(parse_cluster(EXAMPLE, "c.yaml"))


def test_defaults_and_read_back():
    spec = parse_cluster(with_qdevice("host: ARBITER.example.com"), "c.yaml")
    qd = spec.quorum_device
    assert (qd.host, qd.port, qd.algorithm, qd.ssh_address, qd.ssh_host, qd.ssh_port, qd.ssh_user) == \
        ("arbiter.example.com", 5403, "ffsplit", None, "arbiter.example.com", 22, "root")
    assert parse_cluster(dump_cluster(spec), "c.yaml") == spec


def test_every_field_in_canonical_form():
    spec = parse_cluster(with_qdevice("""
host: "::ffff:192.168.77.13"
port: 5404
algorithm: lms
ssh_address: 10.0.0.13
ssh_port: 2222
ssh_user: admin"""), "c.yaml")
    qd = spec.quorum_device
    assert (qd.host, qd.port, qd.algorithm, qd.ssh_host, qd.ssh_port, qd.ssh_user) == \
        ("192.168.77.13", 5404, "lms", "10.0.0.13", 2222, "admin")
    assert parse_cluster(dump_cluster(spec), "c.yaml") == spec


@pytest.mark.parametrize("block, key, words", [
    ("host: 192.168.77.13\nalgorithm: 2nodelms", "quorum_device.algorithm", "ffsplit, lms"),
    ("host: 192.168.77.13\nport: 0", "quorum_device.port", "out of range"),
    ("host: 192.168.77.13\nvotes: 1", "quorum_device.votes", "unknown key"),
    ("host: 192.168.77.13\npassword: x", "quorum_device.password", "secrets never belong"),
    ("host: 'evil;rm -rf /'", "quorum_device.host", "neither an IP address nor a host name"),
    ("host: 192.168.77.12", "quorum_device.host", "third host"),
    ("host: 192.168.77.100", "quorum_device.host", "third host"),
    ("host: node2", "quorum_device.host", "third host"),
    ("host: 192.168.77.13\nssh_address: 192.168.77.201", "quorum_device.ssh_address", "third host"),
    ("host: 192.168.77.13\nssh_user: 'root\\n'", "quorum_device.ssh_user", "not a valid user name"),
    ("port: 5403", "quorum_device.host", "missing required key"),
])
def test_a_bad_quorum_device_names_file_line_and_key(block, key, words):
    with pytest.raises(SpecError) as info:
        parse_cluster(with_qdevice(block), "c.yaml")
    exc = info.value
    assert exc.key == key and words in exc.message and exc.line is not None, str(exc)
    assert exc.line > EXAMPLE.count("\n"), "the line is the quorum device's, not the file's top"


def test_quorum_device_must_be_a_mapping():
    with pytest.raises(SpecError) as info:
        parse_cluster(EXAMPLE + "quorum_device: arbiter\n", "c.yaml")
    assert info.value.key == "quorum_device" and "mapping" in info.value.message


def test_a_node_named_like_the_arbiters_runner_is_refused_beside_a_quorum_device():
    text = with_qdevice("host: 192.168.77.13").replace("name: node2", "name: arbiter", 1)
    assert "name: arbiter" in text
    with pytest.raises(SpecError) as info:
        parse_cluster(text, "c.yaml")
    assert info.value.key == "nodes[1].name" and "arbiter" in info.value.message and info.value.line
    # without a quorum device the name is free
    assert parse_cluster(EXAMPLE.replace("name: node2", "name: arbiter", 1), "c.yaml").nodes[1].name == "arbiter"
