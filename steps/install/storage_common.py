"""What the storage steps share: the storage mode, the DRBD resource's state read on both nodes at once,
drbdadm actions, and whether Pacemaker has taken DRBD over."""
from __future__ import annotations

from axha.steps import drbd_argv, drbd_status
from axha.steps.framework import WARN, Action, Context, Finding
from axha.steps.runner import run_all

NOT_UP_RC = (10,)  # drbdsetup: "No such resource"


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


def _conn_state(state: drbd_status.Resource | None) -> str:
    if state is None:
        return "resource down"
    conn = state.connection()
    return f"disk {state.disk}, connection {conn.connection if conn else 'none'}"
