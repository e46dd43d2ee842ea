"""Pure parser of `corosync-cfgtool -s` (Corosync 3, knet): each link's local address and each peer's state."""
from __future__ import annotations

import re
from dataclasses import dataclass

CFGTOOL_ARGV = ("corosync-cfgtool", "-s")

_LOCAL = re.compile(r"^Local node ID (\d+), transport (\S+)")
_LINK = re.compile(r"^LINK ID (\d+)\s*(\S*)")
_ADDR = re.compile(r"^\s*addr\s*=\s*(\S+)")
_PEER = re.compile(r"^\s*nodeid:\s*(\d+):\s*(.+?)\s*$")


@dataclass(frozen=True)
class LinkStatus:
    """One knet link as one node sees it: `peers` maps node id -> localhost|connected|disconnected|..."""

    link_id: int
    transport: str
    address: str
    peers: tuple[tuple[int, str], ...]

    def peer_state(self, nodeid: int) -> str | None:
        return dict(self.peers).get(nodeid)

    @property
    def up(self) -> bool:
        """Every other node is connected over this link."""
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


def parse_cfgtool(text: str) -> CorosyncStatus:
    """Parse `corosync-cfgtool -s`; lines it does not know are ignored (output grew over 3.x releases)."""
    local, transport = None, ""
    links: list[LinkStatus] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            links.append(LinkStatus(current["id"], current["transport"], current["addr"], tuple(current["peers"])))

    for line in text.splitlines():
        if m := _LOCAL.match(line):
            local, transport = int(m.group(1)), m.group(2).rstrip(",")
        elif m := _LINK.match(line):
            close()
            current = {"id": int(m.group(1)), "transport": m.group(2), "addr": "", "peers": []}
        elif current is not None and (m := _ADDR.match(line)):
            current["addr"] = m.group(1)
        elif current is not None and (m := _PEER.match(line)):
            current["peers"].append((int(m.group(1)), m.group(2)))
    close()
    return CorosyncStatus(local, transport, tuple(links))
