"""Install step 6: one fence_ipmilan device per node, kept off the node it fences, a delay against fence races
(none with a quorum device),
the BMC password outside the CIB; verified through each device from the peer; an opt-in fence drill.

A fenced node is powered OFF, not rebooted (stonith-action=off, see CLUSTER_FENCING).

The BMC password never enters the CIB (which every node replicates and `cibadmin --query` prints): each node
holds `/etc/axha/fence/<node>.pw` for both BMCs, mode 0600 in a 0700 root directory, written over stdin; the
device's `password_script` is `cat <that file>` (fence-agents run it and read its first output line).
"""
from __future__ import annotations

import time

from axha.steps import cib, names
from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, Action, Confirmation, Context, Emit, Finding, OutputLine, Step, wait_for
from axha.steps.install.common import any_status, apply_with_push, cib_plan, finding, read, stdin_action

FENCE_AGENT = "/usr/sbin/fence_ipmilan"
# stonith-action=off: a node the cluster fences stays powered off until the admin powers it on (BMC or
# `axha lab power`), so a node that keeps failing cannot come back by itself and pull the service back and
# forth; the survivor runs the service meanwhile. The fence drill still asks for an explicit reboot.
CLUSTER_FENCING = (("stonith-enabled", "true"), ("stonith-action", "off"))
# on the device that fences the first node: in a fence race the first node survives. A cluster with a quorum
# device has no fence race (only the side with the device's vote is quorate, and only a quorate side fences):
# no delay there, so a dead first node is fenced at once
DELAY = "10s"
MONITOR = "60s"
START_TIMEOUT = 90.0
REJOIN_TIMEOUT = 300.0


def password_script(node: str) -> str:
    return f"cat {names.fence_password_file(node)}"


def fence_params(node, first: bool) -> dict[str, str]:
    params = {"ip": node.bmc.address, "ipport": str(node.bmc.port), "username": node.bmc.user, "lanplus": "1",
              "password_script": password_script(node.name), "pcmk_host_list": node.name}
    if first:
        params["pcmk_delay_base"] = DELAY
    return params


def fencing_change(spec) -> cib.CibChange:
    objects = []
    for i, node in enumerate(spec.nodes):
        device = names.fence_device(node.name)
        objects.append(cib.CibObject("resources", device, cib.primitive(
            device, "stonith", "fence_ipmilan", None, fence_params(node, i == 0 and spec.quorum_device is None),
            ops=(cib.Op("monitor", MONITOR, "30s"),))))
    for node in spec.nodes:
        device, lid = names.fence_device(node.name), names.fence_location(node.name)
        objects.append(cib.CibObject("constraints", lid,
                                     f'<rsc_location id="{cib.attr(lid)}" rsc="{cib.attr(device)}" '
                                     f'node="{cib.attr(node.name)}" score="-INFINITY"/>'))
    return cib.CibChange(objects=tuple(objects), properties=CLUSTER_FENCING)


def status_argv(node) -> tuple[str, ...]:
    """fence_ipmilan asking `node`'s BMC for its power state, the password read by the agent from the node file."""
    return ("fence_ipmilan", "--ip", node.bmc.address, "--ipport", str(node.bmc.port), "--username", node.bmc.user,
            "--lanplus", "--password-script", password_script(node.name), "--action", "status")


def devices_started(ctx: Context):
    status = any_status(ctx)
    if status is None:
        return None
    placed = {}
    for node in ctx.spec.node_names:
        running = [r for r in status.resource(names.fence_device(node)) if r.active and r.nodes]
        if not running:
            return None
        placed[node] = running[0].nodes[0]
    return placed


class FencingStep(Step):
    id = "fencing"
    title = "Fencing: fence_ipmilan per node, verified from the peer"

    def __init__(self):
        self._passwords: dict[str, str] = {}

    def check(self, ctx: Context) -> list[Finding]:
        findings = []
        for node in ctx.spec.node_names:
            findings.append(finding(read(ctx, node, ["test", "-x", FENCE_AGENT]).rc == 0, "FENCE_AGENT_INSTALLED",
                                    node, "fence_ipmilan is installed",
                                    remedy="Install fence-agents (or run with --install-packages)."))
            try:
                self._passwords[node] = ctx.secrets.bmc_password(node)
                findings.append(finding(True, "BMC_PASSWORD_KNOWN", node, "BMC password known"))
            except (AxhaError, AttributeError) as exc:
                findings.append(Finding("BMC_PASSWORD_KNOWN", node, FAIL, f"no BMC password for {node}",
                                        getattr(exc, "remedy", "") or "Put it in the secrets file."))
        return findings

    def _password_actions(self, ctx: Context) -> list[Action]:
        actions = []
        for holder in ctx.spec.node_names:
            if read(ctx, holder, ["test", "-d", names.FENCE_PASSWORD_DIR]).rc != 0:
                actions.append(Action(holder, ("install", "-d", "-m", "0700", "-o", "root", "-g", "root",
                                               names.FENCE_PASSWORD_DIR), "a root-only directory for BMC passwords"))
            for target in ctx.spec.node_names:
                path = names.fence_password_file(target)
                # cmp reads the wanted password from stdin: the password never appears in argv or output
                same = read(ctx, holder, ["cmp", "-s", path, "-"], stdin=self._passwords[target] + "\n").rc == 0
                mode = read(ctx, holder, ["stat", "-c", "%a %U", path]).stdout.strip()
                if not same or mode != "600 root":
                    actions.append(Action(holder, ("install", "-m", "0600", "-o", "root", "-g", "root", "/dev/stdin",
                                                   path), f"store {target}'s BMC password for fence_ipmilan (0600, "
                                                          f"over stdin, never logged)"))
        return actions

    def plan(self, ctx: Context) -> list[Action]:
        return self._password_actions(ctx) + cib_plan(ctx, fencing_change(ctx.spec), "fencing devices")

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        filled = []
        for action in plan:
            if action.argv[-1].startswith(names.FENCE_PASSWORD_DIR + "/") and action.argv[0] == "install":
                target = action.argv[-1].rsplit("/", 1)[1][:-3]
                action = stdin_action(action, self._passwords[target] + "\n")
            filled.append(action)
        apply_with_push(ctx, filled, emit, self.id, lambda: fencing_change(ctx.spec), "fencing devices")

    def verify(self, ctx: Context) -> list[Finding]:
        findings = []
        try:
            placed = wait_for("both fence devices started", lambda: devices_started(ctx), START_TIMEOUT, ctx)
        except AxhaError as exc:
            return [Finding("FENCE_DEVICES_STARTED", None, FAIL, str(exc),
                            "Look at `crm_mon -1 --inactive` and the failed actions of the fence devices "
                            "(BMC address, user, password).")]
        for target, where in placed.items():
            findings.append(finding(where != target, "FENCE_DEVICE_PLACEMENT", target,
                                    f"{names.fence_device(target)} runs on {where}",
                                    remedy="The location constraint keeping a device off its own node is missing."))
        for target in ctx.spec.nodes:
            peer = ctx.spec.peer(target.name).name
            result = read(ctx, peer, status_argv(target), timeout=60)
            ok = result.rc == 0 and "Status: ON" in result.stdout
            findings.append(finding(ok, "FENCE_DEVICE_ANSWERS", target.name,
                                    f"{target.name}'s BMC answers fence_ipmilan from {peer}: "
                                    f"{result.stdout.strip() or result.stderr.strip()[-200:]}",
                                    remedy=f"Check {target.name}'s BMC address, user and password, and IPMI over LAN "
                                           f"(lanplus) from {peer}.", detail=result.stderr.strip()[-500:]))
        return findings


# ---------------------------------------------------------------- opt-in drill


def node_online(ctx: Context, node: str, online: bool):
    status = any_status(ctx)
    if status is None:
        return None
    info = status.node(node)
    return True if info is not None and info.online == online and not info.pending else None


class FenceDrillStep(Step):
    """Really power-cycles each node in turn through Pacemaker (stonith_admin --reboot from the peer) and waits for
    it to rejoin. Opt-in: it takes the service down for a failover on each node."""

    id = "fence-drill"
    title = "Fence drill: power-cycle each node through Pacemaker"
    destructive = True

    def plan(self, ctx: Context) -> list[Action]:
        return [Action(ctx.spec.peer(n).name, ("stonith_admin", "--reboot", n, "--timeout", "120"),
                       f"fence {n} through Pacemaker and wait for it to rejoin", timeout=180.0, destructive=True)
                for n in ctx.spec.node_names]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        return Confirmation("fence-drill", "Power-cycle both nodes in turn",
                            "Each node is fenced (hard power cycle through its BMC) and must rejoin; the Axigen "
                            "service fails over each time.", expected=ctx.spec.name)

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        timings = {}
        for action in plan:
            target = action.argv[2]
            start = time.monotonic()
            ctx.execute(action, emit, self.id)
            fenced = time.monotonic() - start
            wait_for(f"{target} back online", lambda t=target: node_online(ctx, t, True), REJOIN_TIMEOUT, ctx,
                     interval=2.0, node=target)
            timings[target] = (fenced, time.monotonic() - start)
            emit(OutputLine(self.id, action.node, f"{target}: fenced in {fenced:.1f} s, back online after "
                                                  f"{timings[target][1]:.1f} s"))
            self._wait_data_in_sync(ctx, target, emit)
        if ctx.journal is not None:
            ctx.journal.set_data(self.id, timings={n: {"fenced_s": round(a, 1), "rejoined_s": round(b, 1)}
                                                   for n, (a, b) in timings.items()})

    def _wait_data_in_sync(self, ctx: Context, node: str, emit: Emit) -> None:
        """Before fencing the other node, the rejoined node's DRBD copy must be UpToDate again."""
        if ctx.spec.storage.mode != "drbd":
            return
        from axha.steps.install.verify import drbd_in_sync
        wait_for(f"DRBD in sync again after fencing {node}", lambda: drbd_in_sync(ctx, node), REJOIN_TIMEOUT, ctx,
                 interval=2.0, node=node)
        emit(OutputLine(self.id, node, "DRBD UpToDate on both nodes again"))

    def verify(self, ctx: Context) -> list[Finding]:
        status = any_status(ctx)
        ok = status is not None and all(status.node(n) and status.node(n).online for n in ctx.spec.node_names)
        return [finding(bool(ok), "FENCE_DRILL_REJOINED", None, "both nodes back online after the drill",
                        remedy="Look at the fenced node's console/BMC and the pacemaker log.")]
