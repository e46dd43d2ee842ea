"""The data back on the new node: DRBD brought up there by Pacemaker (the clone instance starts when the node
joins), a full resync from the survivor followed with live progress, never forced: the survivor's copy is the only
good one, so nothing here makes any node Primary, and a node that does not connect is reported, not pushed.

`--disk-only` (DiskAttach): the node stays a member; its new backing disk gets metadata (the install's metadata
step and guard, run before this) and is attached: `drbdadm adjust` where the resource is up without a disk, or
Pacemaker asked to start the clone instance again where its start failed for want of a disk."""
from __future__ import annotations

from axha.steps import names
from axha.steps.errors import CommandTimeout
from axha.steps.framework import FAIL, PASS, Action, Context, Emit, Finding, Step, wait_for
from axha.steps.install import drbd_sync
from axha.steps.install.storage_common import _conn_state, adm, read_all, read_status, res_name
from axha.steps.drbd_argv import events2_follow_argv
from axha.steps.drbd_split_brain import split_brain_signs

CONNECT_TIMEOUT = 180.0


class Resync(drbd_sync.InitialSync):
    id = "drbd-resync"
    title = "DRBD: the new node's copy resynced from the survivor"
    destructive = False

    def check(self, ctx: Context) -> list[Finding]:
        return []

    def plan(self, ctx: Context) -> list[Action]:
        states = read_all(ctx)
        if all(s is not None and s.in_sync for s in states.values()):
            return []
        return [Action(node, events2_follow_argv(res_name(ctx)), f"wait until {node} is connected, then follow the "
                       "resync until both sides are UpToDate", timeout=self.timeout(ctx))
                for node in ctx.spec.node_names]

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        self.wait_connected(ctx, float(ctx.options.get("drbd_connect_timeout", CONNECT_TIMEOUT)))
        if all(s is not None and s.in_sync for s in read_all(ctx).values()):
            return
        self.follow(ctx, plan, emit)

    @staticmethod
    def wait_connected(ctx: Context, timeout: float) -> None:
        last: dict = {}

        def connected() -> bool:
            last.update(read_all(ctx))
            return all(s is not None and s.connected for s in last.values())
        try:
            wait_for("DRBD connected on both nodes", connected, timeout, ctx, interval=2.0)
        except CommandTimeout:
            seen = ", ".join(f"{n}: {_conn_state(s)}" for n, s in last.items())
            signs = split_brain_signs(last)
            raise CommandTimeout(
                f"DRBD did not connect within {timeout:g} s ({seen})" + ("; " + "; ".join(signs) if signs else ""),
                remedy="Look at `crm_mon -1 --inactive` for a failed start of the DRBD clone on the new node, and at "
                       "`drbdadm status` on both nodes. A disk with unrelated DRBD data (another cluster's) shows "
                       "StandAlone: erase it (wipefs -a) and run again.") from None

    def verify(self, ctx: Context) -> list[Finding]:
        states = read_all(ctx)
        return [Finding("DRBD_UP_TO_DATE", node, PASS if s is not None and s.in_sync else FAIL,
                        f"{node}: disk {s.disk if s else 'down'}, peer {s.peer_disk if s else 'unknown'}",
                        "" if s is not None and s.in_sync else "Look at drbdadm status on both nodes.")
                for node, s in states.items()]


class DiskAttach(Step):
    id = "drbd-attach"
    title = "DRBD: the new backing disk attached"

    def __init__(self, node: str):
        self.node = node

    def plan(self, ctx: Context) -> list[Action]:
        state = read_status(ctx, self.node)
        if state is not None and state.disk != "Diskless":
            return []
        if state is not None:
            return [adm(ctx, self.node, "adjust", f"attach the new backing disk {ctx.spec.node(self.node).backing_disk}"
                        " to the running resource")]
        clone = names.drbd_clone(res_name(ctx))
        return [Action(self.node, ("crm_resource", "--cleanup", "--resource", clone, "--node", self.node),
                       f"let Pacemaker start {clone} on {self.node} again (its start failed without a disk)",
                       timeout=60.0)]

    def verify(self, ctx: Context) -> list[Finding]:
        def attached():
            state = read_status(ctx, self.node)
            return state if state is not None and state.disk != "Diskless" else None
        try:
            state = wait_for(f"DRBD attached on {self.node}", attached, CONNECT_TIMEOUT, ctx, interval=2.0)
            return [Finding("DRBD_ATTACHED", self.node, PASS, f"{self.node}: disk {state.disk}")]
        except CommandTimeout as exc:
            return [Finding("DRBD_ATTACHED", self.node, FAIL, str(exc),
                            "Look at `drbdadm status` and `crm_mon -1 --inactive` on the node.")]
