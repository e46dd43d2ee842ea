"""The install's disk guard: what a disk on a node holds and whether it is in use (read and judged by
steps.disk, preflight's rule), and the refusals and the typed confirmation before a disk is erased."""
from __future__ import annotations

from dataclasses import dataclass

from axha.steps import disk
from axha.steps.errors import AxhaError, CommandFailed
from axha.steps.framework import FAIL, Confirmation, Context, Finding


class DiskNotEmpty(AxhaError):
    """A disk holds data and the admin has not confirmed erasing it."""


@dataclass(frozen=True)
class DiskReport:
    """What a disk on a node holds and whether it is in use, read and judged by steps.disk (preflight's rule)."""

    node: str
    facts: disk.DiskFacts

    @property
    def path(self) -> str:
        return self.facts.device

    @property
    def mountpoints(self) -> tuple[str, ...]:
        return self.facts.mounts

    @property
    def types(self) -> tuple[str, ...]:
        return self.facts.types

    @property
    def blank(self) -> bool:
        return self.facts.blank

    def busy(self, *, allowed_mount: str | None = None) -> tuple[str, ...]:
        """Why nothing may write to it (mounted elsewhere than allowed_mount, held, swap, a member)."""
        return self.facts.in_use(allowed_mount)

    def holds(self, fs: str) -> bool:
        return fs in self.facts.types

    def describe(self) -> str:
        return self.facts.describe(self.node)


def read_disk(ctx: Context, node: str, path: str) -> DiskReport:
    """One read-only round trip (steps.disk.guard_argv); refuses to guess when a reader did not answer."""
    result, facts, unread = disk.read_facts(ctx.runner(node), path, timeout=60)
    if facts.lsblk is None or unread:
        why = facts.error if facts.lsblk is None else "; ".join(unread)
        raise CommandFailed(result, f"cannot read what {path} on {node} holds: {why}",
                            remedy=f"Check that {path} exists on {node} (backing_disk / storage.device in the "
                                   "cluster file) and that util-linux (lsblk, blkid, wipefs) is installed.")
    return DiskReport(node, facts)


def busy_finding(code: str, report: DiskReport, allowed_mount: str | None = None) -> list[Finding]:
    """A disk in use is never written to, whatever is confirmed."""
    why = report.busy(allowed_mount=allowed_mount)
    if not why:
        return []
    return [Finding(code, report.node, FAIL, f"{report.path} on {report.node} is in use: {'; '.join(why)}",
                    "axha never writes to a disk in use. Unmount it (and remove it from /etc/fstab), take it out "
                    "of its md array, LVM or swap, or choose another disk in the cluster file.")]


def wipe_allowed(ctx: Context, node: str, path: str) -> bool:
    """The CLI's explicit `--wipe-disk NODE:PATH`: ctx.options["wipe_disks"] (or "wipe_disk") holding
    (node, path) pairs or "NODE:PATH" strings."""
    given = set()
    for key in ("wipe_disks", "wipe_disk"):
        for item in ctx.options.get(key) or ():
            given.add(tuple(item.split(":", 1)) if isinstance(item, str) else tuple(item))
    return (node, path) in given


def blanket_yes_refusal(ctx: Context, report: DiskReport, code: str) -> list[Finding]:
    """A headless `--yes` never counts as typing a disk path: erasing a disk that holds something needs the
    admin's typed confirmation (TUI, terminal) or the explicit `--wipe-disk NODE:PATH`. (--plan still shows it.)"""
    if not ctx.options.get("yes") or ctx.options.get("plan") or wipe_allowed(ctx, report.node, report.path):
        return []
    return [Finding(code, report.node, FAIL, f"{report.describe()}: not erased without an explicit --wipe-disk",
                    f"If its content may be lost, run again with --wipe-disk {report.node}:{report.path}; "
                    "otherwise choose another disk in the cluster file.")]


def wipe_question(key: str, reports: list[DiskReport], what: str) -> Confirmation | None:
    if not reports:
        return None
    paths = sorted({r.path for r in reports})
    lost = "\n".join(r.describe() for r in reports)
    return Confirmation(key=key, title=f"Erase {', '.join(paths)} for {what}?",
                        details=f"These disks are not empty; everything on them will be lost:\n{lost}\n"
                                f"Type the disk path to confirm.", expected=" ".join(paths))
