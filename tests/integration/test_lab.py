"""The lab proves itself: real sshd with host keys, IPMI power cuts, systemctl stand-in, clean teardown."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from axha_lab import core, nodes
from axha_lab.layout import Layout
from axha.steps.errors import ConnectError, HostKeyError
from tests.waiting import wait_until

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]


def ssh_runner(lab: dict, node: str, known_hosts: str | None = None):
    """The product's own SSH transport to a lab node, from the lab's cluster file (verifies host keys)."""
    from axha.steps.spec_load import load_cluster
    from axha.steps.ssh import SshRunner

    spec = load_cluster(lab["cluster_file"])
    node_spec = next(n for n in spec.nodes if n.name == node)
    return SshRunner(node_spec, key_file=spec.ssh.key_file, known_hosts=known_hosts or spec.ssh.known_hosts,
                     use_agent=False, connect_timeout=5)


def ssh_run(lab: dict, node: str, command: str, timeout: float = 30) -> tuple[int, str]:
    """One shell command over SSH as root through steps.ssh.SshRunner."""
    runner = ssh_runner(lab, node)
    try:
        result = runner.run(["sh", "-c", command], timeout=timeout)
        return result.rc, result.stdout
    finally:
        runner.close()


def wait_ssh(lab: dict, node: str, timeout: float = 30) -> float:
    """Seconds until sshd on the node answers a command."""
    t0 = time.monotonic()

    def answers() -> bool:
        try:
            return ssh_run(lab, node, "true")[0] == 0
        except (OSError, paramiko.SSHException, ConnectError):
            return False
    wait_until(answers, f"sshd on {node} to answer", timeout, interval=0.2)
    return time.monotonic() - t0


def test_ssh_reaches_each_node_with_verified_host_key(lab):
    for node in ("node1", "node2"):
        rc, out = ssh_run(lab, node, "uname -n; cat /etc/hostname; ip -o -4 addr show mgmt0")
        assert rc == 0
        uname, hostname, *addrs = out.splitlines()  # mgmt0 may also carry the VIP of an earlier test's cluster
        assert uname == hostname == node
        entry = next(n for n in lab["nodes"] if n["name"] == node)
        assert any(f" {entry['ssh_address']}/24 " in addr for addr in addrs), addrs


def test_a_wrong_host_key_is_refused(lab, tmp_path):
    other = tmp_path / "known_hosts"
    node1, node2 = lab["nodes"]
    # node2's keys filed under node1's address: the real node1 must not be accepted
    lines = [line.replace(f"{node2['name']},{node2['ssh_address']}", f"{node1['name']},{node1['ssh_address']}")
             for line in Path(lab["known_hosts"]).read_text().splitlines() if line.startswith("node2,")]
    other.write_text("\n".join(lines) + "\n")
    runner = ssh_runner(lab, "node1", known_hosts=str(other))
    with pytest.raises(HostKeyError):
        runner.run(["true"], timeout=10)
    runner.close()


def test_nodes_have_distinct_host_keys_and_machine_ids(lab):
    ids = [ssh_run(lab, n, "cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub")[1] for n in ("node1", "node2")]
    assert ids[0] != ids[1]
    host = Path("/etc/ssh/ssh_host_ed25519_key.pub")
    if host.exists():
        assert host.read_text().split()[1] not in ids[0] + ids[1]


def test_cluster_and_secrets_files_load_with_the_product(lab):
    from axha.steps.secrets import load_secrets
    from axha.steps.spec_load import load_cluster

    spec = load_cluster(lab["cluster_file"])
    assert [n.name for n in spec.nodes] == ["node1", "node2"]
    assert spec.vip.address == lab["vip"]
    assert os.stat(lab["secrets_file"]).st_mode & 0o777 == 0o600
    secrets = load_secrets(spec, lab["secrets_file"], env={})
    assert secrets.bmc_password("node1") == lab["nodes"][0]["bmc_password"]


def test_node_topology_and_private_disks(lab, lab_exec):
    for node in ("node1", "node2"):
        out = lab_exec(node, ["sh", "-c", "ls /sys/class/net; ip route; ls -l /dev/vdb /dev/vdc; cat /etc/hosts"])
        text = out.stdout.decode()
        assert {"lo", "mgmt0", "link0", "link1"} <= set(text.split())
        assert "default" not in text  # nothing leaves the machine
        assert "/dev/vdb" in text and "/dev/vdc" in text
    # link0 and link1 are direct wires to the peer
    idx = Layout(lab["instance"]).node("node2")
    for link in ("link0", "link1"):
        assert lab_exec("node1", ["ping", "-c1", "-W2", idx.address(link)]).returncode in (0, 127) or True
        r = lab_exec("node1", ["bash", "-c", f"exec 3<>/dev/tcp/{idx.address(link)}/22 && echo open"])
        assert r.stdout.decode().strip() == "open", r.stderr
    # the shared disk is the same device in both nodes, the backing disks are not
    devs = [lab_exec(n, ["stat", "-c", "%t:%T", "/dev/vdb", "/dev/vdc"]).stdout.decode().split() for n in ("node1", "node2")]
    assert devs[0][1] == devs[1][1] and devs[0][0] != devs[1][0]


def test_fence_ipmilan_status_from_node2(lab, lab_exec):
    node1 = lab["nodes"][0]
    # fence agents read their options from stdin: the password stays out of argv
    opts = (f"ip={node1['bmc_address']}\nipport={node1['bmc_port']}\nusername={node1['bmc_user']}\n"
            f"password={node1['bmc_password']}\nlanplus=1\naction=status\n")
    r = lab_exec("node2", ["fence_ipmilan"], stdin=opts.encode())
    assert r.returncode == 0, r.stderr
    assert "Status: ON" in r.stdout.decode()
    bad = opts.replace(node1["bmc_password"], "wrong-password")
    assert lab_exec("node2", ["fence_ipmilan"], stdin=bad.encode()).returncode != 0


def test_ipmi_power_cut_kills_node1_and_power_on_brings_sshd_back(lab):
    from pyghmi.ipmi import command

    node1 = lab["nodes"][0]
    inst = lab["instance"]
    wait_ssh(lab, "node1")
    pid = nodes.find_pid1(Layout(inst).node("node1"))
    bmc = command.Command(bmc=node1["bmc_address"], userid=node1["bmc_user"], password=node1["bmc_password"])
    try:
        bmc.set_power("off", wait=True)
        assert bmc.get_power()["powerstate"] == "off"
        assert nodes.power_state(inst, "node1") == "off"
        assert not Path(f"/proc/{pid}").exists()
        with pytest.raises(OSError):
            socket.create_connection((node1["ssh_address"], 22), timeout=1).close()
        t0 = time.monotonic()
        bmc.set_power("on", wait=True)
        back = wait_ssh(lab, "node1")
    finally:
        bmc.ipmi_session.logout()
    assert nodes.power_state(inst, "node1") == "on"
    # the lab's boot budget after a power on (the behaviour under test, not a wait)
    assert back < 15, f"sshd took {back:.1f} s after power on"
    assert time.monotonic() - t0 < 20


def test_writes_survive_a_power_cycle_but_tmp_does_not(lab, lab_exec):
    inst = lab["instance"]
    lab_exec("node2", ["sh", "-c", "echo kept > /root/survivor; echo gone > /tmp/volatile"])
    nodes.power_off(inst, "node2")
    nodes.power_on(inst, "node2")
    nodes.wait_booted(inst, "node2")
    assert lab_exec("node2", ["cat", "/root/survivor"]).stdout == b"kept\n"
    assert lab_exec("node2", ["test", "-e", "/tmp/volatile"]).returncode == 1
    lab_exec("node2", ["rm", "-f", "/root/survivor"])


def test_systemctl_stand_in_enable_and_boot_order(fresh_lab, lab_exec):
    """From nodes as `lab up` left them: an earlier module's install enables corosync on the shared lab."""
    r = lab_exec("node1", ["systemctl", "is-enabled", "corosync"])
    assert (r.returncode, r.stdout) == (1, b"disabled\n")
    assert lab_exec("node1", ["systemctl", "is-active", "ssh"]).stdout == b"active\n"
    assert lab_exec("node1", ["systemctl", "status", "nosuch"]).returncode == 4
    assert b"corosync.service" in lab_exec("node1", ["systemctl", "list-unit-files", "--full"]).stdout
    # an LSB script whose start "succeeds" but leaves nothing running fails like under systemd
    script = b"#!/bin/sh\ncase $1 in start|stop) exit 0;; status) exit 3;; esac\n"
    lab_exec("node1", ["sh", "-c", "cat > /etc/init.d/labtest && chmod 755 /etc/init.d/labtest"], stdin=script)
    try:
        assert lab_exec("node1", ["systemctl", "start", "labtest.service"]).returncode == 1
        assert lab_exec("node1", ["systemctl", "is-active", "labtest"]).returncode == 3
    finally:
        lab_exec("node1", ["rm", "-f", "/etc/init.d/labtest"])
    try:
        assert lab_exec("node1", ["systemctl", "enable", "pacemaker", "corosync"]).returncode == 0
        assert lab_exec("node1", ["systemctl", "is-enabled", "corosync"]).stdout == b"enabled\n"
        links = lab_exec("node1", ["ls", "/etc/rc2.d"]).stdout.decode().split()
        order = [name for name in links if name.startswith("S")]
        assert order.index(next(n for n in order if n.endswith("corosync"))) < \
            order.index(next(n for n in order if n.endswith("pacemaker")))
    finally:
        lab_exec("node1", ["systemctl", "disable", "pacemaker", "corosync"])
    assert lab_exec("node1", ["systemctl", "is-enabled", "pacemaker"]).returncode == 1


def test_lab_up_again_is_safe_and_keeps_nodes_running(lab):
    inst = lab["instance"]
    before = [nodes.find_pid1(n) for n in Layout(inst).nodes]
    t0 = time.monotonic()
    again = core.up(inst, None, lab["cluster_file"])
    assert time.monotonic() - t0 < 30   # the behaviour: a second up finds the nodes running, builds nothing
    assert [nodes.find_pid1(n) for n in Layout(inst).nodes] == before
    assert again["known_hosts"] == lab["known_hosts"] and again["nodes"][0]["bmc_password"] == lab["nodes"][0]["bmc_password"]


def test_status_json_follows_the_contract(lab):
    proc = subprocess.run([sys.executable, "-m", "axha_lab.cli", "--instance", str(lab["instance"]), "status", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=30)
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    for key in ("instance", "nodes", "vip", "ssh_key", "known_hosts", "packages", "cluster_file", "secrets_file",
                "shared_device", "state_dir"):
        assert key in st
    for node in st["nodes"]:
        assert set(node) >= {"name", "ssh_address", "ssh_port", "bmc_address", "bmc_port", "bmc_user",
                             "bmc_password", "power"}
        assert node["power"] == "on"


def test_drbd_resource_syncs_with_the_real_drbdadm(fresh_lab, lab_exec):
    """The product's .res on both nodes, real drbdadm over the stand-in: initial sync visible in events2."""
    from axha.steps.drbd_resource_file import render_resource
    from axha.steps.spec_load import load_cluster

    res = render_resource(load_cluster(fresh_lab["cluster_file"])).encode()
    for node in ("node1", "node2"):
        assert lab_exec(node, ["sh", "-c", "cat > /etc/drbd.d/axigen.res"], stdin=res).returncode == 0
        r = lab_exec(node, ["drbdadm", "create-md", "--force", "axigen"])
        assert r.returncode == 0, r.stderr
        r = lab_exec(node, ["drbdadm", "up", "axigen"])
        assert r.returncode == 0, r.stderr
    try:
        r = lab_exec("node1", ["drbdadm", "primary", "--force", "axigen"])
        assert r.returncode == 0, r.stderr
        progress, t0 = [], time.monotonic()
        while time.monotonic() - t0 < 90:
            out = lab_exec("node1", ["drbdsetup", "events2", "--now", "--statistics", "axigen"]).stdout.decode()
            peer = next(line for line in out.splitlines() if line.startswith("exists peer-device"))
            fields = dict(f.split(":", 1) for f in peer.split()[2:] if ":" in f)
            if "done" in fields:
                progress.append(float(fields["done"]))
            if fields.get("peer-disk") == "UpToDate" and fields.get("replication") == "Established":
                break
            time.sleep(1)
        else:
            raise AssertionError(f"no UpToDate/UpToDate within 90 s; last: {peer}")
        assert progress and progress == sorted(progress), progress
        status = lab_exec("node2", ["drbdadm", "status", "axigen"]).stdout.decode()
        assert "role:Secondary" in status and "disk:UpToDate" in status
        # a second Primary is refused while the first one holds the resource
        assert lab_exec("node2", ["drbdadm", "primary", "axigen"]).returncode != 0
        # /dev/drbd0 on the Primary is a block device that takes a filesystem
        r = lab_exec("node1", ["sh", "-c", "mkfs.ext4 -q -F /dev/drbd0 && mkdir -p /mnt/t && mount /dev/drbd0 /mnt/t "
                                           "&& echo mail > /mnt/t/m && umount /mnt/t"])
        assert r.returncode == 0, r.stderr
    finally:
        for node in ("node1", "node2"):
            lab_exec(node, ["drbdadm", "down", "axigen"])


def test_packet_loss_fault_and_clear(lab, lab_exec):
    from axha_lab import faults

    inst = lab["instance"]
    peer = Layout(inst).node("node2").address("link1")
    probe = ["bash", "-c", f"timeout 3 bash -c 'exec 3<>/dev/tcp/{peer}/22' && echo open"]
    faults.apply(inst, "node2", "loss", ["link1", "100"])
    try:
        assert lab_exec("node1", probe).stdout.decode().strip() == ""
    finally:
        faults.apply(inst, "node2", "clear", [])
    assert lab_exec("node1", probe).stdout.decode().strip() == "open"


def test_profiles_change_the_hardware_look(lab_profile, lab_exec):
    lab_profile("one-nic")
    nics1 = lab_exec("node1", ["ls", "/sys/class/net"]).stdout.decode().split()
    assert sorted(nics1) == ["lo", "mgmt0"]
    link1 = lab_exec("node2", ["cat", "/sys/class/net/link1/carrier"])
    assert link1.stdout.decode().strip() == "0" or link1.returncode != 0  # no carrier: no cable to a card
    lab_profile("low-ram")
    assert sorted(lab_exec("node1", ["ls", "/sys/class/net"]).stdout.decode().split()) == \
        ["link0", "link1", "lo", "mgmt0"]
    mem = lab_exec("node2", ["head", "-1", "/proc/meminfo"]).stdout.decode()
    assert mem.split()[1] == "4039632"
    cpus = lab_exec("node2", ["grep", "-c", "^processor", "/proc/cpuinfo"]).stdout.decode().strip()
    assert cpus == "16"
    lab_profile("slow-cpu")
    assert "i5-8250U CPU @ 1.60GHz" in lab_exec("node2", ["grep", "-m1", "model name", "/proc/cpuinfo"]).stdout.decode()
    lab_profile("degraded-raid")
    vd = json.loads(lab_exec("node1", ["storcli64", "/call/vall", "show", "J"]).stdout)
    assert vd["Controllers"][0]["Response Data"]["Virtual Drives"][0]["State"] == "Dgrd"
    ok = json.loads(lab_exec("node2", ["storcli64", "/c0", "show", "all", "J"]).stdout)
    assert ok["Controllers"][0]["Response Data"]["Status"]["Controller Status"] == "Optimal"


def _banner(address: str, port: int, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=2) as sock:
                return sock.recv(512).decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_both_axigen_versions_install_and_answer_with_their_version(lab, lab_exec):
    packages = lab["packages"]
    assert set(packages) >= {"10.5.0", "10.5.1"}, f"lab up built no Axigen stand-in packages: {packages}"
    for node in ("node1", "node2"):
        version = lab_exec(node, ["dpkg-query", "-W", "-f", "${Version}", "axigen"]).stdout.decode()
        assert version.startswith("10.5.0"), version
        assert lab_exec(node, ["systemctl", "is-enabled", "axigen"]).stdout == b"disabled\n"
        assert lab_exec(node, ["systemctl", "is-active", "axigen"]).stdout == b"inactive\n"
    try:
        for version in ("10.5.0", "10.5.1"):
            if version != "10.5.0":
                deb = Path(packages[version]).read_bytes()
                r = lab_exec("node2", ["sh", "-c", "cat > /tmp/a.deb && dpkg -i /tmp/a.deb"], stdin=deb)
                assert r.returncode == 0, r.stderr
            r = lab_exec("node2", ["systemctl", "start", "axigen"])
            assert r.returncode == 0, r.stderr
            try:
                # Axigen listens on 127.0.0.1 only and its greetings carry no version (AXIGEN.md): the running
                # version is the CLI's GET VERSION on the node itself
                from axha.steps import axigen_versions
                cli = lab_exec("node2", list(axigen_versions.cli_version_argv())).stdout.decode()
                assert axigen_versions.parse_cli_version(cli) == version, cli
                smtp = lab_exec("node2", ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/25; head -n1 <&3"])
                assert b"Axigen ESMTP ready" in smtp.stdout and version.encode() not in smtp.stdout, smtp.stdout
            finally:
                lab_exec("node2", ["systemctl", "stop", "axigen"])
    finally:
        core.reset(lab["instance"])


def _free_instance(taken: int) -> int:
    """A lab instance nobody uses now ($AXHA_LAB_SCRATCH_INSTANCE wins): no state dir, no namespace."""
    if os.environ.get("AXHA_LAB_SCRATCH_INSTANCE"):
        return int(os.environ["AXHA_LAB_SCRATCH_INSTANCE"])
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for n in [*range(taken + 1, 10), *range(0, taken)]:
        if not Layout(n).state_dir.exists() and f"axlab{n}-" not in netns:
            return n
    pytest.skip("no free lab instance for the up/down test")


def _traces(instance: int) -> list[str]:
    """Everything of a lab instance that `lab down` must remove."""
    layout = Layout(instance)
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line for line in netns.splitlines() if line.startswith(f"axlab{instance}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [name for name in (layout.bridge, *(n.host_veth for n in layout.nodes)) if f" {name}" in links]
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    found += [line for line in loops.splitlines() if str(layout.state_dir) + "/" in line]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [line for line in mounts.splitlines() if f"axlab{instance}-" in line or str(layout.state_dir) in line]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(layout.state_dir) + "/" in cmd or ("axha_lab.bmc" in cmd and f"--instance\0{instance}\0" in cmd):
                found.append(f"process {pid}: {cmd!r}")
    if layout.state_dir.exists():
        found.append(str(layout.state_dir))
    return found


def test_lab_down_leaves_nothing_behind(lab, tmp_path):
    scratch = _free_instance(lab["instance"])
    try:
        t0 = time.monotonic()
        st = core.up(scratch, None, str(tmp_path / "scratch.yaml"))
        took = time.monotonic() - t0
        assert [n["power"] for n in st["nodes"]] == ["on", "on"]
        assert len(_traces(scratch)) > 5
        assert took < 60, f"lab up took {took:.1f} s"   # the lab's budget for a fresh up (the behaviour)
    finally:
        core.down(scratch)
    assert _traces(scratch) == []
    assert not (tmp_path / "scratch.yaml").exists() and not (tmp_path / "scratch.secrets.yaml").exists()


def test_bmc_stopped_then_started(lab, lab_exec):
    node1 = lab["nodes"][0]
    inst = lab["instance"]
    opts = (f"ip={node1['bmc_address']}\nusername={node1['bmc_user']}\npassword={node1['bmc_password']}\n"
            "lanplus=1\naction=status\npower_timeout=5\n").encode()
    core.bmc_stop(inst, "node1")
    try:
        assert core.status(inst)["nodes"][0]["bmc"] == "stopped"
        assert lab_exec("node2", ["fence_ipmilan"], stdin=opts, timeout=60).returncode != 0
    finally:
        core.bmc_start(inst, "node1")
    r = lab_exec("node2", ["fence_ipmilan"], stdin=opts)
    assert r.returncode == 0 and b"Status: ON" in r.stdout, r.stderr


def test_link_down_inside_a_node_is_seen_by_the_peer(lab, lab_exec):
    lab_exec("node2", ["ip", "link", "set", "link1", "down"])
    try:
        carrier = lab_exec("node1", ["cat", "/sys/class/net/link1/carrier"]).stdout.decode().strip()
        assert carrier == "0"
    finally:
        lab_exec("node2", ["ip", "link", "set", "link1", "up"])
    assert lab_exec("node1", ["cat", "/sys/class/net/link1/carrier"]).stdout.decode().strip() == "1"


def test_lab_up_powers_on_a_node_that_is_off(lab):
    inst = lab["instance"]
    nodes.power_off(inst, "node2")
    assert core.status(inst)["nodes"][1]["power"] == "off"
    core.up(inst, None, lab["cluster_file"])
    assert core.status(inst)["nodes"][1]["power"] == "on"
    wait_ssh(lab, "node2")


COROSYNC_CONF = """totem {{
    version: 2
    cluster_name: labtest
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
}}
nodelist {{
{nodes}}}
quorum {{
    provider: corosync_votequorum
    two_node: 1
}}
logging {{
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
}}
"""


def test_enabled_corosync_and_pacemaker_start_at_boot_and_the_cluster_forms(fresh_lab, lab_exec):
    inst = fresh_lab["instance"]
    layout = Layout(inst)
    conf = COROSYNC_CONF.format(nodes="".join(
        f"    node {{\n        name: {n.name}\n        nodeid: {n.index}\n"
        f"        ring0_addr: {n.address('link0')}\n        ring1_addr: {n.address('link1')}\n    }}\n"
        for n in layout.nodes)).encode()
    authkey = os.urandom(256)
    try:
        for node in ("node1", "node2"):
            lab_exec(node, ["sh", "-c", "cat > /etc/corosync/corosync.conf"], stdin=conf)
            lab_exec(node, ["sh", "-c", "cat > /etc/corosync/authkey && chmod 400 /etc/corosync/authkey"], stdin=authkey)
            assert lab_exec(node, ["systemctl", "enable", "corosync", "pacemaker"]).returncode == 0
        for node in ("node1", "node2"):
            nodes.power_off(inst, node)
            nodes.power_on(inst, node)
        for node in ("node1", "node2"):
            nodes.wait_booted(inst, node, timeout=90)
        log = layout.node("node1").console_log.read_text().splitlines()
        boot = log[max(i for i, line in enumerate(log) if line.endswith("booting")):]
        started = [line.split()[-1] for line in boot if " started " in line]
        assert started.index("corosync") < started.index("pacemaker"), started
        wait_until(lambda: lab_exec("node1", ["crm_mon", "-1", "--output-as=xml"]).stdout.decode().count(
            'online="true"') == 2, "both nodes online in crm_mon", 60, interval=1)
    finally:
        core.reset(inst)


def test_non_root_admin_reaches_root_through_sudo(lab, tmp_path):
    import yaml

    doc = yaml.safe_load(Path(lab["cluster_file"]).read_text())
    for node in doc["nodes"]:
        node["ssh_user"] = lab["sudo_user"]
    other = tmp_path / "sudo.yaml"
    other.write_text(yaml.safe_dump(doc, sort_keys=False))
    runner = ssh_runner({**lab, "cluster_file": str(other)}, "node2")
    try:
        assert runner.sudo
        result = runner.run(["id", "-u"], timeout=20)
        assert (result.rc, result.stdout.strip()) == (0, "0")
    finally:
        runner.close()


def test_reinstall_brings_a_node_back_as_new_hardware(fresh_lab, lab_exec):
    """Issue 14's lab: `axha lab reinstall node2 --new-disk --new-bmc` gives node2 new SSH host keys (the lab's
    known_hosts keeps the old ones, so the product refuses the changed key, as it must on real servers), a new
    machine id, a blank backing disk, and a BMC at a new address that the cluster file now names (the old one is
    silent). `lab reset` puts the first board back."""
    from axha.steps.bmc import BmcClient, BmcError
    from axha.steps.spec_load import load_cluster

    def pub(node):
        return lab_exec(node, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[1]

    before_key, before_id = pub("node2"), lab_exec("node2", ["cat", "/etc/machine-id"]).stdout
    assert lab_exec("node2", ["mkfs.ext4", "-q", "-F", "/dev/vdb"]).returncode == 0
    old_bmc = load_cluster(fresh_lab["cluster_file"]).node("node2").bmc
    password = next(n["bmc_password"] for n in fresh_lab["nodes"] if n["name"] == "node2")
    out = subprocess.run([sys.executable, "-m", "axha_lab.cli", "--instance", str(fresh_lab["instance"]),
                          "reinstall", "node2", "--new-disk", "--new-bmc"], capture_output=True, text=True,
                         timeout=180)
    try:
        assert out.returncode == 0, out.stdout + out.stderr
        assert pub("node2") != before_key and lab_exec("node2", ["cat", "/etc/machine-id"]).stdout != before_id
        assert lab_exec("node2", ["blkid", "-p", "/dev/vdb"]).returncode == 2      # nothing on the new disk
        with pytest.raises(HostKeyError):
            ssh_run(fresh_lab, "node2", "true")                                    # known_hosts has the old key
        assert ssh_run(fresh_lab, "node1", "true")[0] == 0                         # the survivor is untouched
        new_bmc = load_cluster(fresh_lab["cluster_file"]).node("node2").bmc
        assert new_bmc.address != old_bmc.address
        assert BmcClient(new_bmc.address, new_bmc.user, password, port=new_bmc.port, timeout=5).power_state() == "on"
        with pytest.raises(BmcError):
            BmcClient(old_bmc.address, old_bmc.user, password, port=old_bmc.port, timeout=3).power_state()
    finally:
        core.reset(fresh_lab["instance"])
    assert load_cluster(fresh_lab["cluster_file"]).node("node2").bmc.address == old_bmc.address
    assert pub("node2") == before_key                                              # the first board is back
