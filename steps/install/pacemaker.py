"""Install step 5: Pacemaker started and enabled on both nodes, both online, the cluster-wide settings in the CIB.

Corosync and Pacemaker are enabled at boot: with two_node (which implies wait_for_all) a node that boots alone
waits to see its peer before it acts, so it cannot fence a healthy peer on boot, and a fenced node rejoins by
itself. An admin who prefers fenced nodes to stay out until inspected can `systemctl disable pacemaker` later.

This step also gives the cluster its instance id (steps.instance): written once, when the CIB has none, and kept
on every later run; the install's journal is bound to it as soon as it exists.
"""
from __future__ import annotations

from axha.steps import cib, instance
from axha.steps.framework import Action, Context, Emit, Finding, OutputLine, Step, wait_for
from axha.steps.install.common import (any_status, apply_with_push, cib_node, cib_plan, finding, read,
                                  service_actions)

ONLINE_TIMEOUT = 120.0  # Pacemaker waits dc-deadtime (20 s) before electing a DC on a first start

PROPERTIES = (("cluster-recheck-interval", "5min"),)
RSC_DEFAULTS = (("resource-stickiness", "100"), ("migration-threshold", "3"))


def cluster_settings() -> cib.CibChange:
    """Cluster-wide settings. stonith-enabled stays at its default (true) and is set explicitly by the fencing
    step together with the devices; until then crm_verify's no-STONITH complaint is expected. no-quorum-policy
    stays `stop`: two_node keeps the survivor quorate, so it never stops a healthy survivor."""
    return cib.CibChange(properties=PROPERTIES, rsc_defaults=RSC_DEFAULTS, allowed_errors=cib.NO_STONITH_YET)


def both_online(ctx: Context):
    status = any_status(ctx)
    if status is None or status.dc is None:
        return None
    nodes = [status.node(n) for n in ctx.spec.node_names]
    return status if all(n is not None and n.online and not n.pending for n in nodes) else None


class PacemakerStep(Step):
    id = "pacemaker"
    title = "Pacemaker: started on both nodes, cluster settings"

    def __init__(self, instance_id: str | None = None):
        # one id per run, so the plan shows the id the apply writes
        self.instance_id = instance_id or instance.new_instance_id()

    def check(self, ctx: Context) -> list[Finding]:
        return [finding(read(ctx, node, ["pacemakerd", "--version"]).rc == 0, "PACEMAKER_INSTALLED", node,
                        "pacemaker is installed", remedy="Install pacemaker (or run with --install-packages).")
                for node in ctx.spec.node_names]

    def plan(self, ctx: Context) -> list[Action]:
        actions: list[Action] = []
        for node in ctx.spec.node_names:
            actions += service_actions(ctx, node, "pacemaker", "the cluster resource manager")
        actions += cib_plan(ctx, cluster_settings(), "cluster settings")
        if instance.read_instance(ctx.runners, ctx.spec.node_names).value is None:
            actions.append(self._instance_action(ctx.spec.node_names[0]))
        return actions

    def _instance_action(self, node: str) -> Action:
        return Action(node, instance.update_argv(self.instance_id),
                      f"the cluster's instance id {instance.PROPERTY} (journals are bound to it)")

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        starts = [a for a in plan if a.argv[0] == "systemctl"]
        writes_id = [a for a in plan if a.argv[:1] == ("crm_attribute",)]
        for action in starts:
            ctx.execute(action, emit, self.id)
        if starts:
            wait_for("both nodes online in Pacemaker", lambda: both_online(ctx), ONLINE_TIMEOUT, ctx)
        rest = [a for a in plan if a not in starts and a not in writes_id]
        apply_with_push(ctx, rest or [_placeholder(plan)], emit, self.id, cluster_settings, "cluster settings")
        if writes_id:
            self._write_instance(ctx, emit)

    def _write_instance(self, ctx: Context, emit: Emit) -> None:
        """Write the id unless the live CIB got one meanwhile (an id once written is never replaced)."""
        found = instance.read_instance(ctx.runners, ctx.spec.node_names)
        if found.value:
            emit(OutputLine(self.id, found.source.split()[0], f"{instance.PROPERTY} is already {found.value}"))
            return
        ctx.execute(self._instance_action(cib_node(ctx)), emit, self.id)

    def verify(self, ctx: Context) -> list[Finding]:
        try:
            status = wait_for("both nodes online in Pacemaker", lambda: both_online(ctx), ONLINE_TIMEOUT, ctx)
        except Exception as exc:  # a timeout is a finding here, with crm_mon's view attached
            return [finding(False, "PACEMAKER_NODES_ONLINE", None, str(exc),
                            remedy="Look at crm_mon -1 and the pacemaker log on both nodes.")]
        online = finding(True, "PACEMAKER_NODES_ONLINE", None,
                         f"both nodes online, DC {status.dc}, quorum {'yes' if status.with_quorum else 'no'}")
        found = instance.read_instance(ctx.runners, ctx.spec.node_names)
        if found.value and ctx.journal is not None:
            ctx.journal.bind(found.value)   # an install journal begun before the cluster existed gets its id here
        return [online, finding(bool(found.value), "CLUSTER_INSTANCE_ID", None,
                                f"cluster instance id {found.describe()} ({found.source})",
                                remedy=f"Look at `crm_attribute --type crm_config --name {instance.PROPERTY} "
                                       f"--query` on both nodes, then run the install again.")]


def _placeholder(plan: list[Action]) -> Action:
    """When the plan had no push (the settings were in place), still re-check against the live CIB once the
    services run: a first start reads the CIB only now."""
    return Action(plan[0].node if plan else "", cib.PUSH_ARGV, "cluster settings")
