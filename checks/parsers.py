"""Pure parsers: one function per command output, text in, frozen facts out. No I/O, no verdicts here."""
from __future__ import annotations

import re
from dataclasses import dataclass

from axha.steps.sections import key_values


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
