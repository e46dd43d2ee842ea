"""steps.maint.status on probes recorded in the lab (tests/fixtures/maint/SOURCES.md) and Pacemaker's own output."""
import json
from pathlib import Path


from axha.steps.maint.status import build_state
from axha.steps.maint.probe import NodeProbe, parse_probe, probe_argv, probe_node, split_sections
from axha.steps.maint.service import ServiceAnswer
from axha.steps.runner import Recorded, ReplayRunner
from axha.steps.spec_load import load_cluster

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SPEC = load_cluster(str(FIX / "maint" / "cluster-lab8.yaml"))
SMTP_OK = ServiceAnswer("smtp", 25, True, "220 node1 Axigen ESMTP ready")
IMAP_OK = ServiceAnswer("imap", 143, True, "* OK Axigen- IMAP4rev1 service is ready")


def recorded(name: str) -> dict:
    return json.loads((FIX / "maint" / f"probe-{name}.json").read_text())["nodes"]


def probes(name: str, **replace_sections) -> tuple[NodeProbe, ...]:
    """The recorded probes; replace_sections swaps one section's recorded output for another real recording."""
    out = []
    for node, data in recorded(name).items():
        cmd = data["commands"][0]
        text = cmd["stdout"]
        for section, body in replace_sections.items():
            sections = split_sections(text)
            rc, old = sections[section]
            text = text.replace(old, body)
        out.append(parse_probe(node, cmd["rc"], text, SPEC))
    return tuple(out)


def state(name: str, answers=(SMTP_OK, IMAP_OK), **replace):
    return build_state(SPEC, probes(name, **replace), answers, taken_at=0)


def crm_mon(name: str) -> str:
    return (FIX / "pacemaker" / f"crm_mon-{name}.xml").read_text()


def test_probe_is_one_command_per_node_and_replays():
    data = recorded("split-brain")["node1"]["commands"][0]
    assert tuple(data["argv"]) == probe_argv(SPEC)
    runner = ReplayRunner("node1", [Recorded(tuple(data["argv"]), data["rc"], data["stdout"])])
    probe = probe_node(runner, SPEC)
    runner.assert_done()
    assert len(runner.calls) == 1
    assert probe.hostname == "node1" and probe.drbd.role == "Primary" and probe.drbd.connection == "StandAlone"
    assert probe.drbd_gi.count(":") == 5


def test_cluster_not_running():
    s = state("drbd-inconsistent-no-cluster", answers=())
    assert s.active_node is None and [n.state for n in s.nodes] == ["stopped", "stopped"]
    assert [(d.disk, d.peer_disk) for _, d in s.drbd] == [("Inconsistent", "Inconsistent")] * 2
    codes = [w.code for w in s.warnings]
    assert codes.count("CLUSTER_STOPPED") == 2 and "DRBD_NOT_UPTODATE" in codes
    assert s.to_json()["nodes"][0]["axigen_version"] is None


def test_syncing_progress_both_sides():
    s = state("drbd-syncing-no-cluster")
    src, tgt = s.drbd_of("node1"), s.drbd_of("node2")
    assert (src.replication, tgt.replication) == ("SyncSource", "SyncTarget")
    assert 0 < src.sync_percent < 100 and 0 < tgt.sync_percent < 100
    assert [w.code for w in s.warnings].count("DRBD_SYNCING") == 2
    assert s.to_json()["drbd"]["node2"]["sync_percent"] == tgt.sync_percent


def test_failed_actions_and_links_up():
    s = state("failed-actions")
    assert [n.state for n in s.nodes] == ["online", "online"] and s.dc == "node2"
    assert {(a["resource"], a["node"]) for a in s.failed_actions} >= {("drbd-axigen", "node1"),
                                                                       ("drbd-axigen", "node2")}
    assert all(l.up for l in s.links) and len(s.links) == 4
    assert s.active_node is None
    assert "FAILED_ACTION" in [w.code for w in s.warnings]


def test_link_down_is_loud():
    s = state("link1-down")
    down = [(l.node, l.link, l.peer_state) for l in s.links if not l.up]
    assert down == [("node1", 1, "disconnected"), ("node2", 1, "disconnected")]
    loud = [w for w in s.warnings if w.code == "LINK_DOWN"]
    assert loud and all(w.loud and "redundancy lost" in w.text for w in loud)


def test_split_brain_evidence():
    s = state("split-brain")
    assert s.split_brain.detected and "StandAlone" in s.split_brain.reason
    evidence = dict(s.split_brain.evidence)
    assert evidence["node1"]["role"] == "Primary" and evidence["node2"]["role"] == "Secondary"
    assert evidence["node1"]["data_generation"]
    assert [c.kind for c in s.leftover_constraints] == ["drbd-fence"]
    assert not s.maintenance_mode and s.active_node == "node1"   # the service kept running on node1
    assert [n.axigen_running for n in s.nodes] == ["10.5.0", None]
    as_json = s.to_json()
    assert as_json["split_brain"]["detected"] and as_json["leftover_constraints"][0]["kind"] == "drbd-fence"


def test_healthy_status_json_contract():
    """Pacemaker's view swapped for the healthy recording of our stack (crm_simulate, Pacemaker 2.1.5)."""
    s = state("maintenance-drbd-healthy", crm_mon=crm_mon("healthy"))
    j = s.to_json()
    assert j["active_node"] == "node1"
    assert [(n["name"], n["online"], n["standby"]) for n in j["nodes"]] == [("node1", True, False),
                                                                          ("node2", True, False)]
    assert set(j["drbd"]["node1"]) >= {"role", "disk", "peer_disk", "connection", "sync_percent"}
    assert j["service_answers"]["smtp"]["ok"] and j["service_answers"]["smtp"]["banner"] == "220 node1 Axigen ESMTP ready"
    assert j["failed_actions"] == [] and j["leftover_constraints"] == [] and len(j["links"]) == 4
    assert json.dumps(j)


def test_unreachable_node():
    node2 = NodeProbe("node2", False, error="connection refused")
    node1 = probes("maintenance-drbd-healthy", crm_mon=crm_mon("node2-offline"))[0]
    s = build_state(SPEC, (node1, node2), (SMTP_OK,))
    assert s.node("node2").state == "offline" and not s.node("node2").reachable
    assert "NODE_UNREACHABLE" in [w.code for w in s.warnings]


def test_quorum_device_state_and_warnings():
    """With a quorum_device in the cluster file the probe adds corosync-quorumtool and corosync-qdevice-tool; the
    state says per node whether the device votes (samples rendered from upstream's printf calls,
    tests/fixtures/qdevice/SOURCES.md)."""
    import dataclasses
    from axha.steps.quorum_status import parse_qdevice_status, parse_quorumtool_status
    from axha.steps.spec import QuorumDeviceSpec

    spec = dataclasses.replace(SPEC, quorum_device=QuorumDeviceSpec("192.168.77.13"))
    assert [n for n, _ in __import__("axha.steps.maint.probe", fromlist=["x"]).probe_commands(spec)][-2:] == \
        ["quorum", "qdevice"]
    assert "corosync-qdevice-tool" not in " ".join(probe_argv(SPEC))
    qd = FIX / "qdevice"
    voting = parse_quorumtool_status((qd / "quorumtool-3.0.0-qdevice.txt").read_text())
    lost = parse_quorumtool_status((qd / "quorumtool-3.0.3-qdevice-lost-hex.txt").read_text())
    connected = parse_qdevice_status((qd / "qdevice-tool-3.0.1-s-v.txt").read_text())
    failed = parse_qdevice_status((qd / "qdevice-tool-3.0.1-s-v-connect-failed.txt").read_text())
    base = probes("maintenance-drbd-healthy", crm_mon=crm_mon("healthy"))
    good = tuple(dataclasses.replace(p, quorum=voting, qdevice=connected) for p in base)
    s = build_state(spec, good, (SMTP_OK,), taken_at=0)
    view = s.to_json()["quorum_device"]
    assert view["host"] == "192.168.77.13" and view["algorithm"] == "ffsplit"
    assert all(v["connected"] and v["vote"] and v["total_votes"] == 3 for v in view["nodes"].values()), view
    assert not [w for w in s.warnings if w.code.startswith("QDEVICE")]
    bad = (good[0], dataclasses.replace(base[1], quorum=lost, qdevice=failed))
    s = build_state(spec, bad, (SMTP_OK,), taken_at=0)
    assert [(w.code, w.node, w.loud) for w in s.warnings if w.code.startswith("QDEVICE")] == \
        [("QDEVICE_DISCONNECTED", "node2", True)]
    assert s.to_json()["quorum_device"]["nodes"]["node2"]["vote"] is False
    assert build_state(SPEC, base, (SMTP_OK,), taken_at=0).to_json()["quorum_device"] is None
