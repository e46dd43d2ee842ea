"""Architecture and core-behaviour contracts: the engine never imports the UI; cluster-file validation errors;
secrets-file mode; journal durability under SIGKILL; audit redaction."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axha.steps.audit import MASK, AuditLog, Redactor
from axha.steps.errors import InputError
from axha.steps.runner import Result
from axha.steps.secrets import load_secrets, read_secrets_file
from axha.steps.spec_load import SpecError, load_cluster, parse_cluster
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "tests/fixtures/cluster-example.yaml").read_text()


def test_steps_and_checks_never_import_textual_or_rich():
    code = """
import importlib, pkgutil, sys
import axha.steps, axha.checks
for pkg in (axha.steps, axha.checks):
    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(mod.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich") or m.startswith("axha.tui"))
assert not bad, bad
print(len([m for m in sys.modules if m.startswith(("axha.steps.", "axha.checks."))]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 8  # really walked the packages


def test_every_module_has_a_docstring():
    missing = []
    for top in ("steps", "checks", "tui"):
        for path in (REPO / top).rglob("*.py"):
            text = path.read_text()
            if text.strip() and not text.lstrip().startswith(('"""', "'''", "#!")):
                missing.append(str(path.relative_to(REPO)))
    assert not missing, missing


# ---------------------------------------------------------------- cluster file validation


def broken(old: str, new: str, count: int = 1) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, count)


@pytest.mark.parametrize("text, key, words, line", [
    (broken("cidr: 24", "cidr: twenty"), "vip.cidr", "expected a whole number", 21),
    (broken("    backing_disk: /dev/vdb\n  - name: node2", "  - name: node2"), "nodes[0].backing_disk",
     "missing required key", 4),
    (broken("address: 192.168.78.11", "address: 192.168.78.300"), "nodes[0].link0.address",
     "is not an IP address", 6),
    (broken("address: 192.168.78.12", "address: 192.168.78.11"), "nodes[1].link0.address",
     "already used at nodes[0].link0.address", 12),
    (broken("{address: 192.168.79.11, interface: link1}", "{address: 192.168.79.11, interface: link0}"),
     "nodes[0].link1.interface", "must be on different NICs", 7),
    (broken("mode: drbd", "mode: iscsi"), "storage.mode", "unknown storage mode 'iscsi'", 17),
    (broken("    bmc: {address: 192.168.77.201, port: 623, user: admin}",
            "    bmc: {address: 192.168.77.201, port: 623, user: admin, password: hunter2}"),
     "nodes[0].bmc.password", "secrets never belong in the cluster file", 8),
    (broken("vip: {address: 192.168.77.100", "vip: {address: 192.168.77.11"), "vip.address",
     "already a node address", 21),
    (broken("ssh_address: 192.168.77.12", "ssh_address: 'bad host!'"), "nodes[1].ssh_address",
     "neither an IP address nor a host name", 11),
    (broken("filesystem: ext4", "filesystem: btrfs"), "storage.filesystem", "unsupported filesystem", 19),
])
def test_validation_errors_name_file_line_and_key(text, key, words, line):
    with pytest.raises(SpecError) as info:
        parse_cluster(text, "/etc/axha/c.yaml")
    err = info.value
    assert (err.key, err.line, err.path) == (key, line, "/etc/axha/c.yaml"), str(err)
    assert words in str(err) and str(err).startswith(f"/etc/axha/c.yaml:{line}: {key}: ")
    assert err.exit_code == 2


def test_secret_value_is_never_echoed_in_the_error():
    text = broken("cluster: axigen", "cluster: axigen\nssh_password: hunter2")
    with pytest.raises(SpecError) as info:
        parse_cluster(text, "c.yaml")
    assert "hunter2" not in str(info.value) and "secrets never belong" in str(info.value)


def test_wrong_type_for_a_section_and_yaml_syntax():
    with pytest.raises(SpecError, match=r"nodes: expected a list of exactly two nodes, got 1"):
        parse_cluster(EXAMPLE.split("  - name: node2")[0] + "storage: {mode: drbd}\nvip: {address: 1.2.3.4, cidr: 24, "
                      "interface: eth0}\n", "c.yaml")
    with pytest.raises(SpecError, match=r"c.yaml:3: \(syntax\): not valid YAML"):
        parse_cluster("cluster: a\nnodes: [\n", "c.yaml")


def test_example_is_valid_and_missing_file_is_input_error(tmp_path):
    spec = parse_cluster(EXAMPLE, "x.yaml")
    assert spec.node_names == ("node1", "node2") and spec.storage.mount_point == "/var/opt/axigen"
    with pytest.raises(SpecError) as info:
        load_cluster(tmp_path / "none.yaml")
    assert "no such file" in str(info.value) and info.value.exit_code == 2


# ---------------------------------------------------------------- secrets


def test_secrets_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("bmc_passwords: {node1: abcdef}\n")
    path.chmod(0o644)
    with pytest.raises(InputError) as info:
        read_secrets_file(path)
    assert "mode 0644" in str(info.value) and "chmod 600" in info.value.remedy and "abcdef" not in str(info.value)
    path.chmod(0o600)
    spec = parse_cluster(EXAMPLE, str(tmp_path / "c.yaml"))
    secrets = load_secrets(spec, path, env={"AXHA_BMC_PASSWORD_NODE2": "from-env"})
    assert secrets.bmc_passwords == {"node1": "abcdef", "node2": "from-env"}
    assert "abcdef" not in repr(secrets)


# ---------------------------------------------------------------- journal durability

WRITER = """
import sys
from axha.steps.journal import Journal
j = Journal(sys.argv[1], "axigen")
i = 0
while True:
    i += 1
    j.mark("step", "running", "x" * (i % 5000), counter=i)
"""


def test_journal_survives_sigkill_while_writing(tmp_path):
    from axha.steps.journal import Journal

    path = tmp_path / "install.json"
    for attempt in range(5):
        before = path.stat().st_ino if path.exists() else None   # the last attempt's journal
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO)
        # this writer is writing: its first journal replaced (atomically: a new file) the one left before it
        wait_until(lambda: path.exists() and path.stat().st_ino != before, "this writer's first journal",
                   interval=0.01)
        # not a wait for anything: the writer never stops, and each attempt kills it a little later into its
        # writing (a different point of a write each time)
        time.sleep(0.05 + 0.03 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text())  # never torn
        assert data["version"] == 1 and data["steps"]["step"]["data"]["counter"] >= 1
        journal = Journal(path, "axigen")
        assert journal.state("step") == "running"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "install.json"]
    assert all(name.endswith(".tmp") for name in leftovers)  # at most an orphan temp file, never the journal


# ---------------------------------------------------------------- audit redaction


def test_audit_log_redacts_known_secrets_and_key_value_pairs(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl", Redactor(["Bmc-Secret-1"]))
    audit.record(Result("node1", ("fence_ipmilan", "--password=Bmc-Secret-1", "-o", "status"), 0,
                        "token: abc123xyz ok", "login with Bmc-Secret-1 failed", 0.5), mutating=True)
    audit.note("node1", "password=other-secret set")
    text = (tmp_path / "audit.jsonl").read_text()
    assert "Bmc-Secret-1" not in text and "abc123xyz" not in text and "other-secret" not in text
    entry = audit.entries()[0]
    assert entry["argv"] == ["fence_ipmilan", f"--password={MASK}", "-o", "status"]
    assert (os.stat(tmp_path / "audit.jsonl").st_mode & 0o777) == 0o600


def test_secrets_file_key_is_a_path_not_a_secret(tmp_path):
    """`secrets_file:` names where secrets live; it is not itself refused as a secret (relative to the file)."""
    text = EXAMPLE + "secrets_file: lab.secrets.yaml\n"
    spec = parse_cluster(text, str(tmp_path / "c.yaml"))
    assert spec.secrets_file == str(tmp_path / "lab.secrets.yaml")
    with pytest.raises(SpecError, match="secrets never belong"):
        parse_cluster(text.replace("secrets_file:", "secret_key:"), str(tmp_path / "c.yaml"))


def test_the_tui_starts_without_loading_ssh_ipmi_or_yaml():
    """Start-up stays light (bench/startup.py): paramiko, pyghmi and yaml load only when needed."""
    code = ("import sys, tui.app, tui.screens.inventory, tui.dialogs.base, tui.dialogs.confirm, tui.dialogs.questions\n"
            "import tui.dialogs.readers, tui.dialogs.audit\n"
            "heavy = sorted(m for m in ('paramiko', 'pyghmi', 'yaml', 'cryptography') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
