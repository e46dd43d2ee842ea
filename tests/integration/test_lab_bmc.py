"""lab.bmc in a running lab: real IPMI clients inside node2 drive node1's power through its BMC."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from axha_lab import core, nodes
from axha_lab.layout import Layout

from tests.waiting import wait_until

pytestmark = pytest.mark.lab


def ipmitool(lab_exec, target: dict, *args: str):
    """ipmitool inside node2; the password reaches it through IPMI_PASSWORD (-E), read from stdin, never argv."""
    script = ('IPMI_PASSWORD=$(cat); export IPMI_PASSWORD; h=$1 p=$2 u=$3; shift 3; '
              'exec ipmitool -I lanplus -H "$h" -p "$p" -U "$u" -E "$@"')
    argv = ["sh", "-c", script, "sh", target["bmc_address"], str(target["bmc_port"]), target["bmc_user"], *args]
    return lab_exec("node2", argv, stdin=target["bmc_password"].encode())


def fence_status(lab_exec, target: dict):
    opts = (f"ip={target['bmc_address']}\nipport={target['bmc_port']}\nusername={target['bmc_user']}\n"
            f"password={target['bmc_password']}\nlanplus=1\naction=status\n")
    return lab_exec("node2", ["fence_ipmilan"], stdin=opts.encode())


def test_ipmitool_from_node2_power_cycles_node1(fresh_lab, lab_exec):
    node1 = fresh_lab["nodes"][0]
    instance = fresh_lab["instance"]
    status = ipmitool(lab_exec, node1, "power", "status")
    assert (status.returncode, status.stdout.decode().strip()) == (0, "Chassis Power is on"), status.stderr
    before = nodes.find_pid1(Layout(instance).node("node1"))
    cycle = ipmitool(lab_exec, node1, "power", "cycle")
    assert (cycle.returncode, cycle.stdout.decode().strip()) == (0, "Chassis Power Control: Cycle"), cycle.stderr
    nodes.wait_booted(instance, "node1")
    after = nodes.find_pid1(Layout(instance).node("node1"))
    assert after is not None and after != before  # a new boot, not the same PID 1
    assert ipmitool(lab_exec, node1, "power", "status").stdout.decode().strip() == "Chassis Power is on"
    log = Layout(instance).node("node1").bmc_log.read_text()
    assert "power cycle" in log and node1["bmc_password"] not in log


def test_bmc_stops_on_sigterm_and_starts_again(fresh_lab, lab_exec):
    node1 = fresh_lab["nodes"][0]
    instance = fresh_lab["instance"]
    try:
        [pid] = core.bmc_pids(instance, "node1")
        os.kill(pid, signal.SIGTERM)
        # the behaviour under test: gone on SIGTERM alone, within 3 s (a zombie has an empty cmdline)
        wait_until(lambda: not (Path(f"/proc/{pid}/cmdline").exists() and Path(f"/proc/{pid}/cmdline").read_bytes()),
                   f"BMC pid {pid} to exit on SIGTERM", 3)
        assert core.bmc_pids(instance, "node1") == []  # gone on SIGTERM alone
        down = ipmitool(lab_exec, node1, "-N", "1", "-R", "1", "power", "status")  # short retries: no BMC
        assert down.returncode != 0 and "Unable to establish IPMI v2 / RMCP+ session" in down.stderr.decode()
        assert nodes.power_state(instance, "node1") == "on"  # a BMC going away does not touch the node
    finally:
        core.bmc_start(instance, "node1")
    up = fence_status(lab_exec, node1)
    assert (up.returncode, up.stdout.decode().strip()) == (0, "Status: ON"), up.stderr
