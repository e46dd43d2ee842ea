"""The DRBD stand-in in a real lab: the real drbdadm over link0/link1, initial sync with progress in events2, a link
down is seen, /dev/drbd0 mountable, two Primaries refused, crash resync direction, the real ocf agent's monitor."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from axha.steps.spec_load import load_cluster
from tests.waiting import wait_until

pytestmark = pytest.mark.lab


def res_file(cluster_file: str) -> str:
    spec = load_cluster(cluster_file)
    n1, n2 = spec.nodes
    port = spec.storage.drbd.port
    return f"""resource axigen {{
  net {{ protocol C; fencing resource-and-stonith; }}
  handlers {{
    fence-peer "/usr/lib/drbd/crm-fence-peer.9.sh";
    unfence-peer "/usr/lib/drbd/crm-unfence-peer.9.sh";
  }}
  on {n1.name} {{ node-id 0; device /dev/drbd0; disk {n1.backing_disk}; meta-disk internal; }}
  on {n2.name} {{ node-id 1; device /dev/drbd0; disk {n2.backing_disk}; meta-disk internal; }}
  connection {{
    path {{ host {n1.name} address {n1.link0.address}:{port}; host {n2.name} address {n2.link0.address}:{port}; }}
    path {{ host {n1.name} address {n1.link1.address}:{port}; host {n2.name} address {n2.link1.address}:{port}; }}
  }}
}}
"""


class Nodes:
    def __init__(self, lab_exec):
        self.x = lab_exec

    def sh(self, node: str, script: str, ok: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        raw = self.x(node, ["sh", "-c", script], timeout=timeout)
        proc = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode())
        if ok and proc.returncode:
            raise AssertionError(f"{node}: {script}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def status(self, node: str) -> dict:
        return json.loads(self.sh(node, "drbdsetup status --json axigen").stdout)[0]

    def wait(self, node: str, pred, timeout: float = 60.0) -> dict:
        """Poll `drbdsetup status --json` until pred holds (a resource not up yet is just not ready)."""
        last: list = [None]

        def reached():
            proc = self.sh(node, "drbdsetup status --json axigen", ok=False)
            st = last[0] = json.loads(proc.stdout)[0] if proc.returncode == 0 else None
            try:
                return st if st is not None and pred(st) else None
            except (IndexError, KeyError):  # being configured: no device or connection yet
                return None
        return wait_until(reached, lambda: f"{node}: the condition; last status {json.dumps(last[0], indent=1)}",
                          timeout, interval=0.3)


def disk(st):
    return st["devices"][0]["disk-state"]


def conn(st):
    return st["connections"][0]


def pdev(st):
    return st["connections"][0]["peer_devices"][0]


@pytest.fixture
def drbd(fresh_lab, lab_exec):
    n = Nodes(lab_exec)
    text = res_file(fresh_lab["cluster_file"]).encode()
    for node in ("node1", "node2"):
        assert lab_exec(node, ["sh", "-c", "cat > /etc/drbd.d/axigen.res"], stdin=text).returncode == 0
        n.sh(node, "drbdadm create-md --force axigen && drbdadm up axigen")
    for node in ("node1", "node2"):
        n.wait(node, lambda st: conn(st)["connection-state"] == "Connected", timeout=20)
    return n


def test_initial_sync_over_the_links_with_progress_in_events2(drbd):
    drbd.sh("node2", "rm -f /tmp/ev2; setsid sh -c 'timeout 60 drbdsetup events2 --statistics axigen > /tmp/ev2 2>&1' "
                     "</dev/null >/dev/null 2>&1 &")
    # events2 follows the changes once it has printed the initial state (not after a guessed 1 s)
    wait_until(lambda: "exists -" in drbd.sh("node2", "cat /tmp/ev2", ok=False).stdout.splitlines(),
               "events2 on node2 to print its initial state", interval=0.3)
    started = time.monotonic()
    drbd.sh("node1", "drbdadm primary --force axigen")
    st = drbd.wait("node2", lambda st: pdev(st)["replication-state"] == "SyncTarget", timeout=5)
    assert disk(st) == "Inconsistent"
    drbd.wait("node2", lambda st: disk(st) == "UpToDate" and pdev(st)["replication-state"] == "Established",
              timeout=60)
    elapsed = time.monotonic() - started
    assert 12 < elapsed < 40, elapsed  # the lab sets the rate for about 20 s: the bounds are the behaviour
    lines = drbd.sh("node2", "cat /tmp/ev2").stdout.splitlines()
    progress = [ln for ln in lines if ln.startswith("change peer-device") and " done:" in ln]
    assert len(progress) >= 10, lines
    dones = [float(ln.split(" done:")[1].split()[0]) for ln in progress]
    assert dones == sorted(dones) and dones[-1] > 80
    assert all(" out-of-sync:" in ln and " eta:" in ln for ln in progress)
    st = drbd.status("node1")
    assert st["role"] == "Primary" and disk(st) == "UpToDate" and pdev(st)["peer-disk-state"] == "UpToDate"
    assert drbd.sh("node1", "drbdadm status axigen").stdout == (
        "axigen role:Primary\n  disk:UpToDate\n  node2 role:Secondary\n    peer-disk:UpToDate\n\n")


def lab_fault(instance: int, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "axha_lab.cli", "--instance", str(instance), "fault", *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def established_paths(drbd: Nodes, node: str) -> list[bool]:
    return [ln.endswith("established:yes") for ln in drbd.sh(node, "drbdsetup events2 --now axigen").stdout.splitlines()
            if ln.startswith("exists path")]


def resync_kib_per_s(drbd: Nodes, seconds: float) -> float:
    first, t0 = pdev(drbd.status("node1"))["out-of-sync"], time.monotonic()
    time.sleep(seconds)  # the window the speed is measured over, not a wait for anything
    last, t1 = pdev(drbd.status("node1"))["out-of-sync"], time.monotonic()
    return (first - last) / (t1 - t0)


def test_link_faults_reach_the_resync_and_the_data_moves_to_the_other_link(drbd, fresh_lab):
    """Issue 16: `axha lab fault node1 rate link0 ...` did not slow the resync. The stand-in's resync data crosses
    the first established path (link0), so its rate fault slows it; with link0 down the data goes over link1."""
    instance = fresh_lab["instance"]
    lab_fault(instance, "node1", "rate", "link0", "16000")    # 16 Mbit/s = 1953 KiB/s; the lab's rate is ~51 MiB/s
    try:
        drbd.sh("node1", "drbdadm primary --force axigen")
        drbd.wait("node1", lambda st: pdev(st)["replication-state"] == "SyncSource", timeout=10)
        slow = resync_kib_per_s(drbd, 3.0)
        assert 0 < slow < 3000, slow
        drbd.sh("node2", "ip link set link0 down")            # the data path is gone: link1 carries the resync
        wait_until(lambda: established_paths(drbd, "node1") == [False, True],
                   lambda: f"link0's path down, link1's up: {established_paths(drbd, 'node1')}", 15, interval=0.3)
        moved = resync_kib_per_s(drbd, 2.0)
        assert moved > 3 * slow, (moved, slow)
    finally:
        lab_fault(instance, "node1", "clear")
        drbd.sh("node2", "ip link set link0 up", ok=False)
    drbd.wait("node2", lambda st: disk(st) == "UpToDate" and pdev(st)["replication-state"] == "Established",
              timeout=90)


def test_link_down_is_seen_one_link_keeps_the_connection(drbd):
    drbd.sh("node1", "drbdadm new-current-uuid --clear-bitmap axigen/0")
    drbd.wait("node2", lambda st: disk(st) == "UpToDate")
    drbd.sh("node2", "ip link set link0 down")
    # the moment that matters: node1 has seen link0's path go (its ping timeout), not a guessed 4 s later
    wait_until(lambda: established_paths(drbd, "node1") == [False, True],
               lambda: f"node1 to see link0's path down: {established_paths(drbd, 'node1')}", 15, interval=0.3)
    st = drbd.status("node1")
    assert conn(st)["connection-state"] == "Connected"
    paths = [ln for ln in drbd.sh("node1", "drbdsetup events2 --now axigen").stdout.splitlines()
             if ln.startswith("exists path")]
    assert [ln.endswith("established:yes") for ln in paths] == [False, True]
    drbd.sh("node2", "ip link set link1 down")
    drbd.wait("node1", lambda st: conn(st)["connection-state"] == "Connecting", timeout=10)
    drbd.sh("node2", "ip link set link0 up; ip link set link1 up")
    drbd.wait("node1", lambda st: conn(st)["connection-state"] == "Connected", timeout=15)


def test_drbd0_mountable_two_primaries_refused_even_without_links(drbd):
    drbd.sh("node1", "drbdadm new-current-uuid --clear-bitmap axigen/0")
    drbd.wait("node2", lambda st: disk(st) == "UpToDate")
    drbd.sh("node1", "drbdadm primary axigen && mkfs.ext4 -q -F /dev/drbd0 && mkdir -p /mnt/d && "
                     "mount /dev/drbd0 /mnt/d && echo mail > /mnt/d/m")
    proc = drbd.sh("node1", "drbdadm secondary axigen", ok=False)
    assert "(-12) Device is held open by someone" in proc.stderr
    proc = drbd.sh("node2", "drbdadm primary axigen", ok=False)
    assert "(-1) Multiple primaries not allowed by config" in proc.stderr
    assert drbd.sh("node2", "mkdir -p /mnt/d; mount /dev/drbd0 /mnt/d", ok=False).returncode != 0
    drbd.sh("node1", "ip link set link0 down; ip link set link1 down")
    drbd.wait("node2", lambda st: conn(st)["connection-state"] == "Connecting", timeout=10)
    # fencing first: the fence-peer handler fails (no Pacemaker here), so the promotion is refused like the kernel
    proc = drbd.sh("node2", "drbdadm primary axigen", ok=False)
    assert "(-7) Refusing to be Primary while peer is not outdated" in proc.stderr
    # even forced: the shared disk is in use by the other node's Primary
    proc = drbd.sh("node2", "drbdadm primary --force axigen", ok=False)
    assert "(-1) Multiple primaries not allowed by config" in proc.stderr
    drbd.sh("node1", "umount /mnt/d && drbdadm secondary axigen && ip link set link0 up && ip link set link1 up")
    # node1 wrote while alone (new data generation): node2 resyncs what node1 wrote, then may be promoted
    drbd.wait("node2", lambda st: conn(st)["connection-state"] == "Connected" and disk(st) == "UpToDate"
              and pdev(st)["replication-state"] == "Established", timeout=30)
    drbd.sh("node2", "drbdadm primary axigen && mount /dev/drbd0 /mnt/d && cat /mnt/d/m && umount /mnt/d && "
                     "drbdadm secondary axigen")


def test_power_cut_of_the_primary_then_the_survivor_is_the_sync_source(drbd, fresh_lab):
    from axha_lab import nodes

    drbd.sh("node1", "drbdadm new-current-uuid --clear-bitmap axigen/0")
    drbd.wait("node2", lambda st: disk(st) == "UpToDate")
    drbd.sh("node1", "drbdadm primary axigen && mkfs.ext4 -q -F /dev/drbd0 && mkdir -p /mnt/d && "
                     "mount /dev/drbd0 /mnt/d && echo one > /mnt/d/a && sync")
    nodes.power_off(fresh_lab["instance"], "node1")
    drbd.wait("node2", lambda st: conn(st)["connection-state"] == "Connecting", timeout=10)
    # no Pacemaker in this test, so the fence-peer handler cannot outdate node1: promote like an admin would
    drbd.sh("node2", "drbdadm primary --force axigen && mkdir -p /mnt/d && mount /dev/drbd0 /mnt/d && cat /mnt/d/a && "
                     "dd if=/dev/urandom of=/mnt/d/b bs=1M count=16 conv=fsync 2>/dev/null")
    nodes.power_on(fresh_lab["instance"], "node1")
    nodes.wait_booted(fresh_lab["instance"], "node1")
    assert drbd.x("node1", ["drbdsetup", "status", "axigen"]).returncode == 10  # a power cut takes DRBD down
    drbd.sh("node1", "drbdadm up axigen")
    st = drbd.wait("node1", lambda st: conn(st)["connection-state"] == "Connected" and disk(st) == "UpToDate"
                   and pdev(st)["replication-state"] == "Established", timeout=30)
    assert conn(st)["peer-role"] == "Primary"
    log = drbd.sh("node1", "cat /run/drbd-standin/axigen.log").stdout
    assert "handshake with node2: -1 (peer's bitmap UUID is my current)" in log


def test_real_linbit_agent_monitor_runs_through_ocf_axha_drbd(drbd):
    env = ("OCF_ROOT=/usr/lib/ocf OCF_RESKEY_drbd_resource=axigen OCF_RESOURCE_INSTANCE=drbd_axigen "
           "OCF_RESKEY_CRM_meta_clone_max=2 OCF_RESKEY_CRM_meta_clone_node_max=1 OCF_RESKEY_CRM_meta_master_max=1 "
           "OCF_RESKEY_CRM_meta_master_node_max=1")
    # without /proc/drbd the unmodified agent believes DRBD is not running at all
    assert drbd.sh("node1", f"{env} /usr/lib/ocf/resource.d/linbit/drbd monitor", ok=False).returncode == 7
    assert drbd.sh("node1", f"{env} /usr/lib/ocf/resource.d/axha/drbd monitor", ok=False).returncode == 0
    drbd.sh("node1", "drbdadm new-current-uuid --clear-bitmap axigen/0 && drbdadm primary axigen")
    assert drbd.sh("node1", f"{env} /usr/lib/ocf/resource.d/axha/drbd monitor", ok=False).returncode == 8
    meta = drbd.sh("node1", f"{env} /usr/lib/ocf/resource.d/axha/drbd meta-data").stdout
    assert '<parameter name="drbd_resource"' in meta


COROSYNC = """totem {{
    version: 2
    cluster_name: drbdtest
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
"""

CLONE = """<clone id="drbd_axigen-clone">
  <meta_attributes id="drbd_axigen-clone-meta">
    <nvpair id="c1" name="promotable" value="true"/>
    <nvpair id="c2" name="promoted-max" value="1"/>
    <nvpair id="c3" name="clone-max" value="2"/>
    <nvpair id="c4" name="clone-node-max" value="1"/>
    <nvpair id="c5" name="notify" value="true"/>
  </meta_attributes>
  <primitive id="drbd_axigen" class="ocf" provider="axha" type="drbd">
    <instance_attributes id="drbd_axigen-ia">
      <nvpair id="a1" name="drbd_resource" value="axigen"/>
    </instance_attributes>
    <operations>
      <op id="m1" name="monitor" interval="9s" role="Promoted"/>
      <op id="m2" name="monitor" interval="11s" role="Unpromoted"/>
    </operations>
  </primitive>
</clone>
"""


def promoted(nodes: Nodes, node: str) -> list[str]:
    out = nodes.sh(node, "crm_mon -1 --output-as=xml", ok=False).stdout
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(out)
    except ET.ParseError:
        return []
    return [r.find("node").get("name") for r in root.iter("resource")
            if r.get("id") == "drbd_axigen" and r.get("role") in ("Promoted", "Master") and r.find("node") is not None]


def wait_for(pred, timeout: float, what: str):
    wait_until(pred, what, timeout, interval=1)


def test_pacemaker_runs_the_real_agent_and_crm_fence_peer_on_a_power_cut(drbd, fresh_lab):
    """A promotable clone of ocf:axha:drbd (= ocf:linbit:drbd) under real Pacemaker: promoted on one node; a power
    cut of that node promotes the other through crm-fence-peer.9.sh (constraint placed), and the returning node
    resyncs from it and crm-unfence-peer.9.sh removes the constraint."""
    from axha_lab import nodes

    spec = load_cluster(fresh_lab["cluster_file"])
    drbd.sh("node1", "drbdadm new-current-uuid --clear-bitmap axigen/0")
    drbd.wait("node2", lambda st: disk(st) == "UpToDate")
    for node in ("node1", "node2"):
        drbd.sh(node, "drbdadm down axigen")
    body = "".join(f"    node {{\n        ring0_addr: {n.link0.address}\n        ring1_addr: {n.link1.address}\n"
                   f"        name: {n.name}\n        nodeid: {i}\n    }}\n" for i, n in enumerate(spec.nodes, 1))
    conf = COROSYNC.format(nodes=body).encode()
    key = drbd.x("node1", ["sh", "-c", "head -c 256 /dev/urandom"]).stdout
    for node in ("node1", "node2"):
        drbd.x(node, ["sh", "-c", "cat > /etc/corosync/corosync.conf"], stdin=conf)
        drbd.x(node, ["sh", "-c", "cat > /etc/corosync/authkey && chmod 400 /etc/corosync/authkey"], stdin=key)
        drbd.sh(node, "systemctl start corosync && systemctl start pacemaker")
    drbd.sh("node1", "crm_attribute -t crm_config -n dc-deadtime -v 5s; "
                     "crm_attribute -t crm_config -n stonith-enabled -v false")
    assert drbd.x("node1", ["cibadmin", "-R", "-o", "resources", "-x", "/dev/stdin"],
                  stdin=f"<resources>{CLONE}</resources>".encode()).returncode == 0
    drbd.sh("node1", "cibadmin -R -o constraints -X '<constraints/>'")
    wait_for(lambda: len(promoted(drbd, "node1")) == 1, 90, "a promoted DRBD instance")
    first = promoted(drbd, "node1")[0]
    other = "node2" if first == "node1" else "node1"
    drbd.wait(other, lambda st: conn(st)["connection-state"] == "Connected" and conn(st)["peer-role"] == "Primary")
    nodes.power_off(fresh_lab["instance"], first)
    wait_for(lambda: promoted(drbd, other) == [other], 90, f"{other} promoted after the power cut of {first}")
    constraints = drbd.sh(other, "cibadmin -Q -o constraints").stdout
    assert "drbd-fence-by-handler-axigen" in constraints
    log = drbd.sh(other, "cat /run/drbd-standin/axigen.log").stdout
    assert "helper: /usr/sbin/drbdadm fence-peer axigen" in log
    nodes.power_on(fresh_lab["instance"], first)
    nodes.wait_booted(fresh_lab["instance"], first)
    drbd.sh(first, "systemctl start corosync && systemctl start pacemaker")
    drbd.wait(first, lambda st: conn(st)["connection-state"] == "Connected" and disk(st) == "UpToDate"
              and pdev(st)["replication-state"] == "Established", timeout=90)
    wait_for(lambda: "drbd-fence-by-handler" not in drbd.sh(other, "cibadmin -Q -o constraints").stdout, 30,
             "crm-unfence-peer.9.sh removed the constraint")
    for node in ("node1", "node2"):
        drbd.sh(node, "systemctl stop pacemaker; systemctl stop corosync", ok=False)
