"""The `axha` command line as a subprocess: exit codes 0/1/2, clear messages, never a traceback on bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests/fixtures/cluster-example.yaml"


def axha(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "axha", *args], cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def test_help_explains_commands_and_exit_codes():
    result = axha("--help")
    assert result.returncode == 0
    for words in ("validate", "lab", "exit codes:", "2  bad usage or bad input", "--cluster FILE"):
        assert words in result.stdout


def test_validate_ok_prints_the_parsed_spec():
    result = axha("validate", "--cluster", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "valid cluster file for cluster 'axigen'" in result.stdout and "ssh_port: 22" in result.stdout
    as_json = json.loads(axha("validate", "--cluster", str(EXAMPLE), "--json").stdout)
    assert as_json["ok"] and as_json["cluster"]["nodes"][1]["name"] == "node2"


def test_bad_cluster_file_exit_2_with_line_and_key(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(EXAMPLE.read_text().replace("cidr: 24", "cidr: many"))
    result = axha("validate", "--cluster", str(bad))
    assert result.returncode == 2
    assert f"{bad}:21: vip.cidr: expected a whole number" in result.stderr
    no_traceback(result)


def test_missing_cluster_file_exit_2(tmp_path):
    result = axha("validate", "--cluster", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "no such file" in result.stderr
    no_traceback(result)
    result = axha("validate", cwd=tmp_path, env={"AXHA_CLUSTER": ""})
    assert result.returncode == 2 and "no cluster file given" in result.stderr


def test_unknown_option_and_command_exit_2():
    for args in (("--bogus",), ("frobnicate",), ("validate", "--nope")):
        result = axha(*args)
        assert result.returncode == 2, args
        assert "error:" in result.stderr and "--help" in result.stderr
        no_traceback(result)


def test_secrets_file_with_bad_mode_exit_2(tmp_path):
    from axha.tui.clihelp import fail, load_for_cli

    secrets = tmp_path / "s.yaml"
    secrets.write_text("bmc_passwords: {node1: x1234}\n")
    secrets.chmod(0o640)

    class Args:
        cluster, json, yes, debug = str(EXAMPLE), True, True, False
    Args.secrets = str(secrets)
    with pytest.raises(Exception) as info:
        load_for_cli(Args)
    assert fail(info.value) == 2


def test_tui_without_terminal_exit_2():
    result = axha("--cluster", str(EXAMPLE))
    assert result.returncode == 2 and "needs a terminal" in result.stderr


def test_unexpected_error_is_one_line_unless_debug(capsys):
    from axha.tui.clihelp import fail

    assert fail(ZeroDivisionError("boom")) == 1
    err = capsys.readouterr().err
    assert "unexpected error: ZeroDivisionError: boom" in err and "--debug" in err and "Traceback" not in err
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        assert fail(exc, debug=True) == 1
    assert "Traceback" in capsys.readouterr().err


def test_lab_is_dispatched_to_lab_cli():
    result = axha("lab", "--help")
    assert result.returncode == 0 and "axha lab" in result.stdout


def test_register_plugin_scheme(monkeypatch, tmp_path):
    """A tui.cmd_* module's register(subparsers, common) adds a command with the common options."""
    from axha.tui import cli

    module = tmp_path / "axha_fake_cmd.py"
    module.write_text(
        "def register(sub, common):\n"
        "    p = sub.add_parser('fake', parents=[common], help='a fake command')\n"
        "    p.add_argument('--plan', action='store_true')\n"
        "    p.set_defaults(func=lambda a: 0 if a.plan and a.yes and a.cluster == 'c.yaml' else 1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("axha.tui.cmd_does_not_exist", "axha_fake_cmd"))
    assert cli.main(["fake", "--plan", "--yes", "--cluster", "c.yaml"]) == 0
    assert cli.main(["fake", "--cluster", "c.yaml"]) == 1
    assert cli.main(["--cluster", "c.yaml", "fake", "--plan", "--yes"]) == 0  # option before the command kept
