"""`axha status` text and exit code on recorded states; the maintenance commands are registered with the CLI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.app.test_maintenance import recorded_state
from axha.tui.cmd_maint import _status_code, format_status

REPO = Path(__file__).resolve().parents[2]


def test_healthy_status_text_and_exit_code():
    state = recorded_state("healthy")
    text = format_status(state)
    assert "service on node1" in text and "all healthy" in text
    assert "link1 192.168.102.11" not in text and "link0 192.168.102.11 connected" in text
    assert _status_code(state) == 0


def test_link_down_is_flagged_and_exits_1():
    state = recorded_state("link-down")
    text = format_status(state)
    assert "!! corosync link1 on node1 is disconnected: redundancy lost" in text
    assert _status_code(state) == 1


def test_commands_are_registered():
    out = subprocess.run([sys.executable, "-m", "axha.tui.cli", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    for command in ("status", "switchover", "upgrade", "standby", "unstandby", "maintenance", "cleanup",
                    "clear-constraints", "verify-drbd", "backup", "split-brain-recover"):
        assert command in out.stdout, command


def test_bad_usage_exits_2():
    out = subprocess.run([sys.executable, "-m", "axha.tui.cli", "maintenance", "sideways"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "invalid choice" in out.stderr
