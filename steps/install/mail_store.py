"""Install steps for the mail store: its filesystem (made only where there is none, behind the disk guard) on the
DRBD device or the shared array device, and Axigen's data copied onto it, verified, the original kept aside."""
from __future__ import annotations

from axha.steps.errors import AxhaError, CommandFailed
from axha.steps.framework import FAIL, PASS, Action, Confirmation, Context, Emit, Finding, OutputLine, Step
from axha.steps.install.disk_guard import (DiskNotEmpty, DiskReport, blanket_yes_refusal, busy_finding, read_disk,
                                           wipe_allowed, wipe_question)
from axha.steps.install.storage_common import adm, drbd_mode, per_node, primary_node, read_all, sync_source

MARKER = ".axha-data-moved"
ASIDE_SUFFIX = ".pre-axha"
TEMP_MOUNT = "/run/axha-data"
FS_LABEL = "axigen-data"


class DataMoveError(AxhaError):
    """The mail store is in a state the data move cannot safely continue from."""


def device_mounted(ctx: Context, node: str) -> str | None:
    """Where the mail store device is mounted on node (None: not mounted)."""
    result = ctx.runner(node).run(("findmnt", "-n", "-o", "TARGET", "-S", ctx.spec.storage.data_device), timeout=30)
    return result.stdout.strip() or None if result.rc == 0 else None


def data_node(ctx: Context, states: dict | None = None) -> str:
    """Where the filesystem is read and written: the Primary if there is one, else the sync source."""
    if drbd_mode(ctx):
        states = read_all(ctx) if states is None else states
        return primary_node(states) or sync_source(ctx)
    return ctx.spec.nodes[0].name


def promote_demote(ctx: Context, node: str, states: dict) -> tuple[list[Action], list[Action]]:
    """Promote node for the work if it is not Primary yet, and always demote after it: these steps only have work
    before Pacemaker owns the resource (a finished install plans nothing here)."""
    if not drbd_mode(ctx):
        return [], []
    state = states.get(node)
    up = [] if state is not None and state.role == "Primary" else \
        [adm(ctx, node, "primary", f"open the DRBD device on {node} for writing")]
    return up, [adm(ctx, node, "secondary", "demote again: Pacemaker will own promotion")]


class Filesystem(Step):
    """mkfs on the mail store device, only when it holds no filesystem (the same guard as the backing disks)."""

    id = "filesystem"
    title = "Filesystem on the mail store device"
    destructive = True

    def __init__(self) -> None:
        self.to_wipe: list[DiskReport] = []
        self.seen_ok = False

    def check(self, ctx: Context) -> list[Finding]:
        if drbd_mode(ctx):
            return []
        findings = []
        fs = ctx.spec.storage.filesystem
        for node in ctx.spec.node_names:
            report = read_disk(ctx, node, ctx.spec.storage.data_device)
            mount_point = ctx.spec.storage.mount_point
            elsewhere = [m for m in report.mountpoints if m != mount_point]
            busy = busy_finding("SHARED_DEVICE_MOUNTED" if elsewhere else "SHARED_DEVICE_IN_USE", report,
                                allowed_mount=mount_point)
            if busy:
                findings += busy
            elif node == ctx.spec.nodes[0].name and not report.blank and not report.holds(fs):
                findings += blanket_yes_refusal(ctx, report, "DATA_DEVICE_NOT_EMPTY")
        return findings

    def read(self, ctx: Context, node: str, states: dict) -> DiskReport | None:
        """The device's signatures; None when a DRBD Secondary cannot be opened (a peer has it open, or DRBD
        refuses read-only opens), so the answer must wait until the node is promoted."""
        try:
            return read_disk(ctx, node, ctx.spec.storage.data_device)
        except CommandFailed:
            state = states.get(node)
            if drbd_mode(ctx) and (state is None or state.role != "Primary"):
                return None  # Secondary, or not up yet (a plan of a fresh install)
            raise

    def plan(self, ctx: Context) -> list[Action]:
        self.to_wipe = []
        states = read_all(ctx) if drbd_mode(ctx) else {}
        node = data_node(ctx, states)
        device, fs = ctx.spec.storage.data_device, ctx.spec.storage.filesystem
        report = self.read(ctx, node, states)
        if report is None and AxigenData.done(ctx):
            return []  # the data was copied onto this filesystem and verified: it exists
        if report is not None and report.holds(fs):
            return []
        if report is not None and report.busy(allowed_mount=ctx.spec.storage.mount_point):
            return []   # check() refused it
        up, down = promote_demote(ctx, node, states)
        why = f"create the {fs} filesystem for the mail store on {device}"
        if report is None:
            why += " (the device is read again after promotion: an existing filesystem is never formatted)"
        wipe = []
        if report is not None and not report.blank:
            self.to_wipe.append(report)
            wipe = [Action(node, ("wipefs", "-a", device), f"erase what {device} holds ({report.describe()})",
                           destructive=True)]
        return [*up, *wipe, Action(node, mkfs_argv(fs, device), why, destructive=True, timeout=1800), *down]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        unconfirmed = [r for r in self.to_wipe if not wipe_allowed(ctx, r.node, r.path)]
        return wipe_question("wipe-data-device", unconfirmed, "the mail store filesystem")

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        fs = ctx.spec.storage.filesystem
        for action in plan:
            if action.argv[0] in ("wipefs", "mkfs.ext4", "mkfs.xfs"):
                report = read_disk(ctx, action.node, ctx.spec.storage.data_device)  # guard right before writing
                if report.holds(fs):
                    emit(OutputLine(self.id, action.node, f"{report.path} already holds {fs}: not formatted"))
                    self.seen_ok = True
                    continue
                if report.busy():
                    raise DiskNotEmpty(f"{report.describe()}: in use, refusing to format it", node=action.node,
                                       remedy="axha never writes to a disk in use; see what holds it.")
                confirmed = any(r.path == report.path for r in self.to_wipe) or \
                    wipe_allowed(ctx, action.node, report.path)
                if not report.blank and not confirmed:
                    raise DiskNotEmpty(f"{report.describe()}: refusing to format it",
                                       node=action.node, remedy="Run again to see what it holds and confirm by "
                                       "typing the device path, or pass --wipe-disk NODE:PATH.")
            ctx.execute(action, emit, self.id)
            if action.argv[0].startswith("mkfs"):
                report = read_disk(ctx, action.node, ctx.spec.storage.data_device)
                self.seen_ok = report.holds(fs)

    def verify(self, ctx: Context) -> list[Finding]:
        states = read_all(ctx) if drbd_mode(ctx) else {}
        node = data_node(ctx, states)
        fs = ctx.spec.storage.filesystem
        report = self.read(ctx, node, states)
        if report is None:
            ok = self.seen_ok or AxigenData.done(ctx)
            return [Finding("DATA_FILESYSTEM", node, PASS if ok else FAIL,
                            f"{fs} on {ctx.spec.storage.data_device}" + (" (seen while Primary)" if ok else
                                                                        ": not seen")) ]
        ok = report.holds(fs)
        return [Finding("DATA_FILESYSTEM", node, PASS if ok else FAIL,
                        f"{fs} on {report.path}" if ok else f"no {fs} on {report.describe()}")]


def mkfs_argv(fs: str, device: str) -> tuple[str, ...]:
    return ("mkfs.xfs", "-q", "-L", FS_LABEL, device) if fs == "xfs" else ("mkfs.ext4", "-q", "-L", FS_LABEL, device)


class AxigenData(Step):
    """Copy /var/opt/axigen onto the new filesystem, verify the copy, only then move the original aside."""

    id = "axigen-data"
    title = "Axigen data moved onto the mail store"

    @staticmethod
    def aside(ctx: Context) -> str:
        return ctx.spec.storage.mount_point + ASIDE_SUFFIX

    @classmethod
    def done_on(cls, ctx: Context, node: str) -> bool:
        return ctx.runner(node).run(("test", "-d", cls.aside(ctx)), timeout=30).rc == 0

    @classmethod
    def done(cls, ctx: Context) -> bool:
        """The original directory was moved aside, which happens only after a verified copy."""
        return any(per_node(ctx, lambda node: cls.done_on(ctx, node)).values())

    def plan(self, ctx: Context) -> list[Action]:
        mount, aside = ctx.spec.storage.mount_point, self.aside(ctx)
        if self.done(ctx):
            return [Action(n, ("mkdir", "-p", mount), f"recreate the mount point {mount}")
                    for n in ctx.spec.node_names if not self._exists(ctx, n, mount)]
        states = read_all(ctx) if drbd_mode(ctx) else {}
        node = data_node(ctx, states)
        device = ctx.spec.storage.data_device
        run = ctx.runner(node)
        actions: list[Action] = []
        service = ctx.spec.axigen.service
        if run.run(("systemctl", "is-active", service), timeout=30).rc == 0:
            actions.append(Action(node, ("systemctl", "stop", service), "stop Axigen so its files stay still"))
        up, down = promote_demote(ctx, node, states)
        actions += up
        mounted = device_mounted(ctx, node)
        if mounted is None:
            actions += [Action(node, ("mkdir", "-p", TEMP_MOUNT), "a temporary mount point"),
                        Action(node, ("mount", device, TEMP_MOUNT), f"mount the new filesystem on {TEMP_MOUNT}")]
        elif mounted != TEMP_MOUNT:
            raise DataMoveError(f"{device} is already mounted on {mounted} on {node}",
                                remedy="Unmount it, then run again.")
        if self._exists(ctx, node, mount):
            actions += [
                Action(node, ("cp", "-a", f"{mount}/.", f"{TEMP_MOUNT}/"),
                       f"copy {mount} with owners, modes, links and extended attributes", timeout=6 * 3600),
                Action(node, ("diff", "-r", "-q", "--no-dereference", "--exclude=lost+found",
                        f"--exclude={MARKER}", mount, TEMP_MOUNT),
                       "verify the copy file by file before anything is moved", timeout=6 * 3600),
            ]
        actions += [
            Action(node, ("touch", f"{TEMP_MOUNT}/{MARKER}"), "mark the data as moved (for a re-run)"),
            Action(node, ("umount", TEMP_MOUNT), "unmount the temporary mount"),
        ]
        if self._exists(ctx, node, mount):
            actions.append(Action(node, ("mv", mount, aside), f"keep the original as {aside} (never deleted)"))
        else:
            actions.append(Action(node, ("mkdir", aside), f"no {mount} to move: an empty {aside} records it"))
        actions += [Action(n, ("mkdir", "-p", mount), f"the mount point {mount}") for n in ctx.spec.node_names]
        return actions + down

    @staticmethod
    def _exists(ctx: Context, node: str, path: str) -> bool:
        return ctx.runner(node).run(("test", "-d", path), timeout=30).rc == 0

    def verify(self, ctx: Context) -> list[Finding]:
        done = [n for n in ctx.spec.node_names if self.done_on(ctx, n)]
        return [Finding("AXIGEN_DATA_MOVED", done[0] if done else None, PASS if done else FAIL,
                        f"original data kept in {self.aside(ctx)} on {done[0]}" if done else
                        "the Axigen data has not been moved onto the mail store")]
