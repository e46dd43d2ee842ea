"""Install step: Axigen's mail listeners bound to the VIP in its own configuration on the mail store.

Axigen listens on 127.0.0.1 only by default (AXIGEN.md "Listeners and the virtual IP"), and its HA guide binds the
services to the floating IP. The configuration is `<working dir>/run/axigen.cfg` on the replicated volume, so one
edit serves both nodes. The edit is made while Axigen is stopped (Axigen may rewrite the file itself), before the
service first runs under Pacemaker; on a cluster installed by an older axha the service is stopped through
Pacemaker for the edit (after a question) and started again. Only the address words of the SMTP, IMAP, POP3
(and WebMail) listeners change; the CLI and WebAdmin stay on the loopback; the file keeps its owner and mode.
"""
from __future__ import annotations

from axha.steps import axigen, axigen_cfg, names
from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, PASS, WARN, Action, Confirmation, Context, Emit, Finding, OutputLine, Step
from axha.steps.install.common import any_status
from axha.steps.install.mail_store import data_node, device_mounted, promote_demote
from axha.steps.install.storage_common import drbd_mode, pacemaker_owns_drbd, read_all

NEW_SUFFIX = ".axha-new"
STOP_WAIT = 180


def cfg_path(ctx: Context) -> str:
    return axigen.config_path(ctx.spec.storage.mount_point)


def read_cfg(ctx: Context, node: str) -> str | None:
    """run/axigen.cfg on `node` (the mail store mounted there), None when the file does not exist."""
    try:
        raw = ctx.runner(node).get(cfg_path(ctx))
    except FileNotFoundError:
        return None
    if len(raw) > axigen_cfg.MAX_CONFIG_BYTES:
        raise axigen_cfg.ConfigError(f"{node}:{cfg_path(ctx)}: larger than {axigen_cfg.MAX_CONFIG_BYTES >> 20} MiB")
    return raw.decode("utf-8", errors="replace")


def write_actions(ctx: Context, node: str, why: str) -> list[Action]:
    """Replace the file atomically with the one put at .axha-new, with the old file's owner and mode."""
    path = cfg_path(ctx)
    new = path + NEW_SUFFIX
    return [Action(node, ("chown", f"--reference={path}", new), "keep the configuration's owner (axigen)"),
            Action(node, ("chmod", f"--reference={path}", new), "keep the configuration's mode"),
            Action(node, ("mv", "-f", new, path), why)]


def stop_service_argv() -> tuple[str, ...]:
    return ("crm_resource", "--resource", names.SERVICE, "--meta", "--set-parameter", "target-role",
            "--parameter-value", "Stopped")


def start_service_argv() -> tuple[str, ...]:
    return ("crm_resource", "--resource", names.SERVICE, "--meta", "--delete-parameter", "target-role")


def wait_argv() -> tuple[str, ...]:
    return ("crm_resource", "--wait", f"--timeout={STOP_WAIT}s")


class AxigenConfigStep(Step):
    id = "axigen-config"
    title = "Axigen listeners on the VIP (run/axigen.cfg on the mail store)"

    def __init__(self) -> None:
        self.mode = ""             # "running" (the group runs: edit through a Pacemaker stop) | "offline"
        self.node = ""
        self.bind: axigen_cfg.BindPlan | None = None
        self.seen: tuple[bool, str] | None = None

    # ------------------------------------------------------------ where the file can be read

    def _active(self, ctx: Context) -> tuple[str | None, bool]:
        """(node running the Axigen group, group configured)."""
        status = any_status(ctx)
        if status is None:
            return None, False
        group = status.group(names.GROUP)
        return (status.where(names.GROUP) if group is not None else None), group is not None

    def check(self, ctx: Context) -> list[Finding]:
        active, configured = self._active(ctx)
        if configured and not active:
            return [Finding("AXIGEN_CONFIG_READABLE", None, FAIL,
                            f"{names.GROUP} is configured but not running: its configuration cannot be read",
                            "Start the group (crm_resource --cleanup; look at crm_mon -1 --inactive), then run "
                            "again.")]
        if not configured and drbd_mode(ctx) and pacemaker_owns_drbd(ctx):
            return [Finding("AXIGEN_CONFIG_READABLE", None, FAIL,
                            "Pacemaker owns DRBD but the Axigen group is missing",
                            "Run the install again after the Axigen role step, or fix the CIB by hand.")]
        return []

    def plan(self, ctx: Context) -> list[Action]:
        active, _ = self._active(ctx)
        path = cfg_path(ctx)
        vip = ctx.spec.vip.address
        if active:
            self.mode, self.node = "running", active
            text = read_cfg(ctx, active)
            if text is None:
                raise AxhaError(f"{path} does not exist on {active}, where Axigen runs", node=active,
                                remedy="Check that the mail store holds Axigen's working directory.")
            self.bind = axigen_cfg.bind_plan(text, vip, f"{active}:{path}")
            self._refuse_problems()
            if not self.bind.changed:
                return []
            why = f"bind the mail listeners to the VIP: {self.bind.describe()}"
            return [Action(active, stop_service_argv(), "stop Axigen (through Pacemaker) while its configuration "
                           "is edited: mail pauses for a few seconds"),
                    Action(active, wait_argv(), "wait until Axigen has stopped", timeout=STOP_WAIT + 30),
                    *write_actions(ctx, active, why),
                    Action(active, start_service_argv(), "start Axigen again (Pacemaker)"),
                    Action(active, wait_argv(), "wait until Axigen runs again", timeout=STOP_WAIT + 30)]
        self.mode = "offline"
        states = read_all(ctx) if drbd_mode(ctx) else {}
        node = self.node = data_node(ctx, states)
        mount = ctx.spec.storage.mount_point
        mounted = device_mounted(ctx, node)
        if mounted == mount:
            text = read_cfg(ctx, node)
            if text is not None:
                self.bind = axigen_cfg.bind_plan(text, vip, f"{node}:{path}")
                self._refuse_problems()
                if not self.bind.changed:
                    return []
        elif mounted is not None:
            raise AxhaError(f"{ctx.spec.storage.data_device} is mounted on {mounted} on {node}", node=node,
                            remedy="Unmount it, then run again.")
        up, down = promote_demote(ctx, node, states)
        service = ctx.spec.axigen.service
        why = (f"bind the mail listeners to the VIP: {self.bind.describe()}" if self.bind else
               f"bind smtpIncoming/imap/pop3/webmail listeners on 127.0.0.1 or 0.0.0.0 to {vip} (same ports); "
               "the CLI and WebAdmin stay on the loopback (the file is read once mounted)")
        actions = list(up)
        if mounted is None:
            actions.append(Action(node, ("mount", ctx.spec.storage.data_device, mount),
                                  f"mount the mail store on {mount} (Axigen's working directory) to edit it"))
        if self.bind is None:
            actions += [Action(node, ("systemctl", "start", service),
                               f"only if {path} is missing once mounted: Axigen writes its default configuration "
                               "at its first start (it listens on 127.0.0.1 only)", timeout=180.0),
                        Action(node, ("systemctl", "stop", service), "stop it again before the edit", timeout=180.0)]
        actions += write_actions(ctx, node, why)
        if mounted is None:
            actions.append(Action(node, ("umount", mount), "unmount: Pacemaker will own the filesystem"))
        return actions + down

    def _refuse_problems(self) -> None:
        if self.bind is not None and self.bind.problems:
            raise axigen_cfg.ConfigError("; ".join(self.bind.problems),
                                     remedy="Fix Axigen's configuration (WebAdmin or the CLI), then run again.")

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        if self.mode != "running" or not plan:
            return None
        return Confirmation("axigen-config-restart", f"Restart Axigen on {self.node} to bind it to the VIP?",
                            f"{self.bind.describe() if self.bind else ''}. Mail pauses while Axigen restarts.")

    # ------------------------------------------------------------ apply

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        path = cfg_path(ctx)
        new_path = path + NEW_SUFFIX
        vip = ctx.spec.vip.address
        pending = list(plan)
        while pending:
            action = pending.pop(0)
            argv = action.argv
            if argv[:2] == ("systemctl", "start") and self.mode == "offline":
                if read_cfg(ctx, action.node) is not None:
                    emit(OutputLine(self.id, action.node, f"{path} exists: Axigen is not started"))
                    if pending and pending[0].argv[:2] == ("systemctl", "stop"):
                        pending.pop(0)
                    continue
            if argv[:1] == ("chown",):
                text = read_cfg(ctx, action.node)
                if text is None:
                    raise AxhaError(f"{path} does not exist on {action.node}: Axigen did not write its default "
                                    "configuration", node=action.node,
                                    remedy="Start Axigen once by hand with the mail store mounted, stop it, "
                                           "then run again.")
                self.bind = axigen_cfg.bind_plan(text, vip, f"{action.node}:{path}")
                self._refuse_problems()
                writes = [action] + [pending.pop(0) for _ in range(2)]
                if not self.bind.changed:
                    emit(OutputLine(self.id, action.node, "the listeners are already on the VIP"))
                    self.seen = axigen_cfg.bound_to(text, vip)
                    continue
                emit(OutputLine(self.id, action.node, self.bind.describe()))
                ctx.runner(action.node).put(new_path, self.bind.text, 0o600)
                for write in writes:
                    ctx.execute(write, emit, self.id)
                after = read_cfg(ctx, action.node) or ""
                self.seen = axigen_cfg.bound_to(after, vip)
                continue
            ctx.execute(action, emit, self.id)

    # ------------------------------------------------------------ verify

    def verify(self, ctx: Context) -> list[Finding]:
        active, _ = self._active(ctx)
        vip = ctx.spec.vip.address
        seen, where = self.seen, self.node
        if active:
            text = read_cfg(ctx, active)
            seen, where = (axigen_cfg.bound_to(text, vip) if text is not None else (False, "no run/axigen.cfg")), active
        elif device_mounted(ctx, self.node or data_node(ctx)) == ctx.spec.storage.mount_point:
            text = read_cfg(ctx, self.node)
            seen = axigen_cfg.bound_to(text, vip) if text is not None else (False, "no run/axigen.cfg")
        if seen is None:
            return [Finding("AXIGEN_LISTENERS_ON_VIP", where or None, WARN,
                            "the configuration could not be read back here (the mail store is not mounted)",
                            "The install's verify step reads it on the active node.")]
        ok, summary = seen
        return [Finding("AXIGEN_LISTENERS_ON_VIP", where or None, PASS if ok else FAIL,
                        f"{cfg_path(ctx)}: {summary}",
                        "" if ok else f"Bind the SMTP, IMAP and POP3 listeners to {vip} (WebAdmin or the CLI), "
                        "then run again.")]
