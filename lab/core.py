"""Lab lifecycle: `lab up` (idempotent), `lab down` (leaves nothing behind), status, BMC processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from axha_lab import disks, net, nodes
from axha_lab.host import clean_env, run, write_private
from axha_lab.layout import (BACKING_DISK_MIB, BMC_PORT, BMC_USER, PROFILES_DIR, REPO_DIR, SHARED_DISK_MIB, STATE_ROOT,
                        SYNC_SECONDS, Layout, LabError, NodeLayout)

AXIGEN_INSTALLED = "10.5.0"
DRBD_STATE_DIR = "/var/lib/axha-lab-drbd"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")


def say(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


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
    hosts = ["127.0.0.1\tlocalhost", *(f"{n.ssh_address}\t{n.name}" for n in layout.nodes),
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
    sync_rate = BACKING_DISK_MIB * 1024 // SYNC_SECONDS
    drbd = settings.get("drbd", {})
    _write_upper(node, "etc/axha-lab/drbd.json", json.dumps({
        "data_device": "/dev/vdc", "sync_rate_kib": int(drbd.get("sync_rate_kib", sync_rate)),
        "state_dir": DRBD_STATE_DIR}, indent=2) + "\n")


def host_key_lines(layout: Layout) -> list[str]:
    """known_hosts lines vouching for each node's host keys (name and address)."""
    lines = []
    for node in layout.nodes:
        for kind in HOST_KEY_TYPES:
            pub = node.upper_dir / f"etc/ssh/ssh_host_{kind}_key.pub"
            if pub.exists():
                keytype, blob = pub.read_text().split()[:2]
                lines.append(f"{node.name},{node.ssh_address} {keytype} {blob}")
    return lines


# ---------------------------------------------------------------- BMC processes

def _cmdline(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def bmc_pids(instance: int, node: str) -> list[int]:
    """PIDs of `python -m axha_lab.bmc --instance N --node NODE` processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(entry)
        if "axha_lab.bmc" in argv and _opt(argv, "--instance") == str(instance) and _opt(argv, "--node") == node:
            found.append(int(entry))
    return found


def _opt(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _udp_listening(address: str, port: int) -> bool:
    want = "".join(f"{int(b):02X}" for b in reversed(address.split("."))) + f":{port:04X}"
    try:
        return any(line.split()[1] == want for line in Path("/proc/net/udp").read_text().splitlines()[1:])
    except OSError:
        return False


def bmc_python() -> str:
    venv = REPO_DIR / ".venv/bin/python"
    return str(venv) if venv.exists() else sys.executable


def bmc_start(instance: int, node: str, *, wait: float = 10.0) -> None:
    """Start the node's IPMI BMC (A3's lab/bmc.py) on the host bridge, unless it runs already."""
    layout = Layout(instance)
    nl = layout.node(node)
    if bmc_pids(instance, node):
        return
    if not (REPO_DIR / "lab/bmc.py").exists():
        raise LabError("lab/bmc.py (the IPMI BMC server) is not in this tree yet")
    with open(nl.bmc_log, "ab") as log:
        proc = subprocess.Popen([bmc_python(), "-m", "axha_lab.bmc", "--instance", str(instance), "--node", node,
                          "--address", nl.bmc_address, "--port", str(BMC_PORT), "--user", BMC_USER,
                          "--password-file", str(nl.bmc_password_file)],
                         cwd=str(REPO_DIR), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, env=clean_env(PYTHONPATH=str(REPO_DIR)))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _udp_listening(nl.bmc_address, BMC_PORT):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise LabError(f"the BMC of {node} did not come up on {nl.bmc_address}:{BMC_PORT}; see {nl.bmc_log}")


def bmc_stop(instance: int, node: str) -> None:
    for pid in bmc_pids(instance, node):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while bmc_pids(instance, node) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in bmc_pids(instance, node):
        os.kill(pid, signal.SIGKILL)


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


def _prepare_state(layout: Layout, settings: dict) -> None:
    """State dir (0700), the lab's root key, each node's disk files, BMC passwords."""
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.state_dir, 0o700)
    if not layout.ssh_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"axha-lab-{layout.instance}",
             "-f", str(layout.ssh_key)])
    pubkey = Path(f"{layout.ssh_key}.pub").read_text()
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
    write_private(layout.known_hosts, "\n".join(host_key_lines(layout)) + "\n", 0o644)
    if (REPO_DIR / "lab/bmc.py").exists():
        for n in layout.nodes:
            bmc_start(instance, n.name)
    else:
        say("lab/bmc.py is not in this tree yet: no BMCs started")
    for n in layout.nodes:
        nodes.wait_booted(instance, n.name)


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


def deb_version(deb: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


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


def _install_axigen_everywhere(layout: Layout, lab: dict) -> list[bool]:
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
        _restore_pristine(layout, lab)
        have = {}
    todo = [n for n in layout.nodes if n.name not in have]
    with ThreadPoolExecutor(2) as pool:
        done = dict(zip([n.name for n in todo],
                        pool.map(lambda n: install_axigen(layout.instance, n.name, pkgs[AXIGEN_INSTALLED]), todo)))
    return [done.get(n.name, False) for n in layout.nodes]


def _snapshot(node: NodeLayout, refresh: bool) -> None:
    """The node's disk right after `lab up` (what `lab reset` restores); refreshed when lab up changed it."""
    pristine, tmp = node.state_dir / "pristine", node.state_dir / "pristine.tmp"
    if refresh:
        shutil.rmtree(pristine, ignore_errors=True)
    if not pristine.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        run(["cp", "-a", str(node.upper_dir), str(tmp)], timeout=120)
        os.replace(tmp, pristine)


@contextlib.contextmanager
def _locked(instance: int):
    """One lab-changing operation per instance at a time (lab up from a test and from a shell, say)."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(STATE_ROOT / f".{instance}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(instance: int, profile: str | None, cluster_file: str | None) -> dict:
    """Bring the lab up, or bring a running lab in line with the request (safe to repeat)."""
    with _locked(instance):
        return _up(instance, profile, cluster_file)


def _up(instance: int, profile: str | None, cluster_file: str | None) -> dict:
    from axha_lab.packages import ensure_packages
    t0 = time.monotonic()
    ensure_packages()
    layout = Layout(instance)
    old = json.loads(layout.lab_json.read_text()) if layout.lab_json.exists() else {}
    pname, pdir, settings = resolve_profile(profile or old.get("profile_dir") or None)
    cfile = Path(cluster_file or old.get("cluster_file") or "axha-lab.yaml").resolve()
    _prepare_state(layout, settings)
    loops, devices = _attach_disks(layout)
    net.ensure_network(layout)
    lab = {"instance": instance, "profile": pname, "profile_dir": pdir, "profile_settings": settings,
           "cluster_file": str(cfile), "devices": devices, "loops": loops, "packages": old.get("packages", {})}
    write_private(layout.lab_json, json.dumps(lab, indent=2) + "\n", 0o644)
    _boot(layout, old.get("profile_dir") if old else None, lab)
    lab["packages"] = build_axigen(layout)
    write_private(layout.lab_json, json.dumps(lab, indent=2) + "\n", 0o644)
    installed = _install_axigen_everywhere(layout, lab)
    pubkey = Path(f"{layout.ssh_key}.pub").read_text()
    users = [ensure_sudo_user(instance, n.name, pubkey) for n in layout.nodes]
    write_cluster_files(layout, cfile)
    for n, fresh, user in zip(layout.nodes, installed, users):
        _snapshot(n, refresh=fresh or user)
    say(f"instance {instance} up in {time.monotonic() - t0:.1f} s (profile {pname}); cluster file {cfile}")
    return status(instance)


def reset(instance: int) -> dict:
    """Put both nodes back to the state right after the first `lab up` (disks, services), zero the disks."""
    with _locked(instance):
        return _reset(instance)


def _reset(instance: int) -> dict:
    layout = Layout(instance)
    _restore_pristine(layout, nodes.read_lab(layout))
    return status(instance)


def _restore_pristine(layout: Layout, lab: dict) -> None:
    instance = layout.instance
    for n in layout.nodes:
        nodes.power_off(instance, n.name)
    for n in layout.nodes:
        pristine = n.state_dir / "pristine"
        if not pristine.exists():
            raise LabError(f"no pristine copy of {n.name}'s disk; run `axha lab down` then `axha lab up`")
        shutil.rmtree(n.upper_dir)
        shutil.rmtree(n.work_dir, ignore_errors=True)
        run(["cp", "-a", str(pristine), str(n.upper_dir)], timeout=120)
    for dev in lab["loops"].values():
        run(["blkdiscard", "-f", dev], check=False)
        run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", "count=4", "conv=fsync"], check=False)
    for n in layout.nodes:
        nodes.power_on(instance, n.name)
    for n in layout.nodes:
        nodes.wait_booted(instance, n.name)
    for n in layout.nodes:
        if not bmc_pids(instance, n.name) and (REPO_DIR / "lab/bmc.py").exists():
            bmc_start(instance, n.name)


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
    return {"instance": instance, "nodes": node_list, "vip": layout.vip, "ssh_key": str(layout.ssh_key),
            "known_hosts": str(layout.known_hosts), "packages": lab.get("packages", {}),
            "cluster_file": str(cfile), "secrets_file": str(cfile.with_name(f"{cfile.stem}.secrets.yaml")),
            "shared_device": "/dev/vdc", "state_dir": str(layout.state_dir), "profile": lab.get("profile"),
            "sudo_user": SUDO_USER}
