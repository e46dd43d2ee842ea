"""steps.replace (issue 14) on their own: the new host key step against a real sshd, the readings of the CIB's
fence address and of corosync.conf's nodelist (real files: tests/fixtures/corosync/SOURCES.md), the survivor's
gates on lab-recorded probes, the preflight's weights and the shape of the operation."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from axha.steps import cib, names
from axha.steps.audit import AuditLog, Redactor
from axha.steps.errors import InputError
from axha.steps.framework import FAIL, PASS, WARN, Context, Finding, run_steps
from axha.steps.install.corosync import render_conf
from axha.steps.install.fencing import fencing_change
from axha.steps.replace import replace_steps
from axha.steps.replace.gate import fence_address, survivor_findings
from axha.steps.replace.host_key import NewHostKey
from axha.steps.replace.preflight import judge
from axha.steps.replace.rebuild import node_addresses
from axha.steps.spec_load import load_cluster
from axha.steps.ssh import SshRunner
from tests.unit.test_maint_status import SPEC, state

FIX = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLE = load_cluster(str(FIX / "cluster-example.yaml"))


# ---------------------------------------------------------------- the fence device's address in the CIB


def fence_xml(spec, node: str) -> str:
    """The primitive as `cibadmin --query --xpath //primitive[@id=...]` prints it: the element itself."""
    return next(o.xml for o in fencing_change(spec).objects if o.id == names.fence_device(node))


def test_fence_address_read_from_the_cib_element():
    for node in EXAMPLE.nodes:
        xml = fence_xml(EXAMPLE, node.name)
        assert fence_address(xml, names.fence_device(node.name)) == (node.bmc.address, node.bmc.port)
        wrapped = f"<xpath-query>{xml}</xpath-query>"     # several matches come wrapped: found inside too
        assert fence_address(wrapped, names.fence_device(node.name)) == (node.bmc.address, node.bmc.port)


@pytest.mark.parametrize("text", ["", "Call failed: No such device or address", "<primitive id='fence-x'",
                                  "<" * 100000, "<primitive id='fence-node2'><instance_attributes><nvpair "
                                  "name='ipport' value='62x3'/></instance_attributes></primitive>"])
def test_fence_address_of_anything_else_is_unknown(text):
    ip, port = fence_address(text, "fence-node2")
    assert port is None and ip is None


# ---------------------------------------------------------------- corosync.conf's nodelist


def test_nodelist_of_our_own_pcs_and_debian_files():
    ours = node_addresses(render_conf(EXAMPLE))
    assert {n: (e["ring0_addr"], e["ring1_addr"]) for n, e in ours.items()} == \
        {n.name: (n.link0.address, n.link1.address) for n in EXAMPLE.nodes}
    pcs = node_addresses((FIX / "corosync" / "pcs-0.11.5-two-links.conf").read_text())
    assert pcs["node2"] == {"ring0_addr": "192.168.78.12", "ring1_addr": "192.168.79.12", "name": "node2",
                            "nodeid": "2"}
    debian = node_addresses((FIX / "corosync" / "debian-bookworm-default.conf").read_text())
    assert list(debian) == ["node1"] and debian["node1"]["ring0_addr"] == "127.0.0.1"


def test_nodelist_reading_is_bounded_and_never_confused():
    assert node_addresses("totem { node { name: x\nring0_addr: 1.2.3.4 } }") == {}   # not in a nodelist
    assert node_addresses("nodelist {\n node {\n ring0_addr: 10.0.0.1\n }\n}\n") == {}  # a node without a name
    nested = "nodelist {\n" + "node {\n name: n%d\n}\n" * 100 + "}\n"
    assert len(node_addresses(nested % tuple(range(100)))) == 64
    huge = "nodelist {\n node {\n name: a\n" + "x: y\n" * 300000 + " }\n}\n"
    assert node_addresses(huge) == {}          # cut at 1 MiB, before the node's closing brace


# ---------------------------------------------------------------- the survivor's gates


def test_a_healthy_survivor_passes_every_gate():
    s = state("installed-healthy")
    found = survivor_findings(s, "node2", "node1")
    assert all(f.status == PASS for f in found), [f for f in found if f.status != PASS]
    assert {"SURVIVOR_RUNS_SERVICE", "SURVIVOR_DRBD_UPTODATE", "FENCE_DEVICE_CONFIGURED"} <= {f.code for f in found}


def test_the_survivor_must_run_the_service_and_hold_good_data():
    s = state("installed-healthy")
    codes = {f.code for f in survivor_findings(s, "node1", "node2") if f.status == FAIL}
    assert codes == {"SURVIVOR_RUNS_SERVICE", "SURVIVOR_DRBD_UPTODATE"}   # node2 is the passive Secondary
    split = {f.code for f in survivor_findings(state("split-brain"), "node2", "node1") if f.status == FAIL}
    assert "SPLIT_BRAIN" in split
    stopped = {f.code for f in survivor_findings(state("drbd-inconsistent-no-cluster", answers=()), "node2",
                                                 "node1") if f.status == FAIL}
    assert {"SURVIVOR_ONLINE", "SURVIVOR_RUNS_SERVICE", "SURVIVOR_DRBD_UPTODATE"} <= stopped


# ---------------------------------------------------------------- preflight's weights


def test_preflight_softens_only_what_the_rebuild_does_itself():
    version = Finding("AXIGEN_VERSION_MISMATCH", None, FAIL, "10.5.0 vs 10.5.1")
    assert judge(version, "axigen").status == WARN
    held = Finding("DISK_NOT_EMPTY", "node2", FAIL, "holds drbd")
    assert judge(held, "storage").status == WARN
    for code in ("DISK_MISSING", "DISK_MOUNTED", "DISK_IN_USE", "DISK_SIZE_MISMATCH"):
        assert judge(Finding(code, "node2", FAIL, "x"), "storage").status == FAIL
    for code in ("RAM_BELOW_BASELINE", "NAME_NOT_RESOLVED", "CLOCK_SKEW"):
        assert judge(Finding(code, "node2", FAIL, "x"), "memory").status == FAIL


# ---------------------------------------------------------------- the operation's shape


def test_the_operation_steps_and_refusals():
    ids = [s.id for s in replace_steps(EXAMPLE, "node1", {})]
    assert ids[:3] == ["replace-gate", "host-key", "preflight-new-node"]
    # the data: metadata before the node joins, the resync only after Pacemaker started DRBD there
    assert ids.index("drbd-metadata") < ids.index("corosync-join") < ids.index("pacemaker") < ids.index("drbd-resync")
    assert ids.index("fencing-update") < ids.index("corosync-join")   # the survivor can fence the new BMC first
    assert ids[-1] == "replace-verify" and "drbd-initial-sync" not in ids   # never a forced primary
    assert [s.id for s in replace_steps(EXAMPLE, "node2", {"disk_only": True, "prove": True})] == \
        ["replace-gate", "drbd-config", "drbd-metadata", "drbd-attach", "drbd-resync", "replace-verify", "prove"]
    with pytest.raises(InputError):
        replace_steps(EXAMPLE, "node3", {})


# ---------------------------------------------------------------- the new host key, against a real sshd


needs_sshd = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"),
                                reason="needs root and /usr/sbin/sshd")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    from tests.sshd_server import start_sshd, stop_sshd
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop_sshd(server)


def key_ctx(sshd, tmp_path, options, answer=False):
    """A context whose node1 is the test sshd, with known_hosts holding ANOTHER key for it (a reinstalled node)."""
    import paramiko
    from tests.unit.test_ssh import node_for

    old = paramiko.Ed25519Key.from_private_key_file(str(sshd.other_key))
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {old.get_base64()}\n")
    asked = []
    runner = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known),
                       audit=AuditLog(tmp_path / "audit.jsonl", Redactor()), accept_host_key=lambda e: True)
    ctx = Context(spec=None, runners={"node1": runner}, options=dict(options),
                  confirm=lambda q: asked.append(q) or answer)
    return ctx, known, asked, old


def run_key(ctx):
    try:
        return run_steps(ctx, [NewHostKey("node1")], lambda e: None)
    finally:
        ctx.runners["node1"].close()


@needs_sshd
def test_yes_alone_never_accepts_a_new_host_key(sshd, tmp_path):
    ctx, known, asked, old = key_ctx(sshd, tmp_path, {"yes": True}, answer=True)
    report = run_key(ctx)
    assert not report.ok and report.finished[-1].findings[0].code == "HOST_KEY_NEEDS_FINGERPRINT"
    assert not asked and old.get_base64() in known.read_text()


@needs_sshd
def test_a_named_fingerprint_must_be_the_presented_one(sshd, tmp_path):
    from axha.steps.ssh_known_hosts import fingerprint
    import paramiko
    other = fingerprint(paramiko.Ed25519Key.from_private_key_file(str(sshd.other_key)))
    ctx, known, asked, old = key_ctx(sshd, tmp_path, {"yes": True, "accept_host_key": other})
    report = run_key(ctx)
    assert not report.ok and report.finished[-1].findings[0].code == "HOST_KEY_MISMATCH"
    assert old.get_base64() in known.read_text()
    ctx, known, asked, old = key_ctx(sshd, tmp_path, {"yes": True, "accept_host_key": sshd.fingerprint()})
    report = run_key(ctx)
    assert report.ok and not asked and old.get_base64() not in known.read_text()
    assert run_key(ctx).finished[-1].status == "skipped"      # a rerun: the key is known now


@needs_sshd
def test_the_admin_types_the_node_name_next_to_old_and_new_fingerprints(sshd, tmp_path):
    from axha.steps.ssh_known_hosts import fingerprint
    ctx, known, asked, old = key_ctx(sshd, tmp_path, {}, answer=False)
    report = run_key(ctx)
    assert not report.ok and report.finished[-1].message.startswith("not confirmed")
    question = asked[0]
    assert question.expected == "node1" and not question.by_command
    assert fingerprint(old) in question.details and sshd.fingerprint() in question.details
    assert old.get_base64() in known.read_text()            # refused: known_hosts untouched
    ctx, known, asked, old = key_ctx(sshd, tmp_path, {}, answer=True)
    assert run_key(ctx).ok and old.get_base64() not in known.read_text()
    assert ctx.runners["node1"].run(["true"]).rc == 0


# ---------------------------------------------------------------- the old node: gone, and how sure


def cib_fence_element(node: str) -> str:
    """The fence primitive of the real CIB fixture, as `cibadmin --query --xpath //primitive[@id=...]` prints it."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring((FIX / "pacemaker" / "cib-healthy.xml").read_text())
    return ET.tostring(next(p for p in root.iter("primitive") if p.get("id") == names.fence_device(node)),
                       encoding="unicode")


class Board:
    """The BMC a test stands behind ctx.bmc: answers a power state, or raises what pyghmi's client raised."""

    def __init__(self, answer):
        self.answer, self.asked = answer, 0

    def power_state(self):
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def gate_run(monkeypatch, crm, answer, cib_text=None, confirm=lambda q: False, package=None, installed="10.5.1-1"):
    from axha.steps.bmc import BmcUnreachable  # noqa: F401 (the class a silent BMC raises)
    from axha.steps.replace import gate
    from axha.steps.runner import Recorded, ReplayRunner
    from tests.unit.test_maint_status import crm_mon

    monkeypatch.setattr(gate, "read_state", lambda ctx, with_service=True: state("installed-healthy",
                                                                                 crm_mon=crm_mon(crm)))
    xpath = ("cibadmin", "--query", "--xpath", gate.fence_xpath("node2"))
    history = ("stonith_admin", "--history", "node2", "--verbose")
    from axha.steps.axigen_versions import package_version_argv
    runner = ReplayRunner("node1", [Recorded(xpath, 0, cib_text or cib_fence_element("node2")),
                                    Recorded(history, 0, "1 event found\n"),
                                    Recorded(package_version_argv("axigen"), 0, installed + "\n")], ordered=False)
    board = Board(answer)
    asked = []
    from axha.steps.secrets import Secrets
    ctx = Context(SPEC, {"node1": runner}, bmc=lambda node: board, secrets=Secrets(bmc_passwords={"node2": "pw2"}),
                  confirm=lambda q: asked.append(q) or confirm(q))
    step = gate.ReplaceGate("node2", package=package)
    report = run_steps(ctx, [step], lambda e: None)
    return report, step, board, asked, runner


def test_a_clean_offline_node_whose_bmc_says_off_is_gone(monkeypatch):
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", "off")
    assert report.ok and not asked and board.asked == 1
    assert "power is off" in report.finished[-1].message


def test_a_package_not_at_the_survivors_version_is_refused_by_the_gate(monkeypatch, tmp_path):
    """--package must hold the survivor's version: refused before the old node is even judged (so before the
    host key, /etc/hosts or anything else changes); the survivor's version itself passes."""
    from axha_lab.axigen.build import build_packages
    debs = build_packages(tmp_path)
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", "off", package=str(debs["10.5.0"]))
    refused = [f for f in report.finished[-1].findings if f.status == FAIL]
    assert not report.ok and [f.code for f in refused] == ["PACKAGE_NOT_SURVIVORS"] and board.asked == 0
    assert "node1 runs 10.5.1-1" in refused[0].summary
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", "off", package=str(debs["10.5.1"]))
    assert report.ok and board.asked == 1
    report, *_ = gate_run(monkeypatch, "node2-offline", "off", installed="")
    assert not report.ok and report.finished[-1].findings[-1].code == "SURVIVOR_AXIGEN_UNKNOWN"


def test_the_bmc_on_behind_the_same_board_is_the_replacement(monkeypatch):
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", "on")
    assert report.ok and not asked and "the replacement runs there" in report.finished[-1].message


def test_a_silent_bmc_needs_the_node_name_typed(monkeypatch):
    from axha.steps.bmc import BmcUnreachable
    silent = BmcUnreachable("no answer from the BMC at 192.168.101.202 within 10 s")
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", silent)
    assert not report.ok and report.finished[-1].message.startswith("not confirmed")
    assert asked[0].expected == "node2" and not asked[0].by_command and "does not answer" in asked[0].details
    assert ("stonith_admin", "--history", "node2", "--verbose") not in runner.calls
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", silent, confirm=lambda q: True)
    assert report.ok and "the admin confirmed" in report.finished[-1].message
    assert ("stonith_admin", "--history", "node2", "--verbose") in runner.calls


def test_an_unfenced_node_or_an_old_board_still_on_is_refused(monkeypatch):
    import axha.steps.bmc as bmc
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-unclean", "off")
    assert not report.ok and report.finished[-1].findings[-1].code == "NODE_UNCLEAN" and board.asked == 0
    # the CIB fences node2 through another board than the cluster file names: that old board is asked
    old = cib_fence_element("node2").replace("192.168.101.202", "192.168.101.250")
    seen = []

    class OldBoard(Board):
        def __init__(self, address, *args, **kwargs):
            seen.append(address)
            super().__init__("on")
    monkeypatch.setattr(bmc, "BmcClient", OldBoard)
    report, step, board, asked, runner = gate_run(monkeypatch, "node2-offline", "on", cib_text=old)
    assert not report.ok and report.finished[-1].findings[-1].code == "OLD_NODE_STILL_ON"
    assert seen == ["192.168.101.250"] and board.asked == 0


def test_a_member_again_needs_no_proof(monkeypatch):
    report, step, board, asked, runner = gate_run(monkeypatch, "healthy", "off")
    assert report.ok and board.asked == 0 and "member of the cluster again" in report.finished[-1].message
