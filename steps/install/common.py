"""Small helpers the cluster install steps share: reads on nodes, bounded waits, CIB pushes, service state."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from axha.steps import cib
from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, PASS, Action, Context, Emit, Finding, OutputLine
from axha.steps.pacemaker import CRM_MON_ARGV  # noqa: F401 (CRM_MON_ARGV: one home)
from axha.steps.pacemaker_status import ClusterStatus, parse_crm_mon

READ_TIMEOUT = 30.0


def read(ctx: Context, node: str, argv, timeout: float = READ_TIMEOUT, stdin=None):
    """A read-only command on a node (never a change; recorded with mutating=false)."""
    return ctx.runner(node).run(list(argv), timeout=timeout, stdin=stdin, mutating=False)


def service_state(ctx: Context, node: str, service: str) -> tuple[bool, bool]:
    """(active, enabled at boot) through systemctl (real or the lab's stand-in, same exit codes)."""
    active = read(ctx, node, ["systemctl", "is-active", "--quiet", service]).rc == 0
    enabled = read(ctx, node, ["systemctl", "is-enabled", "--quiet", service]).rc == 0
    return active, enabled


def service_actions(ctx: Context, node: str, service: str, why: str) -> list[Action]:
    """enable + start `service` on `node` where needed (both are changes; nothing when already so)."""
    active, enabled = service_state(ctx, node, service)
    actions = []
    if not enabled:
        actions.append(Action(node, ("systemctl", "enable", service), f"start {service} at boot ({why})"))
    if not active:
        actions.append(Action(node, ("systemctl", "start", service), f"start {service} ({why})", timeout=180.0))
    return actions


def crm_status(ctx: Context, node: str) -> ClusterStatus | None:
    """crm_mon's view from `node`, or None when Pacemaker does not answer there."""
    result = read(ctx, node, CRM_MON_ARGV)
    if result.rc != 0 or "<pacemaker-result" not in result.stdout:
        return None
    try:
        return parse_crm_mon(result.stdout)
    except AxhaError:
        return None


def any_status(ctx: Context) -> ClusterStatus | None:
    """crm_mon from the first node that answers."""
    for node in ctx.spec.node_names:
        try:
            status = crm_status(ctx, node)
        except AxhaError:
            continue
        if status is not None:
            return status
    return None


def cib_node(ctx: Context) -> str:
    """The node the CIB tools run on: the first one where Pacemaker answers, else the first node."""
    for node in ctx.spec.node_names:
        try:
            if read(ctx, node, ["cibadmin", "--query", "--scope", "crm_config"]).rc == 0:
                return node
        except AxhaError:
            continue
    return ctx.spec.node_names[0]


def cib_plan(ctx: Context, change: cib.CibChange, what: str) -> list[Action]:
    """The push of `change` as a planned action (empty when the live CIB already has it)."""
    node = cib_node(ctx)
    diff = cib.CibEditor(ctx.runner(node)).diff(change)
    return [] if diff.empty else [cib.push_action(node, diff, what)]


def is_push(action: Action) -> bool:
    return tuple(action.argv) == cib.PUSH_ARGV


def apply_with_push(ctx: Context, plan: list[Action], emit: Emit, step_id: str,
                    change: Callable[[], cib.CibChange], what: str) -> None:
    """Run the plan in order; a CIB push is recomputed against the live CIB right before it runs (earlier actions
    of the same plan may have started the cluster), and skipped when the diff has become empty."""
    for action in plan:
        if not is_push(action):
            ctx.execute(action, emit, step_id)
            continue
        fresh = cib_plan(ctx, change(), what)
        if not fresh:
            emit(OutputLine(step_id, action.node, "CIB already as wanted: nothing to push"))
        for push in fresh:
            ctx.execute(push, emit, step_id)


def stdin_action(action: Action, data: bytes | str) -> Action:
    """The same action with its stdin filled in at apply time (secrets and keys never sit in a plan)."""
    return replace(action, stdin=data)


def finding(ok: bool, code: str, node: str | None, summary: str, remedy: str = "", detail: str = "") -> Finding:
    return Finding(code, node, PASS if ok else FAIL, summary, "" if ok else remedy, detail)
