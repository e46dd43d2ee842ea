"""steps.pacemaker against Pacemaker's own readings of the same CIB (tests/fixtures/upstream/SOURCES.md).

Every CIB here is run through the installed crm_mon (CIB_file=, no cluster): its XML goes to parse_crm_mon, and
the result is checked against crm_mon's text view of the same CIB (node states, failed resources), the CIB's own
history entries (which resource, task and interval failed) and crm_mon's <bans> (the scheduler's reading of
location rules). The CIBs: our stack's recorded CIB (tests/fixtures/pacemaker/cib-healthy.xml) changed here into
the states issue 12 found misread, following the Pacemaker code that produces them; and, where a checkout of
ClusterLabs/pacemaker is at hand (AXHA_UPSTREAM, see SOURCES.md), the 2.1.5 scheduler regression CIBs and the
crm_mon XML in cts/cli/regression.*.exp.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from axha.steps.pacemaker_constraints import leftover_constraints, parse_constraints
from axha.steps.pacemaker_opkey import parse_op_key
from axha.steps.pacemaker_status import FailedAction, parse_crm_mon
from tests.unit.upstream_pcmk import (cib_fencing_enabled, history_entry, location_ids, run_crm_mon,
                                      text_failed_resources, text_node_states)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
BASE = (FIX / "pacemaker" / "cib-healthy.xml").read_bytes()


# ---------------------------------------------------------------- the check: Pacemaker's readings


def pacemaker_disagrees(cib: bytes) -> list[str]:
    """Every point where parse_crm_mon's reading of crm_mon's XML differs from Pacemaker's own readings."""
    rc, xml = run_crm_mon(cib)
    assert rc == 0, xml[-400:]
    _, text = run_crm_mon(cib, text=True)
    status = parse_crm_mon(xml)
    tree = ET.fromstring(cib)
    out = []
    in_text = text_node_states(text)
    for node in status.nodes:
        # the text view leaves offline guest/bundle nodes out
        want = in_text.get(node.name, "offline")
        if node.state != want:
            out.append(f"node {node.name}: parser {node.state}, crm_mon text {want}")
    text_rscs = text_failed_resources(text)
    if len(text_rscs) != len(status.failed_actions):
        out.append(f"failures: parser {len(status.failed_actions)}, crm_mon text {len(text_rscs)}")
    for failure, text_rsc in zip(status.failed_actions, text_rscs):
        entry = history_entry(tree, failure.node, failure.call, failure.op_key)
        if entry is None:
            out.append(f"failure {failure.op_key}: no such history entry in the CIB")
            continue
        rsc, op = entry
        seen = (failure.resource, failure.task, failure.interval)
        truth = (rsc, op.get("operation"), op.get("interval"))
        key = op.get("operation_key") or op.get("id")
        if key == f"{rsc}_{op.get('operation')}_{op.get('interval')}":
            if seen != truth:
                out.append(f"failure {failure.op_key}: parser {seen}, CIB {truth}")
        elif (failure.resource, failure.task) != (text_rsc, op.get("operation")):
            # keys of Pacemaker 1.0-era CIBs name the resource otherwise (group prefix, no clone instance):
            # then crm_mon's own text view is the reading to match
            out.append(f"failure {failure.op_key}: parser {seen[:2]}, crm_mon text {text_rsc}")
        if (failure.exitreason == "") != (op.get("exit-reason") in (None, "")):
            out.append(f"failure {failure.op_key}: exit reason {failure.exitreason!r} vs {op.get('exit-reason')!r}")
    if status.stonith_enabled != cib_fencing_enabled(tree):
        out.append(f"fencing: parser {status.stonith_enabled}, CIB {cib_fencing_enabled(tree)}")
    constraints = {c.id: c for c in parse_constraints(cib.decode())}
    ids = location_ids(tree)
    for ban in status.bans:
        owner = next((cid for cid, rule_ids in ids.items() if ban.id in rule_ids), None)
        c = constraints.get(owner) if owner else None
        if c is not None and c.kind in ("cli-prefer", "cli-ban") and (c.node, c.resource) != (ban.node, ban.resource):
            out.append(f"constraint {c.id}: parser {c.resource} on {c.node}, crm_mon ban {ban.resource} on {ban.node}")
    return out


# ---------------------------------------------------------------- our stack's CIB in the states that were misread


def _find(tree: ET.Element, path: str, **attrs) -> ET.Element:
    return next(el for el in tree.iterfind(path) if all(el.get(k) == v for k, v in attrs.items()))


def _node_state(tree, node_id: str, **attrs):
    _find(tree, "status/node_state", id=node_id).attrib.update(attrs)


def _node_attr(tree, node_id: str, name: str, value: str):
    node = _find(tree, "configuration/nodes/node", id=node_id)
    sets = node.find("instance_attributes") or ET.SubElement(node, "instance_attributes", id=f"nodes-{node_id}")
    ET.SubElement(sets, "nvpair", id=f"nodes-{node_id}-{name}", name=name, value=value)


def _vm_failure(tree, node_id: str, **op):
    """A migratable resource with an underscore in its name and one failed history entry on node `node_id`."""
    resources = tree.find("configuration/resources")
    if _find_or_none(resources, "primitive", id="vm_idcc_devel") is None:
        prim = ET.SubElement(resources, "primitive", id="vm_idcc_devel", **{"class": "ocf"}, provider="heartbeat",
                             type="Dummy")
        meta = ET.SubElement(prim, "meta_attributes", id="vm_idcc_devel-meta")
        ET.SubElement(meta, "nvpair", id="vm_idcc_devel-meta-am", name="allow-migrate", value="true")
    lrm = _find(tree, "status/node_state", id=node_id).find("lrm/lrm_resources")
    rsc = _find_or_none(lrm, "lrm_resource", id="vm_idcc_devel")
    if rsc is None:
        rsc = ET.SubElement(lrm, "lrm_resource", id="vm_idcc_devel", **{"class": "ocf"}, provider="heartbeat",
                            type="Dummy")
    attrs = {"crm-debug-origin": "crm_simulate", "crm_feature_set": "3.16.1",
             "transition-key": "9:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
             "transition-magic": "0:1;9:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "call-id": "40", "rc-code": "1",
             "op-status": "0", "interval": "0", "exec-time": "10", "queue-time": "0",
             "op-digest": "f2317cad3d54cec5d7d7aa7d0bf35cf8"}
    attrs.update(op)
    ET.SubElement(rsc, "lrm_rsc_op", {k: v for k, v in attrs.items() if v is not None})


def _find_or_none(parent, tag, **attrs):
    return next((el for el in parent.iterfind(tag) if all(el.get(k) == v for k, v in attrs.items())), None)


def _tool(cib: bytes, *argv: str) -> bytes:
    """Run a Pacemaker command line tool on a copy of the CIB (CIB_file=) and return the changed CIB."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(cib)
        f.flush()
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "CIB_file": f.name, "LC_ALL": "C"})
        assert res.returncode == 0, res.stderr
        return Path(f.name).read_bytes()


def _simulate(cib: bytes, *argv: str) -> bytes:
    """crm_simulate (the real scheduler) run on the CIB, with its resulting CIB back."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.xml", Path(tmp) / "out.xml"
        src.write_bytes(cib)
        res = subprocess.run(["crm_simulate", "-x", str(src), *argv, "-S", "-O", str(dst)], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "LC_ALL": "C"})
        assert res.returncode == 0, res.stderr
        return dst.read_bytes()


def variant(name: str) -> bytes:
    tree = ET.fromstring(BASE)
    if name == "healthy":
        pass
    elif name == "node2-pending":
        # in the membership, controller up, join pending: unpack.c determine_online_status_fencing(),
        # Pacemaker-2.1.5 lines 1446-1450 (standby and pending both set)
        _node_state(tree, "2", join="pending")
    elif name == "node2-pending-expected-down":
        # controller up, expected down, no shutdown request: the same, lines 1415-1421
        _node_state(tree, "2", join="down", expected="down")
    elif name == "node2-standby":
        _node_attr(tree, "2", "standby", "on")
    elif name == "node2-maintenance":
        _node_attr(tree, "2", "maintenance", "true")
    elif name == "node2-standby-and-maintenance":
        _node_attr(tree, "2", "standby", "on")
        _node_attr(tree, "2", "maintenance", "true")
    elif name == "node2-offline-standby":
        _node_attr(tree, "2", "standby", "on")
        return _simulate(ET.tostring(tree), "-d", "node2")  # node2 shut down cleanly by the scheduler
    elif name == "migrate-to-failed":
        # issue 12 (3): the shape of migration-ping-pong.xml's vm_idcc_devel_migrate_to_0 (scheduler CIBs)
        _vm_failure(tree, "1", id="vm_idcc_devel_last_failure_0", operation_key="vm_idcc_devel_migrate_to_0",
                    operation="migrate_to", **{"exit-reason": "idcc_devel: live migration failed: 1",
                                               "last-rc-change": "1795736300"})
    elif name == "failure-without-key":
        # issue 12 (4, 5): a history entry without operation_key nor last-rc-change, as in migrate-fail-2.xml:
        # crm_mon then writes <failure id=...> without task/interval (pe_output.c failed_action_xml())
        _vm_failure(tree, "2", id="vm_idcc_devel_migrate_from_0", operation_key=None, operation="migrate_from",
                    **{"exit-reason": None, "call-id": "41"})
    elif name == "monitor-failed-no-reason":
        # a recurring monitor's failure kept as RSC_last_failure_0, no exit reason: crm_mon says "none"
        _vm_failure(tree, "1", id="vm_idcc_devel_last_failure_0", operation_key="vm_idcc_devel_monitor_10000",
                    operation="monitor", interval="10000", rc="7",
                    **{"exit-reason": "", "rc-code": "7", "last-rc-change": "1795736400"})
    elif name == "fencing-disabled":
        props = tree.find("configuration/crm_config/cluster_property_set")
        _find(props, "nvpair", name="stonith-enabled").set("value", "false")
    elif name == "timed-move":
        # issue 12 (6): what `crm_resource --move --lifetime` writes (tools/crm_resource_ban.c)
        return _tool(BASE, "crm_resource", "--move", "-r", "axigen-group", "-N", "node2", "--lifetime", "P1D")
    elif name == "timed-ban":
        return _tool(BASE, "crm_resource", "--ban", "-r", "axigen-group", "-N", "node1", "--lifetime", "PT1H")
    else:
        raise KeyError(name)
    return ET.tostring(tree)


VARIANTS = ["healthy", "node2-pending", "node2-pending-expected-down", "node2-standby", "node2-maintenance",
            "node2-standby-and-maintenance", "node2-offline-standby", "migrate-to-failed", "failure-without-key",
            "monitor-failed-no-reason", "fencing-disabled", "timed-move", "timed-ban"]


@pytest.mark.parametrize("name", VARIANTS)
def test_sweep_our_stack_in_every_state(name):
    assert pacemaker_disagrees(variant(name)) == []


def status(name: str):
    rc, xml = run_crm_mon(variant(name))
    assert rc == 0
    return parse_crm_mon(xml), xml


@pytest.mark.parametrize("name", ["node2-pending", "node2-pending-expected-down"])
def test_misreading_2_pending_node_is_pending_not_standby(name):
    s, xml = status(name)
    assert re.search(r'<node name="node2"[^>]* standby="true"[^>]* pending="true"', xml)  # what crm_mon says
    node2 = s.node("node2")
    assert node2.state == "pending" and not node2.in_standby


def test_standby_comes_before_maintenance_like_pacemaker():
    s, _ = status("node2-standby-and-maintenance")
    assert s.node("node2").state == "standby" and s.node("node2").in_standby
    assert status("node2-offline-standby")[0].node("node2").state == "offline"


def test_misreading_3_migrate_to_failure_names_the_whole_resource():
    s, xml = status("migrate-to-failed")
    assert 'op_key="vm_idcc_devel_migrate_to_0"' in xml and 'task="migrate_to"' in xml
    failure, = s.failed_actions
    assert (failure.resource, failure.task, failure.interval) == ("vm_idcc_devel", "migrate_to", "0")


def test_misreadings_4_and_5_failure_without_key_or_last_rc_change():
    s, xml = status("failure-without-key")
    assert re.search(r'<failure id="vm_idcc_devel_migrate_from_0"', xml) and "task=" not in xml.split("<failures>")[1]
    failure, = s.failed_actions
    assert (failure.op_key, failure.resource, failure.task, failure.interval) == (
        "vm_idcc_devel_migrate_from_0", "vm_idcc_devel", "migrate_from", "0")
    assert failure.exitreason == "" and "(none)" not in failure.summary()


def test_minor_exitreason_none_is_no_reason():
    s, xml = status("monitor-failed-no-reason")
    assert 'exitreason=""' in xml or 'exitreason="none"' in xml
    failure, = s.failed_actions
    assert failure.exitreason == "" and failure.summary().endswith("not running")
    assert (failure.resource, failure.task, failure.interval) == ("vm_idcc_devel", "monitor", "10000")
    # crm_mon writes "none" when the history entry has no exit-reason at all (pe_output.c failed_action_xml())
    no_attr = xml.replace('exitreason=""', 'exitreason="none"')
    assert parse_crm_mon(no_attr).failed_actions[0].exitreason == ""


@pytest.mark.parametrize("name,kind,node,words", [("timed-move", "cli-prefer", "node2", "pinned to node2"),
                                                  ("timed-ban", "cli-ban", "node1", "banned from node1")])
def test_misreading_6_timed_move_and_ban_name_their_node(name, kind, node, words):
    cib = variant(name)
    c, = leftover_constraints(parse_constraints(cib.decode()))
    assert c.kind == kind and c.node == node and c.until and c.node is not None
    assert words in c.describe() and "timed" in c.describe() and "None" not in c.describe()


def _as_pacemaker_3(xml: str, drop_old: bool) -> str:
    """crm_mon XML with Pacemaker 3.0.2's names (xml/api/crm_mon-2.42.rng lines 112-121, resources-2.41.rng
    lines 116 and 152), and with the deprecated old names gone when drop_old."""
    tree = ET.fromstring(xml)
    for opts in tree.iter("cluster_options"):
        opts.set("fencing-enabled", opts.get("stonith-enabled"))
        if drop_old:
            del opts.attrib["stonith-enabled"]
    for rsc in tree.iter("resource"):
        if "orphaned" in rsc.attrib:
            rsc.set("removed", rsc.get("orphaned"))
            if drop_old:
                del rsc.attrib["orphaned"]
    return ET.tostring(tree, encoding="unicode")


@pytest.mark.parametrize("name", ["healthy", "fencing-disabled"])
@pytest.mark.parametrize("drop_old", [False, True])
def test_minor_pacemaker_3_names_fencing_enabled_and_removed(name, drop_old):
    s, xml = status(name)
    new = parse_crm_mon(_as_pacemaker_3(xml, drop_old))
    assert new.stonith_enabled == s.stonith_enabled == (name == "healthy")
    assert [r.orphaned for r in new.resources] == [r.orphaned for r in s.resources]
    removed = xml.replace('orphaned="false"', 'orphaned="true"', 1)
    assert parse_crm_mon(_as_pacemaker_3(removed, drop_old)).resources[0].orphaned


def test_op_key_split_like_pacemakers_own_unit_test():
    """The cases of lib/common/tests/actions/parse_op_key_test.c (Pacemaker HEAD 0a519a6e)."""
    cases = {"Fencing_monitor_60000": ("Fencing", "monitor", 60000), "R_A_0": ("R", "A", 0),
             "__monitor_1000": ("_", "monitor", 1000), "___migrate_from_0": ("__", "migrate_from", 0),
             "____pre_notify_stop_0": ("___", "pre_notify_stop", 0),
             "ClusterIP:0_start_0": ("ClusterIP:0", "start", 0),
             "imagestoreclone:1_post_notify_stop_0": ("imagestoreclone:1", "post_notify_stop", 0),
             "httpd-bundle-ip-192.168.122.132_start_0": ("httpd-bundle-ip-192.168.122.132", "start", 0),
             "vm_idcc_devel_migrate_to_0": ("vm_idcc_devel", "migrate_to", 0),
             "rsc_drbd_7788:1_post_notify_start_0": ("rsc_drbd_7788:1", "post_notify_start", 0),
             "rabbitmq-bundle-clone_pre_notify_stop_0": ("rabbitmq-bundle-clone", "pre_notify_stop", 0),
             "post_notify_start_0": ("post_notify", "start", 0),
             "r_confirmed-post_notify_start_0": ("r", "confirmed-post_notify_start", 0)}
    assert {k: parse_op_key(k) for k in cases} == cases
    assert [parse_op_key(k) for k in ("", "httpd-bundle-0", "httpd-bundle-0_monitor", "httpd-bundle-0_30000")] \
        == [None] * 4
    assert FailedAction("x_last_failure_0", "n", "", "", "", "", "", "", "").resource == "x"


# ---------------------------------------------------------------- Pacemaker's own test corpus, when at hand


def _upstream(name: str) -> Path | None:
    base = os.environ.get("AXHA_UPSTREAM") or "/work/.mirror"
    for candidate in (Path(base) / name / "repo", Path(base) / name):
        if (candidate / "HEAD").exists() or (candidate / ".git").exists():
            return candidate
    return None


PCMK = _upstream("ClusterLabs+pacemaker")
needs_pcmk = pytest.mark.skipif(PCMK is None, reason="no ClusterLabs/pacemaker checkout (AXHA_UPSTREAM, SOURCES.md)")
# the scheduler CIBs that showed issue 12's misreadings, always part of the sample
MUST = ("probe-3", "probe-4", "probe-pending-node", "stonith-4", "migration-ping-pong", "load-stopped-loop-2",
        "migrate-fail-2", "migrate-fail-3", "migrate-4", "1360", "994", "bug-1718", "clone-interleave-3",
        "promoted-failed-demote", "group10", "novell-252693-3")


def _git(*argv: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(PCMK), *argv], input=data, capture_output=True, check=True,
                          timeout=120).stdout


def _scheduler_cibs(tag: str) -> dict[str, bytes]:
    names = [p for p in _git("ls-tree", "--name-only", f"{tag}:cts/scheduler/xml").decode().split()
             if p.endswith(".xml")]
    if os.environ.get("AXHA_UPSTREAM_FULL") != "1":
        # a bounded sample: the CIBs above and every 8th other one (about 110 of 799; all with AXHA_UPSTREAM_FULL=1)
        names = [n for i, n in enumerate(names) if n[:-4] in MUST or i % 8 == 0]
    batch = _git("cat-file", "--batch", data="".join(f"{tag}:cts/scheduler/xml/{n}\n" for n in names).encode())
    out, pos = {}, 0
    for n in names:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        out[n[:-4]] = batch[header_end + 1:header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return out


@needs_pcmk
def test_sweep_pacemaker_2_1_5_scheduler_cibs():
    cibs = _scheduler_cibs("Pacemaker-2.1.5")
    problems = {name: p for name, cib in cibs.items() if (p := pacemaker_disagrees(cib))}
    assert problems == {}
    assert set(MUST) <= set(cibs)


def _regression_results(tag: str) -> list[str]:
    out = []
    for path in _git("ls-tree", "--name-only", f"{tag}:cts/cli").decode().split():
        if path.startswith("regression.") and path.endswith(".exp"):
            text = _git("show", f"{tag}:cts/cli/{path}").decode(errors="replace")
            out += re.findall(r'<pacemaker-result [^>]*request="crm_mon[^"]*".*?</pacemaker-result>', text, re.S)
    return out


@needs_pcmk
@pytest.mark.parametrize("tag", ["Pacemaker-2.1.5", "HEAD"])
def test_sweep_crm_mon_xml_of_pacemakers_cli_regression(tag):
    """Every crm_mon <pacemaker-result> in cts/cli/regression.*.exp parses, and reads what its schema says:
    fencing-enabled (3.0.2+) or stonith-enabled, every node, failure keys split as the attributes give them."""
    results = _regression_results(tag)
    assert len(results) > 20
    for xml in results:
        root = ET.fromstring(xml)
        if root.find("summary") is None and root.find("nodes") is None:
            continue
        s = parse_crm_mon(xml)
        opts = root.find("summary/cluster_options")
        if opts is not None:
            want = opts.get("fencing-enabled", opts.get("stonith-enabled"))
            assert s.stonith_enabled == (want == "true")
        assert [n.name for n in s.nodes] == [n.get("name") for n in root.findall("nodes/node")]
        for failure, el in zip(s.failed_actions, root.findall("failures/failure")):
            if el.get("task"):
                key = el.get("op_key") or el.get("id")
                assert key == f"{failure.resource}_{el.get('task')}_{el.get('interval')}"
            assert failure.exitreason != "none"
