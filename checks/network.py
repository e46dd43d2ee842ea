"""Preflight on the network: the NICs (our sysfs `nics` section, `ip -j -d link`, `ip -j addr`), the cluster links
(a ping to the peer over link0 and link1) and their MTU at both ends; parsers (text in, frozen facts out) and
verdicts (facts in, Findings out). Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass

from axha.checks.view import NodeView, _f, _missing
from axha.steps.sections import extract_json
from axha.steps.framework import FAIL, PASS, WARN, Finding


# The Axigen HA baseline (Axigen's HA architecture paper, see checks.hardware): 2 x GbE.
MIN_SPEED = 1000
VIRTUAL_KINDS = ("bridge", "bond", "team", "vlan", "macvlan", "ipvlan", "vxlan", "tun", "tap", "dummy",
                 "wireguard", "gre", "ipip", "sit", "geneve", "openvswitch")


# ---------------------------------------------------------------- network


@dataclass(frozen=True)
class Nic:
    name: str
    carrier: bool | None
    speed: int | None  # Mb/s, None when the driver does not say
    mtu: int | None
    operstate: str
    physical: bool
    kind: str = ""  # ip -d link's info_kind: veth, bridge, bond, vlan ... ("" for a plain NIC)
    master: str = ""
    addresses: tuple[tuple[str, int], ...] = ()  # (address, prefix length)
    admin_up: bool | None = None  # the UP flag (ip link set X up)


def parse_nics(text: str) -> dict[str, Nic]:
    """Our `nics` section: `<name> carrier=1 speed=1000 mtu=1500 operstate=up physical=1` per interface."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if not words or "=" not in line:
            continue
        kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        speed = kv.get("speed", "-")
        out[words[0]] = Nic(name=words[0], carrier={"1": True, "0": False}.get(kv.get("carrier", "-")),
                            speed=int(speed) if speed.lstrip("-").isdigit() and int(speed) > 0 else None,
                            mtu=int(kv["mtu"]) if kv.get("mtu", "").isdigit() else None,
                            operstate=kv.get("operstate", ""), physical=kv.get("physical") == "1")
    return out


def parse_ip_link(text: str) -> dict[str, dict]:
    """`ip -j -d link show` -> {ifname: {"kind", "master", "mtu", "operstate", "flags"}}."""
    out = {}
    for link in extract_json(text):
        out[link["ifname"]] = {"kind": (link.get("linkinfo") or {}).get("info_kind", ""),
                               "parent": link.get("link", "") if "link_netnsid" not in link else "",
                               "master": link.get("master", ""), "mtu": link.get("mtu"),
                               "operstate": link.get("operstate", ""), "flags": tuple(link.get("flags", ()))}
    return out


def parse_ip_addr(text: str) -> dict[str, tuple[tuple[str, int], ...]]:
    """`ip -j addr show` -> {ifname: ((address, prefixlen), ...)} (global and link addresses, both families)."""
    out = {}
    for link in extract_json(text):
        out[link["ifname"]] = tuple((a["local"], int(a["prefixlen"])) for a in link.get("addr_info", [])
                                    if "local" in a)
    return out


def merge_nics(nics: dict[str, Nic], links: dict[str, dict], addrs: dict[str, tuple]) -> dict[str, Nic]:
    """The sysfs view enriched with ip's link kind, master and addresses."""
    merged = {}
    for name, nic in nics.items():
        info = links.get(name, {})
        merged[name] = Nic(nic.name, nic.carrier, nic.speed, nic.mtu if nic.mtu is not None else info.get("mtu"),
                           nic.operstate, nic.physical, info.get("kind", ""), info.get("master", ""),
                           addrs.get(name, ()), ("UP" in info["flags"]) if "flags" in info else None)
    return merged


@dataclass(frozen=True)
class Ping:
    transmitted: int
    received: int
    rtt_avg_ms: float | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.received > 0


def parse_ping(text: str) -> Ping:
    stats = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", text)
    rtt = re.search(r"= [\d.]+/([\d.]+)/", text)
    if not stats:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        return Ping(0, 0, None, lines[-1] if lines else "no output")
    return Ping(int(stats.group(1)), int(stats.group(2)), float(rtt.group(1)) if rtt else None)


def nics(view: NodeView) -> dict[str, Nic]:
    s, link, addr = view.section("nics"), view.section("ip_link"), view.section("ip_addr")
    base = parse_nics(s.text) if s and s.ok else {}
    links = parse_ip_link(link.text) if link and link.ok else {}
    addrs = parse_ip_addr(addr.text) if addr and addr.ok else {}
    return merge_nics(base, links, addrs)


def _is_nic(nic: Nic) -> bool:
    return nic.kind not in VIRTUAL_KINDS and not nic.master


def network(view: NodeView) -> list[Finding]:
    all_nics = nics(view)
    if not all_nics:
        return [_missing(view, "NIC_UNREADABLE", "the network interfaces", "nics")]
    out: list[Finding] = []
    candidates = {n: x for n, x in all_nics.items() if _is_nic(x)}
    up = [n for n, x in candidates.items() if x.carrier]
    describe = ", ".join(f"{n} ({'physical' if x.physical else x.kind or 'virtual'}, "
                         f"{'carrier' if x.carrier else 'no carrier'}, "
                         f"{x.speed if x.speed else '?'} Mb/s, mtu {x.mtu})" for n, x in sorted(candidates.items()))
    if len(up) < 2:
        out.append(_f("NIC_COUNT_LOW", view.name, FAIL, f"{len(up)} NIC(s) with carrier; at least 2 are needed: "
                      f"{describe or 'none'}", "Connect two network cards (one per cluster link) with cables "
                      "to the peer or to separate switches."))
    for which in ("link0", "link1"):
        link = getattr(view.node, which)
        nic = all_nics.get(link.interface)
        if nic is None:
            out.append(_f(f"{which.upper()}_INTERFACE_MISSING", view.name, FAIL,
                          f"{which}: interface {link.interface} does not exist",
                          f"Fix {which}.interface of {view.name} in the cluster file, or install the NIC."))
            continue
        if link.address not in {a for a, _ in nic.addresses}:
            where = [n for n, x in all_nics.items() if link.address in {a for a, _ in x.addresses}]
            out.append(_f(f"{which.upper()}_ADDRESS_MISSING", view.name, FAIL,
                          f"{which}: address {link.address} is not on {link.interface}"
                          + (f" (it is on {where[0]})" if where else ""),
                          f"Configure {link.address} on {link.interface} (ifupdown/netplan/NetworkManager), "
                          "or correct the cluster file."))
        if nic.admin_up is False:
            out.append(_f(f"{which.upper()}_DOWN", view.name, FAIL,
                          f"{which}: {link.interface} is administratively down",
                          f"Bring it up (ip link set {link.interface} up) and make that permanent in the network "
                          "configuration."))
        elif nic.carrier is False or nic.operstate not in ("up", "unknown"):
            out.append(_f(f"{which.upper()}_NO_CARRIER", view.name, FAIL,
                          f"{which}: {link.interface} has no carrier (state {nic.operstate or 'down'})",
                          f"Check the cable of {link.interface}, the switch port, and that the other end "
                          f"(the peer's {which}) is up."))
        elif nic.speed is not None and nic.speed < MIN_SPEED:
            out.append(_f(f"{which.upper()}_SLOW", view.name, WARN,
                          f"{which}: {link.interface} runs at {nic.speed} Mb/s (baseline: 1 Gb/s)",
                          "Check the cable, switch port and duplex; DRBD replication needs at least 1 Gb/s."))
    out += _same_nic(view)
    if not [f for f in out if f.status != PASS]:
        out.append(_f("NIC_OK", view.name, PASS, f"{len(up)} NICs with carrier: {describe}"))
    return out


def _same_nic(view: NodeView) -> list[Finding]:
    """link0 and link1 as VLANs (or macvlans) of one physical NIC are not redundant: one cable cuts both."""
    s = view.section("ip_link")
    if not s or not s.ok:
        return []
    links = parse_ip_link(s.text)

    def root(name: str) -> str:
        seen = set()
        while links.get(name, {}).get("parent") and name not in seen:
            seen.add(name)
            name = links[name]["parent"]
        return name

    a, b = view.node.link0.interface, view.node.link1.interface
    if a in links and b in links and root(a) == root(b):
        return [_f("LINKS_SAME_NIC", view.name, FAIL, f"link0 ({a}) and link1 ({b}) both sit on {root(a)}",
                   "Put the two cluster links on two different physical NICs (ideally two switches): one cable "
                   "or card failure must not cut both.")]
    return []


def links(view: NodeView) -> list[Finding]:
    out = []
    peer = view.spec.peer(view.name)
    for which in ("link0", "link1"):
        s = view.section(f"ping_{which}")
        if s is None:
            continue
        link, peer_link = getattr(view.node, which), getattr(peer, which)
        ping = parse_ping(s.text)
        if not ping.ok:
            why = ping.error or f"{ping.received}/{ping.transmitted} replies"
            out.append(_f(f"{which.upper()}_PEER_UNREACHABLE", view.name, FAIL,
                          f"{which}: {peer.name} ({peer_link.address}) does not answer over {link.interface}: {why}",
                          f"Check {link.interface} on {view.name}, {peer_link.interface} on {peer.name}, the cable "
                          f"or switch between them, and any firewall dropping ICMP on the link."))
        else:
            out.append(_f(f"{which.upper()}_OK", view.name, PASS,
                          f"{which}: {peer.name} {peer_link.address} answers over {link.interface} "
                          f"({ping.received}/{ping.transmitted}, {ping.rtt_avg_ms} ms)"))
    return out


def links_pair(a: NodeView, b: NodeView) -> list[Finding]:
    out = []
    na, nb = nics(a), nics(b)
    for which in ("link0", "link1"):
        ia, ib = getattr(a.node, which).interface, getattr(b.node, which).interface
        x, y = na.get(ia), nb.get(ib)
        if not x or not y or x.mtu is None or y.mtu is None:
            continue
        if x.mtu != y.mtu:
            out.append(_f(f"{which.upper()}_MTU_MISMATCH", None, FAIL,
                          f"{which}: MTU {x.mtu} on {a.name} {ia}, {y.mtu} on {b.name} {ib}",
                          "Set the same MTU at both ends (and on any switch between): mismatched MTUs drop "
                          "large corosync/DRBD packets."))
        else:
            out.append(_f(f"{which.upper()}_MTU_SAME", None, PASS, f"{which}: MTU {x.mtu} at both ends"))
    return out
