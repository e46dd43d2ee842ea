"""Install steps for the mail store: DRBD resource file, metadata (behind the disk guard), bring-up, initial sync with
live progress, the filesystem, and the Axigen data moved onto it; or the filesystem on a shared array device."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from axha.steps import (disk, drbd_argv, drbd_events, drbd_progress, drbd_resource_file, drbd_split_brain,
                        drbd_status)
from axha.steps.errors import AxhaError, CommandFailed, CommandTimeout
from axha.steps.framework import (FAIL, PASS, WARN, Action, ActionFinished, ActionStarted, Confirmation, Context, Emit,
                             Finding, OutputLine, Progress, Step, wait_for)
from axha.steps.runner import run_all

MARKER = ".axha-data-moved"
ASIDE_SUFFIX = ".pre-axha"
TEMP_MOUNT = "/run/axha-data"
FS_LABEL = "axigen-data"
NOT_UP_RC = (10,)  # drbdsetup: "No such resource"


class DiskNotEmpty(AxhaError):
    """A disk holds data and the admin has not confirmed erasing it."""


class DataMoveError(AxhaError):
    """The mail store is in a state the data move cannot safely continue from."""


# ---------------------------------------------------------------- the disk guard (the rule: steps.disk)


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


# ---------------------------------------------------------------- shared helpers


def drbd_mode(ctx: Context) -> bool:
    return ctx.spec.storage.mode == "drbd"


def res_name(ctx: Context) -> str:
    return ctx.spec.storage.drbd.resource


def sync_source(ctx: Context) -> str:
    name = ctx.options.get("sync_source") or ctx.spec.nodes[0].name
    ctx.spec.node(name)  # KeyError for a node not in the cluster file
    return name


def read_status(ctx: Context, node: str) -> drbd_status.Resource | None:
    """The resource as `drbdsetup status --json` shows it on node; None when it is not up there."""
    result = ctx.runner(node).run(drbd_argv.status_argv(res_name(ctx)), timeout=30)
    if result.rc in NOT_UP_RC:
        return None
    result.check(f"cannot read the DRBD state on {node}", "Check that drbd-utils is installed on the node.")
    return drbd_status.find_resource(drbd_status.parse_status_json(result.stdout), res_name(ctx))


def per_node(ctx: Context, fn) -> dict:
    """fn(node) on both nodes at once (one SSH round trip of wall time instead of two), in the spec's order."""
    results = run_all([ctx.runner(n) for n in ctx.spec.node_names], lambda runner: fn(runner.node))
    for value in results.values():
        if isinstance(value, Exception):
            raise value
    return {node: results[node] for node in ctx.spec.node_names}


def read_all(ctx: Context) -> dict[str, drbd_status.Resource | None]:
    return per_node(ctx, lambda node: read_status(ctx, node))


def adm(ctx: Context, node: str, command: str, why: str, *options: str, destructive: bool = False,
        timeout: float = 120.0) -> Action:
    return Action(node, drbd_argv.drbdadm_argv(command, res_name(ctx), *options), why, destructive=destructive,
                  timeout=timeout)


def pacemaker_owns_drbd(ctx: Context) -> bool:
    """Has the cluster taken DRBD over (its drbd-<res> primitive in the CIB)? Then the installer leaves DRBD's
    state to Pacemaker (a node in standby has DRBD down on purpose)."""
    from axha.steps.names import drbd_primitive
    xpath = f"//primitive[@id='{drbd_primitive(res_name(ctx))}']"
    found = per_node(ctx, lambda n: ctx.runner(n).run(("cibadmin", "--query", "--xpath", xpath), timeout=30).rc)
    return 0 in found.values()


def left_to_pacemaker(ctx: Context, code: str, states: dict) -> list[Finding]:
    return [Finding(code, node, WARN, f"{node}: {_conn_state(s)} (Pacemaker manages DRBD: left to the cluster)")
            for node, s in states.items()]


def primary_node(states: dict[str, drbd_status.Resource | None]) -> str | None:
    return next((n for n, r in states.items() if r is not None and r.role == "Primary"), None)


# ---------------------------------------------------------------- steps


class DrbdConfig(Step):
    id = "drbd-config"
    title = "DRBD resource file on both nodes"

    def temp_path(self, ctx: Context) -> str:
        return drbd_resource_file.resource_path(res_name(ctx)) + ".axha-new"

    def check(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        findings = []
        versions = per_node(ctx, lambda node: ctx.runner(node).run(("drbdadm", "--version"), timeout=30))
        for node in ctx.spec.node_names:
            if versions[node].rc == 127:
                status = WARN if ctx.options.get("plan") else FAIL  # a plan may come before the packages step
                findings.append(Finding("DRBD_UTILS_MISSING", node, status, f"drbdadm is not installed on {node}",
                                        "Install drbd-utils on the node (or run the install with packages)."))
        return findings

    def plan(self, ctx: Context) -> list[Action]:
        if not drbd_mode(ctx):
            return []
        wanted = drbd_resource_file.render_resource(ctx.spec)
        target, temp = drbd_resource_file.resource_path(res_name(ctx)), self.temp_path(ctx)
        actions = []
        current = per_node(ctx, lambda node: ctx.runner(node).run(("cat", target), timeout=30))
        for node in ctx.spec.node_names:
            if current[node].rc == 0 and current[node].stdout == wanted:
                continue
            actions += [
                Action(node, drbd_argv.drbdadm_argv("dump", res_name(ctx), config=temp),
                       f"check the new resource file with {node}'s own DRBD parser before it is used"),
                Action(node, ("mv", "-f", temp, target), f"install {target} on {node}"),
            ]
        return actions

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        text = drbd_resource_file.render_resource(ctx.spec)
        for node in sorted({a.node for a in plan}):
            ctx.runner(node).put(self.temp_path(ctx), text, 0o644)
        super().apply(ctx, plan, emit)

    def verify(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        findings = []
        dumps = per_node(ctx, lambda node: ctx.runner(node).run(drbd_argv.drbdadm_argv("dump", res_name(ctx)),
                                                                timeout=30))
        for node, result in dumps.items():
            ok = result.rc == 0
            findings.append(Finding("DRBD_CONFIG_VALID", node, PASS if ok else FAIL,
                                    f"drbdadm reads resource {res_name(ctx)} on {node}" if ok else
                                    f"drbdadm rejects the DRBD configuration on {node}: {result.stderr.strip()}",
                                    "" if ok else "Fix the file named in the message, then run again."))
        return findings


class DrbdMetadata(Step):
    id = "drbd-metadata"
    title = "DRBD metadata on the backing disks"
    destructive = True

    def __init__(self) -> None:
        self.to_wipe: list[DiskReport] = []

    def has_metadata(self, ctx: Context, node: str) -> bool:
        state = read_status(ctx, node)
        if state is not None and state.disk != "Diskless":
            return True  # attached: the metadata is there and in use
        return ctx.runner(node).run(drbd_argv.drbdadm_argv("dump-md", res_name(ctx)), timeout=120).rc == 0

    def disks_without_metadata(self, ctx: Context) -> dict[str, DiskReport]:
        """What each backing disk holds, for the nodes that have no DRBD metadata yet."""
        def probe(node: str) -> DiskReport | None:
            if self.has_metadata(ctx, node):
                return None
            return read_disk(ctx, node, ctx.spec.node(node).backing_disk)
        return {node: report for node, report in per_node(ctx, probe).items() if report is not None}

    def check(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        findings = []
        for node, report in self.disks_without_metadata(ctx).items():
            busy = busy_finding("BACKING_DISK_MOUNTED" if report.mountpoints else "BACKING_DISK_IN_USE", report)
            if busy:
                findings += busy
            elif not report.blank:
                findings += blanket_yes_refusal(ctx, report, "BACKING_DISK_NOT_EMPTY")
        return findings

    def plan(self, ctx: Context) -> list[Action]:
        self.to_wipe = []
        if not drbd_mode(ctx):
            return []
        actions = []
        for node, report in self.disks_without_metadata(ctx).items():
            path = report.path
            if report.busy():
                continue   # check() refused it: nothing is planned on a disk in use
            if report.blank:
                actions.append(adm(ctx, node, "create-md", f"write DRBD metadata on the empty disk {path}"))
                continue
            self.to_wipe.append(report)
            actions += [
                Action(node, ("wipefs", "-a", path), f"erase what {path} holds ({report.describe()})",
                       destructive=True),
                adm(ctx, node, "create-md", f"write DRBD metadata on {path}", "--force", destructive=True),
            ]
        return actions

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        unconfirmed = [r for r in self.to_wipe if not wipe_allowed(ctx, r.node, r.path)]
        return wipe_question("wipe-backing-disk", unconfirmed, "the DRBD metadata")

    def verify(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        present = per_node(ctx, lambda node: self.has_metadata(ctx, node))
        return [Finding("DRBD_METADATA", node, PASS if ok else FAIL,
                        f"DRBD metadata {'present' if ok else 'missing'} on {node}") for node, ok in present.items()]


class DrbdUp(Step):
    id = "drbd-up"
    title = "DRBD resource up and connected"

    def plan(self, ctx: Context) -> list[Action]:
        if not drbd_mode(ctx):
            return []
        actions = []
        for node, state in read_all(ctx).items():
            if state is None:
                actions.append(adm(ctx, node, "up", "attach the disk and connect to the peer"))
            elif state.disk == "Diskless" or not state.connections or \
                    all(c.connection == "StandAlone" for c in state.connections):
                actions.append(adm(ctx, node, "adjust", "bring the running resource in line with its file"))
        if actions and pacemaker_owns_drbd(ctx):
            return []
        return actions

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        super().apply(ctx, plan, emit)
        self.wait_connected(ctx, float(ctx.options.get("drbd_connect_timeout", 60)))

    def wait_connected(self, ctx: Context, timeout: float) -> None:
        last: dict = {}

        def connected() -> bool:
            last.update(read_all(ctx))
            return all(s is not None and s.connected for s in last.values())
        try:
            wait_for("DRBD connected on both nodes", connected, timeout, ctx)
        except CommandTimeout:
            seen = ", ".join(f"{n}: {_conn_state(s)}" for n, s in last.items())
            signs = drbd_split_brain.split_brain_signs(last)
            if signs:
                seen += "; split brain? " + "; ".join(signs)
            raise CommandTimeout(f"DRBD did not connect within {timeout:g} s ({seen})",
                                 remedy="Check the replication links (link0/link1) and port "
                                        f"{ctx.spec.storage.drbd.port} between the nodes, then run again.") from None

    def verify(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        states = read_all(ctx)
        if not all(s is not None and s.connected for s in states.values()) and pacemaker_owns_drbd(ctx):
            return left_to_pacemaker(ctx, "DRBD_CONNECTED", states)
        return [Finding("DRBD_CONNECTED", node, PASS if s is not None and s.connected else FAIL,
                        f"{node}: {_conn_state(s)}") for node, s in states.items()]


def _conn_state(state: drbd_status.Resource | None) -> str:
    if state is None:
        return "resource down"
    conn = state.connection()
    return f"disk {state.disk}, connection {conn.connection if conn else 'none'}"


FOLLOW = "follow"


class InitialSync(Step):
    """primary --force on the source, then the sync followed on both nodes until UpToDate/UpToDate."""

    id = "drbd-initial-sync"
    title = "DRBD initial sync"
    destructive = True

    def check(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        findings = []
        states = read_all(ctx)
        if ctx.options.get("plan") and any(s is None or not s.connected for s in states.values()):
            return []  # a plan of a fresh install: drbd-up is only planned, so the sync is planned from scratch
        if any(s is None or not s.connected for s in states.values()) and pacemaker_owns_drbd(ctx):
            return left_to_pacemaker(ctx, "DRBD_NOT_CONNECTED", states)
        for node, state in states.items():
            if state is None or not state.connected:
                findings.append(Finding("DRBD_NOT_CONNECTED", node, FAIL, f"{node}: {_conn_state(state)}",
                                        "Bring the resource up and connected first (step drbd-up)."))
        if ctx.options.get("skip_initial_sync") and not findings and not self.started(states):
            findings += self.new_disks_only(ctx)
        return findings

    @staticmethod
    def started(states: dict) -> bool:
        return all(s is not None and s.in_sync for s in states.values()) or \
            any(s is not None and (s.syncing or sync_due(s)) for s in states.values())

    @staticmethod
    def new_disks_only(ctx: Context) -> list[Finding]:
        """skip-initial-sync is only for disks whose DRBD metadata is fresh from create-md on both nodes."""
        findings = []
        for node in ctx.spec.node_names:
            gi = ctx.runner(node).run(drbd_argv.drbdadm_argv("get-gi", res_name(ctx)), timeout=30)
            if gi.rc != 0 or not drbd_status.just_created(gi.stdout):
                findings.append(Finding(
                    "SKIP_SYNC_REFUSED", node, FAIL,
                    f"skip-initial-sync refused: {node}'s DRBD metadata is not brand new "
                    f"(get-gi: {gi.stdout.strip() or gi.stderr.strip() or gi.rc})",
                    "Run without skip-initial-sync: the full initial sync is the safe way."))
        return findings

    def plan(self, ctx: Context) -> list[Action]:
        if not drbd_mode(ctx):
            return []
        states = read_all(ctx)
        if all(s is not None and s.in_sync for s in states.values()):
            return []
        source = sync_source(ctx)
        follow = [Action(node, drbd_argv.events2_follow_argv(res_name(ctx)),
                         f"follow the sync on {node} until both sides are UpToDate", timeout=self.timeout(ctx))
                  for node in ctx.spec.node_names]
        if any(s is None or not s.connected for s in states.values()):
            return []  # only reached when Pacemaker owns DRBD (check): nothing to sync while a node is away
        if self.started(states):  # started earlier (maybe by a closed wizard): only follow it, never force twice
            return follow + self.demote_after(ctx, source, states)
        if ctx.options.get("skip_initial_sync"):
            return [adm(ctx, source, "new-current-uuid", "SKIP THE INITIAL SYNC: declare both brand-new, "
                        "never-written disks identical without copying. Only safe on new empty disks; any old "
                        "data on them stays different until a `drbdadm verify`", "--clear-bitmap",
                        destructive=True)]
        return [adm(ctx, source, "primary", f"make {source}'s data the authoritative copy and start the full sync "
                    f"to {ctx.spec.peer(source).name}", "--force", destructive=True),
                *follow,
                adm(ctx, source, "secondary", "demote again: Pacemaker will own promotion")]

    @staticmethod
    def demote_after(ctx: Context, source: str, states: dict) -> list[Action]:
        state = states.get(source)
        if state is None or state.role != "Primary" or device_mounted(ctx, source):
            return []
        return [adm(ctx, source, "secondary", "demote again: Pacemaker will own promotion")]

    @staticmethod
    def timeout(ctx: Context) -> float:
        return float(ctx.options.get("sync_timeout", 24 * 3600))

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        followers = [a for a in plan if a.argv == drbd_argv.events2_follow_argv(res_name(ctx))]
        for action in plan:
            if action in followers:
                if action is followers[0]:
                    self.follow(ctx, followers, emit)
                continue
            ctx.execute(action, emit, self.id)

    def follow(self, ctx: Context, actions: list[Action], emit: Emit) -> None:
        """Stream `drbdsetup events2 --statistics` on each node at once, emitting Progress until in sync."""
        lock = threading.Lock()
        tracker = drbd_progress.SyncTracker()

        def safe_emit(event) -> None:
            with lock:
                emit(event)

        def one(action: Action):
            state = drbd_events.Events2State()

            def on_line(line: str) -> bool:
                state.feed(line)
                res = state.resource(res_name(ctx))
                if res is None or not state.initial_done:
                    return False
                with lock:
                    progress = tracker.update(action.node, res)
                if progress is not None:
                    safe_emit(progress_event(self.id, progress, res))
                return res.in_sync

            safe_emit(ActionStarted(self.id, action.node, action.command, action.why))
            result = ctx.runner(action.node).stream(action.argv, on_line, timeout=action.timeout,
                                                   cancel=ctx.cancel)
            safe_emit(ActionFinished(self.id, action.node, action.command, 0 if result.stopped else result.rc,
                                     result.duration))
            ctx.check_cancel()
            if not result.stopped:
                safe_emit(OutputLine(self.id, action.node, result.stderr.strip()))
                raise CommandFailed(result, f"the DRBD event stream on {action.node} ended before the sync "
                                    "finished", remedy="Run again: axha finds the running sync and follows it.")
            return True

        runners = {a.node: a for a in actions}
        outcome = run_all([_Named(n) for n in runners], lambda r: one(runners[r.node]))
        for value in outcome.values():
            if isinstance(value, Exception):
                raise value

    def verify(self, ctx: Context) -> list[Finding]:
        if not drbd_mode(ctx):
            return []
        states = read_all(ctx)
        if not all(s is not None and s.in_sync for s in states.values()) and pacemaker_owns_drbd(ctx):
            return left_to_pacemaker(ctx, "DRBD_UP_TO_DATE", states)
        return [Finding("DRBD_UP_TO_DATE", node, PASS if s is not None and s.in_sync else FAIL,
                        f"{node}: disk {s.disk if s else 'down'}, peer {s.peer_disk if s else 'unknown'}")
                for node, s in states.items()]


def sync_due(state: drbd_status.Resource) -> bool:
    """One side already UpToDate while connected: a sync is due or running (no force needed)."""
    return state.connected and (state.disk == drbd_status.GOOD_DISK or state.peer_disk == drbd_status.GOOD_DISK)


@dataclass(frozen=True)
class _Named:
    node: str


def progress_event(step_id: str, p: drbd_progress.SyncProgress, res: drbd_status.Resource) -> Progress:
    """A framework Progress in percent (rate in percent per second, ETA in seconds); the label carries the
    admin's words: `SyncSource UpToDate/Inconsistent · 51.2 MiB/s · 620.4 MiB out of sync`."""
    size = res.device(0).size_kib if res.device(0) else None
    rate_pct = (p.rate_kib / size * 100.0) if p.rate_kib and size else None
    parts = [f"{p.replication} {p.disk}/{p.peer_disk}"]
    if p.rate_kib:
        parts.append(f"{p.rate_kib / 1024:.1f} MiB/s")
    if p.out_of_sync_kib is not None:
        parts.append(f"{drbd_progress.human_kib(p.out_of_sync_kib)} out of sync")
    return Progress(step_id, p.node, p.percent, 100.0, rate_pct, p.eta, " · ".join(parts))


# ---------------------------------------------------------------- filesystem and data


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


STORAGE_STEPS = (DrbdConfig, DrbdMetadata, DrbdUp, InitialSync, Filesystem, AxigenData)
