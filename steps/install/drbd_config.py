"""Install steps: the DRBD resource file on both nodes (checked by each node's own drbdadm before it is used), then
the resource up and connected."""
from __future__ import annotations

from axha.steps import drbd_argv, drbd_resource_file, drbd_split_brain
from axha.steps.errors import CommandTimeout
from axha.steps.framework import FAIL, PASS, WARN, Action, Context, Emit, Finding, Step, wait_for
from axha.steps.install.storage_common import (_conn_state, adm, drbd_mode, left_to_pacemaker,
                                               pacemaker_owns_drbd, per_node, read_all, res_name)


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
