"""`axha preflight` end to end over recorded lab runs: exit codes, --json lines, --only, --markdown, bad input."""
from __future__ import annotations

import json

import pytest

import axha.tui.clihelp
from tests.fixtures.preflight import replay
from axha.tui.cli import main


@pytest.fixture
def scenario(monkeypatch):
    """Point the CLI's context at a recorded scenario instead of SSH (everything else is the real CLI)."""
    def use(name: str) -> str:
        monkeypatch.setattr(axha.tui.clihelp, "context_for_cli", lambda args, spec, secrets, journal=None:
                            replay.context(name))
        return str(replay.HERE / name / "cluster.yaml")
    monkeypatch.setenv("AXHA_BMC_PASSWORD", "recorded")
    return use


def test_ready_cluster_exits_0(scenario, capsys):
    assert main(["preflight", "--cluster", scenario("baseline")]) == 0
    out = capsys.readouterr().out
    assert "0 FAIL" in out and "ready" in out and "PASS  CPU" in out


def test_a_fail_exits_1_with_the_remedy(scenario, capsys):
    assert main(["preflight", "--cluster", scenario("profile-low-ram")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  Memory         node2    RAM_BELOW_BASELINE" in out and "-> Add memory to node2" in out


def test_json_lines_then_the_report(scenario, capsys, tmp_path):
    md = tmp_path / "report.md"
    assert main(["preflight", "--cluster", scenario("disk2-ext4"), "--json", "--markdown", str(md)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["event"] for line in lines[:-1]} == {"CheckResult"} and lines[-1]["event"] == "PreflightReport"
    assert lines[-1]["ok"] is False and lines[-1]["counts"]["FAIL"] == 1
    assert "DISK_HAS_FILESYSTEM" in md.read_text()


def test_only_one_check(scenario, capsys):
    assert main(["preflight", "--cluster", scenario("profile-low-ram"), "--json", "--only", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert {r["check"] for r in report["results"]} == {"cpu"}


def test_bad_input_exits_2(scenario, capsys, tmp_path):
    assert main(["preflight", "--cluster", str(tmp_path / "missing.yaml")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["preflight", "--cluster", scenario("baseline"), "--only", "coffee"])
    assert exc.value.code == 2
