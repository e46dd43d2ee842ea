"""The nodes' pristine disks: the Axigen stand-in `lab up` installs before it takes them, the snapshot it takes
(what `lab reset` restores) and the restore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from axha_lab import nodes
from axha_lab.bmc_procs import bmc_pids, bmc_start
from axha_lab.host import run, say
from axha_lab.layout import REPO_DIR, Layout, LabError, NodeLayout

AXIGEN_INSTALLED = "10.5.0"


# ---------------------------------------------------------------- Axigen stand-in

def build_axigen(layout: Layout) -> dict[str, str]:
    """The stand-in Axigen .debs {version: path} (lab.axigen.build_packages; rebuilt only when their sources
    changed), with the vendor's installers axigen-<version>.x86_64.deb.run beside them."""
    try:
        from axha_lab.axigen import build_installers, build_packages
    except ImportError:
        say("axha_lab.axigen is not in this tree yet: no Axigen stand-in packages")
        return {}
    layout.packages_dir.mkdir(parents=True, exist_ok=True)
    pkgs = {str(k): str(v) for k, v in build_packages(layout.packages_dir).items()}
    build_installers(layout.packages_dir)
    (layout.packages_dir / "packages.json").write_text(json.dumps(pkgs, indent=2) + "\n")
    return pkgs


def install_axigen(instance: int, node: str, deb: str) -> bool:
    """dpkg -i the stand-in on the node unless that very package version is installed, with
    AXIGEN_INSTALL_DONT_START_SERVICE=yes (the vendor's way to keep the install from starting it), then
    disable it at boot and make sure it is stopped; True if it installed now."""
    want = deb_version(deb)
    have = nodes.node_run(instance, node, ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", "axigen"],
                          check=False).stdout.decode()
    if have == f"installed {want}":
        return False
    if have.startswith("installed ") and "-" not in have:
        # the earlier stand-in (10.5.0 without a Debian revision) left files the real Axigen does not have
        nodes.node_run(instance, node, ["sh", "-c", "/etc/init.d/axigen stop; dpkg --purge axigen; rm -rf "
                                        "/etc/opt/axigen /var/opt/axigen/run/version /var/opt/axigen/templates"],
                       check=False, timeout=180)
    nodes.node_run(instance, node, ["sh", "-c", "cat > /tmp/axigen.deb && AXIGEN_INSTALL_DONT_START_SERVICE=yes "
                                    "dpkg -i /tmp/axigen.deb; rc=$?; rm -f /tmp/axigen.deb; exit $rc"],
                   stdin=Path(deb).read_bytes(), timeout=180)
    nodes.node_run(instance, node, ["systemctl", "disable", "axigen"])
    nodes.node_run(instance, node, ["/etc/init.d/axigen", "stop"])
    return True


def deb_version(deb: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


# ---------------------------------------------------------------- pristine disks

def pristine_axigen(node: NodeLayout) -> str | None:
    """The Axigen stand-in version installed on the node's pristine disk (its dpkg status file), or None."""
    status = node.state_dir / "pristine/var/lib/dpkg/status"
    try:
        text = status.read_text(errors="replace")
    except OSError:
        return None
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") == "axigen" and fields.get("Status", "").endswith(" installed"):
            return fields.get("Version")
    return None


def install_axigen_everywhere(layout: Layout, lab: dict) -> list[bool]:
    """Install the stand-in where the pristine disk lacks this version. A node with a current pristine disk is
    left as it is (an upgrade test may have put another version on it: `lab reset` brings the pristine one
    back); a pristine disk with an older stand-in is restored first, so the new snapshot holds no cluster."""
    pkgs = lab["packages"]
    if AXIGEN_INSTALLED not in pkgs:
        return [False for _ in layout.nodes]
    want = deb_version(pkgs[AXIGEN_INSTALLED])
    have = {n.name: pristine_axigen(n) for n in layout.nodes if (n.state_dir / "pristine").exists()}
    if any(v != want for v in have.values()):
        say(f"the lab's pristine disks hold another Axigen stand-in ({', '.join(sorted(map(str, have.values())))}):"
            f" restoring them, then installing {want}")
        restore_pristine(layout, lab)
        have = {}
    todo = [n for n in layout.nodes if n.name not in have]
    with ThreadPoolExecutor(2) as pool:
        done = dict(zip([n.name for n in todo],
                        pool.map(lambda n: install_axigen(layout.instance, n.name, pkgs[AXIGEN_INSTALLED]), todo)))
    return [done.get(n.name, False) for n in layout.nodes]


def snapshot(node: NodeLayout, refresh: bool) -> None:
    """The node's disk right after `lab up` (what `lab reset` restores); refreshed when lab up changed it."""
    pristine, tmp = node.state_dir / "pristine", node.state_dir / "pristine.tmp"
    if refresh:
        shutil.rmtree(pristine, ignore_errors=True)
    if not pristine.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        run(["cp", "-a", str(node.upper_dir), str(tmp)], timeout=120)
        os.replace(tmp, pristine)


def restore_disk(node: NodeLayout) -> None:
    """The node's disk layers (upper, work) back to its pristine copy; the node must be off."""
    pristine = node.state_dir / "pristine"
    if not pristine.exists():
        raise LabError(f"no pristine copy of {node.name}'s disk; run `axha lab down` then `axha lab up`")
    shutil.rmtree(node.upper_dir)
    shutil.rmtree(node.work_dir, ignore_errors=True)
    run(["cp", "-a", str(pristine), str(node.upper_dir)], timeout=120)


def blank_disk(dev: str, head_mib: int) -> None:
    """A disk as it comes new: discarded, and zeroed at both ends in case the discard did not reach the loop's
    file (the head holds filesystem and partition signatures, the tail DRBD's internal metadata superblock)."""
    run(["blkdiscard", "-f", dev], check=False)
    run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", f"count={head_mib}", "conv=fsync"], check=False)
    size = int(run(["blockdev", "--getsize64", dev], check=False).stdout.decode().strip() or 0)
    if size > 2 << 20:
        run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", "count=1", f"seek={size // (1 << 20) - 1}",
             "conv=fsync,notrunc"], check=False)


def restore_pristine(layout: Layout, lab: dict) -> None:
    instance = layout.instance
    machines = layout.machines   # the arbiter too: back to a fresh corosync-qnetd, no cluster's certificate
    for n in machines:
        nodes.power_off(instance, n.name)
    for n in machines:
        restore_disk(n)
    for dev in lab["loops"].values():
        blank_disk(dev, 4)
    for n in machines:
        nodes.power_on(instance, n.name)
    for n in machines:
        nodes.wait_booted(instance, n.name)
    for n in layout.nodes:
        if not bmc_pids(instance, n.name) and (REPO_DIR / "lab/bmc.py").exists():
            bmc_start(instance, n.name)
