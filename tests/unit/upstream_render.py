"""Corosync's tool outputs rendered from their printf formats, version by version (tests/fixtures/upstream/SOURCES.md).

Each renderer follows the printf calls of the cited tools/*.c at the cited tag line for line, so a test can produce
what that version prints for any cluster state and check the parser against the state it rendered.
"""
from __future__ import annotations

from dataclasses import dataclass

# corosync-cfgtool -s families: the tag where the form first appears, its last tag, and where the formats are
CFGTOOL_FAMILIES = {
    # v3.0.0 0ee7fd0c2f tools/corosync-cfgtool.c lines 91-141: position-numbered nodes, two flags
    "3.0.0": ("3.0.0", "3.0.1"),
    # v3.0.2 0390200dd4 lines 109-200: the node id instead of the position
    "3.0.2": ("3.0.2", "3.0.3"),
    # v3.0.4 1777d9992c lines 112-250 and v3.1.0 e17ac2503c lines 115-254: words instead of flags
    "3.0.4": ("3.0.4", "3.1.0"),
    # v3.1.1 8835de5dae lines 190-280: `, transport %s`, `LINK ID %d`, `nodeid: %3d:`
    "3.1.1": ("3.1.1", "3.1.4"),
    # v3.1.5 23db6cba49 .. v3.1.10 ff20c2b123 lines 234-324: `LINK ID %d %s`, `nodeid: %10u:`
    "3.1.5": ("3.1.5", "3.1.10"),
    # HEAD 65235a810d lines 234-327: a deprecation line after an sctp link's LINK ID
    "HEAD": ("HEAD", "HEAD"),
}


@dataclass(frozen=True)
class Link:
    """One knet link as the local node sees it: its address and, per node id, enabled/connected."""

    link_id: int
    address: str
    connected: dict          # node id -> bool (the local node's own entry is ignored)
    transport: str = "udp"   # knet_transport of the link (3.1.5+ prints it)


def _status_char(nodeid: int, local: int, link: Link, v30_local_link0: bool) -> str:
    """The character totemknet_ifaces_get() puts in the status string for one node.

    3.0.4+ (v3.0.4 exec/totemknet.c lines 515-528): 'n' for the local node, else '0' + enabled | connected << 1.
    3.0.0-3.0.3 (v3.0.2 exec/totemknet.c lines 491-530): every position starts as 'n' and gets a digit for each
    link knet lists for that host; for the local host knet lists its loopback link only, which counts as link 0
    ("The local link (which will only ever be enabled on link 0) shows as enabled but not connected",
    man/corosync-cfgtool.8 at v3.0.0 lines 64-68)."""
    if nodeid == local:
        return "1" if v30_local_link0 and link.link_id == 0 else "n"
    return "3" if link.connected.get(nodeid) else "1"


def render_cfgtool(family: str, local: int, nodeids: list[int], links: list[Link]) -> str:
    """`corosync-cfgtool -s` of one version family, knet transport, not brief."""
    nodeids = sorted(nodeids)
    out: list[str] = []
    if family in ("3.0.0", "3.0.2", "3.0.4"):
        out.append("Printing link status.\n")
        out.append(f"Local node ID {local}\n")
        for link in links:
            out.append(f"LINK ID {link.link_id}\n")
            out.append(f"\taddr\t= {link.address}\n")
            out.append("\tstatus:\n")
            for position, nodeid in enumerate(nodeids):
                ch = _status_char(nodeid, local, link, v30_local_link0=family != "3.0.4")
                if family == "3.0.0":
                    t = ord(ch) - ord("0")
                    out.append(f"\t\tnode {position}:\t")
                    out.append(f"link enabled:{1 if t & 1 else 0}\t")
                    out.append(f"link connected:{1 if t & 2 else 0}\n")
                elif family == "3.0.2":
                    t = ord(ch) - ord("0")
                    out.append(f"\t\tnodeid {nodeid:2d}:\t")
                    out.append(f"link enabled:{1 if t & 1 else 0}\t")
                    out.append(f"link connected:{1 if t & 2 else 0}\n")
                else:
                    out.append(f"\t\tnodeid {nodeid:2d}:\t")
                    if "0" <= ch <= "9":
                        t = ord(ch) - ord("0")
                        out.append("connected" if t & 2 else "disconnected")
                        if not t & 1:
                            out.append(" (not enabled)")
                        out.append("\n")
                    elif ch == "n":
                        out.append("localhost\n")
        return "".join(out)
    out.append(f"Local node ID {local}, transport knet\n")
    for link in links:
        if family == "3.1.1":
            out.append(f"LINK ID {link.link_id}\n")
        else:
            out.append(f"LINK ID {link.link_id} {link.transport}\n")
            if family == "HEAD" and link.transport == "sctp":
                out.append("**SCTP is deprecated and will be removed in a future release\n")
        out.append(f"\taddr\t= {link.address}\n")
        out.append("\tstatus:\n")
        for nodeid in nodeids:
            out.append(f"\t\tnodeid: {nodeid:3d}:\t" if family == "3.1.1" else f"\t\tnodeid: {nodeid:10d}:\t")
            if nodeid == local:
                out.append("localhost")
            else:
                out.append("connected" if link.connected.get(nodeid) else "disconnected")
            out.append("\n")
    return "".join(out)


def cfgtool_exit_code(family: str, local: int, nodeids: list[int], links: list[Link]) -> int:
    """3.0.0-3.1.0 exit 1 when a status character is neither 'n' nor '3' (v3.0.4 lines 216-221); 3.1.1+ exit 0."""
    if family not in ("3.0.0", "3.0.2", "3.0.4"):
        return 0
    chars = [_status_char(n, local, link, family != "3.0.4") for link in links for n in sorted(nodeids)]
    if family in ("3.0.0", "3.0.2"):
        return 0  # these two set rc only for a FAULTY udp(u) status (v3.0.0 lines 143-147)
    return 0 if all(ch in "n3" for ch in chars) else 1


# ---------------------------------------------------------------- corosync-quorumtool -s


def _padded(text: str) -> str:
    # print_string_padded(): right-aligned in 10 columns, then a space (v3.1.7 lines 421-433)
    return " " * max(0, 10 - len(text)) + text + " "


@dataclass(frozen=True)
class Member:
    nodeid: int
    name: str
    votes: int = 1
    qdevice: str | None = None   # the Qdevice cell: "A,V,NMW", "NR"...; None: no quorum device registered


def render_quorumtool(local: int, members: list[Member], quorate: bool, *, expected: int, flags: list[str],
                      quorum: int | None = None,
                      qdevice_name: str | None = None, qdevice_votes: int = 1, qdevice_votes_here: bool = True,
                      date: str = "Thu Nov 26 23:43:58 2026", ring: str = "1.9") -> str:
    """`corosync-quorumtool -s` with votequorum: display_quorum_data() and display_nodes_data() of v3.1.7
    91348f8659 tools/corosync-quorumtool.c lines 465-640 (the same formats from v3.0.0 to HEAD)."""
    total = sum(m.votes for m in members) + (qdevice_votes if qdevice_name and qdevice_votes_here else 0)
    quorum = quorum if quorum is not None else expected // 2 + 1  # two_node makes it 1 (votequorum(5))
    out = ["Quorum information\n", "------------------\n", f"Date:             {date}\n",
           "Quorum provider:  corosync_votequorum\n", f"Nodes:            {len(members)}\n",
           f"Node ID:          {local}\n", f"Ring ID:          {ring}\n",
           f"Quorate:          {'Yes' if quorate else 'No'}\n",
           "\nVotequorum information\n", "----------------------\n",
           f"Expected votes:   {expected}\n", f"Highest expected: {expected}\n", f"Total votes:      {total}\n",
           f"Quorum:           {quorum} {' ' if quorate else 'Activity blocked'}\n",
           "Flags:            " + "".join(f + " " for f in flags) + "\n"]
    display_qdevice = qdevice_name is not None
    out += ["\nMembership information\n", "----------------------\n"]
    out.append(_padded("Nodeid") + _padded("Votes") + (_padded("Qdevice") if display_qdevice else "") + "Name\n")
    for m in members:
        row = _padded(str(m.nodeid)) + _padded(str(m.votes))
        if display_qdevice:
            row += _padded(m.qdevice or "NR")
        row += m.name + (" (local)" if m.nodeid == local else "")
        out.append(row + "\n")
    if display_qdevice:
        row = _padded("0") + _padded(str(qdevice_votes if qdevice_votes_here else 0)) + f"           {qdevice_name}"
        out.append(row + ("\n" if qdevice_votes_here else f" (votes {qdevice_votes})\n"))
    return "".join(out)
