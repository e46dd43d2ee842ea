"""Pure parsers: one function per command output, text in, frozen facts out. No I/O, no verdicts here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from axha.steps.sections import extract_json, key_values


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


# ---------------------------------------------------------------- fencing


@dataclass(frozen=True)
class FenceStatus:
    """fence_ipmilan -o status from the peer: power state, or why it failed (auth, timeout, missing, failed)."""

    power: str | None
    problem: str = ""  # "", "auth", "timeout", "unreachable", "missing", "failed"
    message: str = ""


def parse_fence_status(text: str, rc: int) -> FenceStatus:
    status = re.search(r"^Status:\s*(ON|OFF)\s*$", text, re.M)
    errors = [ln.split("ERROR:", 1)[1].strip() for ln in text.splitlines() if "ERROR:" in ln]
    details = [ln.split("DEBUG:", 1)[1].strip() for ln in text.splitlines() if "Error:" in ln and "DEBUG:" in ln]
    message = "; ".join(details + errors) or text.strip().splitlines()[-1:][0] if text.strip() else ""
    if status and rc == 0:
        return FenceStatus(status.group(1).lower())
    low = text.lower()
    if rc == 127 or "not installed" in low:
        return FenceStatus(None, "missing", message)
    if "unable to establish ipmi v2 / rmcp+ session" in low or "rakp" in low or "unauthorized name" in low \
            or "invalid user name" in low or "password" in low:
        return FenceStatus(None, "auth", message)
    if "timed out" in low or "timeout" in low or rc == 124:
        return FenceStatus(None, "timeout", message)
    if "unreachable" in low or "no route" in low or "name or service not known" in low:
        return FenceStatus(None, "unreachable", message)
    return FenceStatus(None, "failed", message)


# ---------------------------------------------------------------- storage (the disk's facts: steps.disk)


def parse_proc_mount(text: str) -> dict[str, str] | None:
    """Our proc_mount section: the mount options of each procfs mounted on /proc, one line each, oldest first.
    The last one is in effect (a later mount hides the earlier). -> {option: value or ""}, None if there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    return {k: v for k, _, v in (opt.partition("=") for opt in lines[-1].split(","))}


# ---------------------------------------------------------------- software


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    installed: bool


def parse_dpkg_query(text: str) -> dict[str, Package]:
    """`dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' ...` (ii = installed)."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            out[parts[0]] = Package(parts[0], parts[1], parts[2].strip().startswith("ii"))
    return out


def parse_apt_policy(text: str) -> dict[str, tuple[str | None, str | None]]:
    """`apt-cache policy PKG...` -> {pkg: (installed or None, candidate or None)}."""
    out: dict[str, tuple[str | None, str | None]] = {}
    current = None
    installed = candidate = None
    for line in text.splitlines():
        head = re.match(r"^(\S+):\s*$", line)
        if head:
            if current:
                out[current] = (installed, candidate)
            current, installed, candidate = head.group(1), None, None
            continue
        m = re.match(r"^\s+(Installed|Candidate):\s*(\S+)", line)
        if m and current:
            value = None if m.group(2) == "(none)" else m.group(2)
            if m.group(1) == "Installed":
                installed = value
            else:
                candidate = value
    if current:
        out[current] = (installed, candidate)
    return out


def parse_drbd_module(text: str, rc: int) -> str | None:
    """/proc/drbd's `version: 9.2.2 (api:2/proto:86-121)` or modinfo's bare version; None without a module."""
    match = re.search(r"version:\s*(\S+)", text) or re.match(r"^\s*(\d+\.\d+[\w.-]*)\s*$", text)
    return match.group(1) if rc == 0 and match else None


def parse_is_enabled(text: str, rc: int) -> bool | None:
    """`systemctl is-enabled SVC`: True enabled, False disabled/masked, None when the unit does not exist."""
    word = text.strip().splitlines()[-1].strip() if text.strip() else ""
    if word in ("enabled", "enabled-runtime", "alias", "static", "indirect", "generated"):
        return True
    if word in ("disabled", "masked", "masked-runtime"):
        return False
    return None if rc != 0 else True


@dataclass(frozen=True)
class TimeSync:
    source: str  # chronyc, ntpq, timedatectl, or "" when nothing answers
    synced: bool | None
    detail: str = ""


def parse_chrony_tracking(text: str, rc: int) -> TimeSync:
    if rc != 0:
        return TimeSync("", None, text.strip())
    kv = key_values(text)
    leap = kv.get("Leap status", "")
    offset = kv.get("System time", "")
    return TimeSync("chronyc", leap == "Normal", f"leap status {leap or '?'}, system time {offset or '?'}")


def parse_ntpq(text: str) -> TimeSync:
    synced = any(line.startswith("*") for line in text.splitlines())
    return TimeSync("ntpq", synced, "a peer is selected (*)" if synced else "no selected peer")


def parse_timedatectl_show(text: str, rc: int) -> TimeSync:
    kv = key_values(text, "=")
    if rc != 0 or "NTPSynchronized" not in kv:
        return TimeSync("", None, text.strip().splitlines()[0] if text.strip() else "")
    return TimeSync("timedatectl", kv["NTPSynchronized"] == "yes", f"NTPSynchronized={kv['NTPSynchronized']}")


def parse_getent_hosts(text: str) -> dict[str, str]:
    """`getent hosts NAME...` -> {name or alias: first address}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2:
            for name in words[1:]:
                out.setdefault(name, words[0])
    return out


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
