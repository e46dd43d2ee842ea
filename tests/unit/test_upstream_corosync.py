"""corosync-cfgtool / corosync-quorumtool of corosync 3.0.0 to HEAD, rendered from their printf formats
(tests/unit/upstream_render.py, tests/fixtures/upstream/SOURCES.md), read back by the parsers."""
import itertools
from pathlib import Path

import pytest

from axha.steps.corosync_status import parse_cfgtool
from axha.steps.install.corosync import links_up, parse_quorumtool
from tests.unit.upstream_render import (CFGTOOL_FAMILIES, Link, Member, cfgtool_exit_code, render_cfgtool,
                                        render_quorumtool)

FIX = Path(__file__).resolve().parents[1] / "fixtures"

# cluster states: (node ids, local id, [per link: {peer id: connected}]), transports per link
STATES = {
    "healthy": ([1, 2], 1, [{2: True}, {2: True}]),
    "healthy-node2": ([1, 2], 2, [{1: True}, {1: True}]),
    "link1-down": ([1, 2], 1, [{2: True}, {2: False}]),
    "link0-down-node2": ([1, 2], 2, [{1: False}, {1: True}]),
    "peer-down": ([1, 2], 1, [{2: False}, {2: False}]),
    "ids-3-and-7": ([3, 7], 7, [{3: True}, {3: True}]),
    "three-nodes": ([1, 2, 3], 2, [{1: True, 3: True}, {1: True, 3: False}]),
}


def links_of(state: str, transports=("udp", "udp")) -> tuple[list[int], int, list[Link]]:
    nodeids, local, per_link = STATES[state]
    links = [Link(i, f"192.168.{81 + i}.{10 + local}", connected, transports[i])
             for i, connected in enumerate(per_link)]
    return nodeids, local, links


SWEEP = list(itertools.product(CFGTOOL_FAMILIES, STATES))


@pytest.mark.parametrize("family,state", SWEEP, ids=[f"{f}-{s}" for f, s in SWEEP])
def test_cfgtool_sweep_every_version_and_state(family, state):
    """The parser recovers the rendered state: per link its address, every peer's connected flag, the local node
    as localhost; `up` is every peer connected (computed here from the state, not by the parser)."""
    nodeids, local, links = links_of(state, ("udp", "sctp") if family == "HEAD" else ("udp", "udp"))
    text = render_cfgtool(family, local, nodeids, links)
    parsed = parse_cfgtool(text, nodeids)
    assert parsed.local_nodeid == local
    assert [l.link_id for l in parsed.links] == [l.link_id for l in links]
    for want, got in zip(links, parsed.links):
        assert got.address == want.address and not got.by_position
        assert dict(got.peers) == {n: "localhost" if n == local else
                                   "connected" if want.connected[n] else "disconnected" for n in nodeids}
        assert got.up == all(want.connected.values())
    if family == "3.1.5" or family == "HEAD":
        assert [l.transport for l in parsed.links] == [l.transport for l in links]


@pytest.mark.parametrize("family", CFGTOOL_FAMILIES)
def test_cfgtool_man_page_shape_spaces_for_tabs(family):
    """corosync-cfgtool.8 (3.1.0 to HEAD) shows the output with spaces for the tabs: read the same."""
    nodeids, local, links = links_of("three-nodes")
    text = render_cfgtool(family, local, nodeids, links).expandtabs(8)
    assert [(l.link_id, l.up) for l in parse_cfgtool(text, nodeids).links] == [(0, True), (1, False)]


def test_misreading_1_cfgtool_3_0_2_to_3_1_0_has_peers():
    """Issue 12 (1): `\\t\\tnodeid  2:\\tconnected` (no colon after nodeid) and `Local node ID 1` without a
    transport, as corosync 3.0.4-3.1.0 print them, were read as no peers, hence no link up."""
    nodeids, local, links = links_of("healthy")
    text = render_cfgtool("3.0.4", local, nodeids, links)
    assert "\t\tnodeid  2:\tconnected\n" in text and "Local node ID 1\n" in text
    assert links_up(text) == (0, 1)
    for family in ("3.0.2", "3.0.0"):
        assert links_up(render_cfgtool(family, local, nodeids, links), tuple(nodeids)) == (0, 1)


def test_cfgtool_3_0_0_positions_need_the_node_ids():
    """3.0.0-3.0.1 number nodes by position: without the ids the local node cannot be told from a disconnected
    peer, so no link is called up; with them it reads like every other version."""
    nodeids, local, links = links_of("ids-3-and-7")
    text = render_cfgtool("3.0.0", local, nodeids, links)
    assert "\t\tnode 1:\tlink enabled:1\tlink connected:0\n" in text  # the local node's own loopback link
    blind = parse_cfgtool(text)
    assert all(l.by_position and not l.up and l.peer_state(3) is None for l in blind.links)
    assert [l.up for l in parse_cfgtool(text, [7, 3]).links] == [True, True]


@pytest.mark.parametrize("family", CFGTOOL_FAMILIES)
def test_cfgtool_exit_code_is_no_error_sign(family):
    """3.0.4-3.1.0 exit 1 when a link is not connected: the output is still the link state."""
    nodeids, local, links = links_of("link1-down")
    rc = cfgtool_exit_code(family, local, nodeids, links)
    assert rc == (1 if family == "3.0.4" else 0)
    assert links_up(render_cfgtool(family, local, nodeids, links), tuple(nodeids)) == (0,)


def test_cfgtool_recorded_lab_output_still_reads():
    text = (FIX / "install" / "corosync-cfgtool-s.txt").read_text()
    assert text == render_cfgtool("3.1.5", 1, [1, 2], [Link(0, "192.168.81.11", {2: True}),
                                                       Link(1, "192.168.82.11", {2: True})])
    assert links_up(text) == (0, 1)


# ---------------------------------------------------------------- corosync-quorumtool


def test_quorumtool_renderer_matches_the_lab_recording():
    """The renderer is the real tool's output: corosync 3.1.7 in the lab printed exactly this."""
    text = render_quorumtool(1, [Member(1, "node1"), Member(2, "node2")], True, expected=2,
                             flags=["2Node", "Quorate", "WaitForAll"], quorum=1)
    assert text == (FIX / "install" / "corosync-quorumtool-s.txt").read_text()


QDEVICE_STATES = {
    "no-qdevice": dict(cells=[None, None], name=None, here=True),
    "qdevice-voting": dict(cells=["A,V,NMW", "A,V,NMW"], name="Qdevice", here=True),
    "qdevice-lost": dict(cells=["NA,V,NMW", "NA,V,NMW"], name="Qdevice", here=False),
    "qdevice-peer-not-registered": dict(cells=["A,V,MW", "NR"], name="Qdevice", here=True),
}


@pytest.mark.parametrize("state", QDEVICE_STATES)
@pytest.mark.parametrize("names", [("node1", "node2"), ("mx-a.example.org", "mx-b.example.org"),
                                   ("10.0.0.11", "10.0.0.12")])
def test_quorumtool_sweep_members_and_qdevice(state, names):
    """Minor misreading of issue 12: with a quorum device the Qdevice column was taken as the member name and
    the device's row (node id 0) as a member."""
    s = QDEVICE_STATES[state]
    members = [Member(i + 1, name, 1, cell if s["name"] else None) for i, (name, cell) in
               enumerate(zip(names, s["cells"]))]
    flags = ["Quorate"] + (["Qdevice"] if s["name"] else [])
    text = render_quorumtool(2, members, True, expected=3 if s["name"] else 2, flags=flags,
                             qdevice_name=s["name"], qdevice_votes_here=s["here"])
    q = parse_quorumtool(text)
    assert q.members == names and q.quorate and q.nodes == 2
    assert q.qdevice == s["name"] and ("Qdevice" in q.flags) == bool(s["name"])


def test_quorumtool_not_quorate_single_member():
    text = render_quorumtool(1, [Member(1, "node1")], False, expected=2, flags=[])
    assert "Activity blocked" in text
    q = parse_quorumtool(text)
    assert (q.quorate, q.nodes, q.members, q.qdevice) == (False, 1, ("node1",), None)
