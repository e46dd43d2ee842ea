"""Issue 14 in the lab: a node dies for good and comes back as new hardware (`axha lab reinstall`: a fresh system,
new SSH host keys, a blank backing disk, for node1 also a BMC at a new address); `axha replace-node` rebuilds it
from the survivor while SMTP on the VIP keeps answering, killed in the middle of the resync and run again it
finishes, a rerun changes nothing, and the mail written while the node was gone is on both sides."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from axha.steps import axigen_versions, names
from axha.steps.bmc import BmcClient
from axha.steps.maint.gap import ServiceGapMonitor
from axha.steps.pacemaker_status import parse_crm_mon
from axha.steps.spec_load import load_cluster
from tests.integration.test_maintenance import (REPO, axha, installed, read_subjects, send_mail,  # noqa: F401
                                                settled, wait_for)

pytestmark = pytest.mark.lab


def lab_cli(lab, *args):
    out = subprocess.run([sys.executable, "-m", "axha_lab.cli", "--instance", str(lab["instance"]), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def bmc_password(lab, node):
    return next(n["bmc_password"] for n in lab["nodes"] if n["name"] == node)


def fingerprint(lab_exec, node):
    out = lab_exec(node, ["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"])
    return out.stdout.decode().split()[1]


def mutating(audit, seen):
    entries = [json.loads(line) for line in audit.read_text().splitlines()[seen:]]
    return [e for e in entries if e.get("mutating")]


def audit_lines(installed):
    audits = list(installed["state_dir"].glob("*/audit.jsonl"))
    return audits[0], len(audits[0].read_text().splitlines()) if audits else 0


def kill_at(lab, installed, marker, *args):
    """Run `axha replace-node ...` and SIGKILL it at the first output line holding `marker`; the lines seen."""
    env = {**os.environ, "AXHA_STATE_DIR": str(installed["state_dir"])}
    proc = subprocess.Popen([sys.executable, "-m", "axha.tui.cli", "replace-node", *args, "--cluster",
                             lab["cluster_file"]], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    return "".join(seen)


def lose_and_reinstall(lab, lab_exec, dead, *, new_bmc: bool, through_bmc: bool):
    """`dead` loses its power, the cluster fences it and the survivor serves; mail is written meanwhile; then the
    node comes back as new hardware. The subject of that mail."""
    survivor = "node1" if dead == "node2" else "node2"
    if through_bmc:
        bmc = load_cluster(lab["cluster_file"]).node(dead).bmc
        BmcClient(bmc.address, bmc.user, bmc_password(lab, dead), port=bmc.port).power("off")
    else:
        lab_cli(lab, "power", dead, "off")

    def survivor_alone():
        out = lab_exec(survivor, ["crm_mon", "--output-as=xml", "--inactive"])
        if out.returncode != 0:
            return False
        status = parse_crm_mon(out.stdout.decode())
        info = status.node(dead)
        return status.where(names.GROUP) == survivor and info is not None and not info.online and not info.unclean
    wait_for(f"the service on {survivor} alone, {dead} fenced", survivor_alone, 180)
    subject = f"written on {survivor} while {dead} was gone"
    send_mail(lab["vip"], subject)
    lab_cli(lab, "reinstall", dead, "--new-disk", *(["--new-bmc"] if new_bmc else []))
    return subject


def replace_and_check(installed, lab_exec, dead, subject, *extra):
    lab, state = installed["lab"], installed["state_dir"]
    survivor = "node1" if dead == "node2" else "node2"
    fp = fingerprint(lab_exec, dead)
    audit, seen = audit_lines(installed)

    # the plan changes nothing and stops at the host key; --yes alone never accepts the new key
    out = axha(lab, state, "replace-node", dead, *extra, "--plan", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
    assert "planned once it is accepted" in out.stdout and fp in out.stdout
    out = axha(lab, state, "replace-node", dead, *extra, "--yes")
    assert out.returncode == 1 and "--yes never accepts a host key" in out.stdout + out.stderr, out.stdout[-3000:]
    assert not mutating(audit, seen), "a plan or a refused host key ran a changing command"

    monitor = ServiceGapMonitor(lab["vip"], timeout=5.0).start()
    try:
        text = kill_at(lab, installed, "SyncTarget", dead, *extra, "--yes", "--accept-host-key", fp)
        assert "SyncTarget" in text, text[-3000:]
        out = axha(lab, state, "replace-node", dead, *extra, "--yes", timeout=900)
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-1000:]
        assert "drbd-resync: done" in out.stdout, out.stdout[-3000:]
    finally:
        gap = monitor.stop()
    # SMTP on the VIP answered through the whole rebuild: not one poll refused (each poll waits up to 5 s, so a
    # busy machine is not an outage; a moved or stopped service is refused at once)
    assert gap.failures == 0 and gap.polls > 20, gap
    assert settled(lab_exec) == survivor, "the service moved during the rebuild"

    audit, seen = audit_lines(installed)
    out = axha(lab, state, "replace-node", dead, *extra, "--yes")
    assert out.returncode == 0 and "nothing to do" in out.stdout, out.stdout[-3000:]
    assert not mutating(audit, seen), [e.get("argv") or e.get("command") for e in mutating(audit, seen)]

    # the mail written while the node was gone was resynced: the new node serves it after a switchover
    out = axha(lab, state, "switchover", "--to", dead, "--yes")
    assert out.returncode == 0, out.stdout[-3000:]
    assert settled(lab_exec) == dead
    assert any(subject in m for m in read_subjects(lab["vip"]))
    return gap


def test_disk_only_gives_the_passive_node_a_new_backing_disk(installed, lab_exec):
    """`--disk-only`: the passive node stays; its backing disk was replaced (detached, then the new blank disk in
    its place). The disk's DRBD metadata went with the old disk (the stand-in binds it to the disk like the real
    one), so axha writes new metadata, attaches and resyncs it in full while the service keeps answering."""
    lab = installed["lab"]
    wait_for("a settled cluster", lambda: settled(lab_exec))
    active = settled(lab_exec)
    passive = "node2" if active == "node1" else "node1"
    assert lab_exec(passive, ["drbdadm", "detach", "axigen"]).returncode == 0
    assert lab_exec(passive, ["blkdiscard", "-f", "/dev/vdb"]).returncode == 0
    assert lab_exec(passive, ["drbdadm", "dump-md", "axigen"]).returncode != 0   # no metadata on the new disk
    send_mail(lab["vip"], "while the disk was replaced")
    monitor = ServiceGapMonitor(lab["vip"], timeout=5.0).start()
    try:
        out = axha(lab, installed["state_dir"], "replace-node", passive, "--disk-only", "--yes", timeout=600)
    finally:
        gap = monitor.stop()
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-1000:]
    assert "drbdadm create-md axigen" in out.stdout and "drbd-resync: done" in out.stdout
    assert "backing disk resynced" in out.stdout
    assert gap.failures == 0, gap
    probe = lab_exec(passive, ["blkid", "-p", "-o", "export", "/dev/vdb"]).stdout.decode()
    assert "TYPE=drbd" in probe, probe
    assert settled(lab_exec) == active
    out = axha(lab, installed["state_dir"], "replace-node", passive, "--disk-only", "--yes")
    assert out.returncode == 0 and "nothing to do" in out.stdout, out.stdout[-2000:]
    assert axha(lab, installed["state_dir"], "switchover", "--to", passive, "--yes").returncode == 0
    assert any("while the disk was replaced" in m for m in read_subjects(lab["vip"]))


def test_replace_node2_after_a_power_cut_through_its_bmc(installed, lab_exec):
    lab = installed["lab"]
    wait_for("a settled cluster", lambda: settled(lab_exec))
    if settled(lab_exec) != "node1":
        assert axha(lab, installed["state_dir"], "switchover", "--to", "node1", "--yes").returncode == 0
    send_mail(lab["vip"], "before node2 died")
    subject = lose_and_reinstall(lab, lab_exec, "node2", new_bmc=False, through_bmc=True)
    replace_and_check(installed, lab_exec, "node2", subject)
    assert any("before node2 died" in m for m in read_subjects(lab["vip"]))


def axigen_version(lab_exec, node):
    out = lab_exec(node, ["dpkg-query", "-W", "-f", "${Version}", "axigen"])
    return out.stdout.decode().strip()


def test_replace_node1_with_a_new_bmc_and_the_survivors_newer_package(installed, lab_exec):
    """node1 is the dead one, and its new board has a BMC at a new address (the cluster file names it): the old
    BMC is silent, so the admin's confirmation stands in for it; the fence device is moved to the new BMC. The
    pair had been upgraded to 10.5.1 and the fresh system carries 10.5.0 (the lab's pristine image): the package
    given must be the survivor's version (10.5.0 is refused before anything changes), and the new node runs it."""
    lab = installed["lab"]
    try:
        wait_for("a settled cluster", lambda: settled(lab_exec))
        out = axha(lab, installed["state_dir"], "upgrade", "--package", lab["packages"]["10.5.1"], "--yes",
                   timeout=600)
        assert out.returncode == 0, out.stdout[-3000:]
        assert {axigen_version(lab_exec, n) for n in ("node1", "node2")} == {"10.5.1-1"}
        wait_for("a settled cluster", lambda: settled(lab_exec))
        if settled(lab_exec) != "node1":
            assert axha(lab, installed["state_dir"], "switchover", "--to", "node1", "--yes").returncode == 0
        subject = lose_and_reinstall(lab, lab_exec, "node1", new_bmc=True, through_bmc=False)
        assert axigen_version(lab_exec, "node1") == "10.5.0-1"
        new = load_cluster(lab["cluster_file"]).node("node1").bmc.address

        audit, seen = audit_lines(installed)
        out = axha(lab, installed["state_dir"], "replace-node", "node1", "--package", lab["packages"]["10.5.0"],
                   "--yes", "--accept-host-key", fingerprint(lab_exec, "node1"))
        assert out.returncode == 1 and "PACKAGE_NOT_SURVIVORS" in out.stdout, out.stdout[-3000:]
        assert "node2 runs 10.5.1" in out.stdout, out.stdout[-3000:]
        assert not mutating(audit, seen), "a refused package ran a changing command"

        replace_and_check(installed, lab_exec, "node1", subject, "--package", lab["packages"]["10.5.1"])
        assert axigen_version(lab_exec, "node1") == "10.5.1-1"
        binary = lab_exec("node1", list(axigen_versions.binary_version_argv())).stdout.decode()
        assert axigen_versions.same_version(axigen_versions.parse_binary_version(binary), "10.5.1"), binary
        cib = lab_exec("node2", ["cibadmin", "--query", "--xpath", f"//primitive[@id='{names.fence_device('node1')}']"
                                 "//nvpair[@name='ip']"]).stdout.decode()
        assert f'value="{new}"' in cib, cib
        ok = lab_exec("node2", ["stonith_admin", "--list", "node1"]).stdout.decode()
        assert names.fence_device("node1") in ok, ok
    finally:
        from axha_lab import core
        core.reset(lab["instance"])   # the first boards (and their BMC addresses, host keys) back for later tests

