"""The maintenance screen: a live dashboard of the cluster and one-key actions (switchover, standby, upgrade...)."""
from __future__ import annotations

import threading

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from axha.tui.commands import KeyCommands
from axha.tui.dialogs.audit import AUDIT_SHOWN
from axha.tui.dialogs.questions import NodePicker, UpgradeDialog, safe_node
from axha.tui.dialogs.readers import AuditViewer
from axha.tui.screens.maintenance_dashboard import render_attention, render_nodes, render_resources, render_summary
from axha.tui.widgets.logpane import LogPane
from axha.tui.widgets.navbar import NavBar

REFRESH_SECONDS = 2.0
# the footer's labels: these five fit 80 columns beside F1 Keys, ^p and ^q; F1 and the palette list every key
SHORT = {"switchover": "Switchover", "standby": "Standby", "maintenance": "Maint", "upgrade": "Upgrade",
         "cleanup": "Cleanup"}


MaintenanceCommands = KeyCommands  # the palette lists every action of this screen with its key


class MaintenanceScreen(Screen):
    """Dashboard refreshed by a worker (one round trip per node per refresh) and the maintenance actions."""

    KEYS_TITLE = "Maintenance"
    ACTIONS = (
        ("s", "switchover", "Switchover", "Move the mail service to the other node (gates, preview, confirm)"),
        ("b", "standby", "Standby / unstandby a node", "Put a node in standby or bring it back"),
        ("m", "maintenance", "Maintenance mode on/off", "Stop or resume Pacemaker managing the resources"),
        ("c", "cleanup", "Clean up failed actions", "crm_resource --cleanup, then wait for the cluster"),
        ("x", "clear_constraints", "Clear leftover constraints", "Remove cli-prefer/cli-ban (and stale drbd-fence)"),
        ("u", "upgrade", "Rolling upgrade of Axigen", "Passive node first, switchover, other node"),
        ("v", "verify_drbd", "DRBD online verify", "Start drbdadm verify on the active node"),
        ("k", "backup", "Backup configuration", "CIB, corosync, DRBD, Axigen config: on both nodes and here"),
        ("p", "split_brain", "Split-brain recovery", "Discard one node's DRBD changes after typed confirmation"),
        ("n", "replace_node", "Replace a failed node", "Rebuild a node (new hardware, or a new disk) from the survivor"),
        ("a", "audit", "Audit log", "Every command axha ran on the nodes, newest first"),
        ("r", "refresh", "Refresh now", "Read the cluster state again"),
    )
    BINDINGS = [Binding(key, action, SHORT.get(action, title.split(" ")[0]), show=action in SHORT,
                        tooltip=f"{title}: {help_}")
                for key, action, title, help_ in ACTIONS]
    COMMANDS = Screen.COMMANDS | {KeyCommands}
    DEFAULT_CSS = """
    MaintenanceScreen #summary { height: 1; padding: 0 1; background: $boost; }
    MaintenanceScreen #nodes { height: auto; padding: 0 1; }
    MaintenanceScreen #resources { height: auto; padding: 0 1; color: $text; }
    MaintenanceScreen #attention { height: 1fr; padding: 0 1; border-top: solid $primary; }
    MaintenanceScreen #busy { height: 1; padding: 0 1; color: $warning; }
    """

    def __init__(self, ctx_factory=None, *, auto_refresh: bool = True, state=None, name: str | None = None):
        super().__init__(name=name)
        self.ctx_factory, self.live = ctx_factory, auto_refresh
        self.ctx = None
        self.state = state
        self.running: str | None = None   # the title of the action running now (one at a time)
        self._probed = None                # the nodes' latest state (refresh_loop), without the VIP's answers
        self._answers: tuple = ()          # the VIP's latest answers (service_loop)
        self._ctx_lock = threading.Lock()
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield NavBar()
        yield Static("Reading the cluster state...", id="summary")
        yield Static("", id="nodes")
        yield Static("", id="resources")
        yield Static("", id="busy")
        with VerticalScroll(id="attention"):
            yield Static("", id="attention-text")
        yield LogPane(id="log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.state is not None:
            self.show_state(self.state)
        if self.live and self.ctx_factory is not None:
            self.refresh_loop()

    def on_unmount(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------ state

    def show_state(self, state) -> None:
        """Main thread: redraw the dashboard from a ClusterState."""
        self.state = state
        # rich Groups (not plain Text) so Textual renders them as rich does, runs of spaces included
        self.query_one("#summary", Static).update(Group(render_summary(state)))
        self.query_one("#nodes", Static).update(render_nodes(state))
        self.query_one("#resources", Static).update(Group(render_resources(state)))
        self.query_one("#attention-text", Static).update(Group(render_attention(state)))

    def set_busy(self, text: str) -> None:
        self.query_one("#busy", Static).update(text)

    def _log(self, line: str) -> None:
        writer = getattr(self.app, "write_log", None)
        if writer:
            writer(line)

    def _event(self, event) -> None:
        logger = getattr(self.app, "log_event", None)
        if logger:
            logger(event)

    def context(self):
        """The one Context (persistent SSH connections) this screen uses; worker threads only."""
        with self._ctx_lock:
            if self.ctx is None:
                self.ctx = self.ctx_factory()
            return self.ctx

    @work(thread=True, exclusive=True, group="maint-refresh")
    def refresh_loop(self) -> None:
        """The nodes every REFRESH_SECONDS, one round trip each. The VIP is asked by its own worker: while it
        does not answer (during an install, a failover) its connect timeouts must not age the DRBD and
        Pacemaker figures shown here (they did: a sync's percent lagged the install screen's by seconds)."""
        from textual.worker import get_current_worker

        from axha.steps.maint.status import read_state
        worker = get_current_worker()
        self.service_loop()
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                state = read_state(self.context(), with_service=False)
            except Exception as exc:  # shown, and retried at the next tick
                self.app.call_from_thread(self.query_one("#summary", Static).update,
                                          Text(f"Cannot read the cluster: {exc}", style="bold red"))
            else:
                self.app.call_from_thread(self.show_probed, state)
            self._stop.wait(REFRESH_SECONDS)

    @work(thread=True, exclusive=True, group="maint-service")
    def service_loop(self) -> None:
        """SMTP and IMAP on the VIP, every REFRESH_SECONDS (a silent VIP costs this worker its timeouts only)."""
        from textual.worker import get_current_worker

        from axha.steps.maint.service import service_answers
        worker = get_current_worker()
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                answers = service_answers(self.context().spec.vip.address)
            except Exception:  # the context failed: the refresh loop says why
                answers = None
            if answers is not None:
                self.app.call_from_thread(self.show_answers, answers)
            self._stop.wait(REFRESH_SECONDS)

    def show_probed(self, state) -> None:
        """Main thread: the nodes' latest answers, with the VIP's latest answers."""
        self._probed = state
        self.show_state(self._combined())

    def show_answers(self, answers) -> None:
        self._answers = tuple(answers)
        if self._probed is not None:
            self.show_state(self._combined())

    def _combined(self):
        from axha.steps.maint.status import build_state
        if self.ctx is None or not self._answers:
            return self._probed
        return build_state(self.ctx.spec, self._probed.probes, self._answers, self._probed.taken_at)

    def action_refresh(self) -> None:
        if self.ctx_factory is not None:
            self.refresh_loop()

    # ------------------------------------------------------------ actions (each runs in a worker)

    def start_action(self, title: str, call) -> bool:
        """Run one action in the worker, unless one is running already (starting another would abandon it)."""
        if self.running:
            self.notify(f"{self.running} is still running: wait for it to finish", severity="warning")
            return False
        self.running = title
        self.run_action(title, call)
        return True

    @work(thread=True, group="maint-action")
    def run_action(self, title: str, call) -> None:
        refusals = getattr(self.app, "refusals", None)
        if refusals is not None:
            refusals.pop(threading.get_ident(), None)
        self.app.call_from_thread(self.set_busy, f"{title}...")
        try:
            try:
                report = call(self.context())
                message = getattr(report, "message", None) or "done"
                ok = getattr(report, "ok", True)
                details = tuple(getattr(report, "details", ()) or ())
            except Exception as exc:  # an action's failure is shown, never crashes the screen
                message, ok, details = exc.explain() if hasattr(exc, "explain") else str(exc), False, ()
            cancelled = refusals is not None and threading.get_ident() in refusals
        finally:
            self.running = None
            self.app.call_from_thread(self.set_busy, "")
        self.report_outcome(title, ok, message, details, cancelled)

    def report_outcome(self, title: str, ok: bool, message: str, details=(), cancelled: bool = False) -> None:
        """The log line and the notification of an action, in words: cancelled, done, or failed and why."""
        if cancelled and not ok:
            self._log(f"{title}: cancelled; nothing was changed.")
            self.app.call_from_thread(self.notify, "cancelled; nothing was changed", title=title)
            return
        self._log(f"{title}: {'done' if ok else 'FAILED'}: {message}" +
                  "".join(f"\n   {line}" for line in details))
        first = message.splitlines()[0] if message else ""
        more = "" if len(message) <= 200 and "\n" not in message else " (F6 shows all of it)"
        self.app.call_from_thread(self.notify, first[:200] + more, title=title, markup=False,
                                  severity="information" if ok else "error")

    def _actions(self, ctx):
        from axha.steps.maint.actions import Actions
        return Actions(ctx, lambda e: self.app.call_from_thread(self._event, e))

    def action_switchover(self) -> None:
        def call(ctx):
            from axha.steps.maint.switchover import Switchover
            return Switchover(ctx, None, lambda e: self.app.call_from_thread(self._event, e)).run()
        self.start_action("Switchover", call)

    def passive_node(self) -> str | None:
        """The node a picker offers first: neither running the service nor DRBD Primary (None: unknown)."""
        if self.state is None:
            return None
        risky = {self.state.active_node} if self.state.active_node else set()
        risky |= {n for n in self.state.node_names
                  if (self.state.drbd_of(n) is not None and self.state.drbd_of(n).role == "Primary")}
        return safe_node(tuple(self.state.node_names), risky)

    def action_standby(self) -> None:
        if self.state is None:
            self.notify("the cluster state is not read yet: try again in a moment", severity="warning")
            return
        state = self.state
        detail = "\n".join(f"{n.name}: {n.state}" + ("  (runs the mail service: standby moves it)"
                                                      if n.name == state.active_node else "")
                           for n in state.nodes)

        def picked(node: str | None) -> None:
            if not node:
                self._log("Standby / unstandby: cancelled; nothing was changed.")
                return
            view = state.node(node)
            on = not (view and view.standby)
            self.start_action(f"{'Standby' if on else 'Unstandby'} {node}",
                              lambda ctx: self._actions(ctx).standby(node, on))
        self.app.push_screen(NodePicker("Standby / unstandby which node?", tuple(state.node_names), detail,
                                        default=self.passive_node()), picked)

    def action_maintenance(self) -> None:
        on = not (self.state and self.state.maintenance_mode)
        self.start_action(f"Maintenance mode {'on' if on else 'off'}", lambda ctx: self._actions(ctx).maintenance(on))

    def action_cleanup(self) -> None:
        self.start_action("Cleanup", lambda ctx: self._actions(ctx).cleanup())

    def action_clear_constraints(self) -> None:
        self.start_action("Clear constraints", lambda ctx: self._actions(ctx).clear_constraints())

    def action_verify_drbd(self) -> None:
        self.start_action("DRBD verify", lambda ctx: self._actions(ctx).verify_drbd())

    def action_backup(self) -> None:
        def call(ctx):
            from axha.steps.session import state_dir
            return self._actions(ctx).backup(state_dir(ctx.spec) / "backups")
        self.start_action("Backup", call)

    def action_upgrade(self) -> None:
        versions = ""
        if self.state is not None:
            versions = "Now: " + ", ".join(
                f"{n.name} {n.axigen_version or '-'}" + (f" (runs {n.axigen_running})" if n.axigen_running else "")
                for n in self.state.nodes)

        def picked(answer) -> None:
            if not answer:
                self._log("Upgrade: cancelled; nothing was changed.")
                return
            path, switch_back, accept_license = answer

            def call(ctx):
                from axha.steps.maint.upgrade import Upgrade
                return Upgrade(ctx, package=path, switch_back=switch_back, accept_license=accept_license,
                               emit=lambda e: self.app.call_from_thread(self._event, e)).run()
            self.start_action("Upgrade", call)
        self.app.push_screen(UpgradeDialog(versions), picked)

    def action_split_brain(self) -> None:
        if self.state is None:
            self.notify("the cluster state is not read yet: try again in a moment", severity="warning")
            return
        sb = self.state.split_brain
        detail = (f"{sb.reason}\n" if sb.detected else "No split brain detected now.\n") + "\n".join(
            f"{node}: {ev['role']} {ev['disk']} {ev['connection']}" for node, ev in sb.evidence)

        def picked(node: str | None) -> None:
            if not node:
                self._log("Split-brain recovery: cancelled; nothing was changed.")
                return
            self.start_action(f"Split-brain recovery (discard {node})",
                              lambda ctx: self._actions(ctx).split_brain_recover(node))
        self.app.push_screen(NodePicker("Whose changes are DISCARDED?", tuple(self.state.node_names), detail,
                                        default=self.passive_node()), picked)

    def action_replace_node(self) -> None:
        """Which node (the picker starts on the one not running the service), then the whole node or its disk;
        the engine asks the rest (the old node off, the new host key, a disk that holds data)."""
        if self.state is None:
            self.notify("the cluster state is not read yet: try again in a moment", severity="warning")
            return
        state = self.state
        detail = "\n".join(f"{n.name}: {n.state}" + ("  (runs the mail service: the survivor)"
                                                      if n.name == state.active_node else "") for n in state.nodes)

        def kind(node: str, answer: str | None) -> None:
            if not answer:
                self._log("Replace node: cancelled; nothing was changed.")
                return
            disk_only = answer == "disk"
            title = f"Replace {node}" + ("'s backing disk" if disk_only else "")

            def call(ctx):
                from axha.steps.replace import replace_node
                return replace_node(ctx, node, lambda e: self.app.call_from_thread(self._event, e),
                                    disk_only=disk_only)
            self.start_action(title, call)

        def picked(node: str | None) -> None:
            if not node:
                self._log("Replace node: cancelled; nothing was changed.")
                return
            self.app.push_screen(NodePicker(f"Replace what of {node}?", ("node", "disk"),
                                            "The whole node: new hardware or a fresh OS, rebuilt from the "
                                            "survivor (new host key, packages, cluster, full resync).\nIts disk "
                                            "only: the node stays; its new DRBD backing disk is resynced.",
                                            default="node", labels={"node": "Whole node", "disk": "Disk only"}),
                                 lambda answer: kind(node, answer))
        risky = {state.active_node} if state.active_node else set()
        self.app.push_screen(NodePicker("Rebuild which node from the survivor?", tuple(state.node_names), detail,
                                        default=safe_node(tuple(state.node_names), risky)), picked)

    def action_audit(self) -> None:
        self.audit_worker()

    @work(thread=True, exclusive=True, group="maint-audit")
    def audit_worker(self) -> None:
        from axha.steps.audit import AuditLog
        from axha.steps.session import state_paths
        spec = getattr(self.app, "spec", None) or (self.ctx.spec if self.ctx else None)
        if spec is None:
            self.app.call_from_thread(self.notify, "no cluster file loaded: no audit log to show",
                                      severity="warning")
            return
        path = state_paths(spec)[0]
        try:
            entries, files = AuditLog(path).history(AUDIT_SHOWN)
        except (OSError, ValueError) as exc:
            self.app.call_from_thread(self.notify, f"cannot read {path}: {exc}", severity="error", markup=False)
            return
        self.app.call_from_thread(self.app.push_screen, AuditViewer(path, entries, files=files))
