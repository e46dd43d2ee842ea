"""Preflight against the real lab: baseline passes, each fault FAILs on the right node, and nothing changes."""
from __future__ import annotations

import hashlib
import os

import pytest

from axha.checks.preflight import run_preflight
from axha_lab import core
from axha_lab.layout import Layout
from axha.steps.secrets import load_secrets
from axha.steps.session import close_context, open_context
from axha.steps.spec_load import load_cluster

pytestmark = pytest.mark.lab

HARDWARE = ("cpu", "memory", "raid", "network", "links", "fencing", "storage")


@pytest.fixture(autouse=True)
def _pristine_nodes(fresh_lab):
    """Preflight judges servers before the install: start each test from nodes as `lab up` left them, not from
    the cluster an earlier test module installed on the shared session lab (DRBD would hold the backing disk and
    Pacemaker would write its logs while we prove that preflight writes nothing)."""
    return fresh_lab


def preflight(lab: dict, only=None, secrets_file: str | None = None):
    spec = load_cluster(lab["cluster_file"])
    ctx = open_context(spec, load_secrets(spec, secrets_file, need_bmc=False))
    try:
        return run_preflight(ctx, only=only)
    finally:
        close_context(ctx)


def fails(report) -> set[tuple[str, str]]:
    return {(f.node, f.code) for f in report.findings if f.status == "FAIL"}


def node_state(instance: int) -> dict[str, str]:
    """A checksum of every file in both nodes' writable layers (their /etc, /var, /root, /usr, /opt ... changes)
    and the disk images' size and mtime. The DRBD stand-in's Python byte-code cache is left out: its modinfo is
    a Python script, and the real modinfo writes nothing."""
    layout = Layout(instance)
    out = {}
    for name in ("node1", "node2"):
        node = layout.node(name)
        for path in sorted(node.upper_dir.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file() or path.is_symlink():
                continue
            out[f"{name}:{path.relative_to(node.upper_dir)}"] = hashlib.sha256(path.read_bytes()).hexdigest()
        for image in node.state_dir.glob("*.img"):
            st = image.stat()
            out[f"{name}:{image.name}"] = f"{st.st_size}:{st.st_mtime_ns}"
    shared = layout.state_dir / "vdc.img"
    if shared.exists():
        out["vdc.img"] = f"{shared.stat().st_size}:{shared.stat().st_mtime_ns}"
    return out


def test_baseline_passes_every_hardware_check_and_changes_nothing(lab, lab_exec):
    before = node_state(lab["instance"])
    report = preflight(lab)
    after = node_state(lab["instance"])
    assert after == before, {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # the listing does see a write inside a node (so the equality above proves something)
    lab_exec("node1", ["sh", "-c", "echo probe > /root/.axha-preflight-probe"])
    try:
        assert "node1:root/.axha-preflight-probe" in node_state(lab["instance"])
    finally:
        lab_exec("node1", ["rm", "-f", "/root/.axha-preflight-probe"])
    for check in HARDWARE:
        for node in ("node1", "node2"):
            assert report.results[(check, node)].status == "PASS", report.results[(check, node)].findings
    assert report.ok, fails(report)


def test_link_set_down_fails_on_the_node_that_has_it_down(lab, lab_exec):
    lab_exec("node2", ["ip", "link", "set", "link1", "down"])
    try:
        report = preflight(lab, only=("network", "links"))
    finally:
        lab_exec("node2", ["ip", "link", "set", "link1", "up"])
    found = fails(report)
    assert ("node2", "LINK1_DOWN") in found and ("node1", "LINK1_DOWN") not in found
    assert ("node1", "LINK1_PEER_UNREACHABLE") in found  # node1 cannot reach node2 over link1 either
    assert not [code for _, code in found if code.startswith("LINK0")]


def test_stopped_bmc_fails_fencing_of_that_node_only(lab):
    core.bmc_stop(lab["instance"], "node1")
    try:
        report = preflight(lab, only=("fencing",))
    finally:
        core.bmc_start(lab["instance"], "node1")
    assert fails(report) == {("node1", "BMC_TIMEOUT"), ("node1", "FENCE_AGENT_TIMEOUT")}
    assert report.results[("fencing", "node2")].status == "PASS"


def test_wrong_bmc_password_is_an_auth_failure_not_a_timeout(lab, tmp_path):
    spec = load_cluster(lab["cluster_file"])
    right = load_secrets(spec, None, need_bmc=False)
    wrong = tmp_path / "wrong.secrets.yaml"
    wrong.write_text(f"bmc_passwords:\n  node1: 'not-{right.bmc_password('node1')}'\n"
                     f"  node2: '{right.bmc_password('node2')}'\n")
    os.chmod(wrong, 0o600)
    report = preflight(lab, only=("fencing",), secrets_file=str(wrong))
    assert fails(report) == {("node1", "BMC_AUTH_FAILED"), ("node1", "FENCE_AGENT_AUTH_FAILED")}


def test_backing_disk_with_a_filesystem_fails_on_that_node(lab, lab_exec):
    made = lab_exec("node2", ["mkfs.ext4", "-q", "/dev/vdb"])
    assert made.returncode == 0, made.stderr
    try:
        before = node_state(lab["instance"])
        report = preflight(lab, only=("storage",))
        assert node_state(lab["instance"]) == before
    finally:
        lab_exec("node2", ["wipefs", "-a", "/dev/vdb"])
    assert fails(report) == {("node2", "DISK_HAS_FILESYSTEM")}
    assert "ext4" in report.results[("storage", "node2")].findings[0].summary


PROFILES = {  # profile -> (checks to run, the exact FAILs expected)
    "low-ram": (("memory",), {("node2", "RAM_BELOW_BASELINE")}),
    "slow-cpu": (("cpu",), {("node2", "CPU_BELOW_BASELINE")}),
    "degraded-raid": (("raid",), {("node1", "RAID_DEGRADED"), ("node1", "RAID_DRIVE_FAILED")}),
    "one-nic": (("network",), {("node1", "NIC_COUNT_LOW"), ("node1", "LINK0_INTERFACE_MISSING"),
                               ("node1", "LINK1_INTERFACE_MISSING"),
                               # node2 keeps its cards, but the cables lead nowhere: no carrier (true there too)
                               ("node2", "NIC_COUNT_LOW"), ("node2", "LINK0_NO_CARRIER"),
                               ("node2", "LINK1_NO_CARRIER")}),
}


# profile -> FAILs that must be there by what they say (two findings may share a code: the md array and the
# controller's virtual drive are both RAID_DEGRADED). The md array comes from the profile's recorded mdadm
# stand-in: the lab kernel has no md driver, so preflight finds it through `mdadm --detail --scan`.
FAIL_SUMMARIES = {
    "degraded-raid": {("node1", "RAID_DEGRADED", "md md0 (raid1) is degraded: 1/2 members active, failed: /dev/sdb1"),
                      ("node1", "RAID_DEGRADED", "storcli64 c0 (Intel(R) RAID Controller RS3DC080): virtual drive")},
}


def test_failing_profiles_fail_on_the_right_node(lab):
    """One lab re-up per profile (grouped in one test to keep the suite fast), baseline restored at the end."""
    problems = {}
    try:
        for profile, (only, expected) in PROFILES.items():
            core.up(lab["instance"], profile, lab["cluster_file"])
            report = preflight(lab, only=only)
            got = fails(report)
            if got != expected:
                problems[profile] = got
            said = [(f.node, f.code, f.summary) for f in report.findings if f.status == "FAIL"]
            missing = {w for w in FAIL_SUMMARIES.get(profile, set())
                       if not any(n == w[0] and c == w[1] and s.startswith(w[2]) for n, c, s in said)}
            if missing:
                problems[f"{profile} (summaries)"] = (missing, said)
    finally:
        core.up(lab["instance"], os.environ.get("AXHA_LAB_PROFILE") or "baseline", lab["cluster_file"])
    assert problems == {}


def test_hidepid_on_one_node_clears_the_bmc_password_warning_there_only(lab, lab_exec):
    """fence_ipmilan hands the BMC password to ipmitool as -P: readable in ps by any local user unless /proc hides
    other users' processes. The lab nodes boot without hidepid (as Debian does): a WARN on both, until node1's
    /proc is remounted with hidepid=invisible."""
    def software(report, node):
        return {f.code: f.status for f in report.results[("software", node)].findings}

    report = preflight(lab, only=("software",))
    assert software(report, "node1")["PROC_CMDLINES_VISIBLE"] == software(report, "node2")["PROC_CMDLINES_VISIBLE"] \
        == "WARN"
    assert lab_exec("node1", ["mount", "-o", "remount,hidepid=invisible", "/proc"]).returncode == 0
    try:
        report = preflight(lab, only=("software",))
    finally:
        lab_exec("node1", ["mount", "-o", "remount,hidepid=off", "/proc"])
    assert software(report, "node1").get("PROC_HIDEPID") == "PASS"
    assert "PROC_CMDLINES_VISIBLE" not in software(report, "node1")
    assert software(report, "node2")["PROC_CMDLINES_VISIBLE"] == "WARN"
