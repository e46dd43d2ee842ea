"""Preflight on time and names: time synchronisation (chronyc, ntpq, timedatectl) and the clock skew between the
nodes, the host name and how both nodes resolve the node names (getent hosts); parsers (text in, frozen facts out)
and verdicts (facts in, Findings out). Pure functions, no I/O."""
from __future__ import annotations

from dataclasses import dataclass

from axha.checks.view import NodeView, _f
from axha.steps.sections import key_values
from axha.steps.framework import FAIL, PASS, WARN, Finding


MAX_SKEW = 1.0


# ---------------------------------------------------------------- time


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


def time_sync(view: NodeView) -> list[Finding]:
    results = []
    s = view.section("timesync")
    if s is not None and s.rc != 127:
        results.append(parse_ntpq(s.text) if "remote" in s.text and "refid" in s.text
                       else parse_chrony_tracking(s.text, s.rc))
    t = view.section("timedatectl")
    if t is not None:
        results.append(parse_timedatectl_show(t.text, t.rc))
    known = [r for r in results if r.synced is not None]
    if any(r.synced for r in known):
        r = next(r for r in known if r.synced)
        return [_f("TIME_SYNCED", view.name, PASS, f"clock synchronised ({r.source}: {r.detail})")]
    if known:
        r = known[0]
        return [_f("TIME_NOT_SYNCED", view.name, WARN, f"clock not synchronised ({r.source}: {r.detail})",
                   "Configure NTP (chrony) against the same servers on both nodes and wait for it to sync.")]
    return [_f("TIME_SYNC_UNKNOWN", view.name, WARN,
               "no time synchronisation service answers (no chronyc, ntpq or timedatectl)",
               "Install and enable chrony on both nodes, pointing at the same NTP servers.")]


def time_pair(a: NodeView, b: NodeView) -> list[Finding]:
    if a.clock_offset is None or b.clock_offset is None:
        return []
    skew = abs(a.clock_offset - b.clock_offset)
    if skew >= MAX_SKEW:
        return [_f("CLOCK_SKEW", None, FAIL, f"the clocks differ by {skew:.2f} s (limit {MAX_SKEW:g} s)",
                   "Synchronise both nodes with NTP (chrony) before installing: corosync, DRBD and Axigen logs "
                   "and certificates need agreeing clocks.")]
    return [_f("CLOCK_OK", None, PASS, f"clock difference between the nodes: {skew * 1000:.0f} ms")]


# ---------------------------------------------------------------- names


def parse_getent_hosts(text: str) -> dict[str, str]:
    """`getent hosts NAME...` -> {name or alias: first address}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2:
            for name in words[1:]:
                out.setdefault(name, words[0])
    return out


def names(view: NodeView) -> list[Finding]:
    out = []
    s = view.section("hostname")
    hostname = s.text.strip() if s and s.ok else ""
    if hostname and hostname.split(".")[0] != view.name:
        out.append(_f("HOSTNAME_MISMATCH", view.name, FAIL,
                      f"the node calls itself {hostname!r}, the cluster file names it {view.name!r}",
                      f"Pacemaker and DRBD use the node's own name: set it (hostnamectl set-hostname {view.name}) "
                      "or correct nodes[].name in the cluster file."))
    g = view.section("getent")
    resolved = parse_getent_hosts(g.text) if g else {}
    missing = [n.name for n in view.spec.nodes if n.name not in resolved]
    if missing:
        out.append(_f("NAME_NOT_RESOLVED", view.name, FAIL, f"cannot resolve {', '.join(missing)}",
                      "Add both nodes to /etc/hosts on both nodes (same addresses everywhere), so the cluster "
                      "does not depend on DNS."))
    if not out:
        out.append(_f("NAMES_OK", view.name, PASS, "; ".join(f"{n} -> {a}" for n, a in sorted(resolved.items())
                                                          if n in view.spec.node_names)))
    return out


def names_pair(a: NodeView, b: NodeView) -> list[Finding]:
    ga, gb = a.section("getent"), b.section("getent")
    if not ga or not gb:
        return []
    ra, rb = parse_getent_hosts(ga.text), parse_getent_hosts(gb.text)
    diff = [n for n in a.spec.node_names if n in ra and n in rb and ra[n] != rb[n]]
    if diff:
        return [_f("NAMES_DIFFER", None, FAIL, "; ".join(f"{n}: {ra[n]} on {a.name}, {rb[n]} on {b.name}"
                                                           for n in diff),
                   "Make /etc/hosts (or DNS) give the same address for each node on both nodes.")]
    return [_f("NAMES_SAME", None, PASS, "both nodes resolve the node names the same way")]
