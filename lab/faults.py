"""Network faults inside a lab node: random packet loss (nftables) and rate limits (tc tbf); clear removes them."""

from __future__ import annotations

from axha_lab import nodes
from axha_lab.layout import LabError

TABLE = "axha_lab_fault"


def _num(value: str, what: str, low: int, high: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise LabError(f"{what} must be a whole number, got {value!r}") from None
    if not low <= n <= high:
        raise LabError(f"{what} must be {low}..{high}, got {n}")
    return n


def apply(instance: int, node: str, kind: str, args: list[str]) -> None:
    """loss IFACE PCT | rate IFACE KBIT | clear [IFACE]"""
    if kind == "clear":
        nodes.node_run(instance, node, ["sh", "-c", f"nft delete table inet {TABLE} 2>/dev/null; "
                                        "for i in $(ls /sys/class/net); do tc qdisc del dev $i root 2>/dev/null; done; true"])
        return
    if len(args) != 2:
        raise LabError(f"usage: axha lab fault {node} {kind} IFACE {'PCT' if kind == 'loss' else 'KBIT'}")
    iface = args[0]
    if kind == "loss":
        pct = _num(args[1], "loss percentage", 0, 100)
        # numgen values are 0..99: "< 100" is out of nft's range, so total loss is a plain drop
        match = "" if pct >= 100 else f"numgen random mod 100 < {pct} "
        script = (f"table inet {TABLE} {{\n"
                  f" chain in {{ type filter hook input priority -10; iifname \"{iface}\" {match}drop; }}\n"
                  f" chain out {{ type filter hook output priority -10; oifname \"{iface}\" {match}drop; }}\n}}\n")
        nodes.node_run(instance, node, ["sh", "-c", f"nft delete table inet {TABLE} 2>/dev/null; nft -f -"],
                       stdin=script.encode())
    else:
        kbit = _num(args[1], "rate in kbit/s", 8, 10_000_000)
        nodes.node_run(instance, node, ["tc", "qdisc", "replace", "dev", iface, "root", "tbf",
                                        "rate", f"{kbit}kbit", "burst", "32kbit", "latency", "400ms"])
