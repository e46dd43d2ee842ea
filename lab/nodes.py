"""Lab nodes: provision a node's disk (upper dirs), boot it, find its PID 1, power it off, run commands in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from axha_lab import net
from axha_lab.host import clean_env, run, write_private
from axha_lab.layout import ARBITER, BOOT_SCRIPT, ROOTFS_DIR, Layout, LabError, NodeLayout

NSENTER_NS = ["--mount", "--uts", "--ipc", "--net", "--pid"]


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _nspid_depth() -> int:
    """How many PID namespaces this process is nested in (1 on a plain host)."""
    with open("/proc/self/status") as f:
        return next(len(line.split()) - 1 for line in f if line.startswith("NSpid:"))


def find_pid1(node: NodeLayout) -> int | None:
    """Host PID of the node's PID 1 (tini), found by its network namespace and its PID-namespace pid 1."""
    target = _ns_inode(str(net.netns_path(node)))
    if target is None:
        return None
    depth = _nspid_depth()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
            if len(nspid) != depth + 1 or nspid[-1] != "1":  # PID 1 of a namespace one level below ours
                continue
            if _ns_inode(f"/proc/{entry}/ns/net") == target:
                return int(entry)
        except (OSError, StopIteration):
            continue
    return None


def power_state(instance: int, node: str) -> str:
    """'on' when the node's PID 1 is alive, else 'off'."""
    return "on" if find_pid1(Layout(instance).machine(node)) else "off"


def read_lab(layout: Layout) -> dict:
    """The lab's recorded settings (lab.json); LabError when the lab is not up."""
    try:
        return json.loads(layout.lab_json.read_text())
    except FileNotFoundError:
        raise LabError(f"lab instance {layout.instance} is not up: run `axha lab up --instance {layout.instance}`") from None


def profile_nics_absent(lab: dict, node: str) -> list[str]:
    return list(lab.get("profile_settings", {}).get("nodes", {}).get(node, {}).get("absent_nics", []))


def write_boot_env(layout: Layout, node: NodeLayout, lab: dict) -> None:
    """The boot script's inputs: where the node's disk and layers are, its block devices and addresses."""
    profile_dir = lab.get("profile_dir") or ""
    arbiter = node.name == ARBITER    # a plain host: its management NIC, no disks, no hardware profile
    node_profile = Path(profile_dir) / node.name if profile_dir and not arbiter else None
    addrs = " ".join(f"{nic}={node.address(nic)}/24" for nic in (("mgmt0",) if arbiter else net.NICS))
    values = {
        "NODE_NAME": node.name,
        "STATE": str(node.state_dir),
        "ROOTFS": str(ROOTFS_DIR),
        "PROFILE": str(node_profile) if node_profile and node_profile.is_dir() else "",
        "VDB": "" if arbiter else lab["devices"][node.name],
        "VDC": "" if arbiter else lab["devices"]["shared"],
        "ADDRS": addrs,
    }
    text = "".join(f"{k}='{v}'\n" for k, v in values.items())
    write_private(node.boot_env, text, 0o644)


def power_on(instance: int, node: str, *, wait: float = 10.0) -> None:
    """Boot the node (same disk as before) unless it is already on."""
    layout = Layout(instance)
    nl = layout.machine(node)
    if find_pid1(nl):
        return
    lab = read_lab(layout)
    if not net.netns_path(nl).exists():
        raise LabError(f"lab instance {instance}: network namespace {nl.netns} is missing; run `axha lab up` again")
    if nl.name != ARBITER:
        net.place_nics(layout, nl, profile_nics_absent(lab, node))
    write_boot_env(layout, nl, lab)
    with open(nl.console_log, "ab") as log:
        subprocess.run(
            ["setsid", "-f", "nsenter", f"--net={net.netns_path(nl)}", "--",
             "unshare", "--uts", "--ipc", "--mount", "--pid", "--fork", "--mount-proc", "--",
             "tini", "-s", "--", "/bin/sh", str(BOOT_SCRIPT), str(nl.boot_env)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env(), cwd="/", check=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if find_pid1(nl):
            return
        time.sleep(0.05)
    raise LabError(f"{node} did not start within {wait:.0f} s; see {nl.console_log}")


def power_off(instance: int, node: str, *, wait: float = 10.0) -> None:
    """Power cut: SIGKILL the node's PID 1 (the kernel kills every process of the node), NICs lose carrier."""
    nl = Layout(instance).machine(node)
    pid = find_pid1(nl)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if Path(f"/proc/{pid}").exists():
            raise LabError(f"{node} (pid {pid}) did not die within {wait:.0f} s of SIGKILL")
    if net.netns_path(nl).exists():
        net.cut_node_links(nl)


def booted(instance: int, node: str) -> bool:
    """True once the node's boot script has started its services (it writes /run/axha-lab-booted)."""
    nl = Layout(instance).machine(node)
    pid = find_pid1(nl)
    return bool(pid) and Path(f"/proc/{pid}/root/run/axha-lab-booted").exists()


def wait_booted(instance: int, node: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if booted(instance, node):
            return
        time.sleep(0.1)
    nl = Layout(instance).machine(node)
    raise LabError(f"{node} did not finish booting within {timeout:.0f} s; see {nl.console_log}")


def exec_argv(instance: int, node: str, argv: list[str]) -> list[str]:
    """The host argv that runs `argv` inside the node (all its namespaces, clean root environment)."""
    nl = Layout(instance).machine(node)
    pid = find_pid1(nl)
    if not pid:
        raise LabError(f"{node} of lab instance {instance} is powered off: `axha lab power {node} on`")
    return (["nsenter", "--target", str(pid), *NSENTER_NS, "--wd=/", "--",
             "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME=/root", "LANG=C.UTF-8", "TERM=" + os.environ.get("TERM", "dumb"), *argv])


def node_run(instance: int, node: str, argv: list[str], *, stdin: bytes | None = None,
             timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command inside the node, capturing its output."""
    return run(exec_argv(instance, node, argv), stdin=stdin, timeout=timeout, check=check,
               what=f"{' '.join(argv)} on {node}")
