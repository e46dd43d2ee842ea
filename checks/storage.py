"""Preflight on the DRBD backing disk or the shared array device: the verdicts. The disk's facts (its sections,
parsers and the in-use / holds-data rule) live in steps.disk, shared with the install's guard. Pure functions."""
from __future__ import annotations

from axha.checks.view import NodeView, _f
from axha.steps.disk import DISK_SECTIONS, DiskFacts, facts_from_sections
from axha.steps.framework import FAIL, PASS, WARN, Finding


# ---------------------------------------------------------------- storage


ZERO_1M_SHA256 = "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58"


def disk_facts(view: NodeView) -> DiskFacts:
    device = view.spec.storage.device if view.spec.storage.mode == "shared" else view.node.backing_disk
    return facts_from_sections(device, {name: sec for name in DISK_SECTIONS if (sec := view.section(name))})


def storage(view: NodeView) -> list[Finding]:
    """The disk rule of steps.disk, in preflight's words: in use -> FAIL (axha never writes to it), holds data ->
    FAIL naming what (the install erases it only after the disk path is typed), blank -> PASS."""
    d = disk_facts(view)
    role = "shared array device" if view.spec.storage.mode == "shared" else "DRBD backing disk"
    if d.lsblk is None:
        return [_f("DISK_MISSING", view.name, FAIL, f"{role} {d.device} not found: {d.error}",
                   f"Check backing_disk of {view.name} in the cluster file (lsblk lists the disks).")]
    out = []
    size = f"{d.lsblk.size / 2**30:.1f} GiB"
    if d.mounts:
        out.append(_f("DISK_MOUNTED", view.name, FAIL, f"{d.device} is mounted on {', '.join(d.mounts)}",
                      "Pick an unused disk, or unmount it and remove it from /etc/fstab if its data is not needed."))
    used = d.uses()
    if used:
        out.append(_f("DISK_IN_USE", view.name, FAIL, f"{d.device} is in use: {'; '.join(used)}",
                      "Pick a disk nothing uses (not in an md array, LVM, dm-crypt or swap): axha never writes to "
                      "a disk in use."))
    code = d.content_code()
    if code:
        out.append(_f(code, view.name, FAIL, f"{d.device} is not empty: {', '.join(d.content())}",
                      f"If the data on {d.device} is not needed, the install erases it only after you type the "
                      f"disk path (headless: --wipe-disk {view.name}:{d.device}; --yes alone never erases), or "
                      f"wipe it yourself (wipefs -a {d.device}) and re-run preflight; otherwise pick another disk.",
                      detail="; ".join(d.lsblk.children)))
    if not out:
        out.append(_f("DISK_OK", view.name, PASS, f"{d.device}: {size}, empty, not mounted, not in use"))
    return out


def _identity(d: DiskFacts) -> tuple[str, str] | None:
    for key in ("wwid", "loop_backing_file", "serial"):
        if d.ids.get(key):
            return key, d.ids[key]
    if d.lsblk and d.lsblk.wwn:
        return "wwn", d.lsblk.wwn
    if d.lsblk and d.lsblk.serial:
        return "serial", d.lsblk.serial
    return None


def storage_pair(a: NodeView, b: NodeView) -> list[Finding]:
    x, y = disk_facts(a), disk_facts(b)
    if x.lsblk is None or y.lsblk is None:
        return []
    out = []
    if a.spec.storage.mode == "shared":
        ix, iy = _identity(x), _identity(y)
        if ix and iy and ix[0] == iy[0]:
            same = ix[1] == iy[1]
            out.append(_f("SHARED_DEVICE_SAME" if same else "SHARED_DEVICE_DIFFERENT", None, PASS if same else FAIL,
                          f"{x.device}: {ix[0]} {ix[1]} on {a.name}, {iy[1]} on {b.name}",
                          "" if same else "Both nodes must see the same external array LUN: fix the device path "
                                          "or the array's host mapping."))
        elif x.head and y.head and x.head != ZERO_1M_SHA256:
            same = x.head == y.head
            out.append(_f("SHARED_DEVICE_SAME" if same else "SHARED_DEVICE_DIFFERENT", None, PASS if same else FAIL,
                          f"{x.device}: the first MiB reads {'the same' if same else 'differently'} on both nodes",
                          "" if same else "Both nodes must see the same LUN: fix the device path or mapping."))
        else:
            out.append(_f("SHARED_DEVICE_UNPROVEN", None, WARN,
                          f"{x.device}: no WWN/serial to compare and the first MiB is blank on both nodes",
                          "Check in the array's management that both hosts map the same LUN."))
        return out
    small, large = sorted((x.lsblk.size, y.lsblk.size))
    if small != large:
        status = FAIL if small < 0.9 * large else WARN
        out.append(_f("DISK_SIZE_MISMATCH", None, status,
                      f"backing disks differ: {a.name} {x.lsblk.size / 2**30:.1f} GiB, "
                      f"{b.name} {y.lsblk.size / 2**30:.1f} GiB",
                      "DRBD uses the smaller size; give both nodes disks of the same size."))
    else:
        out.append(_f("DISK_SIZE_SAME", None, PASS, f"backing disks: {small / 2**30:.1f} GiB on both nodes"))
    return out
