"""steps.axigen: Axigen's block-syntax configuration (read, bound to the VIP by editing only address words, refused
when malformed, bounded), and the versions from the CLI's GET VERSION, `axigen --version` and the package database."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from axha.steps import axigen_cfg, axigen_versions
from axha.steps.axigen_cfg import ConfigError, bind_plan, bound_to, listeners, parse_config

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "axigen"
CFG = (FIX / "default-10.5.cfg").read_text()
VIP = "192.168.77.100"


def addresses(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lst in listeners(parse_config(text)):
        out.setdefault(lst.service, []).append(lst.address)
    return out


def test_default_configuration_listens_on_the_loopback_only():
    assert addresses(CFG) == {"smtpIncoming": ["127.0.0.1:25"], "imap": ["127.0.0.1:143"], "pop3": ["127.0.0.1:110"],
                              "webadmin": ["127.0.0.1:9000"], "cli": ["127.0.0.1:7000"]}
    assert bound_to(CFG, VIP)[0] is False


def test_bind_moves_the_mail_listeners_to_the_vip_and_keeps_everything_else_byte_for_byte():
    plan = bind_plan(CFG, VIP)
    assert plan.changes == (("smtpIncoming", "127.0.0.1:25", f"{VIP}:25"), ("imap", "127.0.0.1:143", f"{VIP}:143"),
                            ("pop3", "127.0.0.1:110", f"{VIP}:110"))
    assert addresses(plan.text)["cli"] == ["127.0.0.1:7000"] and addresses(plan.text)["webadmin"] == ["127.0.0.1:9000"]
    old, new = CFG.splitlines(), plan.text.splitlines()
    changed = [(a, b) for a, b in zip(old, new) if a != b]
    assert len(old) == len(new) and len(changed) == 3
    assert all(a.replace("127.0.0.1", VIP) == b for a, b in changed)
    assert bound_to(plan.text, VIP) == (True, f"smtpIncoming {VIP}:25, imap {VIP}:143, pop3 {VIP}:110, "
                                              "webadmin 127.0.0.1:9000, cli 127.0.0.1:7000")
    again = bind_plan(plan.text, VIP)
    assert not again.changed and again.text == plan.text      # a second run changes nothing


def test_any_address_is_rebound_another_address_is_left_and_said():
    text = CFG.replace("127.0.0.1:143", "0.0.0.0:143").replace("127.0.0.1:110", "10.9.9.9:110")
    plan = bind_plan(text, VIP)
    assert [c[0] for c in plan.changes] == ["smtpIncoming", "imap"]
    assert any("10.9.9.9:110" in n and "left" in n for n in plan.notes)


def test_ipv6_vip_is_rendered_in_brackets_and_reads_back():
    plan = bind_plan(CFG, "2001:db8::25")
    assert ("smtpIncoming", "127.0.0.1:25", "[2001:db8::25]:25") in plan.changes
    assert bound_to(plan.text, "2001:db8::25")[0]


def test_no_smtp_listener_is_a_problem_and_nothing_is_changed():
    text = CFG.replace("address = 127.0.0.1:25", "")
    plan = bind_plan(text, VIP)
    assert plan.problems and not plan.changed and plan.text == text


@pytest.mark.parametrize("text, line", [
    ("Server {\n  smtpIncoming = {\n", 3),
    ("Server {\n  a = \"never closed\n}\n", 2),
    ("Server {\n  /* never closed\n}\n", 2),
    ("Server {\n  = 3\n}\n", 2),
    ("Server {\n  a = ( { b = c }\n}\n", 3),
])
def test_malformed_files_are_refused_with_the_line(text, line):
    with pytest.raises(ConfigError, match=rf"axigen.cfg:{line}:"):
        parse_config(text)


def test_parser_is_bounded():
    with pytest.raises(ConfigError, match="nested"):
        parse_config("Server " + "{ a = " * 200 + "b" + " }" * 200)
    with pytest.raises(ConfigError, match="MiB"):
        parse_config("#" * (axigen_cfg.MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="Server"):
        listeners(parse_config("Other { a = b }"))


def test_a_value_cannot_smuggle_structure():
    # the VIP comes from the validated cluster file; render_address refuses anything that is not an IP address
    with pytest.raises(ValueError):
        axigen_cfg.render_address("1.2.3.4 } evil = {", 25)
    with pytest.raises(ValueError):
        axigen_cfg.render_address("1.2.3.4", 70000)


def test_cli_version_from_the_login_prompt():
    # GET VERSION's answer per Axigen's own CLI client (axigen/plugin-cli-skill axigen_cli.py --get-version: the
    # first line that starts neither with +OK nor with <): framed here with and without +OK lines
    assert axigen_versions.parse_cli_version("+OK\r\n10.6.30|Linux|x86_64\r\n<login> ") == "10.6.30"
    assert axigen_versions.parse_cli_version("Welcome to Axigen's CLI\r\n<login> 10.5.1|Linux|x86_64\r\n<login> ") == "10.5.1"
    assert axigen_versions.parse_cli_version("-ERR unknown command\r\n<login> ") is None
    assert axigen_versions.parse_cli_version("") is None


def test_binary_and_package_versions():
    assert axigen_versions.parse_binary_version("Axigen Mail Server 10.5.1 (Linux/x86_64)") == "10.5.1"
    assert axigen_versions.parse_binary_version("axigen version: 10.6.30-1, built on x86_64") == "10.6.30"
    assert axigen_versions.parse_binary_version("nothing") is None
    assert axigen_versions.upstream_version("1:10.5.1-1") == "10.5.1" and axigen_versions.upstream_version("10.5.1") == "10.5.1"
    assert axigen_versions.same_version("10.5.1-1", "10.5.1") and not axigen_versions.same_version("10.5.10", "10.5.1")
    assert not axigen_versions.same_version(None, None)
    assert axigen_versions.parse_package_version(0, "10.5.1-1\n") == "10.5.1-1"
    # rpm's own words for a missing package (rpm lib/query.c: "package %s is not installed"), rc 1
    assert axigen_versions.parse_package_version(1, "package axigen is not installed\n") is None
    assert axigen_versions.parse_package_version(0, "package axigen is not installed\n") is None


def test_package_query_argv_quotes_the_package_name():
    argv = axigen_versions.package_version_argv("axigen; touch /tmp/x")
    assert argv[:2] == ("sh", "-c") and "'axigen; touch /tmp/x'" in argv[2]


def test_cli_argv_is_fixed_and_sends_no_credentials():
    argv = axigen_versions.cli_version_argv()
    assert argv[2:4] == ("bash", "-c") and "/dev/tcp/127.0.0.1/7000" in argv[4]
    assert "USER" not in argv[4] and "GET VERSION" in argv[4]
    with pytest.raises(ValueError):
        axigen_versions.cli_version_argv("127.0.0.1; id")


def test_rpm_nodes_on_recorded_rpm_answers():
    """RHEL-like nodes: the package query's rpm branch, recorded with a real rpm 4.18 and its own database
    (tests/fixtures/axigen/rpm-q.json says how): the version when installed, None for rpm's 'not installed'."""
    runs = {r["state"]: r for r in json.loads((FIX / "rpm-q.json").read_text())["runs"]}
    for run in runs.values():
        assert tuple(run["argv"]) == axigen_versions.package_version_argv("axigen"), "re-record: the query changed"
    assert axigen_versions.parse_package_version(runs["installed"]["rc"], runs["installed"]["stdout"]) == "10.5.1-1"
    assert runs["not installed"]["stdout"] == "package axigen is not installed\n"
    assert axigen_versions.parse_package_version(runs["not installed"]["rc"], runs["not installed"]["stdout"]) is None
