"""/proc's hidepid on the nodes: fence_ipmilan's `ipmitool -P <password>` is readable by every local user without it."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from axha.checks import software
from axha.checks.script import SCRIPT, script_argv
from axha.steps.sections import Section, split_sections
from tests.unit.test_preflight_md import sections, view

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "preflight" / "proc_mount"


def proc_mount(name: str) -> Section:
    return Section("proc_mount", 0, (FIX / f"{name}.txt").read_text())


def test_the_last_proc_mount_is_the_one_in_effect():
    assert software.parse_proc_mount((FIX / "default.txt").read_text()) == {
        "rw": "", "nosuid": "", "nodev": "", "noexec": "", "relatime": ""}
    assert software.parse_proc_mount((FIX / "hidepid-invisible.txt").read_text())["hidepid"] == "invisible"
    assert software.parse_proc_mount("") is None


@pytest.mark.parametrize("fixture,code,status", [
    ("default", "PROC_CMDLINES_VISIBLE", "WARN"),
    ("hidepid-invisible", "PROC_HIDEPID", "PASS"),
    ("hidepid-noaccess", "PROC_HIDEPID", "PASS"),
])
def test_software_warns_when_other_users_can_read_command_lines(fixture, code, status):
    findings = software.software(view("node1", proc_mount=proc_mount(fixture)))
    mine = [f for f in findings if f.code.startswith("PROC_")]
    assert [(f.code, f.status) for f in mine] == [(code, status)]
    if status == "WARN":
        assert "hidepid=invisible" in mine[0].remedy and "ipmitool -P" in mine[0].summary
    # the package verdict is untouched by it
    assert any(f.code == "SOFTWARE_OK" for f in findings)


def test_a_recording_without_the_section_gives_no_verdict_on_it():
    assert "proc_mount" not in sections("baseline", "node1")
    assert not [f for f in software.software(view("node1")) if f.code.startswith("PROC_")]


def test_the_script_section_reads_proc_mounts_only():
    out = subprocess.run(script_argv("proc_mount", "/dev/null", "lo", "", "lo", "", "axigen", "axigen", False,
                                     ("localhost",)), capture_output=True, text=True, timeout=30)
    section = split_sections(out.stdout)["proc_mount"]
    assert section.ok and software.parse_proc_mount(section.text) is not None  # this machine's /proc, as on a node
    assert "awk '$2 == \"/proc\" && $3 == \"proc\" {print $4}' /proc/self/mounts" in SCRIPT
