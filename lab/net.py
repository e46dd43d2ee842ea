"""The lab network: a host bridge with one management veth per node, and direct veth pairs link0/link1."""

from __future__ import annotations

import json
from pathlib import Path

from axha_lab.host import out, run
from axha_lab.layout import Layout, NodeLayout

LINKS = ("link0", "link1")
NICS = ("mgmt0",) + LINKS


def park_netns(layout: Layout) -> str:
    """Namespace that holds NICs a profile says a node does not have (cable pulled, card absent)."""
    return f"axlab{layout.instance}-park"


def netns_list() -> set[str]:
    return {line.split()[0] for line in out(["ip", "netns", "list"]).splitlines() if line.strip()}


def links_in(netns: str | None) -> set[str]:
    argv = ["ip", "-j", "link", "show"] if netns is None else ["ip", "-n", netns, "-j", "link", "show"]
    proc = run(argv, check=False)
    if proc.returncode != 0:
        return set()
    return {item["ifname"] for item in json.loads(proc.stdout or b"[]")}


def ensure_network(layout: Layout) -> None:
    """Create what is missing: bridge (+ BMC addresses), node namespaces, mgmt veths, link pairs."""
    host_links = links_in(None)
    br = layout.bridge
    if br not in host_links:
        run(["ip", "link", "add", br, "type", "bridge"])
    run(["ip", "addr", "replace", f"{layout.bridge_address}/24", "dev", br])
    for node in layout.nodes:
        run(["ip", "addr", "replace", f"{node.bmc_address}/32", "dev", br])
    run(["ip", "link", "set", br, "up"])
    existing = netns_list()
    for ns in [n.netns for n in layout.machines] + [park_netns(layout)]:
        if ns not in existing:
            run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
    for node in layout.machines:   # the arbiter has its management NIC only
        if node.host_veth not in host_links:
            run(["ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", "mgmt0", "netns", node.netns])
        run(["ip", "link", "set", node.host_veth, "master", br, "up"])
    n1, n2 = layout.nodes
    have1 = links_in(n1.netns) | {n.split("-", 1)[1] for n in links_in(park_netns(layout)) if n.startswith("n1-")}
    for link in LINKS:
        if link not in have1:
            run(["ip", "link", "add", "name", link, "netns", n1.netns, "type", "veth",
                 "peer", "name", link, "netns", n2.netns])


def place_nics(layout: Layout, node: NodeLayout, absent: list[str]) -> None:
    """Move the node's NICs the profile marks absent into the park namespace, and the others back."""
    park = park_netns(layout)
    parked = links_in(park)
    present = links_in(node.netns)
    prefix = f"n{node.index}-"
    for nic in NICS:
        hidden = prefix + nic
        if nic in absent and nic in present:
            run(["ip", "-n", node.netns, "link", "set", nic, "down"])
            run(["ip", "-n", node.netns, "link", "set", nic, "netns", park, "name", hidden])
        elif nic not in absent and hidden in parked:
            run(["ip", "-n", park, "link", "set", hidden, "netns", node.netns, "name", nic])


def cut_node_links(node: NodeLayout) -> None:
    """After a power cut: the node's NICs lose their addresses and carrier, faults are cleared."""
    for nic in links_in(node.netns) - {"lo"}:
        run(["ip", "-n", node.netns, "addr", "flush", "dev", nic], check=False)
        run(["ip", "-n", node.netns, "link", "set", nic, "down"], check=False)
        run(["ip", "netns", "exec", node.netns, "tc", "qdisc", "del", "dev", nic, "root"], check=False)
    run(["ip", "netns", "exec", node.netns, "nft", "flush", "ruleset"], check=False)


def destroy_network(layout: Layout) -> None:
    """Delete namespaces (their veth ends go with them) and the bridge."""
    existing = netns_list()
    everyone = layout.nodes + (layout.arbiter,)
    for ns in [n.netns for n in everyone] + [park_netns(layout)]:
        if ns in existing:
            run(["ip", "netns", "del", ns])
    host_links = links_in(None)
    for node in everyone:
        if node.host_veth in host_links:
            run(["ip", "link", "del", node.host_veth], check=False)
    if layout.bridge in host_links:
        run(["ip", "link", "del", layout.bridge])


def netns_path(node: NodeLayout) -> Path:
    return Path("/run/netns") / node.netns
