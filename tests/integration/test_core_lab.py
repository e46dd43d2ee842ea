"""The core transports against the lab: SshRunner (via open_context) on both nodes, and BmcClient on the lab's BMCs."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab


@pytest.fixture
def lab_ctx(lab, tmp_path, monkeypatch):
    from axha.steps.secrets import load_secrets
    from axha.steps.session import close_context, open_context
    from axha.steps.spec_load import load_cluster

    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path / "state"))
    spec = load_cluster(lab["cluster_file"])
    secrets = load_secrets(spec, lab["secrets_file"])
    ctx = open_context(spec, secrets)
    yield ctx
    close_context(ctx)


def test_ssh_reaches_both_nodes_with_the_lab_known_hosts(lab_ctx):
    from axha.steps.runner import run_all

    results = run_all(lab_ctx.runners.values(), lambda r: r.run(["uname", "-n"], timeout=20))
    assert {node: r.stdout.strip() for node, r in results.items()} == {"node1": "node1", "node2": "node2"}


def test_put_get_and_stream_on_a_node(lab_ctx):
    runner = lab_ctx.runner("node1")
    runner.put("/root/axha-core-test.conf", "hello\n", mode=0o600)
    assert runner.get("/root/axha-core-test.conf") == b"hello\n"
    assert runner.run(["stat", "-c", "%a", "/root/axha-core-test.conf"]).stdout.strip() == "600"
    lines: list[str] = []
    result = runner.stream(["sh", "-c", "echo one; echo two"], lines.append, timeout=20)
    assert lines == ["one", "two"] and result.rc == 0
    runner.run(["rm", "-f", "/root/axha-core-test.conf"], mutating=True)


def test_bmc_power_state_of_both_lab_nodes(lab_ctx):
    assert {name: lab_ctx.bmc(name).power_state() for name in lab_ctx.spec.node_names} == {"node1": "on",
                                                                                          "node2": "on"}


def test_bmc_wrong_password_against_the_lab(lab_ctx):
    from axha.steps.bmc import BmcAuthError, BmcClient

    node = lab_ctx.spec.nodes[0]
    with pytest.raises(BmcAuthError):
        BmcClient(node.bmc.address, node.bmc.user, "not-the-password", port=node.bmc.port, timeout=5).power_state()
