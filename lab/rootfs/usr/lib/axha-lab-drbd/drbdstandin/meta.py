"""DRBD stand-in on-disk metadata (generation UUIDs, flags, bitmap amounts) kept as JSON in the state dir."""

from __future__ import annotations

import json
import os
import random
import struct

UUID_JUST_CREATED = 0x4
CONFIG_FILE = os.environ.get("AXHA_DRBD_STANDIN_CONFIG", "/etc/axha-lab/drbd.json")


def load_config() -> dict:
    """The lab's /etc/axha-lab/drbd.json (data_device, sync_rate_kib, state_dir) with defaults."""
    try:
        with open(CONFIG_FILE, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except FileNotFoundError:
        cfg = {}
    cfg.setdefault("state_dir", "/var/lib/axha-lab-drbd")
    cfg.setdefault("sync_rate_kib", 51200)
    cfg.setdefault("run_dir", os.environ.get("AXHA_DRBD_STANDIN_RUN", "/run/drbd-standin"))
    return cfg


def md_path(cfg: dict, minor: int) -> str:
    return os.path.join(cfg["state_dir"], f"minor-{minor}.md.json")


def new_uuid() -> int:
    return random.getrandbits(63) << 1 & ~0x1 | 0x2  # never 0, never UUID_JUST_CREATED


def fresh_md(node_id: int) -> dict:
    """What `drbdmeta create-md` writes: just-created current UUID, not consistent."""
    return {"version": "v09", "node_id": node_id, "current": UUID_JUST_CREATED, "bitmap": 0, "history": [],
            "consistent": False, "was_up_to_date": False, "outdated": False, "primary_ind": False,
            "crashed_primary": False, "out_of_sync": 0, "peer_outdated": False}


# The superblock of DRBD 9 internal metadata: 4096 bytes from the end of the backing disk, big-endian, the magic
# at byte 60 (util-linux libblkid/src/superblocks/drbd.c, struct meta_data_on_disk_9 and DRBD_MD_OFFSET; the
# magic DRBD_MAGIC+6 = 0x8374026d, from drbd-utils user/shared/drbdmeta.c as that file cites). The stand-in keeps
# its metadata as JSON in its state dir, but binds it to the disk the way the real one lives on it: create-md writes
# this superblock (magic and a random device uuid), and the JSON counts only while the disk still carries that
# superblock, so a wiped or replaced disk (wipefs, blkdiscard, new hardware) has no metadata, and blkid sees
# TYPE="drbd" on a disk that has.
SB_OFFSET = 4096
MD_MAGIC_09 = 0x83740267 + 6
_SB = struct.Struct(">QQ4QQII")   # effective_size, current_uuid, reserved[4], device_uuid, flags, magic


def _disk_size(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END)


MIN_DISK = 0x10000   # smaller than this, the stand-in writes no superblock (the JSON alone is the metadata)


def _write_tail(disk: str, block: bytes) -> bool:
    """`block` (SB_OFFSET bytes) written where the superblock lives; False when the disk cannot hold it."""
    try:
        fd = os.open(disk, os.O_RDWR)
    except OSError:
        return False
    try:
        size = _disk_size(fd)
        if size < MIN_DISK:
            return False
        os.pwrite(fd, block, size - SB_OFFSET)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def write_signature(disk: str, current: int) -> int | None:
    """Write the superblock at the end of `disk`; its device uuid (None when the disk cannot be opened: the
    stand-in's own unit tests run without the disk, and then the JSON alone is the metadata)."""
    device_uuid = random.getrandbits(64) | 1
    block = _SB.pack(0, current, 0, 0, 0, 0, device_uuid, 0, MD_MAGIC_09).ljust(SB_OFFSET, b"\0")
    return device_uuid if _write_tail(disk, block) else None


def read_signature(disk: str) -> int | None | bool:
    """The device uuid of the superblock at the end of `disk`; None when there is none; False when the disk cannot
    be opened (see write_signature)."""
    try:
        fd = os.open(disk, os.O_RDONLY)
    except OSError:
        return False
    try:
        size = _disk_size(fd)
        if size < MIN_DISK:
            return None
        data = os.pread(fd, _SB.size, size - SB_OFFSET)
    finally:
        os.close(fd)
    if len(data) < _SB.size:
        return None
    fields = _SB.unpack(data)
    return fields[6] if fields[8] == MD_MAGIC_09 else None


def wipe_signature(disk: str) -> None:
    _write_tail(disk, b"\0" * SB_OFFSET)


def read_md(cfg: dict, minor: int, disk: str | None = None) -> dict | None:
    """The metadata of `minor`; with `disk`, only while that disk carries its superblock (see SB_OFFSET)."""
    try:
        with open(md_path(cfg, minor), encoding="utf-8") as fh:
            md = json.load(fh)
    except FileNotFoundError:
        return None
    if disk:
        found = read_signature(disk)
        if found is not False and (found is None or found != md.get("device_uuid_on_disk")):
            return None
    return md


def write_md(cfg: dict, minor: int, md: dict) -> None:
    os.makedirs(cfg["state_dir"], exist_ok=True)
    path = md_path(cfg, minor)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(md, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def rotate_current(md: dict, keep_bitmap: bool = True) -> None:
    """New current UUID; the old one becomes the bitmap UUID (or history when no bitmap is kept)."""
    old = md["current"]
    if keep_bitmap and not md["bitmap"]:
        md["bitmap"] = old
    else:
        md["history"] = ([old] + md["history"])[:2]
    md["current"] = new_uuid()


def uuid_compare(me: dict, peer: dict) -> tuple[int, str]:
    """A simplified drbd_uuid_compare(): >0 I am sync source, <0 I am target; 2/-2 full sync;
    100 split brain; -1000 unrelated data; 0 no resync."""
    mc, pc = me["current"] & ~1, peer["current"] & ~1
    if mc == UUID_JUST_CREATED and pc == UUID_JUST_CREATED:
        return 0, "both just created"
    # an interrupted resync resumes (the source may have started a new generation since: its bitmap UUID)
    if me.get("resync_from") and (me["resync_from"] & ~1) in (pc, peer["bitmap"] & ~1):
        return -1, "resuming the resync from the peer"
    if peer.get("resync_from") and (peer["resync_from"] & ~1) in (mc, me["bitmap"] & ~1):
        return 1, "the peer resumes its resync from me"
    if mc == UUID_JUST_CREATED:
        return -2, "my data is just created"
    if pc == UUID_JUST_CREATED:
        return 2, "peer data is just created"
    if mc == pc:
        return 0, "current UUIDs equal"
    if peer["bitmap"] and (peer["bitmap"] & ~1) == mc:
        return -1, "peer's bitmap UUID is my current"
    if me["bitmap"] and (me["bitmap"] & ~1) == pc:
        return 1, "my bitmap UUID is the peer's current"
    if me["bitmap"] and peer["bitmap"] and (me["bitmap"] & ~1) == (peer["bitmap"] & ~1):
        return 100, "both diverged from the same bitmap UUID"
    if mc in [h & ~1 for h in peer["history"]] or (peer["bitmap"] and mc == peer["bitmap"] & ~1):
        return -2, "my current UUID is in the peer's history"
    if pc in [h & ~1 for h in me["history"]]:
        return 2, "the peer's current UUID is in my history"
    return -1000, "unrelated data"


def gi_string(md: dict) -> str:
    """`drbdmeta show-gi`/`get-gi` style: current:bitmap:history1:history2:flags."""
    hist = (md["history"] + [0, 0])[:2]
    flags = "".join("1" if md.get(k) else "0" for k in ("consistent", "was_up_to_date", "primary_ind",
                                                       "crashed_primary", "outdated"))
    return f"{md['current']:016X}:{md['bitmap']:016X}:{hist[0]:016X}:{hist[1]:016X}:{flags[:4]}:{flags[4]}"
