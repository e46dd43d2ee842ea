"""The cluster half of the install: pure parts on recorded lab output, and the CIB objects checked by the real
Pacemaker tools of this machine (crm_verify, crm_diff) on a CIB file."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from axha.steps import cib, names
from axha.steps.install import access, corosync, fencing, role
from axha.steps.runner import LocalRunner
from axha.steps.spec_load import load_cluster

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "install"
SPEC = load_cluster(ROOT / "fixtures" / "cluster-example.yaml")


def test_corosync_conf_has_both_links_crypto_and_two_node():
    text = corosync.render_conf(SPEC)
    assert "transport: knet" in text and "crypto_cipher: aes256" in text and "crypto_hash: sha256" in text
    assert "two_node: 1" in text and "cluster_name: axigen" in text
    for node in SPEC.nodes:
        assert f"ring0_addr: {node.link0.address}" in text and f"ring1_addr: {node.link1.address}" in text
    assert text.count("knet_link_priority") == 2
    assert text.count("{") == text.count("}")
    assert corosync.render_conf(SPEC) == text   # same input, same bytes: a re-run finds nothing to change


@pytest.mark.skipif(shutil.which("corosync") is None, reason="corosync not installed")
def test_corosync_conf_parses_with_real_corosync(tmp_path):
    """corosync -t stops at 'No valid name found for local host' only AFTER parsing the whole file: a syntax error
    is reported before that (the node itself runs the full check during the install)."""
    conf = tmp_path / "corosync.conf"
    key = tmp_path / "authkey"
    key.write_bytes(b"k" * 256)
    conf.write_text(corosync.render_conf(SPEC).replace("crypto_hash: sha256", f"crypto_hash: sha256\n    keyfile: {key}"))
    out = subprocess.run(["corosync", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert "parser error" not in out.stderr
    assert "No valid name found for local host" in out.stderr


def test_quorumtool_recorded():
    q = corosync.parse_quorumtool((FIX / "corosync-quorumtool-s.txt").read_text())
    assert q.quorate and q.nodes == 2 and "2Node" in q.flags and q.members == ("node1", "node2")


def test_cfgtool_recorded_both_links_up():
    assert corosync.links_up((FIX / "corosync-cfgtool-s.txt").read_text()) == (0, 1)
    one_down = (FIX / "corosync-cfgtool-s.txt").read_text().replace("2:\tconnected", "2:\tdisconnected", 1)
    assert corosync.links_up(one_down) == (1,)


def test_sha256sum_parse():
    assert corosync.parse_sha256sum("a" * 64 + "  /etc/corosync/authkey\n") == "a" * 64
    assert corosync.parse_sha256sum("sha256sum: /etc/corosync/authkey: No such file or directory") is None


def test_hosts_block_added_once_and_replaced():
    base = "127.0.0.1\tlocalhost\n192.168.77.11\tnode1\n"
    once = access.hosts_with_block(base, SPEC)
    assert access.hosts_with_block(once, SPEC) == once
    assert once.startswith(base) and "192.168.77.12\tnode2" in once
    stale = once.replace("192.168.77.12\tnode2", "10.0.0.2\tnode2")
    assert access.hosts_with_block(stale, SPEC) == once
    assert access.conflicting_entries(base, SPEC) == []
    assert access.conflicting_entries("10.9.9.9 node2\n", SPEC) == ["10.9.9.9 node2"]


def test_fence_devices_never_carry_the_password():
    change = fencing.fencing_change(SPEC)
    xml = "".join(o.xml for o in change.objects)
    assert 'name="password"' not in xml and "passwd" not in xml
    assert xml.count('name="password_script"') == 2
    assert f'value="cat {names.fence_password_file("node1")}"' in xml
    assert xml.count('name="pcmk_delay_base"') == 1
    assert 'rsc="fence-node1" node="node1" score="-INFINITY"' in xml


needs_pacemaker = pytest.mark.skipif(shutil.which("crm_verify") is None, reason="pacemaker-cli-utils not installed")


def _editor(tmp_path):
    live = tmp_path / "live.xml"
    live.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    return live, cib.CibEditor(LocalRunner("node1", env={"CIB_file": str(live)}))


def _push(live, diff):
    subprocess.run(["cibadmin", "--patch", "--xml-pipe"], input=diff.diff, text=True, check=True,
                   env={"CIB_file": str(live), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


@needs_pacemaker
@pytest.mark.parametrize("mode", ["drbd", "shared"])
def test_whole_configuration_verifies_and_second_diff_is_empty(tmp_path, mode):
    """Fencing + role, as the install pushes them, pass the real crm_verify; pushed once, they diff to nothing."""
    from dataclasses import replace
    spec = SPEC if mode == "drbd" else replace(SPEC, storage=replace(SPEC.storage, mode="shared", device="/dev/vdc"))
    live, editor = _editor(tmp_path)
    for change in (fencing.fencing_change(spec), role.role_change(spec, "lsb")):
        diff = editor.diff(change)
        assert not diff.empty
        _push(live, diff)
    text = live.read_text()
    assert ('drbd-axigen-clone' in text) == (mode == "drbd")
    assert 'id="axigen-group"' in text
    for change in (fencing.fencing_change(spec), role.role_change(spec, "lsb")):
        assert editor.diff(change).empty
    out = subprocess.run(["crm_verify", "-V", "--xml-file", str(live)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@needs_pacemaker
def test_role_group_order_and_promoted_colocation(tmp_path):
    import xml.etree.ElementTree as ET
    live, editor = _editor(tmp_path)
    _push(live, editor.diff(fencing.fencing_change(SPEC)))
    _push(live, editor.diff(role.role_change(SPEC, "lsb")))
    root = ET.fromstring(live.read_text())
    group = root.find(".//group[@id='axigen-group']")
    assert [p.get("id") for p in group.findall("primitive")] == list(names.GROUP_MEMBERS)
    col = root.find(".//rsc_colocation")
    assert col.get("with-rsc-role") == "Promoted" and col.get("score") == "INFINITY"
    order = root.find(".//rsc_order")
    assert order.get("first-action") == "promote" and order.get("then") == names.GROUP
    meta = {n.get("name"): n.get("value") for n in root.findall(".//clone/meta_attributes/nvpair")}
    assert meta == {"promotable": "true", "promoted-max": "1", "promoted-node-max": "1", "clone-max": "2",
                    "clone-node-max": "1", "notify": "true"}
    ops = root.findall(".//primitive[@id='drbd-axigen']/operations/op[@name='monitor']")
    assert sorted((o.get("role"), o.get("interval")) for o in ops) == [("Promoted", "29s"), ("Unpromoted", "31s")]


def test_package_versions_parse_dpkg_and_rpm_lines():
    from axha.steps.install.packages import parse_versions
    # dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n' as recorded in a lab node (Debian 12)
    dpkg = "corosync\t3.1.7-1+deb12u2\tii \npacemaker\t2.1.5-1+deb12u1\tii \nold\t1.0\trc \n"
    assert parse_versions(dpkg) == {"corosync": "3.1.7-1+deb12u2", "pacemaker": "2.1.5-1+deb12u1"}
    assert parse_versions("pacemaker\t2.1.7-5.el9\n") == {"pacemaker": "2.1.7-5.el9"}


REPLAY = [FIX / "rerun-node1.json", FIX / "rerun-node2.json"]


@pytest.mark.skipif(not all(p.exists() for p in REPLAY), reason="rerun recordings not present")
def test_recorded_rerun_of_an_installed_cluster_plans_nothing():
    """The cluster steps replayed on the recorded real outputs of an installed lab cluster: every plan is empty,
    and nothing but reads was asked of the nodes."""
    from axha.steps.framework import Context, run_steps
    from axha.steps.install.corosync import CorosyncStep
    from axha.steps.install.fencing import FencingStep
    from axha.steps.install.pacemaker import PacemakerStep
    from axha.steps.install.role import AxigenRoleStep
    from axha.steps.runner import ReplayRunner
    from axha.steps.secrets import Secrets
    from axha.steps.spec_load import load_cluster

    recorded = json.loads(REPLAY[0].read_text())
    spec = load_cluster(FIX / "lab-instance8.yaml")
    runners = {p.stem.split("-")[1]: ReplayRunner.from_file(p.stem.split("-")[1], p, ordered=True) for p in REPLAY}
    ctx = Context(spec, runners, secrets=Secrets(bmc_passwords={"node1": "x" * 8, "node2": "y" * 8}))
    events = []
    report = run_steps(ctx, [CorosyncStep(), PacemakerStep(), FencingStep(), AxigenRoleStep()], events.append,
                       plan_only=True)
    assert report.ok and not report.changed
    assert [e.status for e in report.finished] == ["skipped"] * 4
    plans = [e for e in events if type(e).__name__ == "PlanReady"]
    assert len(plans) == 4 and all(p.actions == () for p in plans)
    assert recorded["commands"], "empty recording"
    for runner in runners.values():
        runner.assert_done()   # the same commands, in the same order, as on the real nodes
