"""Is a disk free for axha, and what would be lost on it: the one rule, for preflight and for the install.

Preflight (checks.storage) and the install's guard before create-md or mkfs (steps.install.disk_guard) read
the same facts with the same commands (DISK_COMMANDS, run as sections of one read-only script) and judge them with
the same rule (DiskFacts.in_use / content / blank):

- **in use**: mounted (the disk or any partition of it, from /proc/self/mountinfo and lsblk), held by another
  device (/sys/class/block/*/holders: an md array, LVM, dm-crypt, multipath), active swap, or a partition that is
  a RAID/LVM/crypt member. axha never writes to such a disk, whatever is confirmed.
- **holds data**: any signature libblkid finds (blkid -p, wipefs -n: filesystems, partition tables, RAID, LVM,
  DRBD metadata) or a partition. The install erases it only after the admin typed the disk path (headless: the
  explicit --wipe-disk NODE:PATH; --yes alone never does); preflight says so.
- **blank**: neither. DRBD metadata (or a filesystem) is written without a question; the plan shows it.

Before this module the two disagreed: the install looked only at wipefs and lsblk, so a disk held by an md array
or LVM, or used as swap, counted as "holding data" and was offered for wiping (wipefs -a on a busy device);
preflight did not see a mounted partition as a mount. The rule here is preflight's fuller reading, plus mounts of
partitions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from axha.steps.sections import MAX_OUTPUT, SEC_FUNC, Section, extract_json, key_values, split_sections

# shell functions of the disk sections ($DISK is the device; t = timeout)
DISK_FUNCS = r"""kname() { lsblk -dno KNAME "$DISK" 2>/dev/null; }
holders() { k=$(kname); [ -n "$k" ] || { echo "$DISK: no such block device"; return 1; }
  ls -1 "/sys/class/block/$k/holders"; }
mounts() { mm=$(lsblk -dno MAJ:MIN "$DISK" 2>/dev/null | tr -d ' '); [ -n "$mm" ] || return 1
  awk -v mm="$mm" '$3 == mm' /proc/self/mountinfo; }
ids() { k=$(kname); [ -n "$k" ] || return 1
  for f in wwid serial; do [ -r "/sys/class/block/$k/device/$f" ] && printf '%s=%s\n' "$f" "$(cat "/sys/class/block/$k/device/$f")"; done
  [ -r "/sys/class/block/$k/loop/backing_file" ] && printf 'loop_backing_file=%s\n' "$(cat "/sys/class/block/$k/loop/backing_file")"
  return 0; }
head1m() { [ -b "$DISK" ] || { echo "$DISK: not a block device"; return 1; }
  t 20 dd if="$DISK" bs=65536 count=16 iflag=direct status=none | sha256sum; }
"""

# (section, command): what is read about the disk, in this order, by preflight and by the install's guard
DISK_COMMANDS = (
    ("disk_lsblk", 'lsblk -J -O -b "$DISK"'),
    ("disk_blkid", 'blkid -p -o export "$DISK"'),
    ("disk_wipefs", 'wipefs -n -J "$DISK"'),
    ("disk_holders", "holders"),
    ("disk_swaps", "cat /proc/swaps"),
    ("disk_mounts", "mounts"),
    ("disk_ids", "ids"),
    ("disk_head", "head1m"),
)
DISK_SECTIONS = tuple(name for name, _ in DISK_COMMANDS)
# what the guard needs to decide (ids and the first MiB are preflight's, for a shared array's identity)
GUARD_SECTIONS = ("disk_lsblk", "disk_blkid", "disk_wipefs", "disk_holders", "disk_swaps", "disk_mounts")

GUARD_SCRIPT = ("DISK=$1\nt() { timeout \"$@\"; }\n" + SEC_FUNC + "\n" + DISK_FUNCS
                + "".join(f"sec {name} {cmd}\n" for name, cmd in DISK_COMMANDS if name in GUARD_SECTIONS)
                + "exit 0\n")

LSBLK_SWAP = "[SWAP]"


def guard_argv(device: str) -> tuple[str, ...]:
    """One read-only round trip for the install's guard; the device goes as a positional parameter."""
    return ("sh", "-c", GUARD_SCRIPT, "axha-disk", device)


def preflight_lines() -> str:
    """The disk sections as preflight's script runs them (each behind `want`)."""
    return "".join(f"want {name} && sec {name} {cmd}\n" for name, cmd in DISK_COMMANDS)


# ---------------------------------------------------------------- parsers (bounded, pure)


@dataclass(frozen=True)
class BlockDevice:
    path: str
    kname: str
    size: int
    type: str
    fstype: str | None
    pttype: str | None
    mountpoints: tuple[str, ...]
    children: tuple[str, ...]  # partitions / holders as lsblk lists them, e.g. ("sdb1 part", "md0 raid1")
    wwn: str | None
    serial: str | None
    model: str | None
    child_mounts: tuple[str, ...] = ()   # mount points of the partitions (and what is stacked on them)


def parse_lsblk(text: str) -> BlockDevice:
    """`lsblk -J -O -b DEV` -> the device (sizes in bytes). util-linux 2.37+ lists `mountpoints`, older ones
    `mountpoint`."""
    devices = extract_json(text).get("blockdevices", [])
    if not devices:
        raise ValueError("lsblk listed no device")
    d = devices[0]
    child_mounts: list[str] = []

    def mounts_of(node: dict) -> list[str]:
        found = node.get("mountpoints") or ([node["mountpoint"]] if node.get("mountpoint") else [])
        return [m for m in found if m]

    def walk(node: dict, depth: int = 0) -> list[str]:
        out = []
        if depth > 16:
            return out
        for child in node.get("children", []) or []:
            fstype = f" {child['fstype']}" if child.get("fstype") else ""
            out.append(f"{child.get('name')} {child.get('type')}{fstype}")
            child_mounts.extend(mounts_of(child))
            out.extend(walk(child, depth + 1))
        return out

    children = tuple(walk(d))
    return BlockDevice(path=d.get("path") or f"/dev/{d.get('name')}", kname=d.get("kname") or d.get("name"),
                       size=int(d.get("size") or 0), type=d.get("type", ""), fstype=d.get("fstype"),
                       pttype=d.get("pttype"), mountpoints=tuple(mounts_of(d)), children=children,
                       wwn=d.get("wwn"), serial=d.get("serial"), model=d.get("model"),
                       child_mounts=tuple(child_mounts))


def parse_blkid_export(text: str, rc: int) -> dict[str, str]:
    """`blkid -p -o export DEV`: {} when nothing was found (exit 2), else TYPE / PTTYPE / USAGE / ..."""
    if rc == 2:
        return {}
    return {k: v for k, v in (line.split("=", 1) for line in text[:MAX_OUTPUT].splitlines() if "=" in line)}


@dataclass(frozen=True)
class Signature:
    type: str
    offset: str
    label: str | None = None
    uuid: str | None = None

    def describe(self) -> str:
        return self.type + (f" labelled {self.label!r}" if self.label else "") + f" at offset {self.offset}"


def parse_wipefs_json(text: str) -> tuple[Signature, ...]:
    """`wipefs -n -J DEV`: every signature libblkid finds (filesystem, partition table, LVM, RAID, drbd)."""
    if not text.strip():
        return ()
    return tuple(Signature(type=s.get("type") or "unknown", offset=s.get("offset") or "?", label=s.get("label"),
                           uuid=s.get("uuid")) for s in extract_json(text).get("signatures", []))


def parse_swaps(text: str) -> list[str]:
    return [line.split()[0] for line in text[:MAX_OUTPUT].splitlines()[1:] if line.strip()]


def parse_mountinfo(text: str) -> list[str]:
    """The mounts section: /proc/self/mountinfo lines of the disk's major:minor -> mount points."""
    return [line.split()[4] for line in text[:MAX_OUTPUT].splitlines() if len(line.split()) > 4]


def parse_holders(text: str) -> list[str]:
    return [w for w in text[:MAX_OUTPUT].split() if w and not w.endswith(":")]


def parse_head_checksum(text: str) -> str | None:
    match = re.search(r"\b([0-9a-f]{64})\b", text[:4096])
    return match.group(1) if match else None


# ---------------------------------------------------------------- the facts and the rule


@dataclass(frozen=True)
class DiskFacts:
    device: str
    lsblk: BlockDevice | None
    signatures: tuple[str, ...]          # what blkid, wipefs and lsblk found, one description each
    holders: tuple[str, ...]
    swap: bool
    mounts: tuple[str, ...]
    ids: dict
    head: str | None
    error: str = ""
    types: tuple[str, ...] = ()          # the signature types alone (ext4, xfs, dos, drbd, linux_raid_member...)

    @property
    def members(self) -> tuple[str, ...]:
        """Children that make the disk part of something else (a RAID, LVM or dm-crypt member)."""
        kids = self.lsblk.children if self.lsblk else ()
        return tuple(c for c in kids if " raid" in c or " lvm" in c or " crypt" in c)

    @property
    def partitions(self) -> tuple[str, ...]:
        kids = self.lsblk.children if self.lsblk else ()
        return tuple(c for c in kids if c.split(" ")[1:2] == ["part"])

    def in_use(self, allowed_mount: str | None = None) -> tuple[str, ...]:
        """Why nothing may write to this disk now (empty: not in use); a mount on allowed_mount does not count
        (the install's own mount point, on a resumed run)."""
        mounts = [m for m in self.mounts if m != allowed_mount]
        return ((f"mounted on {', '.join(mounts)}",) if mounts else ()) + self.uses()

    def uses(self) -> tuple[str, ...]:
        """What uses the disk besides a mount: a holder, swap, a RAID/LVM/crypt member."""
        why = []
        if self.holders:
            why.append(f"held by {', '.join(self.holders)}")
        if self.swap:
            why.append("used as swap")
        if self.members:
            why.append(f"part of {', '.join(self.members)}")
        return tuple(why)

    def content(self) -> tuple[str, ...]:
        """What would be lost by writing to it (empty: nothing found)."""
        return self.signatures + tuple(f"partition {p.split(' ')[0]}" for p in self.partitions
                                       if not any(p.split(" ")[0] in s for s in self.signatures))

    @property
    def blank(self) -> bool:
        return self.lsblk is not None and not self.in_use() and not self.content()

    def content_code(self) -> str | None:
        """The preflight code naming what the disk holds (None: nothing)."""
        if not self.content():
            return None
        low = ", ".join(self.content()).lower()
        if "raid" in low:
            return "DISK_HAS_RAID_SIGNATURE"
        if "lvm" in low:
            return "DISK_HAS_LVM"
        if "partition" in low or (self.lsblk and self.lsblk.pttype):
            return "DISK_HAS_PARTITIONS"
        if "drbd" in low:
            return "DISK_HAS_DRBD_METADATA"
        return "DISK_HAS_FILESYSTEM"

    def describe(self, node: str) -> str:
        size = f"{self.lsblk.size / 2**30:.1f} GiB" if self.lsblk and self.lsblk.size else "size unknown"
        parts = list(self.content()) + ([f"MOUNTED on {', '.join(self.mounts)}"] if self.mounts else []) \
            + list(self.uses())
        return f"{node}:{self.device} ({size}): " + ("; ".join(parts) if parts else "empty")


def facts_from_sections(device: str, sections: Mapping[str, Section]) -> DiskFacts:
    """DiskFacts from the disk sections (preflight's script or guard_argv's)."""
    s = sections.get("disk_lsblk")
    if not s or not s.ok:
        lines = s.text.strip().splitlines() if s else []
        # lsblk -J prints its complaint ("lsblk: X: not a block device") before an empty JSON document
        why = next((line for line in lines if line.startswith("lsblk:")), lines[-1] if lines else "lsblk failed")
        return DiskFacts(device, None, (), (), False, (), {}, None, why)
    dev = parse_lsblk(s.text)
    sigs: list[str] = []
    blkid = sections.get("disk_blkid")
    blkid_found: dict[str, str] = {}
    if blkid:
        blkid_found = parse_blkid_export(blkid.text, blkid.rc)
        for key in ("TYPE", "PTTYPE"):
            if blkid_found.get(key):
                label = f" labelled {blkid_found['LABEL']!r}" if key == "TYPE" and blkid_found.get("LABEL") else ""
                sigs.append(blkid_found[key] + (" partition table" if key == "PTTYPE" else label))
    wipefs = sections.get("disk_wipefs")
    wipefs_sigs = parse_wipefs_json(wipefs.text) if wipefs and wipefs.ok else ()
    if wipefs_sigs:
        for sig in wipefs_sigs:
            if not any(x.split(" ")[0] == sig.type for x in sigs):
                sigs.append(sig.describe())
    if dev.fstype and not any(dev.fstype in x for x in sigs):
        sigs.append(dev.fstype)
    if dev.pttype and not any(dev.pttype in x for x in sigs):
        sigs.append(f"{dev.pttype} partition table")
    holders = sections.get("disk_holders")
    swaps = sections.get("disk_swaps")
    mounts = sections.get("disk_mounts")
    ids = sections.get("disk_ids")
    head = sections.get("disk_head")
    types = [t for t in (blkid_found.get("TYPE"), blkid_found.get("PTTYPE")) if t]
    types += [sig.type for sig in wipefs_sigs if sig.type not in types]
    types += [t for t in (dev.fstype, dev.pttype) if t and t not in types]
    swap_list = parse_swaps(swaps.text) if swaps and swaps.ok else []
    mounted = list(parse_mountinfo(mounts.text)) if mounts and mounts.ok else list(dev.mountpoints)
    mounted += [m for m in dev.mountpoints + dev.child_mounts if m not in mounted]
    # lsblk shows an active swap as the mount point "[SWAP]" (util-linux misc-utils/lsblk.c): swap, not a mount
    lsblk_swap = LSBLK_SWAP in mounted
    mounted = [m for m in mounted if m != LSBLK_SWAP]
    return DiskFacts(device, dev, tuple(sigs), tuple(parse_holders(holders.text)) if holders and holders.ok else (),
                     lsblk_swap or device in swap_list or dev.path in swap_list or f"/dev/{dev.kname}" in swap_list,
                     tuple(mounted), key_values(ids.text, "=") if ids and ids.ok else {},
                     parse_head_checksum(head.text) if head and head.ok else None, types=tuple(types))


def unreadable(sections: Mapping[str, Section]) -> tuple[str, ...]:
    """The guard's readers that did not answer (the disk's state is then unknown: never treat it as blank).
    blkid -p exits 2 when it finds nothing (blkid(8)), so 0 and 2 are answers."""
    bad = []
    for name in GUARD_SECTIONS:
        sec = sections.get(name)
        ok = sec is not None and (sec.rc in (0, 2) if name == "disk_blkid" else sec.rc == 0)
        if not ok:
            bad.append(f"{name[5:]}: " + (sec.text.strip().splitlines()[-1][:200] if sec and sec.text.strip()
                                          else "no answer" if sec is None else f"exit {sec.rc}"))
    return tuple(bad)


def read_facts(runner, device: str, timeout: float = 60):
    """(the round trip's Result, the facts, the readers that did not answer) of `device`, read-only."""
    result = runner.run(guard_argv(device), timeout=timeout)
    sections = split_sections(result.stdout[:MAX_OUTPUT])
    return result, facts_from_sections(device, sections), unreadable(sections)
