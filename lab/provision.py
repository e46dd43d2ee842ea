"""What `lab up` writes: the profile it resolves, each node's own files in its disk (identity, sshd, root key,
hosts, lab configs), the known_hosts lines for the nodes and the lab's cluster file."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import yaml

from axha_lab.host import clean_env, write_private
from axha_lab.layout import (ARBITER, BACKING_DISK_MIB, BMC_PORT, BMC_USER, PROFILES_DIR, QNETD_PORT, SYNC_SECONDS,
                             Layout, LabError, NodeLayout)

DRBD_STATE_DIR = "/var/lib/axha-lab-drbd"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")


# ---------------------------------------------------------------- profiles

def resolve_profile(profile: str | None) -> tuple[str, str, dict]:
    """(name, directory, settings) of a built-in profile name or a profile directory."""
    name = profile or "baseline"
    candidate = Path(name)
    if "/" in name or name.startswith("."):
        directory = candidate.resolve()
    else:
        directory = PROFILES_DIR / name
    if not directory.is_dir():
        builtins = sorted(p.name for p in PROFILES_DIR.iterdir() if p.is_dir()) if PROFILES_DIR.is_dir() else []
        if profile is None:
            return "none", "", {}
        raise LabError(f"no lab profile {name!r}: give a directory with node1/ and node2/ or one of: "
                       f"{', '.join(builtins) or '(none built in)'}")
    settings_file = directory / "profile.json"
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    return directory.name, str(directory), settings


# ---------------------------------------------------------------- node disks

def _mkdirs_like(upper: Path, rel: str) -> Path:
    """Create upper/rel with each component's mode/owner copied from the host's /rel (overlay shows upper's)."""
    path = upper
    host = Path("/")
    for part in Path(rel).parts:
        path, host = path / part, host / part
        if not path.exists():
            path.mkdir()
            st = host.stat() if host.is_dir() else None
            os.chmod(path, (st.st_mode & 0o7777) if st else 0o755)
            if st:
                os.chown(path, st.st_uid, st.st_gid)
    return path


def _write_upper(node: NodeLayout, rel: str, text: str, mode: int = 0o644) -> None:
    target = _mkdirs_like(node.upper_dir, str(Path(rel).parent)) / Path(rel).name
    write_private(target, text, mode)


def generate_host_keys(node: NodeLayout) -> None:
    """Per-node sshd host keys, generated once into the node's disk."""
    ssh_dir = _mkdirs_like(node.upper_dir, "etc/ssh")
    procs = []
    for kind in HOST_KEY_TYPES:
        key = ssh_dir / f"ssh_host_{kind}_key"
        if not key.exists():
            procs.append(subprocess.Popen(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{node.name}",
                                           "-f", str(key)], stdout=subprocess.DEVNULL, env=clean_env()))
    for proc in procs:
        if proc.wait(timeout=60) != 0:
            raise LabError(f"ssh-keygen failed for {node.name}'s host keys")


def provision_node(layout: Layout, node: NodeLayout, pubkey: str, settings: dict) -> None:
    """Write the node's own files into its disk (upper dirs): identity, sshd, root key, hosts, lab configs."""
    for d in ("upper", "work"):
        (node.state_dir / d).mkdir(parents=True, exist_ok=True)
    generate_host_keys(node)
    _write_upper(node, "etc/hostname", f"{node.name}\n")
    hosts = ["127.0.0.1\tlocalhost", *(f"{n.ssh_address}\t{n.name}" for n in layout.machines),
             "::1\tlocalhost ip6-localhost ip6-loopback", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    _write_upper(node, "etc/hosts", "\n".join(hosts) + "\n")
    machine_id = node.upper_dir / "etc/machine-id"
    if not machine_id.exists():
        _write_upper(node, "etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
    _write_upper(node, "etc/ssh/sshd_config.d/axha-lab.conf",
                 "# axha lab node: its own host keys, root by key only\n"
                 + "".join(f"HostKey /etc/ssh/ssh_host_{k}_key\n" for k in HOST_KEY_TYPES)
                 + "PermitRootLogin prohibit-password\nUseDNS no\n")
    _write_upper(node, "root/.ssh/authorized_keys", pubkey, 0o600)
    if node.name == ARBITER:
        return
    sync_rate = BACKING_DISK_MIB * 1024 // SYNC_SECONDS
    drbd = settings.get("drbd", {})
    _write_upper(node, "etc/axha-lab/drbd.json", json.dumps({
        "data_device": "/dev/vdc", "sync_rate_kib": int(drbd.get("sync_rate_kib", sync_rate)),
        "state_dir": DRBD_STATE_DIR}, indent=2) + "\n")


def host_key_lines(layout: Layout) -> list[str]:
    """known_hosts lines vouching for each node's host keys (name and address)."""
    lines = []
    for node in layout.machines:
        for kind in HOST_KEY_TYPES:
            pub = node.upper_dir / f"etc/ssh/ssh_host_{kind}_key.pub"
            if pub.exists():
                keytype, blob = pub.read_text().split()[:2]
                lines.append(f"{node.name},{node.ssh_address} {keytype} {blob}")
    return lines

# ---------------------------------------------------------------- cluster file

def cluster_doc(layout: Layout) -> dict:
    """The lab's cluster file; its secrets file is the default <stem>.secrets.yaml beside it."""
    return {
        "cluster": "axigen",
        "ssh": {"key_file": str(layout.ssh_key), "known_hosts": str(layout.known_hosts)},
        "nodes": [{
            "name": n.name, "ssh_address": n.ssh_address, "ssh_port": 22, "ssh_user": "root",
            "link0": {"address": n.address("link0"), "interface": "link0"},
            "link1": {"address": n.address("link1"), "interface": "link1"},
            "bmc": {"address": n.bmc_address, "port": BMC_PORT, "user": BMC_USER},
            "backing_disk": "/dev/vdb",
        } for n in layout.nodes],
        "storage": {"mode": "drbd", "device": "/dev/vdc", "drbd": {"resource": "axigen", "minor": 0, "port": 7789},
                    "filesystem": "ext4", "mount_point": "/var/opt/axigen"},
        "vip": {"address": layout.vip, "cidr": 24, "interface": "mgmt0"},
        "axigen": {"service": "axigen", "package": "axigen"},
        **({"quorum_device": {"host": layout.arbiter.ssh_address, "port": QNETD_PORT, "algorithm": "ffsplit",
                              "ssh_port": 22, "ssh_user": "root"}} if layout.has_arbiter else {}),
    }


def write_cluster_files(layout: Layout, cluster_file: Path) -> Path:
    secrets_file = cluster_file.with_name(f"{cluster_file.stem}.secrets.yaml")
    header = f"# axha lab instance {layout.instance} (written by `axha lab up`; `axha lab down` removes it)\n"
    write_private(cluster_file, header + yaml.safe_dump(cluster_doc(layout), sort_keys=False),
                  0o644)
    passwords = {n.name: n.bmc_password_file.read_text().strip() for n in layout.nodes}
    write_private(secrets_file, header + yaml.safe_dump(
        {"ssh_password": None, "ssh_key_passphrase": None, "bmc_passwords": passwords}, sort_keys=False), 0o600)
    return secrets_file
