"""Lab lifecycle: `lab up` (idempotent), `lab reset`, `lab down` (leaves nothing behind), status. What lab up writes
is in provision.py, the BMC processes in bmc_procs.py, the Axigen stand-in and the pristine disks in pristine.py."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from axha_lab import disks, net, nodes
from axha_lab.bmc_procs import bmc_pids, bmc_start, bmc_stop
from axha_lab.host import run, say, write_private
from axha_lab.layout import (ARBITER, BACKING_DISK_MIB, BMC_PORT, BMC_USER, QNETD_PORT, REPO_DIR, SHARED_DISK_MIB,
                             STATE_ROOT, Layout)
from axha_lab.pristine import build_axigen, install_axigen_everywhere, restore_pristine, snapshot
from axha_lab.provision import host_key_lines, provision_node, resolve_profile, write_cluster_files


# ---------------------------------------------------------------- up / down / status

def _attach_disks(layout: Layout) -> tuple[dict, dict]:
    """Sparse images on loop devices: ({name: /dev/loopN}, {name: 'major:minor'}) for shared and each node."""
    images = {"shared": (layout.shared_image, SHARED_DISK_MIB)}
    images.update({n.name: (n.backing_image, BACKING_DISK_MIB) for n in layout.nodes})
    loops = {}
    for name, (image, size) in images.items():
        disks.ensure_image(image, size)
        loops[name] = disks.attach(image)
    return loops, {name: disks.dev_numbers(dev) for name, dev in loops.items()}


def _prepare_state(layout: Layout, settings: dict, arbiter: bool = False) -> None:
    """State dir (0700), the lab's root key, each node's (and the arbiter's) disk files, BMC passwords."""
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.state_dir, 0o700)
    if not layout.ssh_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"axha-lab-{layout.instance}",
             "-f", str(layout.ssh_key)])
    pubkey = Path(f"{layout.ssh_key}.pub").read_text()
    if arbiter or layout.has_arbiter:   # first, so the nodes' /etc/hosts name it
        from axha_lab import arbiter as arb
        arb.provision(layout, pubkey)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: provision_node(layout, n, pubkey, settings), layout.nodes))
    for n in layout.nodes:
        if not n.bmc_password_file.exists():
            write_private(n.bmc_password_file, secrets.token_urlsafe(12) + "\n")


def _boot(layout: Layout, old_profile_dir: str | None, lab: dict) -> None:
    """Power the nodes on (rebooting them into a changed profile), start the BMCs, wait for the boots."""
    instance = layout.instance
    for n in layout.nodes:
        if old_profile_dir is not None and old_profile_dir != lab["profile_dir"] \
                and nodes.power_state(instance, n.name) == "on":
            say(f"profile changed to {lab['profile']}: rebooting {n.name}")
            nodes.power_off(instance, n.name)
        nodes.power_on(instance, n.name)
    if layout.has_arbiter:
        nodes.power_on(instance, ARBITER)
    write_private(layout.known_hosts, "\n".join(host_key_lines(layout)) + "\n", 0o644)
    if (REPO_DIR / "lab/bmc.py").exists():
        for n in layout.nodes:
            bmc_start(instance, n.name)
    else:
        say("lab/bmc.py is not in this tree yet: no BMCs started")
    for n in layout.machines:
        nodes.wait_booted(instance, n.name)
    if layout.has_arbiter:
        from axha_lab import arbiter as arb
        arb.configure_qnetd(layout)


SUDO_USER = "labadmin"


def ensure_sudo_user(instance: int, node: str, pubkey: str) -> bool:
    """A non-root admin (`labadmin`, lab key, passwordless sudo) to try the product's sudo path; True if new."""
    if nodes.node_run(instance, node, ["id", "-u", SUDO_USER], check=False).returncode == 0:
        return False
    script = (f"useradd -m -s /bin/bash {SUDO_USER} && install -d -m 700 -o {SUDO_USER} -g {SUDO_USER} "
              f"/home/{SUDO_USER}/.ssh && cat > /home/{SUDO_USER}/.ssh/authorized_keys && "
              f"chown {SUDO_USER}: /home/{SUDO_USER}/.ssh/authorized_keys && "
              f"chmod 600 /home/{SUDO_USER}/.ssh/authorized_keys && "
              f"echo '{SUDO_USER} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{SUDO_USER} && "
              f"chmod 440 /etc/sudoers.d/{SUDO_USER}")
    nodes.node_run(instance, node, ["sh", "-c", script], stdin=pubkey.encode())
    return True


@contextlib.contextmanager
def _locked(instance: int):
    """One lab-changing operation per instance at a time (lab up from a test and from a shell, say)."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(STATE_ROOT / f".{instance}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(instance: int, profile: str | None, cluster_file: str | None, arbiter: bool | None = None) -> dict:
    """Bring the lab up, or bring a running lab in line with the request (safe to repeat). arbiter: True adds
    the quorum device's host, False removes it, None keeps what the lab has."""
    with _locked(instance):
        return _up(instance, profile, cluster_file, arbiter)


def _up(instance: int, profile: str | None, cluster_file: str | None, arbiter: bool | None = None) -> dict:
    from axha_lab import arbiter as arb
    from axha_lab.packages import ensure_packages
    t0 = time.monotonic()
    ensure_packages()
    layout = Layout(instance)
    old = json.loads(layout.lab_json.read_text()) if layout.lab_json.exists() else {}
    pname, pdir, settings = resolve_profile(profile or old.get("profile_dir") or None)
    cfile = Path(cluster_file or old.get("cluster_file") or "axha-lab.yaml").resolve()
    if arbiter is False:
        arb.remove(layout)
    _prepare_state(layout, settings, arbiter=bool(arbiter))
    loops, devices = _attach_disks(layout)
    net.ensure_network(layout)
    lab = {"instance": instance, "profile": pname, "profile_dir": pdir, "profile_settings": settings,
           "cluster_file": str(cfile), "devices": devices, "loops": loops, "packages": old.get("packages", {})}
    write_private(layout.lab_json, json.dumps(lab, indent=2) + "\n", 0o644)
    _boot(layout, old.get("profile_dir") if old else None, lab)
    lab["packages"] = build_axigen(layout)
    write_private(layout.lab_json, json.dumps(lab, indent=2) + "\n", 0o644)
    installed = install_axigen_everywhere(layout, lab)
    pubkey = Path(f"{layout.ssh_key}.pub").read_text()
    users = [ensure_sudo_user(instance, n.name, pubkey) for n in layout.nodes]
    write_cluster_files(layout, cfile)
    for n, fresh, user in zip(layout.nodes, installed, users):
        snapshot(n, refresh=fresh or user)
    if layout.has_arbiter:
        snapshot(layout.arbiter, refresh=False)
    say(f"instance {instance} up in {time.monotonic() - t0:.1f} s (profile {pname}); cluster file {cfile}")
    return status(instance)


def reset(instance: int) -> dict:
    """Put both nodes back to the state right after the first `lab up` (disks, services), zero the disks."""
    with _locked(instance):
        return _reset(instance)


def _reset(instance: int) -> dict:
    layout = Layout(instance)
    lab = nodes.read_lab(layout)
    moved = [n for n in layout.nodes if (n.state_dir / "bmc.address").exists()]
    for n in moved:   # a board `lab reinstall --new-bmc` replaced: its BMC back at the first address
        bmc_stop(instance, n.name)
        (n.state_dir / "bmc.address").unlink()
    if moved:
        write_cluster_files(layout, Path(lab["cluster_file"]))
    restore_pristine(layout, lab)
    # the first boards' host keys are back: so are the lab's known_hosts lines for them (a replace-node run may
    # have put a reinstalled node's new key there), as `lab up` writes them
    write_private(layout.known_hosts, "\n".join(host_key_lines(layout)) + "\n", 0o644)
    return status(instance)


def down(instance: int) -> None:
    """Stop BMCs and nodes, delete namespaces, bridge, loop devices, state and the files lab up wrote."""
    with _locked(instance):
        _down(instance)


def _down(instance: int) -> None:
    layout = Layout(instance)
    lab = json.loads(layout.lab_json.read_text()) if layout.lab_json.exists() else {}
    for n in layout.nodes:
        bmc_stop(instance, n.name)
        nodes.power_off(instance, n.name)
    if layout.has_arbiter:
        nodes.power_off(instance, ARBITER)
    net.destroy_network(layout)
    for image in [layout.shared_image] + [n.backing_image for n in layout.nodes]:
        if image.exists():
            disks.detach(image)
    if lab.get("cluster_file"):
        cfile = Path(lab["cluster_file"])
        for f in (cfile, cfile.with_name(f"{cfile.stem}.secrets.yaml")):
            if f.exists() and f.read_text().startswith(f"# axha lab instance {instance} "):
                f.unlink()
    shutil.rmtree(layout.state_dir, ignore_errors=True)


def status(instance: int) -> dict:
    """The lab's status dict (CONTRACTS.md "Lab status JSON")."""
    layout = Layout(instance)
    lab = nodes.read_lab(layout)
    cfile = Path(lab["cluster_file"])
    node_list = []
    for n in layout.nodes:
        pw = n.bmc_password_file.read_text().strip() if n.bmc_password_file.exists() else None
        node_list.append({"name": n.name, "ssh_address": n.ssh_address, "ssh_port": 22,
                          "bmc_address": n.bmc_address, "bmc_port": BMC_PORT, "bmc_user": BMC_USER,
                          "bmc_password": pw, "power": nodes.power_state(instance, n.name),
                          "bmc": "running" if bmc_pids(instance, n.name) else "stopped"})
    arbiter = None
    if layout.has_arbiter:
        a = layout.arbiter
        arbiter = {"name": a.name, "ssh_address": a.ssh_address, "ssh_port": 22, "qnetd_port": QNETD_PORT,
                   "power": nodes.power_state(instance, a.name)}
    return {"instance": instance, "nodes": node_list, "arbiter": arbiter, "vip": layout.vip, "ssh_key": str(layout.ssh_key),
            "known_hosts": str(layout.known_hosts), "packages": lab.get("packages", {}),
            "cluster_file": str(cfile), "secrets_file": str(cfile.with_name(f"{cfile.stem}.secrets.yaml")),
            "shared_device": "/dev/vdc", "state_dir": str(layout.state_dir), "profile": lab.get("profile"),
            "sudo_user": SUDO_USER}
