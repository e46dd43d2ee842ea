"""Install step 8: the finished cluster read back independently: one active node, the filesystem mounted there
only, Axigen's listeners on the VIP in its configuration and its CLI answering the running version there,
SMTP/IMAP/POP3 greetings on the VIP from this machine, DRBD UpToDate on both sides, fencing started."""
from __future__ import annotations

from dataclasses import dataclass

from axha.steps import axigen, drbd_argv, drbd_status, names
from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, Context, Finding, Step, wait_for
from axha.steps.install.common import any_status, finding, read
from axha.steps import axigen_cfg
from axha.steps import axigen_versions

PORTS = (("SMTP", 25, "220"), ("IMAP", 143, "* OK"), ("POP3", 110, "+OK"))
BANNER_TIMEOUT = 5.0
SETTLE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Banner:
    protocol: str
    port: int
    ok: bool
    text: str


def read_banner(address: str, port: int, expect: str, protocol: str, timeout: float = BANNER_TIMEOUT) -> Banner:
    """The greeting on one port, read the way the dashboard reads it (steps.maint.status.service_answer)."""
    from axha.steps.maint.service import service_answer

    answer = service_answer(address, protocol.lower(), port, timeout)
    return Banner(protocol, port, answer.ok and answer.banner.startswith(expect), answer.banner or answer.error)


def banners(address: str) -> tuple[Banner, ...]:
    return tuple(read_banner(address, port, expect, proto) for proto, port, expect in PORTS)


def mounted_at(ctx: Context, node: str, mount_point: str) -> str | None:
    """The source device mounted on `mount_point` on `node`, or None."""
    result = read(ctx, node, ["findmnt", "-n", "-o", "SOURCE", "--mountpoint", mount_point])
    return result.stdout.strip() or None if result.rc == 0 else None


def drbd_resource(ctx: Context, node: str):
    res = ctx.spec.storage.drbd.resource
    result = read(ctx, node, drbd_argv.status_argv(res))
    if result.rc != 0:
        return None
    try:
        return drbd_status.find_resource(drbd_status.parse_status_json(result.stdout), res)
    except (ValueError, AxhaError):
        return None


def drbd_in_sync(ctx: Context, node: str):
    resource = drbd_resource(ctx, node)
    return True if resource is not None and resource.in_sync else None


class VerifyStep(Step):
    id = "verify"
    title = "Verify: one active node, mounted there only, VIP answers, data in sync"

    def verify(self, ctx: Context) -> list[Finding]:
        spec = ctx.spec
        findings: list[Finding] = []
        try:   # a transition may still be running (just installed, or a node just rejoined): bounded wait
            wait_for("the Axigen group started", lambda: (lambda st: st if st is not None and st.where(names.GROUP)
                                                          else None)(any_status(ctx)), SETTLE_TIMEOUT, ctx, 2.0)
        except AxhaError:
            pass   # reported below with the details
        status = any_status(ctx)
        if status is None:
            return [Finding("CLUSTER_ANSWERS", None, FAIL, "crm_mon answers on neither node",
                            "Check that corosync and pacemaker run (systemctl status pacemaker).")]
        active = status.where(names.GROUP)
        findings.append(finding(active is not None, "SERVICE_ON_ONE_NODE", active,
                                f"{names.GROUP} runs on {active}" if active else f"{names.GROUP} is not fully started",
                                remedy="Look at crm_mon -1 --inactive for failed actions."))
        for node in spec.node_names:
            source = mounted_at(ctx, node, spec.storage.mount_point)
            should = node == active
            ok = bool(source) == should and (not source or source == spec.storage.data_device)
            findings.append(finding(ok, "FILESYSTEM_MOUNTED_ON_ACTIVE_ONLY", node,
                                    f"{spec.storage.mount_point}: {'mounted from ' + source if source else 'not mounted'}",
                                    remedy="The filesystem must be mounted on the active node only."))
        if active:
            findings += self._axigen_on(ctx, active)
        for banner in self._banners(ctx):
            findings.append(finding(banner.ok, f"VIP_{banner.protocol}_BANNER", None,
                                    f"{spec.vip.address}:{banner.port} {banner.protocol}: {banner.text!r}",
                                    remedy=f"Check that Axigen listens on {banner.port} and the VIP "
                                           f"{spec.vip.address} is reachable from here."))
        if spec.storage.mode == "drbd":
            for node in spec.node_names:
                resource = drbd_resource(ctx, node)
                ok = resource is not None and resource.in_sync
                desc = (f"{resource.role}, disk {resource.disk}, peer {resource.peer_disk}, {resource.replication}"
                        if resource else "no DRBD status")
                findings.append(finding(ok, "DRBD_UPTODATE_BOTH", node, desc,
                                        remedy="Wait for the resync to finish (drbdadm status), then run again."))
        for target in spec.node_names:
            running = [r for r in status.resource(names.fence_device(target)) if r.active]
            findings.append(finding(bool(running), "FENCE_DEVICE_STARTED", target,
                                    f"{names.fence_device(target)} started on "
                                    f"{running[0].node if running else 'no node'}",
                                    remedy="Look at the fence device's failed actions in crm_mon."))
        if status.failed_actions:
            findings.append(Finding("NO_FAILED_ACTIONS", None, "WARN",
                                    f"{len(status.failed_actions)} failed action(s) recorded: "
                                    + "; ".join(f.summary() for f in status.failed_actions[:3]),
                                    "Clear them once understood: crm_resource --cleanup"))
        return findings

    def _axigen_on(self, ctx: Context, node: str) -> list[Finding]:
        """On the active node: the configuration binds the mail listeners to the VIP; the CLI says what runs."""
        path = axigen.config_path(ctx.spec.storage.mount_point)
        try:
            text = ctx.runner(node).get(path)[:axigen_cfg.MAX_CONFIG_BYTES].decode("utf-8", errors="replace")
            ok, summary = axigen_cfg.bound_to(text, ctx.spec.vip.address, f"{node}:{path}")
        except FileNotFoundError:
            ok, summary = False, "the file does not exist"
        except AxhaError as exc:
            ok, summary = False, str(exc)
        out = [finding(ok, "AXIGEN_LISTENERS_ON_VIP", node, f"{path}: {summary}",
                       remedy=f"Run the install again (its axigen-config step binds them to {ctx.spec.vip.address}).")]
        result = read(ctx, node, axigen_versions.cli_version_argv())
        running = axigen_versions.parse_cli_version(result.stdout) if result.rc == 0 else None
        out.append(finding(running is not None, "AXIGEN_CLI_VERSION", node,
                           f"Axigen {running} runs on {node} (CLI GET VERSION on "
                           f"{axigen.CLI_HOST}:{axigen.CLI_PORT})" if running else
                           f"Axigen's CLI on {node} ({axigen.CLI_HOST}:{axigen.CLI_PORT}) gave no version: "
                           f"{(result.stdout or result.stderr).strip()[:120]!r}",
                           remedy="Keep Axigen's CLI service enabled on 127.0.0.1:7000: axha reads the running "
                                  "version there."))
        return out

    def _banners(self, ctx: Context) -> tuple[Banner, ...]:
        """The VIP may need a moment after the group reports started; wait (bounded) for all three greetings."""
        last: list[tuple[Banner, ...]] = []

        def probe():
            last[:] = [banners(ctx.spec.vip.address)]
            return last[0] if all(b.ok for b in last[0]) else None
        try:
            return wait_for("the VIP's greetings", probe, SETTLE_TIMEOUT / 4, ctx)
        except AxhaError:
            return last[0]
