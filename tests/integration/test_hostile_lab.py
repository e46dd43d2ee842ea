"""Issue 11 end to end on the lab: the hostile BMC address that made `axha preflight` run a command as root on the
peer (a newline in it opened a `password_script=` option in fence_ipmilan's stdin, which fence-agents run through a
shell) runs nothing any more, at either wall: the cluster file is refused, and a spec that carries the value anyway
(built in code, past validation) is refused by the renderer. The first test shows the attack is real on these nodes,
so the others prove something."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from axha.checks.preflight import run_preflight
from axha.steps.secrets import Secrets, load_secrets
from axha.steps.session import close_context, open_context
from axha.steps.spec_load import load_cluster

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
MARK = "/tmp/axha-issue11-injected"
HOSTILE = f"fe80::9%x\npassword_script=touch {MARK}"


@pytest.fixture(autouse=True)
def _pristine_nodes(fresh_lab, lab_exec):
    for node in ("node1", "node2"):
        lab_exec(node, ["rm", "-f", MARK])
    yield fresh_lab
    for node in ("node1", "node2"):
        lab_exec(node, ["rm", "-f", MARK])


def marked(lab_exec) -> dict[str, bool]:
    return {node: lab_exec(node, ["test", "-e", MARK]).returncode == 0 for node in ("node1", "node2")}


def test_the_injected_option_is_a_root_command_for_fence_ipmilan(lab, lab_exec):
    """Without the walls: fence_ipmilan on node1, given the options the old preflight wrote for node2's BMC,
    runs password_script as root. This is what the rest of the file prevents."""
    spec = load_cluster(lab["cluster_file"])
    bmc = spec.node("node2").bmc
    stdin = (f"ip={bmc.address}\nipport={bmc.port}\nusername={bmc.user}\npassword_script=touch {MARK}\n"
             "lanplus=1\naction=status\npower_timeout=5\n")
    lab_exec("node1", ["timeout", "40", "fence_ipmilan"], stdin=stdin.encode(), timeout=60)
    assert marked(lab_exec) == {"node1": True, "node2": False}


def test_preflight_with_the_hostile_bmc_address_refuses_the_file_and_runs_nothing(lab, lab_exec, tmp_path):
    text = Path(lab["cluster_file"]).read_text()
    bmc = load_cluster(lab["cluster_file"]).node("node2").bmc.address
    assert text.count(bmc) == 1
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(text.replace(bmc, '"' + HOSTILE.replace("\n", "\\n") + '"'))
    secrets = Path(lab["cluster_file"]).with_name(Path(lab["cluster_file"]).stem + ".secrets.yaml")
    args = ["preflight", "--cluster", str(hostile), "--json"]
    args += ["--secrets", str(secrets)] if secrets.exists() else []
    result = subprocess.run([sys.executable, "-m", "axha", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2, result.stderr
    assert f"{hostile}:" in result.stderr and "nodes[1].bmc.address" in result.stderr and "U+000A" in result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    assert marked(lab_exec) == {"node1": False, "node2": False}


def test_preflight_past_validation_is_stopped_by_the_renderer(lab, lab_exec):
    """The second wall: a spec carrying the value (as code could build one) reaches run_preflight; the fence
    options renderer refuses it, nothing runs fence_ipmilan with it, nothing is created on either node."""
    spec = load_cluster(lab["cluster_file"])
    secrets = load_secrets(spec, None, need_bmc=False)
    node2 = spec.node("node2")
    spec = dataclasses.replace(spec, nodes=(spec.nodes[0], dataclasses.replace(
        node2, bmc=dataclasses.replace(node2.bmc, address=HOSTILE))))
    for attempt in (secrets, Secrets(bmc_passwords={**secrets.bmc_passwords,
                                                     "node2": f"pw\npassword_script=touch {MARK}"})):
        if attempt is not secrets:  # the other way in: a password with a line break (the file refuses those too)
            spec = load_cluster(lab["cluster_file"])
        ctx = open_context(spec, attempt)
        try:
            report = run_preflight(ctx, only=("fencing",))
        finally:
            close_context(ctx)
        assert marked(lab_exec) == {"node1": False, "node2": False}
        said = {f.code: f.summary for f in report.results[("fencing", "node2")].findings}
        assert "refused to write its options" in said["FENCE_AGENT_FAILED"], said
