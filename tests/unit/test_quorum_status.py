"""steps.quorum_status: the quorum tools' outputs rendered from the upstream printf formats, version by version,
the man pages' examples read from the upstream checkouts, and hostile inputs (tests/fixtures/qdevice/SOURCES.md).

The renderers below follow the cited printf calls line by line; the committed samples in tests/fixtures/qdevice
are their output (test_fixtures_are_the_renderers_output; regenerate with
`.venv/bin/python -m tests.unit.test_quorum_status --write-fixtures`). The man pages' examples (spaces for the
tools' tabs) are also rendered, to check the renderers against upstream's own text.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axha.steps.install.corosync import Quorum, parse_quorumtool
from axha.steps.quorum_status import (MAX_LINE, MAX_TEXT, QDEVICE_TOOL_ARGV, QNETD_LIST_ARGV, QNETD_STATUS_ARGV,
                                      QUORUMTOOL_ARGV, QuorumStatusError,
                                      parse_qdevice_status, parse_qnetd_list, parse_qnetd_status,
                                      parse_quorumtool_status, tie_breaker_word, tool_not_running)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
QFIX = FIX / "qdevice"


# ================================================================ renderers: corosync-quorumtool -s
#
# corosync/corosync tools/corosync-quorumtool.c; the three forms of `-s`:
#   "3.0.0": v3.0.0 0ee7fd0c2f .. v3.0.2 0390200dd4 — Ring ID `"%d/%" PRIu64` (v3.0.2 line 609)
#   "3.0.3": v3.0.3 1ba03a3816 .. v3.1.10 ff20c2b123 — Ring ID CS_PRI_RING_ID `"%" PRIx32 ".%" PRIx64`
#            (v3.0.3 line 609; include/corosync/corotypes.h v3.0.3 line 61)
#   "HEAD":  65235a810d — ` [extra info]` after a member's name (HEAD lines 607-617, print_extra_info() 508-531)
# Every other line is the same in the three (v3.1.7 line numbers below; v3.0.0's are 3 lines earlier).
QUORUMTOOL_FAMILIES = ("3.0.0", "3.0.3", "HEAD")


def _padded(text: str) -> str:
    # print_string_padded() (v3.1.7 lines 422-433): `delta = 10 - len; while (delta > 0) printf(" ");
    # printf("%s ", buf);`; print_uint32_padded() (lines 435-441) does the same with `"%u"`
    return " " * max(0, 10 - len(text)) + text + " "


def _nodeid_cell(nodeid: int, hex_ids: bool) -> str:
    # v3.1.7 lines 513-517 / 558-562: print_uint32_padded(id), or with -H `printf("0x%08x ", id)`
    return f"0x{nodeid:08x} " if hex_ids else _padded(str(nodeid))


def _extra_info(data: bytes) -> str:
    # print_extra_info() (HEAD lines 508-531): `<unset>` for size 0; the text when it ends in NUL and every other
    # byte isprint(); else `"%" PRIu32 " bytes: "` and `"%02hhX "` per byte
    if not data:
        return "<unset>"
    if data.endswith(b"\0") and all(0x20 <= b < 0x7f for b in data[:-1]):
        return data[:-1].decode("ascii")
    return f"{len(data)} bytes: " + "".join(f"{b:02X} " for b in data)


@dataclass(frozen=True)
class QtNode:
    nodeid: int
    name: str
    votes: int = 1
    cell: str | None = None        # the Qdevice cell when a device is registered on it ("A,V,NMW"); None: NR
    extra_info: bytes | None = None  # HEAD: the qdevice extra info when the node has some


def render_quorumtool(family: str, local: int, nodes: list[QtNode], *, quorate: bool, expected: int,
                      flags: list[str], quorum: int, highest: int | None = None, total: int | None = None,
                      qdevice_name: str = "Qdevice", qdevice_votes: int = 1, hex_ids: bool = False,
                      machine_parsable: bool = False, ring: tuple[int, int] = (1, 9),
                      date: str = "Thu Nov 26 23:43:58 2026", provider: str = "corosync_votequorum") -> str:
    """`corosync-quorumtool -s [-H] [-p]`: display_quorum_data() (v3.1.7 lines 582-645) then display_nodes_data()
    (lines 466-580). `flags` are the words VOTEQUORUM_INFO_* set for the local node, in print order."""
    votequorum = provider == "corosync_votequorum"
    display_qdevice = any(n.cell for n in nodes)        # lines 480-482: any member with QDEVICE_REGISTERED
    ours = next((n for n in nodes if n.nodeid == local), None)
    cast_vote_here = bool(ours and ours.cell and ours.cell.split(",")[1] == "V")   # our_flags & CAST_VOTE
    if total is None:
        total = sum(n.votes for n in nodes) + (qdevice_votes if cast_vote_here else 0)
    out = ["Quorum information\n", "------------------\n",           # lines 593-594
           f"Date:             {date}\n",                             # line 596: `"%s", ctime(&t)`
           f"Quorum provider:  {provider}\n",                         # line 601
           f"Nodes:            {len(nodes)}\n",                       # line 602: `"%d"`
           f"Node ID:          0x{local:08x}\n" if hex_ids else f"Node ID:          {local}\n"]  # lines 603-607
    rep, seq = ring
    if family == "3.0.0":    # v3.0.2 lines 608-613: `"%d/%" PRIu64` / `"%" PRIu64`
        out.append(f"Ring ID:          {rep}/{seq}\n" if votequorum else f"Ring ID:          {seq}\n")
    else:                    # v3.1.7 lines 609-614: CS_PRI_RING_ID / CS_PRI_RING_ID_SEQ
        out.append(f"Ring ID:          {rep:x}.{seq:x}\n" if votequorum else f"Ring ID:          {seq:x}\n")
    out.append(f"Quorate:          {'Yes' if quorate else 'No'}\n")   # line 615
    if not votequorum:       # lines 617-619: no v_handle, nothing more
        return "".join(out)
    blocked = "Quorate" not in flags
    out += ["\nVotequorum information\n", "----------------------\n",  # lines 623-624
            f"Expected votes:   {expected}\n",                          # line 625 `"%d"`
            f"Highest expected: {expected if highest is None else highest}\n",   # line 626
            f"Total votes:      {total}\n",                             # line 627
            f"Quorum:           {quorum} {'Activity blocked' if blocked else ' '}\n",   # line 628 `"%d %s"`
            "Flags:            " + "".join(f"{f} " for f in flags) + "\n"]          # lines 629-637
    out += ["\nMembership information\n", "----------------------\n"]              # lines 493-494
    header = _padded("Nodeid") + _padded("Votes")                                   # lines 496-503
    if display_qdevice or machine_parsable:
        header += _padded("Qdevice")
    out.append(header + "Name\n")
    for n in nodes:                                                                 # lines 512-547
        row = _nodeid_cell(n.nodeid, hex_ids) + _padded(str(n.votes))
        if display_qdevice or machine_parsable:
            row += _padded(n.cell or "NR")                                          # lines 524-536
        row += n.name
        if family == "HEAD" and display_qdevice and n.cell and n.extra_info is not None:
            row += " [" + _extra_info(n.extra_info) + "]"                           # HEAD lines 607-617
        if n.nodeid == local:
            row += " (local)"                                                       # lines 540-545
        out.append(row + "\n")
    if display_qdevice:                                                             # lines 557-578
        row = _nodeid_cell(0, hex_ids) + _padded(str(qdevice_votes if cast_vote_here else 0))
        row += f"           {qdevice_name}"
        out.append(row + ("\n" if cast_vote_here else f" (votes {qdevice_votes})\n"))
    return "".join(out)


def quorumtool_exit_code(tag: str, quorate: bool) -> int:
    """show_status()'s exit status: v3.0.0/v3.0.1 `return is_quorate;` (v3.0.0 line 704), v3.0.2 on
    `return (is_quorate ? EXIT_SUCCESS : EXIT_NOT_QUORATE);` (v3.0.2 line 706, EXIT_NOT_QUORATE 2 at line 78)."""
    if tag in ("v3.0.0", "v3.0.1"):
        return 1 if quorate else 0
    return 0 if quorate else 2


# ================================================================ renderers: corosync-qdevice-tool -s [-v]
#
# corosync/corosync-qdevice qdevices/qdevice-ipc-cmd.c (v3.0.0 e1e9ae1086 .. HEAD f09dde68f3: the same formats,
# v3.0.3 4331c7d565 line numbers) and qdevices/qdevice-net-ipc-cmd.c; the two forms:
#   "3.0.0": v3.0.0 — no `KAP Tie-breaker:` line (v3.0.0 qdevice-net-ipc-cmd.c lines 257-273)
#   "3.0.1": v3.0.1 28d49141f8 .. HEAD — `"KAP Tie-breaker:\t%s\n"` after the tie-breaker, -v only (v3.0.3
#            lines 80-116); Debian 12 ships 3.0.3
QDEVICE_FAMILIES = ("3.0.0", "3.0.1")


@dataclass(frozen=True)
class QdState:
    """What corosync-qdevice knows, as its instance structures hold it."""

    node_id: int = 1
    hb_interval: int = 10000
    sync_hb_interval: int = 30000
    config_version: int | None = None
    configured: tuple[tuple[int, int], ...] = ((1, 0), (2, 0))      # (node id, data center id)
    heuristics_mode: str = "Disabled"                                 # qdevice_heuristics_mode_to_str()
    ring: tuple[int, int] = (1, 0x10)
    membership: tuple[int, ...] = (1, 2)
    quorate: bool = True
    quorum_nodes: tuple[tuple[int, str], ...] = ((1, "member"), (2, "member"))   # node id 0 entries skipped
    expected_votes: int = 3
    last_poll: str | None = "2026-11-26T23:43:58"
    last_poll_cast_vote: bool = True
    cluster_name: str = "axigen"
    host: str = "qnetd.example.org"
    port: int = 5403
    force_ip_version: int = 0
    connect_timeout: int = 8000
    net_hb_interval: int = 8000
    vote_timer_interval: int = 5000
    tls: str = "Supported"                                            # tlv_tls_supported_to_str()
    algorithm: str = "Fifty-Fifty split"                              # tlv_decision_algorithm_type_to_str()
    tie_breaker: str | int = "lowest"                                 # lowest, highest or a node id
    kap: str = "Disabled"                                             # kap_tb_str
    poll_timer: str | None = "ACK"      # None: no cast vote timer; else the vote it casts (ACK: " (cast vote)")
    state: str = "Connected"
    heuristics: tuple[str, str, str, str] = ("Undefined", "Undefined", "Undefined", "Undefined")
    tls_active: bool = True
    client_cert_sent: bool = True
    connected_since: str | None = "2026-11-26T23:40:00"
    echo_reply: str | None = "2026-11-26T23:43:50"


def _tie_breaker(tb: str | int) -> str:
    # qdevice_net_ipc_cmd_status_add_tie_breaker() (v3.0.3 lines 49-78), qnetd_ipc_cmd_add_tie_breaker()
    # (qnetd-ipc-cmd.c lines 86-115): "Node with lowest node ID" / "Node with highest node ID" /
    # "Node with node ID "UTILS_PRI_NODE_ID
    if tb == "lowest":
        return "Node with lowest node ID"
    if tb == "highest":
        return "Node with highest node ID"
    return f"Node with node ID {tb}"


def render_qdevice_status(family: str, s: QdState, verbose: bool) -> str:
    """qdevice_ipc_cmd_status() (qdevice-ipc-cmd.c v3.0.3 lines 259-279) then qdevice_net_ipc_cmd_status()
    (qdevice-net-ipc-cmd.c v3.0.3 lines 296-313): what `corosync-qdevice-tool -s [-v]` puts on stdout (the
    tool drops the IPC's `OK` status line, corosync-qdevice-tool.c v3.0.3 lines 162-217)."""
    o = ["Qdevice information\n", "-------------------\n",            # lines 46-47
         "Model:\t\t\tNet\n",                                          # line 55, qdevice_model_type_to_str()
         f"Node ID:\t\t{s.node_id}\n"]                                 # line 64, UTILS_PRI_NODE_ID "%" PRIu32
    if verbose:                                                        # lines 73-80
        o += [f"HB interval:\t\t{s.hb_interval}ms\n", f"Sync HB interval:\t{s.sync_hb_interval}ms\n"]
    if s.config_version is not None:                                   # lines 90-95
        o.append(f"Configuration version:\t{s.config_version}\n")
    o.append("Configured node list:\n")                               # line 97
    for i, (nid, dc) in enumerate(s.configured):                       # lines 103-113
        o.append(f"    {i}\tNode ID = {nid}" + (f", Data center ID = {dc}" if dc else "") + "\n")
    if verbose:                                                        # lines 251-256
        o.append(f"Heuristics:\t\t{s.heuristics_mode}\n")
        o.append(f"Ring ID:\t\t{s.ring[0]:x}.{s.ring[1]:x}\n")        # line 124, UTILS_PRI_RING_ID
    o.append("Membership node list:\t" + ", ".join(map(str, s.membership)) + "\n")   # lines 129-147
    if verbose:
        o.append(f"Quorate:\t\t{'Yes' if s.quorate else 'No'}\n")     # line 181
        o.append("Quorum node list:\n")                               # line 186
        for i, (nid, state) in enumerate(s.quorum_nodes):              # lines 190-202: index kept, id 0 skipped
            if nid:
                o.append(f"    {i}\tNode ID = {nid}, State = {state}\n")
        o.append(f"Expected votes:\t\t{s.expected_votes}\n")          # line 216
        if s.last_poll is None:                                        # lines 230-240
            o.append("Last poll call:\t\tNever\n")
        else:
            o.append(f"Last poll call:\t\t{s.last_poll}{' (cast vote)' if s.last_poll_cast_vote else ''}\n")
    o.append("\n")                                                     # line 273
    # qdevice-net-ipc-cmd.c v3.0.3
    o += ["Qdevice-net information\n", "----------------------\n",    # lines 45-46
          f"Cluster name:\t\t{s.cluster_name}\n",                      # line 123
          f"QNetd host:\t\t{s.host}:{s.port}\n"]                       # line 127
    if verbose and s.force_ip_version:                                 # lines 132-137
        o.append(f"Force IP version:\t{s.force_ip_version}\n")
    if verbose:                                                        # lines 139-154
        o += [f"Connect timeout:\t{s.connect_timeout}ms\n", f"HB interval:\t\t{s.net_hb_interval}ms\n",
              f"VQ vote timer interval:\t{s.vote_timer_interval}ms\n", f"TLS:\t\t\t{s.tls}\n"]
    o.append(f"Algorithm:\t\t{s.algorithm}\n")                         # line 156
    o.append(f"Tie-breaker:\t\t{_tie_breaker(s.tie_breaker)}\n")      # lines 54-77
    if verbose and family != "3.0.0":
        o.append(f"KAP Tie-breaker:\t{s.kap}\n")                       # line 115
    if verbose:                                                        # lines 173-184
        o.append(f"Poll timer running:\t{'No' if s.poll_timer is None else 'Yes'}"
                 + (" (cast vote)" if s.poll_timer == "ACK" else "") + "\n")
    o.append(f"State:\t\t\t{s.state}\n")                               # line 208
    if s.heuristics_mode in ("Enabled", "Enabled only on sync"):       # lines 218-240
        o.append(f"Heuristics result:\t{s.heuristics[0]}"
                 + (f" (regular: {s.heuristics[1]}, membership: {s.heuristics[2]}, connect: {s.heuristics[3]})"
                    if verbose else "") + "\n")
    connected = s.state == "Connected"    # instance->state == QDEVICE_NET_INSTANCE_STATE_WAITING_VOTEQUORUM_...
    if verbose and connected:                                          # lines 248-262
        o.append(f"TLS active:\t\t{'Yes' if s.tls_active else 'No'}"
                 + (" (client certificate sent)" if s.tls_active and s.client_cert_sent else "") + "\n")
    if verbose and connected:                                          # lines 271-291
        if s.connected_since:
            o.append(f"Connected since:\t{s.connected_since}\n")
        if s.echo_reply:
            o.append(f"Echo reply received:\t{s.echo_reply}\n")
    return "".join(o)


# ================================================================ renderers: corosync-qnetd-tool -l / -s
#
# corosync/corosync-qdevice qdevices/qnetd-ipc-cmd.c; the two forms of -l:
#   "3.0.0": v3.0.0 — `"    Algorithm:\t\t%s\n"` (v3.0.0 line 284)
#   "3.0.1": v3.0.1 .. HEAD — `"    Algorithm:\t\t%s%s\n"`, ` (KAP Tie-breaker)` when every client of the
#            cluster runs ffsplit with keep_active_partition_tie_breaker (v3.0.3 lines 261-279, 304-315)
# -s (qnetd_ipc_cmd_status(), lines 40-84) is the same from v3.0.0 to HEAD.
QNETD_FAMILIES = ("3.0.0", "3.0.1")


@dataclass(frozen=True)
class QnClient:
    node_id: int
    addr: str = "::ffff:192.0.2.11:40001"         # PR_NetAddrToString() + ":%u" (qnetd-client-net.c 294-304)
    hb_interval: int = 8000
    config_version: int | None = None
    configured: tuple[tuple[int, int], ...] = ((1, 0), (2, 0))
    ring: tuple[int, int] = (1, 0x10)
    membership: tuple[tuple[int, int], ...] = ((1, 0), (2, 0))
    heuristics: tuple[str, str, str] = ("Undefined", "Undefined", "Undefined")   # last, membership, regular
    tls_started: bool = True
    cert_verified: bool = True
    vote: str | None = "ACK"                       # tlv_vote_to_str(last_sent_vote); None: TLV_VOTE_UNDEFINED
    ack_nack: str | None = "ACK"                   # last_sent_ack_nack_vote
    algorithm: str = "Fifty-Fifty split"
    kap: bool = False
    tie_breaker: str | int = "lowest"


@dataclass(frozen=True)
class QnCluster:
    name: str
    clients: tuple[QnClient, ...] = field(default_factory=tuple)


def _node_list(nodes: tuple[tuple[int, int], ...]) -> str:
    # qnetd_ipc_cmd_list_add_node_list() (v3.0.3 lines 117-148): ", " between, UTILS_PRI_NODE_ID, and
    # `" (" UTILS_PRI_DATACENTER_ID ")"` when the data center id is not 0
    return ", ".join(f"{n}" + (f" ({dc})" if dc else "") for n, dc in nodes)


def render_qnetd_list(family: str, clusters: list[QnCluster], verbose: bool) -> str:
    """qnetd_ipc_cmd_list() (v3.0.3 lines 281-334) and qnetd_ipc_cmd_list_add_client_info() (lines 150-259)."""
    o = []
    for c in clusters:
        o.append(f'Cluster "{c.name}":\n')                                    # line 297
        for i, cl in enumerate(c.clients):
            if i == 0:                                                         # lines 304-320
                kap = family != "3.0.0" and all(x.algorithm == "Fifty-Fifty split" and x.kap for x in c.clients)
                o.append(f"    Algorithm:\t\t{cl.algorithm}{' (KAP Tie-breaker)' if kap else ''}\n")
                o.append(f"    Tie-breaker:\t{_tie_breaker(cl.tie_breaker)}\n")          # lines 91-114
            o.append(f"    Node ID {cl.node_id}:\n")                          # line 155
            o.append(f"        Client address:\t\t{cl.addr}\n")              # line 160
            if verbose:
                o.append(f"        HB interval:\t\t{cl.hb_interval}ms\n")    # line 166
            if cl.config_version is not None:
                o.append(f"        Configuration version:\t{cl.config_version}\n")      # lines 172-177
            if cl.configured:
                o.append(f"        Configured node list:\t{_node_list(cl.configured)}\n")   # lines 179-186
            if verbose:
                o.append(f"        Ring ID:\t\t{cl.ring[0]:x}.{cl.ring[1]:x}\n")        # line 189
            if cl.membership:
                o.append(f"        Membership node list:\t{_node_list(cl.membership)}\n")   # lines 195-202
            if cl.heuristics[0] != "Undefined" or verbose:                    # lines 204-221
                o.append(f"        Heuristics:\t\t{cl.heuristics[0]}"
                         + (f" (membership: {cl.heuristics[1]}, regular: {cl.heuristics[2]})" if verbose else "")
                         + "\n")
            if verbose:                                                        # lines 223-238
                o.append(f"        TLS active:\t\t{'Yes' if cl.tls_started else 'No'}"
                         + (" (client certificate verified)" if cl.tls_started and cl.cert_verified else "")
                         + "\n")
            if cl.vote is not None:                                            # lines 240-256
                o.append(f"        Vote:\t\t\t{cl.vote}" + (f" ({cl.ack_nack})" if cl.ack_nack else "") + "\n")
    return "".join(o)


def render_qnetd_status(verbose: bool, *, host: str | None = None, port: int = 5403, tls: str = "Supported",
                        cert_required: bool = True, clients: int = 2, clusters: int = 1, max_clients: int = 0,
                        sizes: tuple[int, int] = (32768, 32768)) -> str:
    """qnetd_ipc_cmd_status() (qnetd-ipc-cmd.c v3.0.3 lines 40-84)."""
    o = [f"QNetd address:\t\t\t{host if host is not None else '*'}:{port}\n",            # line 44
         f"TLS:\t\t\t\t{tls}" + (" (client certificate required)" if tls != "Unsupported" and cert_required
                                  else "") + "\n",                                        # lines 49-54
         f"Connected clients:\t\t{clients}\n", f"Connected clusters:\t\t{clusters}\n"]     # lines 56-64
    if verbose:
        if max_clients:
            o.append(f"Maximum allowed clients:\t{max_clients}\n")                        # lines 70-75
        o.append(f"Maximum send/receive size:\t{sizes[0]}/{sizes[1]} bytes\n")           # lines 77-81
    return "".join(o)


def render_err(program: str, message: str, strerror: str) -> str:
    """glibc err(3): `program_invocation_short_name: message: strerror(errno)` on stderr."""
    return f"{program}: {message}: {strerror}\n"


QDEVICE_NOT_RUNNING = "Can't connect to QDevice socket (is QDevice running?)"   # corosync-qdevice-tool.c 239-240
QNETD_NOT_RUNNING = "Can't connect to qnetd socket (is QNetd running?)"         # corosync-qnetd-tool.c 267-268


# ================================================================ the committed samples

TWO = [QtNode(1, "node1"), QtNode(2, "node2")]
VOTING = [QtNode(1, "node1", cell="A,V,NMW"), QtNode(2, "node2", cell="A,V,NMW")]
CLIENTS = (QnClient(1, "::ffff:192.0.2.11:40001"), QnClient(2, "::ffff:192.0.2.12:40002"))


def _samples() -> dict[str, str]:
    return {
        "quorumtool-3.0.0-qdevice.txt": render_quorumtool(
            "3.0.0", 1, VOTING, quorate=True, expected=3, flags=["Quorate", "Qdevice"], quorum=2, ring=(1, 8)),
        "quorumtool-3.0.3-not-quorate.txt": render_quorumtool(
            "3.0.3", 2, [QtNode(2, "node2")], quorate=False, expected=2, flags=["2Node", "WaitForAll"], quorum=1,
            ring=(2, 0x1c)),
        "quorumtool-3.0.3-qdevice-lost-hex.txt": render_quorumtool(
            "3.0.3", 1, [QtNode(1, "node1", cell="NA,NV,NMW"), QtNode(2, "node2", cell="NA,NV,NMW")],
            quorate=True, expected=3, flags=["Quorate", "Qdevice"], quorum=2, hex_ids=True, ring=(1, 0x2a)),
        "quorumtool-3.0.3-peer-not-registered.txt": render_quorumtool(
            "3.0.3", 1, [QtNode(1, "node1", cell="A,V,NMW"), QtNode(2, "node2")], quorate=True, expected=3,
            flags=["Quorate", "Qdevice"], quorum=2),
        "quorumtool-3.0.3-p.txt": render_quorumtool(
            "3.0.3", 1, TWO, quorate=True, expected=2, flags=["2Node", "Quorate", "WaitForAll"], quorum=1,
            machine_parsable=True),
        "quorumtool-HEAD-extra-info.txt": render_quorumtool(
            "HEAD", 2, [QtNode(1, "node1", cell="A,V,NMW", extra_info=b"site-a\0"),
                        QtNode(2, "node2", cell="A,V,NMW", extra_info=b"")],
            quorate=True, expected=3, flags=["Quorate", "Qdevice"], quorum=2),
        "qdevice-tool-3.0.0-s-v.txt": render_qdevice_status("3.0.0", QdState(), True),
        "qdevice-tool-3.0.1-s-v.txt": render_qdevice_status(
            "3.0.1", QdState(heuristics_mode="Enabled", heuristics=("Pass", "Pass", "Pass", "Undefined"),
                             kap="Enabled", config_version=7), True),
        "qdevice-tool-3.0.1-s.txt": render_qdevice_status("3.0.1", QdState(), False),
        "qdevice-tool-3.0.1-s-v-connect-failed.txt": render_qdevice_status(
            "3.0.1", QdState(state="Connect failed", poll_timer=None, last_poll=None, quorate=False,
                             membership=(1,), quorum_nodes=((1, "member"), (2, "dead"))), True),
        "qnetd-tool-3.0.0-l-v.txt": render_qnetd_list("3.0.0", [QnCluster("axigen", CLIENTS)], True),
        "qnetd-tool-3.0.1-l-v.txt": render_qnetd_list("3.0.1", [
            QnCluster("axigen", tuple(QnClient(c.node_id, c.addr, kap=True) for c in CLIENTS)),
            QnCluster("mail2", (QnClient(3, "192.0.2.21:40003", vote="No change", ack_nack="ACK",
                                         configured=((3, 0), (4, 0)), membership=((3, 0),), tie_breaker=4),
                                QnClient(4, "192.0.2.22:40004", vote="Ask later", ack_nack="NACK",
                                         configured=((3, 0), (4, 0)), membership=((4, 0),), tie_breaker=4),
                                ))], True),
        "qnetd-tool-3.0.1-l.txt": render_qnetd_list("3.0.1", [QnCluster("axigen", CLIENTS)], False),
        "qnetd-tool-s.txt": render_qnetd_status(False),
        "qnetd-tool-s-v.txt": render_qnetd_status(True, max_clients=64),
        "qdevice-tool-not-running.stderr": render_err("corosync-qdevice-tool", QDEVICE_NOT_RUNNING,
                                                      "No such file or directory"),
        "qnetd-tool-not-running.stderr": render_err("corosync-qnetd-tool", QNETD_NOT_RUNNING,
                                                    "Connection refused"),
    }


SAMPLES = _samples()


def sample(name: str) -> str:
    return (QFIX / name).read_text()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fixtures_are_the_renderers_output(name):
    assert (QFIX / name).read_text() == SAMPLES[name]


def test_every_fixture_is_listed_in_sources():
    sources = (QFIX / "SOURCES.md").read_text()
    on_disk = {p.name for p in QFIX.iterdir() if p.name != "SOURCES.md"}
    # rendered samples, and the real tools' outputs recorded in the lab (lab-*, read in test_qdevice.py)
    assert {n for n in on_disk if not n.startswith("lab-")} == set(SAMPLES)
    for name in on_disk:
        assert f"`{name}`" in sources, name


# ================================================================ upstream checkouts (man pages, sources)


def _checkout(name: str) -> Path | None:
    base = Path(os.environ.get("AXHA_UPSTREAM") or "/work/.mirror")
    for candidate in (base / name / "repo", base / name):
        if (candidate / "HEAD").exists() or (candidate / ".git").exists():
            return candidate
    return None


COROSYNC = _checkout("corosync+corosync")
QDEVICE = _checkout("corosync+corosync-qdevice")


def git_show(repo: Path | None, rev: str, path: str) -> str:
    if repo is None:
        pytest.skip("no upstream checkout (AXHA_UPSTREAM, tests/fixtures/qdevice/SOURCES.md)")
    out = subprocess.run(["git", f"--git-dir={repo}" if (repo / "HEAD").exists() else f"--git-dir={repo}/.git",
                          "show", f"{rev}:{path}"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"{rev}:{path} not in the checkout")
    return out.stdout


def man_example(text: str, section: str) -> str:
    """The `.nf` .. `.fi` block after `.SH <section>` of a man page, roff escapes `\\-` and `\\\\` undone."""
    lines = text.split("\n")
    start = lines.index(f".SH {section}")
    begin = lines.index(".nf", start)
    end = lines.index(".fi", begin)
    return "".join(line.replace("\\-", "-").replace("\\\\", "\\") + "\n" for line in lines[begin + 1:end])


# the state the man pages' examples show (man/corosync-qdevice-tool.8 lines 69-105 of v3.0.1 to HEAD)
MAN_QDEVICE_STATE = QdState(
    node_id=1, configured=((1, 0),), heuristics_mode="Enabled", ring=(1, 0xa00000000021b48), membership=(1,),
    quorum_nodes=((1, "member"),), expected_votes=2, last_poll="2016-06-24T17:05:20", cluster_name="Cluster",
    host="localhost", kap="Enabled", heuristics=("Pass", "Pass", "Fail", "Fail"),
    connected_since="2016-06-24T17:02:35", echo_reply="2016-06-24T17:05:15")


@pytest.mark.parametrize("tag", ["v3.0.0", "v3.0.1", "v3.0.3", "v3.0.4", "HEAD"])
def test_qdevice_tool_man_page_example(tag):
    text = man_example(git_show(QDEVICE, tag, "man/corosync-qdevice-tool.8"), "STATUS COMMAND OUTPUT")
    # the example is `-s -v` of the same version with its tabs expanded
    family = "3.0.0" if tag == "v3.0.0" else "3.0.1"
    assert text == render_qdevice_status(family, MAN_QDEVICE_STATE, True).expandtabs(8)
    s = parse_qdevice_status(text)
    assert (s.model, s.node_id, s.configured_nodes, s.membership, s.quorum_nodes) == \
        ("Net", 1, (1,), (1,), ((1, "member"),))
    assert (s.hb_interval_ms, s.sync_hb_interval_ms, s.heuristics, s.ring_id, s.quorate, s.expected_votes) == \
        (10000, 30000, "Enabled", "1.a00000000021b48", True, 2)
    assert (s.last_poll, s.last_poll_cast_vote) == ("2016-06-24T17:05:20", True)
    assert (s.cluster_name, s.host, s.port, s.connect_timeout_ms, s.net_hb_interval_ms,
            s.vq_vote_timer_interval_ms, s.tls) == ("Cluster", "localhost", 5403, 8000, 8000, 5000, "Supported")
    assert (s.algorithm, s.tie_breaker, tie_breaker_word(s.tie_breaker)) == \
        ("Fifty-Fifty split", "Node with lowest node ID", "lowest")
    assert s.kap_tie_breaker == (None if tag == "v3.0.0" else "Enabled")
    assert (s.poll_timer_running, s.poll_timer_cast_vote, s.state, s.connected) == (True, True, "Connected", True)
    assert (s.heuristics_result, s.heuristics_regular, s.heuristics_membership, s.heuristics_connect) == \
        ("Pass", "Pass", "Fail", "Fail")
    assert (s.tls_active, s.client_certificate_sent) == (True, True)
    assert (s.connected_since, s.echo_reply_received) == ("2016-06-24T17:02:35", "2016-06-24T17:05:15")


MAN_QNETD_CLIENT = QnClient(1, "::ffff:127.0.0.1:52000", configured=((1, 0), (2, 0)), ring=(1, 0xa00000000021b40),
                            membership=((1, 0), (2, 0)), vote="No change", ack_nack="ACK", kap=True)


@pytest.mark.parametrize("tag", ["v3.0.0", "v3.0.1", "v3.0.3", "v3.0.4", "HEAD"])
def test_qnetd_tool_man_page_example(tag):
    text = man_example(git_show(QDEVICE, tag, "man/corosync-qnetd-tool.8"), "LIST COMMAND OUTPUT")
    # `-l -v` of one cluster with one client, tabs expanded, and ` ...` for the rest; the man page's example
    # has no `Heuristics:` line, which -v prints in every 3.x (qnetd-ipc-cmd.c v3.0.3 line 204: it predates
    # heuristics)
    family = "3.0.0" if tag == "v3.0.0" else "3.0.1"
    rendered = render_qnetd_list(family, [QnCluster("Cluster", (MAN_QNETD_CLIENT,))], True).expandtabs(8)
    without_heuristics = "".join(l for l in rendered.splitlines(True) if not l.lstrip().startswith("Heuristics:"))
    assert text == without_heuristics + " ...\n"
    (cluster,) = parse_qnetd_list(text)
    assert (cluster.name, cluster.algorithm, cluster.kap_tie_breaker, cluster.tie_breaker) == \
        ("Cluster", "Fifty-Fifty split", tag != "v3.0.0", "Node with lowest node ID")
    (node,) = cluster.nodes
    assert (node.nodeid, node.address, node.port, node.hb_interval_ms) == (1, "::ffff:127.0.0.1", 52000, 8000)
    assert (node.configured_nodes, node.membership, node.ring_id) == ((1, 2), (1, 2), "1.a00000000021b40")
    assert (node.tls_active, node.client_certificate_verified) == (True, True)
    assert (node.vote, node.last_ack_nack_vote, node.effective_vote, node.has_vote) == \
        ("No change", "ACK", "ACK", True)
    assert cluster.node(1) is node and cluster.node(2) is None


@pytest.mark.parametrize("tag", ["v3.0.0", "v3.0.1", "v3.0.2", "v3.0.3", "v3.0.4", "v3.1.0", "v3.1.7", "v3.1.10",
                                 "HEAD"])
def test_quorumtool_source_still_prints_the_rendered_formats(tag):
    """The format strings render_quorumtool() copies are in tools/corosync-quorumtool.c at each tag."""
    src = git_show(COROSYNC, tag, "tools/corosync-quorumtool.c")
    for fmt in ['printf("Quorum information\\n");', 'printf("Date:             %s", ctime(',
                'printf("Quorum provider:  %s\\n", quorumtype);', 'printf("Nodes:            %d\\n"',
                'printf("Node ID:          0x%08x\\n", our_nodeid);', 'printf("Quorate:          %s\\n"',
                'printf("Expected votes:   %d\\n"', 'printf("Highest expected: %d\\n"',
                'printf("Total votes:      %d\\n"', 'printf("Quorum:           %d %s\\n", info.quorum, '
                'info.flags & VOTEQUORUM_INFO_QUORATE?" ":"Activity blocked");',
                'printf("Flags:            ");', 'printf("2Node ");', 'printf("Quorate ");', 'printf("WaitForAll ");',
                'printf("LastManStanding ");', 'printf("AutoTieBreaker ");', 'printf("AllowDownscale ");',
                'printf("Qdevice ");', 'printf("\\nMembership information\\n");', 'print_string_padded("Nodeid");',
                'print_string_padded("Votes");', 'print_string_padded("Qdevice");', 'printf("Name\\n");',
                '"%s,%s,%s",', '?"A":"NA"', '?"V":"NV"', '?"MW":"NMW"', 'print_string_padded("NR");',
                'printf(" (local)");', 'printf("0x%08x ", g_view_list[i].node_id);',
                'printf("           %s", info[0].qdevice_name);', 'printf(" (votes %d)\\n", info[0].qdevice_votes);',
                'delta = 10 - len;', 'printf("%s ", buf);']:
        assert fmt in src, (tag, fmt)
    old_ring = 'printf("Ring ID:          %d/%" PRIu64 "\\n", g_ring_id_rep_node, g_ring_id);'
    new_ring = 'printf("Ring ID:          " CS_PRI_RING_ID "\\n", g_ring_id_rep_node, g_ring_id);'
    assert (old_ring in src, new_ring in src) == ((True, False) if tag in ("v3.0.0", "v3.0.1", "v3.0.2")
                                                  else (False, True))
    assert ('printf(" [");' in src) == (tag == "HEAD")
    # the exit status of -s
    assert ("return is_quorate;" in src) == (tag in ("v3.0.0", "v3.0.1"))
    assert ("return (is_quorate ? EXIT_SUCCESS : EXIT_NOT_QUORATE);" in src) == (tag not in ("v3.0.0", "v3.0.1"))


# the C string literals the qdevice/qnetd renderers copy, as they are written in the sources
QDEVICE_FORMATS = {
    "qdevices/qdevice-ipc-cmd.c": [
        r'"Qdevice information\n"', r'"-------------------\n"', r'"Model:\t\t\t%s\n"',
        r'"Node ID:\t\t"UTILS_PRI_NODE_ID"\n"', r'"HB interval:\t\t%"PRIu32"ms\n"',
        r'"Sync HB interval:\t%"PRIu32"ms\n"', r'"Configuration version:\t"UTILS_PRI_CONFIG_VERSION"\n"',
        r'"Configured node list:\n"', r'"    %zu\tNode ID = "UTILS_PRI_NODE_ID', r'", Data center ID = "',
        r'"Ring ID:\t\t"UTILS_PRI_RING_ID"\n"', r'"Membership node list:\t"', r'"Quorate:\t\t%s\n"',
        r'"Quorum node list:\n"', r'"    %"PRIu32"\tNode ID = "UTILS_PRI_NODE_ID', r'", State = %s\n"',
        r'if (node->nodeid == 0) {', r'"Expected votes:\t\t"UTILS_PRI_EXPECTED_VOTES"\n"',
        r'"Last poll call:\t\tNever\n"', r'"Last poll call:\t\t%04d-%02d-%02dT%02d:%02d:%02d%s\n"',
        r'" (cast vote)"', r'"Heuristics:\t\t%s\n"', r'return ("member")', r'return ("dead")',
        r'return ("leaving")'],
    "qdevices/qdevice-net-ipc-cmd.c": [
        r'"Qdevice-net information\n"', r'"----------------------\n"', r'"Cluster name:\t\t%s\n"',
        r'"QNetd host:\t\t%s:%"PRIu16"\n"', r'"Force IP version:\t%u\n"', r'"Connect timeout:\t%"PRIu32"ms\n"',
        r'"HB interval:\t\t%"PRIu32"ms\n"', r'"VQ vote timer interval:\t%"PRIu32"ms\n"', r'"TLS:\t\t\t%s\n"',
        r'"Algorithm:\t\t%s\n"', r'"Tie-breaker:\t\t"', r'"Node with lowest node ID"',
        r'"Node with highest node ID"', r'"Node with node ID "UTILS_PRI_NODE_ID', r'"Poll timer running:\t%s"',
        r'" (cast vote)"', r'"State:\t\t\t%s\n"', r'state = "Disconnected";', r'state = "Connected";',
        r'state = "Connecting";', r'state = "Connect failed";', r'"Heuristics result:\t%s"',
        r'" (regular: %s, membership: %s, connect: %s)"', r'"TLS active:\t\t%s"', r'" (client certificate sent)"',
        r'"Connected since:\t%04d-%02d-%02dT%02d:%02d:%02d\n"',
        r'"Echo reply received:\t%04d-%02d-%02dT%02d:%02d:%02d\n"'],
    "qdevices/qnetd-ipc-cmd.c": [
        r'"QNetd address:\t\t\t%s:%"PRIu16"\n"', r'"TLS:\t\t\t\t%s%s\n"', r'" (client certificate required)"',
        r'"Connected clients:\t\t%zu\n"', r'"Connected clusters:\t\t%zu\n"', r'"Maximum allowed clients:\t%zu\n"',
        r'"Maximum send/receive size:\t%zu/%zu bytes\n"', r'"Cluster \"%s\":\n"', r'"    Tie-breaker:\t"',
        r'"Node with lowest node ID"', r'"Node with highest node ID"', r'"Node with node ID "UTILS_PRI_NODE_ID',
        r'" (" UTILS_PRI_DATACENTER_ID ")"', r'"    Node ID "UTILS_PRI_NODE_ID":\n"',
        r'"        Client address:\t\t%s\n"', r'"        HB interval:\t\t%"PRIu32"ms\n"',
        r'"        Configuration version:\t"', r'"        Configured node list:\t"',
        r'"        Ring ID:\t\t"UTILS_PRI_RING_ID"\n"', r'"        Membership node list:\t"',
        r'"        Heuristics:\t\t%s"', r'" (membership: %s, regular: %s)"', r'"        TLS active:\t\t%s"',
        r'" (client certificate verified)"', r'"        Vote:\t\t\t%s"', r'" (%s)"'],
    "qdevices/tlv.c": [
        r'return ("ACK")', r'return ("NACK")', r'return ("Ask later")', r'return ("Wait for reply")',
        r'return ("No change")', r'return ("Unsupported")', r'return ("Supported")', r'return ("Required")',
        r'return ("Test")', r'return ("Fifty-Fifty split")', r'return ("2 Node LMS")', r'return ("LMS")',
        r'return ("Undefined")', r'return ("Pass")', r'return ("Fail")'],
    "qdevices/qdevice-heuristics-mode.c": [
        r'return ("Disabled")', r'return ("Enabled")', r'return ("Enabled only on sync")'],
    "qdevices/qdevice-model.c": [r'return ("Net")'],
    "qdevices/utils.h": ['#define UTILS_PRI_NODE_ID\t\t"%" PRIu32', '#define UTILS_PRI_DATACENTER_ID\t\t"%" PRIu32',
                         '#define UTILS_PRI_RING_ID\t\t"%" PRIx32 ".%" PRIx64'],
}


@pytest.mark.parametrize("tag", ["v3.0.0", "v3.0.1", "v3.0.2", "v3.0.3", "v3.0.4", "HEAD"])
def test_qdevice_sources_still_print_the_rendered_formats(tag):
    for path, formats in QDEVICE_FORMATS.items():
        src = git_show(QDEVICE, tag, path)
        for fmt in formats:
            assert fmt in src, (tag, path, fmt)
    net = git_show(QDEVICE, tag, "qdevices/qdevice-net-ipc-cmd.c")
    qnetd = git_show(QDEVICE, tag, "qdevices/qnetd-ipc-cmd.c")
    assert (r'"KAP Tie-breaker:\t%s\n"' in net) == (tag != "v3.0.0")
    assert (r'"    Algorithm:\t\t%s\n"' in qnetd, r'"    Algorithm:\t\t%s%s\n"' in qnetd,
            r'" (KAP Tie-breaker)"' in qnetd) == ((True, False, False) if tag == "v3.0.0" else (False, True, True))


@pytest.mark.parametrize("tag", ["v3.0.0", "v3.0.1", "v3.0.3", "HEAD"])
def test_qdevice_tools_not_running_message_and_exit_code(tag):
    for path, message, prefix in (("qdevices/corosync-qdevice-tool.c", QDEVICE_NOT_RUNNING, "QDEVICE"),
                                  ("qdevices/corosync-qnetd-tool.c", QNETD_NOT_RUNNING, "QNETD")):
        src = git_show(QDEVICE, tag, path)
        assert f"err({prefix}_TOOL_EXIT_CODE_SOCKET_CONNECT,\n\t\t    \"{message}\");" in src
        assert f"{prefix}_TOOL_EXIT_CODE_SOCKET_CONNECT = 3," in src
        assert "setlocale" not in src   # strerror() stays English


# ================================================================ corosync-quorumtool -s


def test_quorumtool_lab_recording_is_what_the_renderer_prints():
    """The renderer reproduces the real corosync 3.1.7 output recorded in the lab byte for byte."""
    text = (FIX / "install" / "corosync-quorumtool-s.txt").read_text()
    assert text == render_quorumtool("3.0.3", 1, TWO, quorate=True, expected=2,
                                     flags=["2Node", "Quorate", "WaitForAll"], quorum=1)
    q = parse_quorumtool_status(text)
    assert (q.quorate, q.expected_votes, q.highest_expected, q.total_votes, q.quorum) == (True, 2, 2, 2, 1)
    assert q.flags == {"2Node", "Quorate", "WaitForAll"} and q.flag_words == ("2Node", "Quorate", "WaitForAll")
    assert (q.provider, q.nodes, q.local_nodeid, q.ring_id, q.activity_blocked) == \
        ("corosync_votequorum", 2, 1, "1.9", False)
    assert [(m.nodeid, m.votes, m.qdevice, m.name, m.local) for m in q.members] == \
        [(1, 1, None, "node1", True), (2, 1, None, "node2", False)]
    assert (q.qdevice_name, q.qdevice_votes, q.qdevice_counted, q.has_qdevice, q.two_node) == \
        (None, None, None, False, True)
    assert q.local_member == q.members[0] and q.member_names == ("node1", "node2")


def test_quorumtool_3_0_0_with_a_voting_qdevice():
    q = parse_quorumtool_status(sample("quorumtool-3.0.0-qdevice.txt"))
    assert q.ring_id == "1/8" and q.quorate and (q.expected_votes, q.total_votes, q.quorum) == (3, 3, 2)
    assert q.flags == {"Quorate", "Qdevice"}
    assert [(m.nodeid, m.qdevice, m.name, m.local) for m in q.members] == \
        [(1, "A,V,NMW", "node1", True), (2, "A,V,NMW", "node2", False)]
    assert all(m.qdevice_registered and m.qdevice_alive and m.qdevice_cast_vote and not m.qdevice_master_wins
               for m in q.members)
    assert (q.qdevice_name, q.qdevice_votes, q.qdevice_counted) == ("Qdevice", 1, True)


def test_quorumtool_not_quorate_activity_blocked():
    q = parse_quorumtool_status(sample("quorumtool-3.0.3-not-quorate.txt"))
    assert (q.quorate, q.activity_blocked, q.quorum, q.nodes, q.local_nodeid, q.ring_id) == \
        (False, True, 1, 1, 2, "2.1c")
    assert q.flags == {"2Node", "WaitForAll"} and q.member_names == ("node2",) and q.local_member.nodeid == 2


def test_quorumtool_hex_ids_and_a_lost_qdevice():
    q = parse_quorumtool_status(sample("quorumtool-3.0.3-qdevice-lost-hex.txt"))
    assert q.local_nodeid == 1 and [m.nodeid for m in q.members] == [1, 2]
    assert all(m.qdevice == "NA,NV,NMW" and not m.qdevice_alive and not m.qdevice_cast_vote for m in q.members)
    # the device does not vote here: its row shows 0 votes and `(votes 1)`
    assert (q.qdevice_name, q.qdevice_votes, q.qdevice_counted, q.total_votes) == ("Qdevice", 1, False, 2)


def test_quorumtool_qdevice_registered_on_one_member_only():
    q = parse_quorumtool_status(sample("quorumtool-3.0.3-peer-not-registered.txt"))
    assert [(m.qdevice, m.qdevice_registered) for m in q.members] == [("A,V,NMW", True), ("NR", False)]
    assert not q.members[1].qdevice_alive and (q.qdevice_name, q.qdevice_counted) == ("Qdevice", True)


def test_quorumtool_machine_parsable_has_the_column_without_a_device():
    q = parse_quorumtool_status(sample("quorumtool-3.0.3-p.txt"))
    assert [m.qdevice for m in q.members] == ["NR", "NR"] and q.qdevice_name is None
    assert q.member_names == ("node1", "node2")


def test_quorumtool_head_extra_info():
    q = parse_quorumtool_status(sample("quorumtool-HEAD-extra-info.txt"))
    assert [(m.name, m.extra_info, m.local) for m in q.members] == \
        [("node1", "site-a", False), ("node2", "<unset>", True)]


QT_STATES = {
    "two-node": dict(nodes=TWO, flags=["2Node", "Quorate", "WaitForAll"], quorate=True, expected=2, quorum=1),
    "voting": dict(nodes=VOTING, flags=["Quorate", "Qdevice"], quorate=True, expected=3, quorum=2),
    "master-wins": dict(nodes=[QtNode(1, "n1", cell="A,V,MW"), QtNode(2, "n2", cell="A,NV,MW")],
                        flags=["Quorate", "Qdevice"], quorate=True, expected=3, quorum=2),
    "lost": dict(nodes=[QtNode(1, "n1", cell="NA,NV,NMW"), QtNode(2, "n2", cell="NA,NV,NMW")],
                 flags=["Quorate", "Qdevice"], quorate=True, expected=3, quorum=2),
    "alone": dict(nodes=[QtNode(1, "n1")], flags=["2Node", "WaitForAll"], quorate=False, expected=2, quorum=1),
    "alone-with-device": dict(nodes=[QtNode(1, "n1", cell="A,V,NMW")], flags=["Quorate", "Qdevice"],
                              quorate=True, expected=3, quorum=2),
    "all-flags": dict(nodes=[QtNode(3, "mx-a.example.org", votes=2), QtNode(70000, "10.0.0.12", votes=1)],
                      flags=["2Node", "Quorate", "WaitForAll", "LastManStanding", "AutoTieBreaker", "AllowDownscale"],
                      quorate=True, expected=3, quorum=2),
    "big-ids": dict(nodes=[QtNode(4294967295, "a"), QtNode(4294967294, "b, 10.0.1.2")], flags=["Quorate"],
                    quorate=True, expected=2, quorum=2),
}


@pytest.mark.parametrize("family", QUORUMTOOL_FAMILIES)
@pytest.mark.parametrize("state", QT_STATES)
@pytest.mark.parametrize("hex_ids", [False, True])
@pytest.mark.parametrize("machine_parsable", [False, True])
@pytest.mark.parametrize("local_index", [0, -1])
def test_quorumtool_sweep(family, state, hex_ids, machine_parsable, local_index):
    s = QT_STATES[state]
    nodes = s["nodes"]
    if family == "HEAD":
        nodes = [QtNode(n.nodeid, n.name, n.votes, n.cell, b"dc-%d\0" % n.nodeid if n.cell else None) for n in nodes]
    local = nodes[local_index].nodeid
    text = render_quorumtool(family, local, nodes, quorate=s["quorate"], expected=s["expected"], flags=s["flags"],
                             quorum=s["quorum"], hex_ids=hex_ids, machine_parsable=machine_parsable,
                             ring=(local, 0x1234))
    q = parse_quorumtool_status(text)
    assert (q.quorate, q.expected_votes, q.quorum, q.activity_blocked) == \
        (s["quorate"], s["expected"], s["quorum"], "Quorate" not in s["flags"])
    assert q.flag_words == tuple(s["flags"]) and q.local_nodeid == local and q.nodes == len(nodes)
    assert q.ring_id == (f"{local}/{0x1234}" if family == "3.0.0" else f"{local:x}.1234")
    registered = any(n.cell for n in nodes)
    assert [(m.nodeid, m.votes, m.name, m.local) for m in q.members] == \
        [(n.nodeid, n.votes, n.name, n.nodeid == local) for n in nodes]
    column = registered or machine_parsable
    assert [m.qdevice for m in q.members] == [(n.cell or "NR") if column else None for n in nodes]
    assert [m.extra_info for m in q.members] == \
        [f"dc-{n.nodeid}" if family == "HEAD" and n.cell else None for n in nodes]
    cast_here = bool(nodes[local_index].cell and nodes[local_index].cell.split(",")[1] == "V")
    assert (q.qdevice_name, q.qdevice_votes, q.qdevice_counted) == \
        (("Qdevice", 1, cast_here) if registered else (None, None, None))
    # the wrapper the install and replace steps use: the same reading, the old return type
    assert parse_quorumtool(text) == Quorum(s["quorate"], len(nodes), tuple(s["flags"]),
                                            tuple(n.name for n in nodes), "Qdevice" if registered else None)


def test_quorumtool_device_name_with_spaces_and_no_vote_here():
    text = render_quorumtool("3.0.3", 1, [QtNode(1, "n1", cell="A,NV,NMW"), QtNode(2, "n2", cell="A,V,NMW")],
                             quorate=True, expected=3, flags=["Quorate", "Qdevice"], quorum=2,
                             qdevice_name="My  device", qdevice_votes=2)
    q = parse_quorumtool_status(text)
    assert (q.qdevice_name, q.qdevice_votes, q.qdevice_counted) == ("My  device", 2, False)


def test_quorumtool_other_provider_stops_after_quorate():
    text = render_quorumtool("3.0.3", 1, TWO, quorate=True, expected=2, flags=[], quorum=1,
                             provider="corosync_other", ring=(1, 0x30))
    q = parse_quorumtool_status(text)
    assert (q.provider, q.quorate, q.nodes, q.ring_id, q.members) == ("corosync_other", True, 2, "30", ())
    assert (q.expected_votes, q.quorum, q.flags) == (None, None, frozenset())


def test_quorumtool_exit_codes_by_version():
    assert [quorumtool_exit_code(t, True) for t in ("v3.0.0", "v3.0.1", "v3.0.2", "v3.1.7")] == [1, 1, 0, 0]
    assert [quorumtool_exit_code(t, False) for t in ("v3.0.0", "v3.0.1", "v3.0.2", "v3.1.7")] == [0, 0, 2, 2]


def test_quorumtool_ignores_unknown_lines_outside_the_table():
    text = sample("quorumtool-3.0.0-qdevice.txt").replace(
        "Quorate:", "Unable to get node 9 info\nSomething new:    42\nQuorate:", 1)
    assert parse_quorumtool_status(text) == parse_quorumtool_status(sample("quorumtool-3.0.0-qdevice.txt"))
    # what follows the table's end (a blank line) is not read: -m prints the next report there
    more = sample("quorumtool-3.0.0-qdevice.txt") + "\n" + sample("quorumtool-3.0.3-not-quorate.txt")
    assert parse_quorumtool_status(more).ring_id == "1/8"


def test_quorumtool_crlf_is_read():
    text = sample("quorumtool-3.0.3-peer-not-registered.txt")
    assert parse_quorumtool_status(text.replace("\n", "\r\n")) == parse_quorumtool_status(text)


def test_quorumtool_trailing_spaces_stripped_still_read():
    text = sample("quorumtool-3.0.3-qdevice-lost-hex.txt")
    stripped = "".join(line.rstrip() + "\n" for line in text.splitlines())
    assert parse_quorumtool_status(stripped) == parse_quorumtool_status(text)


# ---------------------------------------------------------------- corosync-quorumtool: refused


QT_TEXT = "quorumtool-3.0.3-peer-not-registered.txt"


@pytest.mark.parametrize("name", [n for n in SAMPLES if n.startswith("quorumtool-")])
def test_quorumtool_every_line_prefix_is_refused(name):
    """A cut output (a dropped connection, a full pipe) is never read as a smaller cluster."""
    lines = sample(name).splitlines(True)
    for cut in range(len(lines)):
        if "".join(lines[cut:]).strip():
            with pytest.raises(QuorumStatusError):
                parse_quorumtool_status("".join(lines[:cut]))


@pytest.mark.parametrize("bad, message", [
    ("", "no 'Quorum information' header"),
    ("garbage\n" * 10, "no 'Quorum information' header"),
    ("<html><body>502 Bad Gateway</body></html>\n", "no 'Quorum information' header"),
])
def test_quorumtool_not_its_output(bad, message):
    with pytest.raises(QuorumStatusError, match=message):
        parse_quorumtool_status(bad)


def _edit(name: str, old: str, new: str) -> str:
    """A sample with one edit (from the rendered text, which test_fixtures_are_the_renderers_output pins)."""
    text = SAMPLES[name]
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("text, message", [
    (_edit(QT_TEXT, "Nodes:            2", "Nodes:            3"), "2 membership row"),
    (_edit(QT_TEXT, "         2          1         NR node2\n", ""), "1 membership row"),
    (_edit(QT_TEXT, "         0          1            Qdevice\n", ""), "no quorum device row"),
    (_edit(QT_TEXT, "         0          1            Qdevice\n",
           "         0          1           Qdevice\n         3          1         NR node3\n"), "after the quorum"),
    (_edit(QT_TEXT, "A,V,NMW", "A,X,NMW"), "bad Qdevice cell"),
    (_edit(QT_TEXT, "         2          1 ", "         x          1 "), "node id"),
    (_edit(QT_TEXT, "         2          1 ", "  99999999999          1 "), "node id"),
    (_edit(QT_TEXT, "    Nodeid      Votes    Qdevice Name", "    Nodeid      Votes    Weight Name"), "header"),
    (_edit(QT_TEXT, "Quorate:          Yes", "Quorate:          Maybe"), "Yes nor No"),
    (_edit(QT_TEXT, "Quorate:          Yes\n", ""), "no 'Quorate' line"),
    (_edit(QT_TEXT, "Total votes:      3\n", ""), "no 'Total votes'"),
    (_edit(QT_TEXT, "Quorum:           2  ", "Quorum:           two"), "bad Quorum value"),
    (_edit(QT_TEXT, "Nodes:            2\n", "Nodes:            2\nNodes:            2\n"), "twice"),
    (_edit(QT_TEXT, "Qdevice Name\n", "Qdevice Name\n\n"), "0 membership row"),
    (_edit(QT_TEXT, "    Nodeid      Votes    Qdevice Name\n", ""), "no membership table"),
])
def test_quorumtool_malformed(text, message):
    with pytest.raises(QuorumStatusError, match=message):
        parse_quorumtool_status(text)


# ================================================================ corosync-qdevice-tool -s [-v]


def test_qdevice_3_0_0_verbose_without_kap():
    s = parse_qdevice_status(sample("qdevice-tool-3.0.0-s-v.txt"))
    assert s.kap_tie_breaker is None and s.connected and s.poll_timer_cast_vote
    assert (s.configured_nodes, s.membership, s.quorum_nodes) == ((1, 2), (1, 2), ((1, "member"), (2, "member")))
    assert (s.heuristics, s.heuristics_result) == ("Disabled", None)
    assert (s.host, s.port, s.cluster_name, s.expected_votes, s.ring_id) == \
        ("qnetd.example.org", 5403, "axigen", 3, "1.10")


def test_qdevice_verbose_with_heuristics_and_config_version():
    s = parse_qdevice_status(sample("qdevice-tool-3.0.1-s-v.txt"))
    assert (s.kap_tie_breaker, s.config_version, s.heuristics) == ("Enabled", 7, "Enabled")
    assert (s.heuristics_result, s.heuristics_regular, s.heuristics_membership, s.heuristics_connect) == \
        ("Pass", "Pass", "Pass", "Undefined")
    assert (s.tls_active, s.client_certificate_sent, s.connected_since, s.echo_reply_received) == \
        (True, True, "2026-11-26T23:40:00", "2026-11-26T23:43:50")


def test_qdevice_plain_status_has_no_verbose_fields():
    s = parse_qdevice_status(sample("qdevice-tool-3.0.1-s.txt"))
    assert (s.model, s.node_id, s.state, s.connected, s.algorithm, s.tie_breaker) == \
        ("Net", 1, "Connected", True, "Fifty-Fifty split", "Node with lowest node ID")
    assert (s.configured_nodes, s.membership) == ((1, 2), (1, 2))
    assert (s.hb_interval_ms, s.quorate, s.quorum_nodes, s.last_poll, s.poll_timer_running, s.tls,
            s.kap_tie_breaker, s.tls_active, s.connected_since) == (None, None, (), None, None, None, None, None, None)


def test_qdevice_connect_failed():
    s = parse_qdevice_status(sample("qdevice-tool-3.0.1-s-v-connect-failed.txt"))
    assert (s.state, s.connected, s.poll_timer_running, s.poll_timer_cast_vote) == \
        ("Connect failed", False, False, False)
    assert (s.last_poll, s.last_poll_cast_vote, s.quorate) == (None, False, False)
    assert s.quorum_nodes == ((1, "member"), (2, "dead")) and s.membership == (1,)
    assert (s.tls_active, s.connected_since) == (None, None)   # printed only when connected


QD_STATES = {
    "default": QdState(),
    "connecting": QdState(state="Connecting", poll_timer=None),
    "disconnected": QdState(state="Disconnected", poll_timer="NACK"),
    "nack": QdState(poll_timer="NACK", last_poll_cast_vote=False),
    "tie-node-id": QdState(tie_breaker=2, algorithm="LMS", kap="Algorithm hard-coded"),
    "tie-highest": QdState(tie_breaker="highest", algorithm="2 Node LMS", kap="Algorithm hard-coded"),
    "data-centers": QdState(configured=((1, 10), (2, 20)), config_version=18446744073709551615),
    "force-ip-ipv6": QdState(force_ip_version=6, host="2001:db8::5", tls="Required"),
    "heuristics-sync": QdState(heuristics_mode="Enabled only on sync", heuristics=("Fail", "Fail", "Pass", "Fail")),
    "quorum-list-gap": QdState(quorum_nodes=((0, "member"), (2, "member")), membership=(2,)),
    "no-tls": QdState(tls="Unsupported", tls_active=False),
    "empty-membership": QdState(membership=()),
}


@pytest.mark.parametrize("family", QDEVICE_FAMILIES)
@pytest.mark.parametrize("state", QD_STATES)
@pytest.mark.parametrize("verbose", [False, True])
def test_qdevice_sweep(family, state, verbose):
    s = QD_STATES[state]
    p = parse_qdevice_status(render_qdevice_status(family, s, verbose))
    connected = s.state == "Connected"
    assert (p.model, p.node_id, p.configured_nodes, p.membership) == \
        ("Net", s.node_id, tuple(n for n, _ in s.configured), s.membership)
    assert (p.cluster_name, p.host, p.port, p.algorithm, p.state, p.connected) == \
        (s.cluster_name, s.host, s.port, s.algorithm, s.state, connected)
    assert tie_breaker_word(p.tie_breaker) == str(s.tie_breaker)
    assert p.config_version == s.config_version
    heuristics_on = s.heuristics_mode != "Disabled"
    assert p.heuristics_result == (s.heuristics[0] if heuristics_on else None)
    if not verbose:
        assert (p.hb_interval_ms, p.quorate, p.quorum_nodes, p.kap_tie_breaker, p.poll_timer_running, p.tls,
                p.heuristics, p.heuristics_regular, p.tls_active) == (None, None, (), None, None, None, None, None,
                                                                     None)
        return
    assert (p.hb_interval_ms, p.sync_hb_interval_ms, p.heuristics, p.quorate, p.expected_votes) == \
        (s.hb_interval, s.sync_hb_interval, s.heuristics_mode, s.quorate, s.expected_votes)
    assert p.ring_id == f"{s.ring[0]:x}.{s.ring[1]:x}"
    assert p.quorum_nodes == tuple((n, st_) for n, st_ in s.quorum_nodes if n)
    assert (p.last_poll, p.last_poll_cast_vote) == (s.last_poll, bool(s.last_poll) and s.last_poll_cast_vote)
    assert (p.force_ip_version, p.connect_timeout_ms, p.net_hb_interval_ms, p.vq_vote_timer_interval_ms, p.tls) == \
        (s.force_ip_version or None, s.connect_timeout, s.net_hb_interval, s.vote_timer_interval, s.tls)
    assert p.kap_tie_breaker == (None if family == "3.0.0" else s.kap)
    assert (p.poll_timer_running, p.poll_timer_cast_vote) == (s.poll_timer is not None, s.poll_timer == "ACK")
    assert (p.heuristics_regular, p.heuristics_membership, p.heuristics_connect) == \
        (tuple(s.heuristics[1:]) if heuristics_on else (None, None, None))
    assert (p.tls_active, p.client_certificate_sent) == \
        ((s.tls_active, s.tls_active and s.client_cert_sent) if connected else (None, None))
    assert (p.connected_since, p.echo_reply_received) == \
        ((s.connected_since, s.echo_reply) if connected else (None, None))


@pytest.mark.parametrize("name", [n for n in SAMPLES if n.startswith("qdevice-tool-") and n.endswith(".txt")])
def test_qdevice_prefixes_before_state_are_refused(name):
    lines = sample(name).splitlines(True)
    state_line = next(i for i, line in enumerate(lines) if line.startswith("State:"))
    for cut in range(state_line + 1):
        with pytest.raises(QuorumStatusError):
            parse_qdevice_status("".join(lines[:cut]))
    assert parse_qdevice_status("".join(lines[:state_line + 1])).state == lines[state_line].split("\t")[-1].strip()


QD_TEXT = "qdevice-tool-3.0.1-s-v.txt"


@pytest.mark.parametrize("text, message", [
    ("", "no 'Qdevice information' header"),
    ("Error: Can't get QDevice status\n", "no 'Qdevice information' header"),
    (_edit(QD_TEXT, "Node ID:\t\t1\n", ""), "no 'Node ID' line"),
    (_edit(QD_TEXT, "Node ID:\t\t1\n", "Node ID:\t\tone\n"), "node id is not a number"),
    (_edit(QD_TEXT, "QNetd host:\t\tqnetd.example.org:5403", "QNetd host:\t\tqnetd.example.org"), "port"),
    (_edit(QD_TEXT, "qnetd.example.org:5403", "qnetd.example.org:99999"), "port is not a number"),
    (_edit(QD_TEXT, "HB interval:\t\t10000ms", "HB interval:\t\t10000"), "not in ms"),
    (_edit(QD_TEXT, "    1\tNode ID = 2", "    1\tNode = 2"), "bad node list line"),
    (_edit(QD_TEXT, "Membership node list:\t1, 2", "Membership node list:\t1; 2"), "bad membership entry"),
    (_edit(QD_TEXT, "Quorate:\t\tYes", "Quorate:\t\tyes"), "Yes nor No"),
    (_edit(QD_TEXT, "Last poll call:\t\t2026-11-26T23:43:58", "Last poll call:\t\tyesterday"), "Last poll"),
    (_edit(QD_TEXT, "State:\t\t\tConnected\n", ""), "no 'State' line"),
    (_edit("qdevice-tool-3.0.1-s.txt", "Qdevice-net information\n", ""), "no 'Qdevice-net information' section"),
    (_edit(QD_TEXT, "Qdevice-net information\n", ""), "'HB interval' twice"),
    (_edit(QD_TEXT, "State:\t\t\tConnected\n", "State:\t\t\tConnected\nState:\t\t\tConnected\n"), "twice"),
    (_edit(QD_TEXT, "Heuristics result:\tPass (regular", "Heuristics result:\tPass (regul"), "Heuristics result"),
])
def test_qdevice_malformed(text, message):
    with pytest.raises(QuorumStatusError, match=message):
        parse_qdevice_status(text)


def test_qdevice_unknown_lines_ignored():
    text = _edit(QD_TEXT, "State:\t\t\tConnected\n", "State:\t\t\tConnected\nNew field:\t\tsomething\nfree text\n")
    assert parse_qdevice_status(text) == parse_qdevice_status(sample(QD_TEXT))


# ================================================================ corosync-qnetd-tool -l [-v], -s [-v]


def test_qnetd_list_3_0_0_has_no_kap_suffix():
    (c,) = parse_qnetd_list(sample("qnetd-tool-3.0.0-l-v.txt"))
    assert (c.name, c.algorithm, c.kap_tie_breaker, c.tie_breaker) == \
        ("axigen", "Fifty-Fifty split", False, "Node with lowest node ID")
    assert [(n.nodeid, n.address, n.port, n.vote, n.has_vote) for n in c.nodes] == \
        [(1, "::ffff:192.0.2.11", 40001, "ACK", True), (2, "::ffff:192.0.2.12", 40002, "ACK", True)]
    assert [(n.heuristics, n.heuristics_membership, n.heuristics_regular) for n in c.nodes] == \
        [("Undefined", "Undefined", "Undefined")] * 2


def test_qnetd_list_two_clusters_and_votes():
    axigen, mail2 = parse_qnetd_list(sample("qnetd-tool-3.0.1-l-v.txt"))
    assert (axigen.kap_tie_breaker, axigen.algorithm) == (True, "Fifty-Fifty split")
    assert (mail2.name, mail2.kap_tie_breaker, mail2.tie_breaker, tie_breaker_word(mail2.tie_breaker)) == \
        ("mail2", False, "Node with node ID 4", "4")
    n3, n4 = mail2.nodes
    assert (n3.address, n3.port, n3.vote, n3.last_ack_nack_vote, n3.effective_vote, n3.has_vote) == \
        ("192.0.2.21", 40003, "No change", "ACK", "ACK", True)
    assert (n4.vote, n4.last_ack_nack_vote, n4.effective_vote, n4.has_vote) == ("Ask later", "NACK", None, False)
    assert (n3.configured_nodes, n3.membership, n4.membership) == ((3, 4), (3,), (4,))


def test_qnetd_list_plain():
    (c,) = parse_qnetd_list(sample("qnetd-tool-3.0.1-l.txt"))
    n = c.nodes[0]
    assert (n.nodeid, n.vote, n.has_vote, n.configured_nodes, n.membership) == (1, "ACK", True, (1, 2), (1, 2))
    assert (n.hb_interval_ms, n.ring_id, n.tls_active, n.heuristics) == (None, None, None, None)


def test_qnetd_list_empty_is_no_cluster():
    assert parse_qnetd_list("") == () and parse_qnetd_list("\n") == ()


VOTES = ["ACK", "NACK", "Ask later", "Wait for reply", "No change", None]


@pytest.mark.parametrize("family", QNETD_FAMILIES)
@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("vote", VOTES)
@pytest.mark.parametrize("ack_nack", ["ACK", "NACK", None])
def test_qnetd_list_sweep(family, verbose, vote, ack_nack):
    clients = (QnClient(1, "192.0.2.11:5000", vote=vote, ack_nack=ack_nack, heuristics=("Pass", "Pass", "Fail"),
                        config_version=3, configured=((1, 1), (2, 2)), membership=((1, 1),), tls_started=False,
                        kap=True),
               QnClient(2, "::1:5001", vote="ACK", ack_nack=None, membership=(),
                        kap=True, tie_breaker="highest", algorithm="Fifty-Fifty split"))
    (c,) = parse_qnetd_list(render_qnetd_list(family, [QnCluster('we "quote"', clients)], verbose))
    assert (c.name, c.kap_tie_breaker) == ('we "quote"', family != "3.0.0")
    n1, n2 = c.nodes
    assert (n1.nodeid, n1.address, n1.port, n1.config_version) == (1, "192.0.2.11", 5000, 3)
    assert (n2.address, n2.port, n2.membership) == ("::1", 5001, ())
    assert (n1.configured_nodes, n1.membership) == ((1, 2), (1,))
    assert (n1.vote, n1.last_ack_nack_vote) == ((vote, ack_nack) if vote else (None, None))
    expected = vote == "ACK" or (vote == "No change" and ack_nack == "ACK")
    assert n1.has_vote == expected and n2.has_vote
    assert (n1.heuristics, n1.heuristics_membership, n1.heuristics_regular) == \
        (("Pass", "Pass", "Fail") if verbose else ("Pass", None, None))
    assert (n1.tls_active, n1.client_certificate_verified, n1.hb_interval_ms) == \
        ((False, False, 8000) if verbose else (None, None, None))


def test_qnetd_status():
    s = parse_qnetd_status(sample("qnetd-tool-s.txt"))
    assert (s.host, s.port, s.tls, s.client_certificate_required, s.connected_clients, s.connected_clusters) == \
        ("*", 5403, "Supported", True, 2, 1)
    assert (s.max_clients, s.max_send_size, s.max_receive_size) == (None, None, None)
    v = parse_qnetd_status(sample("qnetd-tool-s-v.txt"))
    assert (v.max_clients, v.max_send_size, v.max_receive_size) == (64, 32768, 32768)
    u = parse_qnetd_status(render_qnetd_status(True, host="192.0.2.5", tls="Unsupported", clients=0, clusters=0))
    assert (u.host, u.tls, u.client_certificate_required, u.connected_clients, u.max_clients) == \
        ("192.0.2.5", "Unsupported", False, 0, None)


QN_TEXT = "qnetd-tool-3.0.1-l-v.txt"


@pytest.mark.parametrize("text, message", [
    ("garbage\n", "before any cluster"),
    ("Error: Can't get QNetd cluster list\n", "before any cluster"),
    (_edit(QN_TEXT, "    Algorithm:\t\tFifty-Fifty split (KAP Tie-breaker)\n", ""), "before its cluster's algorithm"),
    (_edit(QN_TEXT, "        Client address:\t\t::ffff:192.0.2.12:40002\n", ""), "without its client address"),
    (_edit(QN_TEXT, "::ffff:192.0.2.12:40002", "::ffff:192.0.2.12:port"), "port is not a number"),
    (_edit(QN_TEXT, "        Vote:\t\t\tAsk later (NACK)", "        Vote:\t\t\t"), "empty vote"),
    (_edit(QN_TEXT, "Configured node list:\t3, 4", "Configured node list:\t3,4"), "bad Configured node list"),
    (_edit(QN_TEXT, "HB interval:\t\t8000ms", "HB interval:\t\t8 s"), "not in ms"),
    (_edit(QN_TEXT, "TLS active:\t\tYes", "TLS active:\t\tMaybe"), "Yes nor No"),
    (_edit(QN_TEXT, "        Vote:\t\t\tACK (ACK)\n", "        Vote:\t\t\tACK (ACK)\n        Vote:\t\t\tACK\n"),
     "twice"),
])
def test_qnetd_list_malformed(text, message):
    with pytest.raises(QuorumStatusError, match=message):
        parse_qnetd_list(text)


@pytest.mark.parametrize("text, message", [
    ("", "no 'QNetd address' line"),
    (_edit("qnetd-tool-s.txt", "Connected clusters:\t\t1\n", ""), "no 'Connected clusters' line"),
    (_edit("qnetd-tool-s.txt", "*:5403", "*"), "port"),
    (_edit("qnetd-tool-s.txt", "Connected clients:\t\t2", "Connected clients:\t\ttwo"), "not a number"),
    (_edit("qnetd-tool-s-v.txt", "32768/32768 bytes", "32768 bytes"), "send/receive size"),
])
def test_qnetd_status_malformed(text, message):
    with pytest.raises(QuorumStatusError, match=message):
        parse_qnetd_status(text)


def test_qnetd_unknown_lines_ignored():
    text = _edit(QN_TEXT, "    Node ID 3:\n", "    Something else:\tx\n    Node ID 3:\n        Later field:\ty\n")
    assert parse_qnetd_list(text) == parse_qnetd_list(sample(QN_TEXT))


# ================================================================ not running


@pytest.mark.parametrize("name, rc, expected", [
    ("qdevice-tool-not-running.stderr", 3, True),
    ("qnetd-tool-not-running.stderr", 3, True),
    ("qdevice-tool-not-running.stderr", 1, False),
    ("qnetd-tool-not-running.stderr", 0, False),
])
def test_tool_not_running_samples(name, rc, expected):
    assert tool_not_running(sample(name), rc) is expected


@pytest.mark.parametrize("program, message", [("corosync-qdevice-tool", QDEVICE_NOT_RUNNING),
                                              ("corosync-qnetd-tool", QNETD_NOT_RUNNING)])
@pytest.mark.parametrize("strerror, expected", [("No such file or directory", True), ("Connection refused", True),
                                                ("Permission denied", False), ("File name too long", False)])
def test_tool_not_running_errnos(program, message, strerror, expected):
    assert tool_not_running(render_err(program, message, strerror), 3) is expected


@pytest.mark.parametrize("stderr, rc", [
    ("", 3),
    ("corosync-qdevice-tool: Unknown status line returned by IPC server\n", 3),   # errx(3, ...) line 269
    ("Error: Can't get QDevice status\n", 4),
    ("Cannot initialize CMAP service\n", 1),
    ("bash: corosync-qdevice-tool: command not found\n", 127),
    (None, 3),
    ("x" * (MAX_TEXT + 1), 3),
])
def test_tool_not_running_other_answers(stderr, rc):
    assert tool_not_running(stderr, rc) is False


def test_argv_constants():
    assert QUORUMTOOL_ARGV == ("corosync-quorumtool", "-s")
    assert QDEVICE_TOOL_ARGV == ("corosync-qdevice-tool", "-s", "-v")
    assert QNETD_STATUS_ARGV == ("corosync-qnetd-tool", "-s", "-v")
    assert QNETD_LIST_ARGV == ("corosync-qnetd-tool", "-l", "-v")


# ================================================================ hostile inputs, all four parsers

PARSERS = {"quorumtool": parse_quorumtool_status, "qdevice": parse_qdevice_status, "qnetd-list": parse_qnetd_list,
           "qnetd-status": parse_qnetd_status}
GOOD = {"quorumtool": QT_TEXT, "qdevice": QD_TEXT, "qnetd-list": QN_TEXT, "qnetd-status": "qnetd-tool-s-v.txt"}


@pytest.mark.parametrize("parser", PARSERS)
def test_huge_input_refused(parser):
    text = sample(GOOD[parser])
    with pytest.raises(QuorumStatusError, match="over 1048576 bytes"):
        PARSERS[parser](text + "\n" * (MAX_TEXT + 1 - len(text)))
    with pytest.raises(QuorumStatusError, match="over 1048576 bytes"):   # counted in UTF-8 bytes
        PARSERS[parser](text + "é\n" * (MAX_TEXT // 3))


@pytest.mark.parametrize("parser", PARSERS)
def test_long_line_refused(parser):
    with pytest.raises(QuorumStatusError, match="over 4096 characters"):
        PARSERS[parser](sample(GOOD[parser]) + "x" * (MAX_LINE + 1) + "\n")
    PARSERS[parser](sample(GOOD[parser]) + "\n" + "x" * 10 + "\n")   # a short unknown line is fine


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x7f", "\x85", "\x0b", "\x0c"])
def test_control_characters_refused(parser, char):
    text = sample(GOOD[parser])
    middle = text.index("\n", len(text) // 2)
    with pytest.raises(QuorumStatusError, match="control character"):
        PARSERS[parser](text[:middle] + char + text[middle:])


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("value", [None, b"Quorum information\n", 42, ["Quorum information"]])
def test_not_text_refused(parser, value):
    with pytest.raises(QuorumStatusError, match="expected text"):
        PARSERS[parser](value)


@pytest.mark.parametrize("parser", PARSERS)
def test_lone_surrogate_is_an_error_not_a_traceback(parser):
    with pytest.raises(QuorumStatusError):
        PARSERS[parser]("\ud800" * 10)


def _mutations(text: str) -> st.SearchStrategy[str]:
    return st.builds(lambda i, j, ins: text[:i] + ins + text[j:], st.integers(0, len(text)),
                     st.integers(0, len(text)), st.text(st.characters(codec="utf-8"), max_size=12))


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_only_the_parse_error(parser, data):
    base = sample(GOOD[parser])
    text = data.draw(st.one_of(_mutations(base), st.text(max_size=300)))
    try:
        PARSERS[parser](text)
    except QuorumStatusError:
        pass


# ================================================================ the wrapper steps.install.corosync.parse_quorumtool


def test_wrapper_keeps_its_old_answers():
    assert parse_quorumtool((FIX / "install" / "corosync-quorumtool-s.txt").read_text()) == \
        Quorum(True, 2, ("2Node", "Quorate", "WaitForAll"), ("node1", "node2"), None)
    assert parse_quorumtool(sample("quorumtool-3.0.3-qdevice-lost-hex.txt")) == \
        Quorum(True, 2, ("Quorate", "Qdevice"), ("node1", "node2"), "Qdevice")
    assert parse_quorumtool(sample("quorumtool-3.0.3-not-quorate.txt")) == \
        Quorum(False, 1, ("2Node", "WaitForAll"), ("node2",), None)


@pytest.mark.parametrize("text", ["", "Cannot initialize CMAP service\n", "garbage", "\x00" * 5, None,
                                  "x" * (MAX_TEXT + 10)])
def test_wrapper_tolerates_what_the_parser_refuses(text):
    assert parse_quorumtool(text) == Quorum(False, 0, (), (), None)


# ================================================================ regenerating the samples


def write_fixtures() -> None:
    QFIX.mkdir(parents=True, exist_ok=True)
    for name, text in SAMPLES.items():
        (QFIX / name).write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-fixtures"]:
        write_fixtures()
    else:
        sys.exit("usage: python -m tests.unit.test_quorum_status --write-fixtures")
