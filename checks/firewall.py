"""Preflight on the firewall: `nft -j list ruleset` and `iptables-save` read as an input filter (parsers), and
whether it lets corosync, DRBD and Axigen through (verdict). Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from axha.checks.view import NodeView, _f
from axha.steps.sections import extract_json
from axha.steps.framework import FAIL, PASS, WARN, Finding


AXIGEN_PORTS = (25, 110, 143)
COROSYNC_PORTS = (5405, 5406)


# ---------------------------------------------------------------- firewall


@dataclass(frozen=True)
class Firewall:
    """What an input filter does: `filtering` False means nothing drops incoming traffic by default."""

    tool: str
    filtering: bool
    allowed: tuple[tuple[str, int, int], ...] = ()  # (proto "tcp"/"udp"/"any", first port, last port)
    accept_all_from: tuple[str, ...] = ()  # interfaces accepted wholesale (iifname "link0" accept)

    def allows(self, proto: str, port: int, interface: str | None = None) -> bool:
        if not self.filtering or (interface and interface in self.accept_all_from):
            return True
        return any(p in (proto, "any") and lo <= port <= hi for p, lo, hi in self.allowed)


def _nft_ports(right: Any) -> list[tuple[int, int]]:
    if isinstance(right, int):
        return [(right, right)]
    if isinstance(right, dict):
        if "range" in right:
            return [(int(right["range"][0]), int(right["range"][1]))]
        if "set" in right:
            return [p for item in right["set"] for p in _nft_ports(item)]
    if isinstance(right, list):
        return [p for item in right for p in _nft_ports(item)]
    return []


def parse_nft_json(text: str) -> Firewall:
    """`nft -j list ruleset`: input-hook chains with a drop policy (or a final bare drop/reject), and the
    port ranges their accept rules open (rules matching only tcp/udp dport; state matches are ignored)."""
    items = extract_json(text).get("nftables", [])
    input_chains = {(c["chain"]["family"], c["chain"]["table"], c["chain"]["name"]): c["chain"]
                    for c in items if "chain" in c and c["chain"].get("hook") == "input"}
    filtering = any(c.get("policy") == "drop" for c in input_chains.values())
    allowed: list[tuple[str, int, int]] = []
    accept_if: list[str] = []
    for item in items:
        rule = item.get("rule")
        if not rule or (rule["family"], rule["table"], rule["chain"]) not in input_chains:
            continue
        exprs = rule.get("expr", [])
        verdicts = [k for e in exprs for k in e if k in ("accept", "drop", "reject")]
        matches = [e["match"] for e in exprs if "match" in e]
        if verdicts == ["drop"] or verdicts == ["reject"]:
            if not matches:
                filtering = True
            continue
        if verdicts != ["accept"]:
            continue
        for m in matches:
            left = m.get("left", {})
            payload = left.get("payload", {}) if isinstance(left, dict) else {}
            meta = left.get("meta", {}) if isinstance(left, dict) else {}
            if payload.get("field") == "dport":
                proto = payload.get("protocol", "any")
                proto = "any" if proto == "th" else proto
                allowed.extend((proto, lo, hi) for lo, hi in _nft_ports(m.get("right")))
            elif meta.get("key") == "iifname" and len(matches) == 1 and isinstance(m.get("right"), str):
                accept_if.append(m["right"])
    return Firewall("nft", filtering, tuple(allowed), tuple(accept_if))


def parse_iptables_save(text: str) -> Firewall:
    """`iptables-save`: the filter table's INPUT policy and its ACCEPT rules with --dport/--dports."""
    filtering = bool(re.search(r"^:INPUT (DROP|REJECT)", text, re.M))
    allowed: list[tuple[str, int, int]] = []
    accept_if: list[str] = []
    for line in text.splitlines():
        if not line.startswith("-A INPUT "):
            continue
        words = line.split()
        target = words[words.index("-j") + 1] if "-j" in words else ""
        if target in ("DROP", "REJECT") and len(words) == 4:
            filtering = True
        if target != "ACCEPT":
            continue
        proto = words[words.index("-p") + 1] if "-p" in words else "any"
        for flag in ("--dport", "--dports", "--destination-port", "--destination-ports"):
            if flag in words:
                for part in words[words.index(flag) + 1].split(","):
                    lo, _, hi = part.partition(":")
                    allowed.append((proto, int(lo), int(hi or lo)))
        if "-i" in words and len(words) == 6:
            accept_if.append(words[words.index("-i") + 1])
    return Firewall("iptables", filtering, tuple(allowed), tuple(accept_if))


def firewall_facts(view: NodeView) -> Firewall | None:
    nft = view.section("nft")
    if nft and nft.ok and nft.text.strip():
        try:
            fw = parse_nft_json(nft.text)
            if fw.filtering:
                return fw
        except ValueError:
            pass
    ipt = view.section("iptables")
    if ipt and ipt.ok and ipt.text.strip():
        return parse_iptables_save(ipt.text)
    if nft and nft.ok:
        return Firewall("nft", False)
    return None


def firewall(view: NodeView) -> list[Finding]:
    fw = firewall_facts(view)
    if fw is None:
        return [_f("FIREWALL_UNKNOWN", view.name, WARN, "could not read the firewall (no nft or iptables-save)",
                   "Check by hand that UDP 5405-5406, the DRBD port and the Axigen ports are open between the "
                   "nodes.")]
    if not fw.filtering:
        return [_f("FIREWALL_OPEN", view.name, PASS, f"no input filtering ({fw.tool}): cluster and mail ports open")]
    drbd_port = view.spec.storage.drbd.port
    wanted = [("udp", port, view.node.link0.interface, "corosync") for port in COROSYNC_PORTS]
    if view.spec.storage.mode == "drbd":
        wanted.append(("tcp", drbd_port, view.node.link0.interface, "DRBD"))
    wanted += [("tcp", port, None, "Axigen") for port in AXIGEN_PORTS]
    blocked = [f"{proto}/{port} ({what})" for proto, port, iface, what in wanted
               if not fw.allows(proto, port, iface)]
    if blocked:
        return [_f("FIREWALL_BLOCKS", view.name, FAIL, f"the {fw.tool} input policy drops {', '.join(blocked)}",
                   "Allow them in the firewall, e.g. nft add rule inet filter input udp dport 5405-5406 accept; "
                   f"tcp dport {drbd_port} accept (from the peer); tcp dport {{25,110,143}} accept.")]
    return [_f("FIREWALL_ALLOWS", view.name, PASS, f"{fw.tool} filters input but allows corosync, DRBD and Axigen")]
