"""Install step 7: the Axigen role in Pacemaker: DRBD promotable clone, Filesystem, VIP, the Axigen service,
grouped, colocated with the promoted DRBD instance and ordered after its promotion; axigen off at boot."""
from __future__ import annotations

import dataclasses

from axha.steps import cib, names
from axha.steps.framework import FAIL, Action, Context, Emit, Finding, Step, wait_for
from axha.steps.install.common import any_status, apply_with_push, cib_plan, finding, read, service_state

DRBD_AGENT = "/usr/lib/ocf/resource.d/linbit/drbd"
# The axha lab's nodes cannot have /proc/drbd (no kernel module); the lab ships ocf:axha:drbd, the real linbit
# agent with only its /proc/drbd test widened (lab/drbd/README.md). It is used only where that agent exists and
# /proc/drbd does not, i.e. never on a real DRBD node.
LAB_DRBD_AGENT = "/usr/lib/ocf/resource.d/axha/drbd"
START_TIMEOUT = 180.0
FILTERS = "axigenfilters"   # named by Axigen's HA guide next to axigen: off at boot when the node has it


def service_class(ctx: Context, node: str, service: str) -> str | None:
    """systemd when the node runs systemd and has the unit, else lsb when it has the init script, else None."""
    if read(ctx, node, ["test", "-d", "/run/systemd/system"]).rc == 0:
        unit = read(ctx, node, ["systemctl", "cat", f"{service}.service"])
        if unit.rc == 0:
            return "systemd"
    if read(ctx, node, ["test", "-x", f"/etc/init.d/{service}"]).rc == 0:
        return "lsb"
    return None


def drbd_provider(ctx: Context) -> str:
    """linbit, except on lab nodes (the lab's agent present, no /proc/drbd) where it is axha."""
    for node in ctx.spec.node_names:
        if read(ctx, node, ["test", "-x", LAB_DRBD_AGENT]).rc != 0 or read(ctx, node, ["test", "-e",
                                                                                       "/proc/drbd"]).rc == 0:
            return "linbit"
    return "axha"


def role_change(spec, service_cls: str, drbd_provider: str = "linbit") -> cib.CibChange:
    """Every object of the Axigen role as CIB XML (pure: the same spec gives the same XML, byte for byte)."""
    storage = spec.storage
    fs = cib.primitive(names.FS, "ocf", "Filesystem", "heartbeat",
                       {"device": storage.data_device, "directory": storage.mount_point, "fstype": storage.filesystem},
                       ops=(cib.Op("monitor", "20s", "40s"), cib.Op("start", "0s", "60s"), cib.Op("stop", "0s", "60s")))
    vip = cib.primitive(names.VIP, "ocf", "IPaddr2", "heartbeat",
                        {"ip": spec.vip.address, "cidr_netmask": str(spec.vip.cidr), "nic": spec.vip.interface},
                        ops=(cib.Op("monitor", "10s", "20s"),))
    service = cib.primitive(names.SERVICE, service_cls, spec.axigen.service, None, None,
                            ops=(cib.Op("monitor", "15s", "30s"), cib.Op("start", "0s", "120s"),
                                 cib.Op("stop", "0s", "120s")))
    group = f'<group id="{names.GROUP}">{fs}{vip}{service}</group>'
    objects = []
    if storage.mode == "drbd":
        res = storage.drbd.resource
        prim, clone = names.drbd_primitive(res), names.drbd_clone(res)
        drbd = cib.primitive(prim, "ocf", "drbd", drbd_provider, {"drbd_resource": res},
                             ops=(cib.Op("monitor", "29s", "20s", "Promoted"), cib.Op("monitor", "31s", "20s",
                                                                                      "Unpromoted"),
                                  cib.Op("start", "0s", "240s"), cib.Op("stop", "0s", "100s"),
                                  cib.Op("promote", "0s", "90s"), cib.Op("demote", "0s", "90s")))
        meta = {"promotable": "true", "promoted-max": "1", "promoted-node-max": "1", "clone-max": "2",
                "clone-node-max": "1", "notify": "true"}
        objects.append(cib.CibObject("resources", clone, f'<clone id="{clone}">'
                                     f'{cib.attributes("meta_attributes", clone, meta, "meta_attributes")}{drbd}'
                                     f"</clone>"))
        objects.append(cib.CibObject("resources", names.GROUP, group))
        objects.append(cib.CibObject("constraints", names.COL_GROUP_WITH_PROMOTED,
                                     f'<rsc_colocation id="{names.COL_GROUP_WITH_PROMOTED}" score="INFINITY" '
                                     f'rsc="{names.GROUP}" with-rsc="{clone}" with-rsc-role="Promoted"/>'))
        objects.append(cib.CibObject("constraints", names.ORD_PROMOTE_THEN_GROUP,
                                     f'<rsc_order id="{names.ORD_PROMOTE_THEN_GROUP}" kind="Mandatory" '
                                     f'first="{clone}" first-action="promote" then="{names.GROUP}" '
                                     f'then-action="start"/>'))
    else:
        objects.append(cib.CibObject("resources", names.GROUP, group))
    return cib.CibChange(objects=tuple(objects))


def group_running(ctx: Context):
    status = any_status(ctx)
    if status is None:
        return None
    return status.where(names.GROUP)


class AxigenRoleStep(Step):
    id = "axigen-role"
    title = "Axigen role: DRBD clone, filesystem, VIP, service"

    def __init__(self):
        self._class: str | None = None
        self._provider = "linbit"

    def check(self, ctx: Context) -> list[Finding]:
        findings = []
        classes = set()
        for node in ctx.spec.node_names:
            cls = service_class(ctx, node, ctx.spec.axigen.service)
            classes.add(cls)
            findings.append(finding(cls is not None, "AXIGEN_SERVICE_FOUND", node,
                                    f"{ctx.spec.axigen.service} service: {cls}:{ctx.spec.axigen.service}" if cls
                                    else f"no systemd unit or init script {ctx.spec.axigen.service}",
                                    remedy="Install Axigen on both nodes first."))
            if ctx.spec.storage.mode == "drbd":
                findings.append(finding(read(ctx, node, ["test", "-e", DRBD_AGENT]).rc == 0, "DRBD_AGENT_INSTALLED",
                                        node, "ocf:linbit:drbd is installed", remedy="Install drbd-utils."))
        if len(classes) > 1:
            findings.append(Finding("AXIGEN_SERVICE_SAME_KIND", None, FAIL,
                                    f"the nodes disagree on the service kind: {sorted(map(str, classes))}",
                                    "Install Axigen the same way on both nodes."))
        self._class = next(iter(classes)) if len(classes) == 1 else None
        if ctx.spec.storage.mode == "drbd":
            self._provider = drbd_provider(ctx)
        return findings

    def change(self, ctx: Context) -> cib.CibChange:
        change = role_change(ctx.spec, self._class or "lsb", self._provider)
        if ctx.options.get("plan"):
            # a plan of a fresh cluster has the fencing devices only planned, not in the CIB: crm_verify's
            # no-STONITH complaint is expected there. Applying keeps the full gate (fencing is in place by then).
            change = dataclasses.replace(change, allowed_errors=change.allowed_errors + cib.NO_STONITH_YET)
        return change

    def plan(self, ctx: Context) -> list[Action]:
        service = ctx.spec.axigen.service
        status = any_status(ctx)
        configured = status is not None and status.group(names.GROUP) is not None
        actions = []
        for node in ctx.spec.node_names:
            if read(ctx, node, ["test", "-x", f"/etc/init.d/{FILTERS}"]).rc == 0 and \
                    service_state(ctx, node, FILTERS)[1]:
                actions.append(Action(node, ("systemctl", "disable", FILTERS),
                                      f"{FILTERS} must not start at boot either (Axigen's HA guide)"))
            active, enabled = service_state(ctx, node, service)
            if enabled:
                actions.append(Action(node, ("systemctl", "disable", service),
                                      f"{service} must not start at boot: the cluster starts it"))
            if active and not configured:
                actions.append(Action(node, ("systemctl", "stop", service),
                                      f"{service} runs outside the cluster: stop it so Pacemaker can own it",
                                      timeout=180.0))
        return actions + cib_plan(ctx, self.change(ctx), "Axigen role")

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        apply_with_push(ctx, plan, emit, self.id, lambda: self.change(ctx), "Axigen role")

    def verify(self, ctx: Context) -> list[Finding]:
        try:
            node = wait_for("the Axigen group started", lambda: group_running(ctx), START_TIMEOUT, ctx, interval=2.0)
        except Exception as exc:
            status = any_status(ctx)
            failed = "; ".join(f.summary() for f in status.failed_actions) if status else "crm_mon does not answer"
            return [Finding("AXIGEN_GROUP_STARTED", None, FAIL, str(exc),
                            "Look at the failed actions (crm_mon -1 --inactive), fix the cause, then "
                            "`crm_resource --cleanup` and run again.", failed)]
        findings = [finding(True, "AXIGEN_GROUP_STARTED", node, f"{names.GROUP} runs on {node}")]
        for n in ctx.spec.node_names:
            enabled = service_state(ctx, n, ctx.spec.axigen.service)[1]
            findings.append(finding(not enabled, "AXIGEN_NOT_AT_BOOT", n, "axigen is off at boot (the cluster owns it)"
                                    if not enabled else "axigen starts at boot", remedy="systemctl disable axigen"))
            if read(ctx, n, ["test", "-x", f"/etc/init.d/{FILTERS}"]).rc == 0:
                on = service_state(ctx, n, FILTERS)[1]
                findings.append(finding(not on, "AXIGENFILTERS_NOT_AT_BOOT", n, f"{FILTERS} is off at boot" if not on
                                        else f"{FILTERS} starts at boot", remedy=f"systemctl disable {FILTERS}"))
        return findings
