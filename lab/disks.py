"""Lab disks: sparse image files attached to loop devices on the host (node's /dev/vdb and shared /dev/vdc)."""

from __future__ import annotations

import os
from pathlib import Path

from axha_lab.host import out, run


def ensure_image(path: Path, size_mib: int) -> None:
    """Create a sparse image file of the given size if it does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with open(path, "wb") as f:
            f.truncate(size_mib * 1024 * 1024)


def loops_of(path: Path) -> list[str]:
    """Loop devices currently backed by this image file."""
    lines = out(["losetup", "-j", str(path)], check=False).splitlines()
    return [line.split(":", 1)[0] for line in lines if line.strip()]


def attach(path: Path) -> str:
    """The loop device for this image, attaching it when it is not attached yet."""
    existing = loops_of(path)
    if existing:
        return existing[0]
    return out(["losetup", "-f", "--show", str(path)], what=f"losetup for {path}").strip()


def detach(path: Path) -> None:
    """Detach every loop device backed by the image (autoclear if still busy)."""
    for dev in loops_of(path):
        run(["losetup", "-d", dev], check=False)


def dev_numbers(dev: str) -> str:
    """'major:minor' of a block device."""
    rdev = os.stat(dev).st_rdev
    return f"{os.major(rdev)}:{os.minor(rdev)}"
