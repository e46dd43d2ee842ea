"""Node and cluster actions: standby, maintenance mode, cleanup, clear constraints, DRBD verify, backup, split brain."""
from __future__ import annotations

import io
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from axha.steps import cib, names
from axha.steps.drbd_argv import drbdadm_argv
from axha.steps.drbd_resource_file import resource_path
from axha.steps.errors import AxhaError, CommandTimeout, InputError
from axha.steps.framework import Confirmation, OutputLine, StepFinished, StepStarted, wait_for
from axha.steps.maint.status import ClusterState, read_state

SETTLE_TIMEOUT = 120


def _noop(_event) -> None:
    pass


@dataclass(frozen=True)
class ActionReport:
    ok: bool
    action: str
    message: str
    changed: bool = False
    details: tuple[str, ...] = ()
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "action": self.action, "message": self.message, "changed": self.changed,
                "details": list(self.details), **({"data": self.data} if self.data else {})}


# ---------------------------------------------------------------- argv (the exact commands)


def standby_argv(node: str, on: bool) -> tuple[str, ...]:
    if on:
        return ("crm_attribute", "--node", node, "--name", "standby", "--update", "on", "--lifetime", "forever")
    return ("crm_attribute", "--node", node, "--name", "standby", "--delete", "--lifetime", "forever")


def maintenance_argv(on: bool) -> tuple[str, ...]:
    if on:
        return ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true")
    return ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--delete")


def settle_argv(timeout: int = SETTLE_TIMEOUT) -> tuple[str, ...]:
    return ("crm_resource", "--wait", f"--timeout={timeout}s")


CLEANUP_ARGV = ("crm_resource", "--cleanup")


def delete_constraint_argv(cid: str) -> tuple[str, ...]:
    return ("cibadmin", "--delete", "--scope", "constraints", "--xml-text", f'<rsc_location id="{cib.attr(cid)}"/>')


def clear_argv(resource: str) -> tuple[str, ...]:
    return ("crm_resource", "--clear", "-r", resource)


# ---------------------------------------------------------------- helpers


class Actions:
    """The admin's one-shot actions on a live cluster. Each reads the state, acts on one node, waits, reports."""

    def __init__(self, ctx, emit: Callable = _noop):
        self.ctx, self.emit = ctx, emit

    @property
    def spec(self):
        return self.ctx.spec

    def _runner_for_cluster(self, state: ClusterState | None = None):
        """The node to run cluster-wide Pacemaker commands on: the DC, else an online reachable node."""
        state = state or read_state(self.ctx, with_service=False)
        for name in ([state.dc] if state.dc else []) + list(state.node_names):
            node = state.node(name) if name else None
            if node is not None and node.reachable and node.pacemaker_running:
                return self.ctx.runner(name), state
        raise AxhaError("no node with a running cluster answered", remedy="Check both nodes (axha status).")

    def _do(self, step: str, runner, argv, why: str, timeout: float = 60) -> None:
        self.emit(OutputLine(step, runner.node, "$ " + " ".join(argv)))
        result = runner.run(argv, timeout=timeout, mutating=True)
        for line in (result.stdout + result.stderr).strip().splitlines()[-5:]:
            self.emit(OutputLine(step, runner.node, line))
        if result.rc != 0:
            raise AxhaError(f"{why} failed on {runner.node}: `{' '.join(argv)}` exited {result.rc}: "
                            f"{(result.stderr or result.stdout).strip()[-300:]}", node=runner.node)

    def _settle(self, step: str, runner, timeout: int = SETTLE_TIMEOUT) -> None:
        self.emit(OutputLine(step, runner.node, "waiting for the cluster to settle"))
        result = runner.run(settle_argv(timeout), timeout=timeout + 15)
        if result.rc != 0:
            raise AxhaError(f"the cluster did not settle within {timeout} s: "
                            f"{(result.stderr or result.stdout).strip()[-200:]}", node=runner.node,
                            remedy="axha status shows what is still moving or failed.")

    def _wrap(self, step: str, title: str, fn) -> ActionReport:
        self.emit(StepStarted(step, title))
        try:
            report = fn()
        except AxhaError as exc:
            self.emit(StepFinished(step, "failed", exc.explain()))
            return ActionReport(False, step, exc.explain())
        self.emit(StepFinished(step, "done" if report.ok else "failed", report.message))
        return report

    # ------------------------------------------------------------ standby / maintenance / cleanup

    def standby(self, node: str, on: bool = True) -> ActionReport:
        if node not in self.spec.node_names:
            raise InputError(f"{node}: not a node of this cluster (nodes: {', '.join(self.spec.node_names)})")
        step = "standby" if on else "unstandby"

        def go() -> ActionReport:
            runner, state = self._runner_for_cluster()
            view = state.node(node)
            if view is not None and view.standby == on:
                return ActionReport(True, step, f"{node} is already {'in standby' if on else 'active'}")
            if on and state.active_node == node:
                self.emit(OutputLine(step, node, f"{names.GROUP} runs on {node}: it will move to "
                                     f"{state.other(node)}"))
            self._do(step, runner, standby_argv(node, on), step)
            self._settle(step, runner)
            after = read_state(self.ctx, with_service=False)
            where = after.active_node or "nowhere"
            return ActionReport(True, step, f"{node} {'is in standby' if on else 'is active again'}; "
                                f"{names.GROUP} runs on {where}", changed=True)
        return self._wrap(step, f"{'Standby' if on else 'Unstandby'} {node}", go)

    def maintenance(self, on: bool) -> ActionReport:
        def go() -> ActionReport:
            runner, state = self._runner_for_cluster()
            if state.maintenance_mode == on:
                return ActionReport(True, "maintenance", f"maintenance mode is already {'on' if on else 'off'}")
            self._do("maintenance", runner, maintenance_argv(on), "maintenance mode")
            if not on:
                self._settle("maintenance", runner)
            text = ("on: Pacemaker no longer starts, stops or monitors resources" if on
                    else "off: Pacemaker manages the resources again")
            return ActionReport(True, "maintenance", f"maintenance mode {text}", changed=True)
        return self._wrap("maintenance", f"Maintenance mode {'on' if on else 'off'}", go)

    def cleanup(self) -> ActionReport:
        def go() -> ActionReport:
            runner, state = self._runner_for_cluster()
            before = [f"{a['op_key']} on {a['node']}" for a in state.failed_actions]
            self._do("cleanup", runner, CLEANUP_ARGV, "cleanup")
            self._settle("cleanup", runner)
            after = read_state(self.ctx, with_service=False)
            left = [f"{a['op_key']} on {a['node']}" for a in after.failed_actions]
            if left:
                return ActionReport(False, "cleanup", f"failed actions came back: {'; '.join(left)}", True,
                                    tuple(before))
            return ActionReport(True, "cleanup", f"cleaned {len(before)} failed action(s)", bool(before),
                                tuple(before))
        return self._wrap("cleanup", "Clean up failed actions", go)

    def clear_constraints(self) -> ActionReport:
        def go() -> ActionReport:
            runner, state = self._runner_for_cluster()
            left = state.leftover_constraints
            if not left:
                return ActionReport(True, "clear-constraints", "no leftover constraints")
            done: list[str] = []
            skipped: list[str] = []
            for c in left:
                if c.kind == "drbd-fence":
                    if not _drbd_in_sync(state):
                        skipped.append(f"{c.id}: kept, DRBD is not UpToDate and connected on both nodes (the "
                                       "handler removes it itself after the resync)")
                        continue
                    self._do("clear-constraints", runner, delete_constraint_argv(c.id), f"removing {c.id}")
                else:
                    self._do("clear-constraints", runner, clear_argv(c.resource), f"clearing {c.id}")
                done.append(c.describe())
            if done:
                self._settle("clear-constraints", runner)
            ok = not skipped
            return ActionReport(ok, "clear-constraints", f"cleared {len(done)}, kept {len(skipped)}",
                                bool(done), tuple(done + skipped))
        return self._wrap("clear-constraints", "Clear leftover location constraints", go)

    # ------------------------------------------------------------ DRBD

    def verify_drbd(self) -> ActionReport:
        def go() -> ActionReport:
            state = read_state(self.ctx, with_service=False)
            if not _drbd_in_sync(state):
                return ActionReport(False, "verify-drbd", "DRBD must be connected and UpToDate on both nodes "
                                    "to verify")
            node = state.active_node or state.node_names[0]
            runner = self.ctx.runner(node)
            self._do("verify-drbd", runner, drbdadm_argv("verify", self.spec.storage.drbd.resource),
                     "starting the online verify")
            return ActionReport(True, "verify-drbd", f"online verify started from {node}; the dashboard shows "
                                "its progress, out-of-sync blocks are reported in the kernel log and by "
                                "`drbdsetup status --verbose --statistics`", True)
        return self._wrap("verify-drbd", "DRBD online verify", go)

    def split_brain_recover(self, victim: str) -> ActionReport:
        """Discard `victim`'s changes: on it `drbdadm secondary`, `drbdadm connect --discard-my-data`; on the
        survivor `drbdadm connect`. Needs a typed confirmation naming the victim."""
        if victim not in self.spec.node_names:
            raise InputError(f"{victim}: not a node of this cluster (nodes: {', '.join(self.spec.node_names)})")
        res = self.spec.storage.drbd.resource
        survivor = self.spec.peer(victim).name

        def go() -> ActionReport:
            state = read_state(self.ctx, with_service=False)
            if not state.split_brain.detected:
                return ActionReport(False, "split-brain-recover", "no split brain detected: nothing to recover")
            if state.active_node == victim:
                return ActionReport(False, "split-brain-recover",
                                    f"{victim} runs the mail service: discarding its data would lose the mail "
                                    f"it has now. Pick {survivor} as the victim, or first move the service with "
                                    f"`axha standby {victim}` and then recover.")
            evidence = "\n".join(f"{node}: {ev.get('role')} {ev.get('disk')} {ev.get('connection')}, "
                                 f"{ev.get('out_of_sync_kib')} KiB out of sync"
                                 for node, ev in state.split_brain.evidence)
            question = Confirmation("split-brain-recover", f"Discard every change made on {victim} since the split?",
                                    f"{state.split_brain.reason}\n{evidence}\n{survivor}'s data will be copied over "
                                    f"{victim}'s. Type the node name to confirm.", expected=victim)
            if not self.ctx.confirm(question):
                return ActionReport(False, "split-brain-recover", "not confirmed: nothing changed")
            v, s = self.ctx.runner(victim), self.ctx.runner(survivor)
            d = state.drbd_of(victim)
            if d is not None and d.connection not in ("StandAlone", None):
                self._do("split-brain-recover", v, drbdadm_argv("disconnect", res), "disconnect")
            if d is not None and d.role == "Primary":
                self._do("split-brain-recover", v, drbdadm_argv("secondary", res), "demote the victim")
            self._do("split-brain-recover", v, drbdadm_argv("connect", res, "--discard-my-data"),
                     "reconnect discarding the victim's data")
            sd = state.drbd_of(survivor)
            if sd is None or sd.connection in ("StandAlone", None):
                self._do("split-brain-recover", s, drbdadm_argv("connect", res), "reconnect the survivor")
            after = self._wait_connected(victim, 30)
            return ActionReport(after is not None, "split-brain-recover",
                                f"{victim} reconnected and resyncs from {survivor}" if after else
                                f"{victim} did not reconnect within 30 s (axha status)", True,
                                (f"{victim}: {after.to_dict() if after else 'unknown'}",))
        return self._wrap("split-brain-recover", f"Split-brain recovery: discard {victim}", go)

    def _wait_connected(self, node: str, timeout: float):
        """DRBD on `node` Connected again (its view), or None after `timeout`; cancellable (wait_for)."""
        def connected():
            d = read_state(self.ctx, with_service=False).drbd_of(node)
            return d if d is not None and d.connection == "Connected" else None
        try:
            return wait_for(f"DRBD on {node} connected", connected, timeout, self.ctx, interval=0.5, node=node)
        except CommandTimeout:
            return None

    # ------------------------------------------------------------ backup

    def backup(self, local_dir: str | Path, stamp: str | None = None) -> ActionReport:
        def go() -> ActionReport:
            made = make_backup(self.ctx, local_dir, stamp, emit=self.emit)
            return ActionReport(True, "backup", f"backup {made['stamp']} kept on both nodes and in {made['local']}",
                                True, tuple(made["files"]), data=made)
        return self._wrap("backup", "Backup of the whole configuration", go)


def _drbd_in_sync(state: ClusterState) -> bool:
    return bool(state.drbd) and all(d is not None and d.in_sync for _, d in state.drbd)


# ---------------------------------------------------------------- backup


REMOTE_BACKUP_DIR = "/var/backups/axha"


def backup_paths(spec) -> tuple[str, ...]:
    """Configuration files worth keeping (those absent on a node are skipped there): the cluster's, the init
    script's settings (/etc/sysconfig/axigen on RHEL per Axigen's HA guide; /etc/default/axigen where a Debian
    package keeps them), and Axigen's own configuration and licence key on the mail store (where it is mounted)."""
    return (names.COROSYNC_CONF, resource_path(spec.storage.drbd.resource), "/etc/drbd.conf",
            "/etc/drbd.d/global_common.conf", "/etc/sysconfig/axigen", "/etc/default/axigen",
            f"{spec.storage.mount_point}/run/axigen.cfg", f"{spec.storage.mount_point}/axigen_lk.bin")


def backup_argv(spec, stamp: str, node: str) -> tuple[str, ...]:
    """On the node: the live CIB plus the files into REMOTE_BACKUP_DIR/<stamp>-<node>.tar.gz; prints the path."""
    script = ('set -e; umask 077; dir="$1"; out="$dir/$2"; shift 2; mkdir -p "$dir"; tmp=$(mktemp -d); '
              'trap \'rm -rf "$tmp"\' EXIT; cibadmin --query > "$tmp/cib.xml" 2>/dev/null || true; '
              'list=""; for p in "$@"; do [ -e "$p" ] && list="$list ${p#/}"; done; '
              'tar -czf "$out" -C "$tmp" cib.xml $( [ -n "$list" ] && echo "-C / $list" ); echo "$out"')
    return ("sh", "-c", script, "sh", REMOTE_BACKUP_DIR, f"{stamp}-{node}.tar.gz") + backup_paths(spec)


def make_backup(ctx, local_dir: str | Path, stamp: str | None = None, emit: Callable = _noop) -> dict:
    """Back up on both nodes (kept there) and copy both archives to local_dir/<stamp>/. Returns what was made."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = Path(local_dir) / stamp
    try:
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o700)
    except OSError as exc:
        raise InputError(f"cannot create the backup directory {target}: {exc.strerror or exc}",
                         remedy="Pass --output with a directory you may write.") from None
    files = []
    for node in ctx.spec.node_names:
        runner = ctx.runner(node)
        result = runner.run(backup_argv(ctx.spec, stamp, node), timeout=120, mutating=True)
        if result.rc != 0:
            raise AxhaError(f"backup on {node} failed: {(result.stderr or result.stdout).strip()[-300:]}", node=node,
                            remedy="Check free space in /var/backups on the node, then retry.")
        remote = result.stdout.strip().splitlines()[-1]
        data = runner.get(remote)
        local = target / f"{node}.tar.gz"
        local.write_bytes(data)
        os.chmod(local, 0o600)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getnames()
        emit(OutputLine("backup", node, f"{remote} ({len(data)} bytes, {len(members)} entries) -> {local}"))
        files.append(f"{node}:{remote}")
        files.append(str(local))
    return {"stamp": stamp, "local": str(target), "files": files}
