"""Pure parser of `corosync-cfgtool -s` (Corosync 3, knet): each link's local address and each peer's state.

What corosync-cfgtool prints changed four times within 3.0-3.1 (tools/corosync-cfgtool.c, corosync/corosync):
- 3.0.0-3.0.1 (v3.0.0 0ee7fd0c2f, lines 103-141): `Local node ID %u`, `LINK ID %s`, then one line per node in
  nodelist order, numbered by position, not by node id: `\t\tnode %d:\tlink enabled:%d\tlink connected:%d`;
- 3.0.2-3.0.3 (v3.0.2 0390200dd4, lines 156-200): the same with the node id: `\t\tnodeid %2d:\tlink enabled...`;
- 3.0.4-3.1.0 (v3.0.4 1777d9992c, lines 170-250; v3.1.0 e17ac2503c, lines 173-254): `\t\tnodeid %2d:\t` and
  a word: connected / disconnected (` (not enabled)` appended when the link is not enabled), localhost,
  `knet error`, `config error`, `can't decode status character '%c'`;
- 3.1.1 and later (v3.1.1 8835de5dae, lines 190-280; v3.1.5 23db6cba49 to HEAD 65235a810d, lines 234-324):
  `Local node ID %u, transport %s`, `LINK ID %d` (3.1.5 on: `LINK ID %d %s`, the link's transport),
  `\t\tnodeid: %3d:\t` (3.1.5 on: `%10u`), then localhost / connected / disconnected.
The man page's example (corosync-cfgtool.8, 3.1.0 to HEAD) shows the 3.0.4 form with spaces for tabs.
Corosync 3.0.x exits 1 when any link is not connected (v3.0.4 lines 216-221), so the exit code is no error sign.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

CFGTOOL_ARGV = ("corosync-cfgtool", "-s")

_LOCAL = re.compile(r"^Local node ID (\d+)(?:, transport (\S+))?")
_LINK = re.compile(r"^LINK ID (\d+)\s*(\S*)")
_ADDR = re.compile(r"^\s*addr\s*=\s*(\S+)")
# 3.1.1+: `nodeid: N:`; 3.0.2-3.1.0: `nodeid N:`; 3.0.0-3.0.1: `node N:` (a position in the node list)
_PEER = re.compile(r"^\s*(nodeid|node):?\s*(\d+):\s*(.+?)\s*$")
_ENABLED_CONNECTED = re.compile(r"^link enabled:\s*(\d)\s+link connected:\s*(\d)$")


@dataclass(frozen=True)
class LinkStatus:
    """One knet link as one node sees it: `peers` maps node id -> localhost|connected|disconnected|..."""

    link_id: int
    transport: str
    address: str
    peers: tuple[tuple[int, str], ...]
    by_position: bool = False   # 3.0.0-3.0.1 without the node ids to place them: keys are list positions

    def peer_state(self, nodeid: int) -> str | None:
        return None if self.by_position else dict(self.peers).get(nodeid)

    @property
    def up(self) -> bool:
        """Every other node is connected over this link."""
        if self.by_position:
            return False  # the local node cannot be told from a disconnected peer without the node ids
        others = [state for _, state in self.peers if state != "localhost"]
        return bool(others) and all(state == "connected" for state in others)

    def to_dict(self) -> dict:
        return {"link": self.link_id, "address": self.address, "up": self.up,
                "peers": {str(n): s for n, s in self.peers}}


@dataclass(frozen=True)
class CorosyncStatus:
    local_nodeid: int | None
    transport: str
    links: tuple[LinkStatus, ...]

    def link(self, link_id: int) -> LinkStatus | None:
        return next((l for l in self.links if l.link_id == link_id), None)


def _flags_word(enabled: str, connected: str) -> str:
    # the words 3.0.4 prints for the same two bits (v3.0.4 tools/corosync-cfgtool.c lines 222-240)
    return ("connected" if connected == "1" else "disconnected") + ("" if enabled == "1" else " (not enabled)")


def parse_cfgtool(text: str, nodeids: Iterable[int] | None = None) -> CorosyncStatus:
    """Parse `corosync-cfgtool -s` of corosync 3.0.0 to 3.1.x/HEAD; lines it does not know are ignored.

    `nodeids`: the cluster's node ids, needed only for 3.0.0-3.0.1, which number the nodes by their position in
    the node list sorted by id (v3.0.0 exec/totemknet.c line 423 sorts it; cfgtool prints the position)."""
    order = sorted(set(nodeids)) if nodeids else []
    local, transport = None, ""
    links: list[LinkStatus] = []
    current: dict | None = None

    def close() -> None:
        if current is None:
            return
        entries = current["peers"]
        if any(kind == "node" and number >= len(order) for kind, number, _, _ in entries):
            links.append(LinkStatus(current["id"], current["transport"], current["addr"],
                                    tuple((number, word) for _, number, word, _ in entries), by_position=True))
            return
        peers = []
        for kind, number, word, flags in entries:
            nodeid = order[number] if kind == "node" else number
            # 3.0.0-3.0.3 print flags, no localhost word: the local node's own entry is the one with its id
            peers.append((nodeid, "localhost" if flags and nodeid == local else word))
        links.append(LinkStatus(current["id"], current["transport"], current["addr"], tuple(peers)))

    for line in text.splitlines():
        if m := _LOCAL.match(line):
            local, transport = int(m.group(1)), (m.group(2) or "").rstrip(",")
        elif m := _LINK.match(line):
            close()
            current = {"id": int(m.group(1)), "transport": m.group(2), "addr": "", "peers": []}
        elif current is not None and (m := _ADDR.match(line)):
            current["addr"] = m.group(1)
        elif current is not None and (m := _PEER.match(line)):
            word, flags = m.group(3), _ENABLED_CONNECTED.match(m.group(3))
            if flags:
                word = _flags_word(*flags.groups())
            current["peers"].append((m.group(1), int(m.group(2)), word, bool(flags)))
    close()
    return CorosyncStatus(local, transport, tuple(links))
