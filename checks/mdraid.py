"""Linux md RAID for the preflight RAID check: parsers of /proc/mdstat and `mdadm --detail` (text in, frozen facts
out) and the findings on each array; checks.raid.raid judges them together with the RAID controllers. Pure functions,
no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass

from axha.checks.view import NodeView, _f
from axha.steps.sections import key_values
from axha.steps.framework import FAIL, WARN, Finding


# ---------------------------------------------------------------- Linux md RAID


@dataclass(frozen=True)
class MdMember:
    name: str
    role: int
    flags: tuple[str, ...] = ()  # F faulty, S spare, W write-mostly, R replacement


@dataclass(frozen=True)
class MdArray:
    name: str
    active: bool
    level: str
    members: tuple[MdMember, ...]
    raid_disks: int | None = None
    working_disks: int | None = None
    status: str = ""  # "UU_"
    action: str = ""  # recovery, resync, reshape, check, repair (or resync=DELAYED/PENDING)
    percent: float | None = None
    finish: str = ""

    @property
    def degraded(self) -> bool:
        return "_" in self.status or (self.raid_disks is not None and self.working_disks is not None
                                      and self.working_disks < self.raid_disks)

    @property
    def failed_members(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if "F" in m.flags)


_MD_HEAD = re.compile(r"^(md[\w/-]*)\s*:\s*(active|inactive)(?:\s+\([\w-]+\))?\s*(.*)$")
_MD_MEMBER = re.compile(r"^(\S+)\[(\d+)\]((?:\([A-Z]\))*)$")
_MD_STATUS = re.compile(r"\[(\d+)/(\d+)\]\s+\[([U_]+)\]")
_MD_ACTION = re.compile(r"(recovery|resync|reshape|check|repair)\s*=\s*([\d.]+)%.*?(?:finish=(\S+))?")
_MD_PENDING = re.compile(r"(resync|recovery|reshape)\s*=\s*(DELAYED|PENDING)")


def parse_mdstat(text: str) -> list[MdArray]:
    arrays: list[dict] = []
    for line in text.splitlines():
        head = _MD_HEAD.match(line.strip()) if not line.startswith((" ", "\t")) else None
        if head:
            words = head.group(3).split()
            level = words[0] if words and not _MD_MEMBER.match(words[0]) else ""
            members = []
            for word in words[1:] if level else words:
                m = _MD_MEMBER.match(word)
                if m:
                    members.append(MdMember(m.group(1), int(m.group(2)), tuple(re.findall(r"\(([A-Z])\)", m.group(3)))))
            arrays.append({"name": head.group(1), "active": head.group(2) == "active", "level": level,
                           "members": tuple(members)})
            continue
        if not arrays or not line.startswith((" ", "\t")):
            continue
        current = arrays[-1]
        status = _MD_STATUS.search(line)
        if status:
            current.update(raid_disks=int(status.group(1)), working_disks=int(status.group(2)),
                           status=status.group(3))
        action = _MD_ACTION.search(line)
        if action:
            finish = re.search(r"finish=(\S+)", line)
            current.update(action=action.group(1), percent=float(action.group(2)),
                           finish=finish.group(1) if finish else "")
        pending = _MD_PENDING.search(line)
        if pending:
            current.update(action=f"{pending.group(1)}={pending.group(2)}")
    return [MdArray(**a) for a in arrays]


@dataclass(frozen=True)
class MdDetail:
    device: str
    state: str
    level: str
    raid_devices: int | None
    active_devices: int | None
    failed_devices: int | None
    rebuild_status: str
    member_states: tuple[tuple[str, str], ...]  # (device or "-", state text)

    @property
    def state_words(self) -> tuple[str, ...]:
        return tuple(w.strip() for w in self.state.split(",") if w.strip())


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def parse_mdadm_detail(text: str) -> list[MdDetail]:
    """`mdadm --detail` of one or more arrays (our script separates them with `@@md /dev/mdX` lines)."""
    chunks = re.split(r"^@@md (\S+)\s*$", text, flags=re.M)
    pairs = list(zip(chunks[1::2], chunks[2::2])) if len(chunks) > 1 else [("", text)]
    details = []
    for device, body in pairs:
        kv = key_values(body)
        if not device:
            first = re.search(r"^(/dev/\S+):\s*$", body, re.M)
            device = first.group(1) if first else "?"
        members = []
        table = re.split(r"^\s*Number\s+Major\s+Minor\s+RaidDevice\s+State\s*$", body, maxsplit=1, flags=re.M)
        if len(table) == 2:
            for line in table[1].splitlines():
                m = re.match(r"^\s*(-|\d+)\s+(\d+)\s+(\d+)\s+(-|\d+)\s+(.*?)\s*$", line)
                if m:
                    words = m.group(5).split()
                    dev = words[-1] if words and words[-1].startswith("/dev/") else "-"
                    state = " ".join(w for w in words if not w.startswith("/dev/"))
                    members.append((dev, state))
        details.append(MdDetail(device=device, state=kv.get("State", ""), level=kv.get("Raid Level", ""),
                                raid_devices=_int_or_none(kv.get("Raid Devices")),
                                active_devices=_int_or_none(kv.get("Active Devices")),
                                failed_devices=_int_or_none(kv.get("Failed Devices")),
                                rebuild_status=kv.get("Rebuild Status", ""), member_states=tuple(members)))
    return details


def _md_name(device: str) -> str:
    return device[5:] if device.startswith("/dev/") else device


def _md_detail_only(arrays: list[MdArray], details: list[MdDetail]) -> list[MdDetail]:
    """Arrays `mdadm --detail` knows that /proc/mdstat does not list (unreadable mdstat): judged from mdadm alone."""
    listed = {a.name for a in arrays}
    return [d for d in details if d.device.rsplit("/", 1)[-1] not in listed and (d.level or d.state)]


def _md_detail_finding(view: NodeView, d: MdDetail) -> Finding | None:
    name, words = _md_name(d.device), d.state_words
    failed = [dev for dev, state in d.member_states if "faulty" in state.split()]
    removed = sum(1 for _, state in d.member_states if state == "removed")
    short = d.active_devices is not None and d.raid_devices is not None and d.active_devices < d.raid_devices
    if "inactive" in words:
        return _f("RAID_FAILED", view.name, FAIL, f"md {name} is inactive (mdadm --detail)",
                  f"Assemble or repair {name} (mdadm --detail {d.device}) before using this server.")
    if "recovering" in words or "reshaping" in words:
        return _f("RAID_REBUILDING", view.name, WARN, f"md {name} ({d.level}) is rebuilding: "
                  + (d.rebuild_status or ", ".join(words)),
                  f"Let the rebuild finish (watch mdadm --detail {d.device}), then re-run preflight.")
    if "degraded" in words or (d.failed_devices or 0) > 0 or short:
        what = f"{d.active_devices}/{d.raid_devices} members active" if short else ", ".join(words)
        members = ([f"failed: {', '.join(failed)}"] if failed else []) + (
            [f"{removed} member slot{'s' if removed > 1 else ''} removed"] if removed else [])
        return _f("RAID_DEGRADED", view.name, FAIL, f"md {name} ({d.level}) is degraded: {what}"
                  + "".join(f", {m}" for m in members),
                  f"Replace the failed disk and add it back (mdadm {d.device} --add /dev/sdX), "
                  "let it resync, then re-run preflight.")
    if "resyncing" in words or "checking" in words:
        return _f("RAID_RESYNCING", view.name, WARN, f"md {name} is {', '.join(words)}"
                  + (f" ({d.rebuild_status})" if d.rebuild_status else ""),
                  "Wait for it to finish; installing during a resync slows both down.")
    return None


def _md_findings(view: NodeView, arrays: list[MdArray], details: list[MdDetail]) -> list[Finding]:
    out = []
    by_dev = {d.device.rsplit("/", 1)[-1]: d for d in details}
    for a in arrays:
        detail = by_dev.get(a.name)
        failed = a.failed_members
        if not a.active:
            out.append(_f("RAID_FAILED", view.name, FAIL, f"md {a.name} is inactive",
                          f"Assemble or repair {a.name} (mdadm --detail /dev/{a.name}) before using this server."))
        elif a.action and a.action.split("=")[0] in ("recovery", "reshape") or (
                detail and "recovering" in detail.state_words):
            pct = f" {a.percent:g}%" if a.percent is not None else ""
            out.append(_f("RAID_REBUILDING", view.name, WARN, f"md {a.name} ({a.level}) is rebuilding: "
                          f"{a.action}{pct}" + (f", finish in {a.finish}" if a.finish else ""),
                          "Let the rebuild finish (watch /proc/mdstat), then re-run preflight."))
        elif a.degraded or failed or (detail and "degraded" in detail.state_words):
            what = f"{a.working_disks}/{a.raid_disks} members working [{a.status}]" if a.status else "degraded"
            out.append(_f("RAID_DEGRADED", view.name, FAIL, f"md {a.name} ({a.level}) is degraded: {what}"
                          + (f", failed: {', '.join(failed)}" if failed else ""),
                          f"Replace the failed disk and add it back (mdadm /dev/{a.name} --add /dev/sdX), "
                          "let it resync, then re-run preflight."))
        elif a.action.startswith("resync") or a.action in ("check", "repair"):
            out.append(_f("RAID_RESYNCING", view.name, WARN, f"md {a.name} is running {a.action}"
                          + (f" {a.percent:g}%" if a.percent is not None else ""),
                          "Wait for it to finish; installing during a resync slows both down."))
    return out
