"""Install steps: DRBD metadata on the backing disks (behind the disk guard), then the initial sync with live
progress (skipped only for brand-new disks, when asked)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from axha.steps import drbd_argv, drbd_events, drbd_progress, drbd_status
from axha.steps.errors import CommandFailed
from axha.steps.framework import (FAIL, PASS, Action, ActionFinished, ActionStarted, Confirmation, Context, Emit,
                                  Finding, OutputLine, Progress, Step)
from axha.steps.install.disk_guard import (DiskReport, blanket_yes_refusal, busy_finding, read_disk, wipe_allowed,
                                           wipe_question)
from axha.steps.install.mail_store import device_mounted
from axha.steps.install.storage_common import (_conn_state, adm, drbd_mode, left_to_pacemaker,
                                               pacemaker_owns_drbd, per_node, read_all, read_status, res_name,
                                               sync_source)
from axha.steps.runner import run_all


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
