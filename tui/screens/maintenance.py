"""The maintenance screen: a live dashboard of the cluster and one-key actions (switchover, standby, upgrade...)."""
from __future__ import annotations

import threading
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Static

from tui.widgets.logpane import LogPane

REFRESH_SECONDS = 2.0
SHORT = {"switchover": "Switchover", "standby": "Standby", "maintenance": "Maint", "cleanup": "Cleanup",
         "upgrade": "Upgrade", "audit": "Audit", "refresh": "Refresh"}  # footer labels (80 columns)


# ---------------------------------------------------------------- rendering (pure: ClusterState -> rich)


# deliberate abbreviations, so that a syncing or split-brain row still fits 80 columns
ROLE_SHORT = {"Primary": "Pri", "Secondary": "Sec", "Unknown": "?"}


def _style_state(state: str) -> str:
    return {"online": "green", "standby": "yellow", "maintenance": "yellow"}.get(state, "bold red")


def _kib(value: int) -> str:
    return f"{value / 1048576:.1f}G" if value >= 1048576 else f"{value / 1024:.0f}M" if value >= 1024 else f"{value}K"


def render_summary(state) -> Text:
    """One line: where the service runs, the DC, quorum, maintenance mode, the VIP's answers."""
    text = Text()
    text.append("Service on ")
    text.append(state.active_node or "NO NODE", style="bold green" if state.active_node else "bold red")
    text.append(f"  DC {state.dc or '-'}  ")
    text.append("quorum" if state.quorum else "NO QUORUM", style="green" if state.quorum else "bold red")
    if state.maintenance_mode:
        text.append("  MAINTENANCE MODE", style="bold yellow")
    for a in state.service_answers:
        text.append(f"  {a.protocol.upper()} ")
        text.append("ok" if a.ok else "DOWN", style="green" if a.ok else "bold red")
    active = state.node(state.active_node) if state.active_node else None
    if active is not None and active.axigen_running:
        text.append(f"  runs {active.axigen_running}")  # the CLI's GET VERSION on the active node
    return text


def axigen_cell(n) -> Text:
    """Installed version (package database), `+` when the binary agrees, and the running one (CLI) if it differs."""
    from steps.axigen import same_version, upstream_version

    installed = upstream_version(n.axigen_version)
    if not installed:
        return Text("-")
    text = Text(installed, style="yellow" if n.axigen_binary and not same_version(installed, n.axigen_binary)
                else "")
    if n.axigen_running and not same_version(installed, n.axigen_running):
        text.append(f">{n.axigen_running}", style="bold yellow")  # runs another version than installed
    return text


def render_nodes(state) -> Table:
    """Per node: cluster state, Axigen version, DRBD (role/disk, peer, connection, sync) and both links."""
    table = Table(box=None, pad_edge=False, expand=True, show_edge=False, padding=(0, 1, 0, 0))
    for column in ("Node", "State", "Axigen", "DRBD", "Peer", "Repl/oos", "L0", "L1"):
        table.add_column(column, no_wrap=True)
    for n in state.nodes:
        d = state.drbd_of(n.name)
        links = {l.link: l for l in state.links if l.node == n.name}
        name = Text(n.name + (" *" if n.name == state.active_node else ""), style="bold")
        if d is None:
            drbd, peer, repl = Text("down", style="red"), Text("-"), Text("-")
        else:
            role = ROLE_SHORT.get(d.role, d.role)
            drbd = Text(f"{role}/{d.disk}", style="green" if d.disk == "UpToDate" else "bold red")
            peer = Text(str(d.peer_disk or "-"), style="green" if d.peer_disk == "UpToDate" else "yellow")
            if d.sync_percent is not None:
                repl = Text(f"{d.replication} {d.sync_percent:.0f}%", style="yellow")  # exact % in attention
            else:
                repl = Text(str(d.connection or "-"), style="green" if d.connection == "Connected" else "bold red")
                if d.out_of_sync_kib:
                    repl.append(f" {_kib(d.out_of_sync_kib)}", style="yellow")  # out of sync
        cells = []
        for index in (0, 1):
            link = links.get(index)
            if link is None or link.peer_state == "unknown":
                cells.append(Text("?", style="yellow"))  # not read (node unreachable or corosync stopped)
            else:
                # the peer's exact state (disconnected, ...) is in the attention list
                cells.append(Text("up" if link.up else "DOWN", style="green" if link.up else "bold white on red"))
        table.add_row(name, Text(n.state, style=_style_state(n.state)), axigen_cell(n), drbd, peer, repl,
                      *cells)
    return table


def render_resources(state) -> Text:
    """Fence devices and the group's members, one compact line each."""
    text = Text()
    text.append("Fencing: ")
    if not state.fencing:
        text.append("none configured", style="bold red")
    for f in state.fencing:
        text.append(f"{f['id']} ")
        text.append(f"{f['role']}" + (f"@{f['node']}" if f["node"] else ""),
                    style="green" if f["active"] else "bold red")
        text.append("  ")
    text.append("\nGroup: ")
    members = [r for r in state.resources if r.get("parent") == "axigen-group"]
    if not members:
        text.append("not configured", style="bold red")
    for r in members:
        text.append(f"{r['id']} ")
        where = r["nodes"][0] if r["nodes"] else ""
        text.append(f"{r['role']}" + (f"@{where}" if where else ""),
                    style="green" if r["role"] == "Started" else "bold red")
        text.append("  ")
    return text


def render_attention(state) -> Text:
    """Warnings (loud ones red), failed actions, leftover constraints; or a green all-clear."""
    text = Text()
    if not state.warnings:
        text.append("All healthy: both nodes online, DRBD in sync, both links up, fencing started.", style="green")
        return text
    for i, w in enumerate(state.warnings):
        if i:
            text.append("\n")
        text.append("!! " if w.loud else " - ", style="bold red" if w.loud else "yellow")
        text.append(w.text, style="bold red" if w.code in ("LINK_DOWN", "SPLIT_BRAIN") else "")
    if state.split_brain.detected:
        for node, ev in state.split_brain.evidence:
            text.append(f"\n   {node}: {ev['role']} {ev['disk']} {ev['connection']} out-of-sync "
                        f"{ev['out_of_sync_kib']} KiB gi {ev.get('data_generation') or '?'}"
                        f"{' (Pacemaker promoted it)' if ev.get('pacemaker_promoted_here') else ''}")
    return text


# ---------------------------------------------------------------- dialogs


class NodePicker(ModalScreen[str | None]):
    """Pick one node (for standby/unstandby or the split-brain victim)."""

    DEFAULT_CSS = """
    NodePicker { align: center middle; }
    NodePicker > Vertical { width: 60; height: auto; border: thick $primary; padding: 1 2; background: $panel; }
    NodePicker Horizontal { height: auto; }
    NodePicker Button { margin: 1 1 0 0; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, nodes: tuple[str, ...], detail: str = ""):
        super().__init__()
        self.title_text, self.nodes, self.detail = title, nodes, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            if self.detail:
                yield Static(self.detail)
            with Horizontal():
                for node in self.nodes:
                    yield Button(node, id=f"pick-{node}")
                yield Button("Cancel", id="pick-cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        self.dismiss(None if bid == "pick-cancel" else bid.removeprefix("pick-"))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class UpgradeDialog(ModalScreen["tuple[str, bool, bool] | None"]):
    """The upgrade wizard's first page: the package file, whether to switch back at the end, the licence."""

    DEFAULT_CSS = """
    UpgradeDialog { align: center middle; }
    UpgradeDialog > Vertical { width: 72; height: auto; border: thick $primary; padding: 1 2; background: $panel; }
    UpgradeDialog Horizontal { height: auto; }
    UpgradeDialog Button { margin: 1 1 0 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, versions: str = ""):
        super().__init__()
        self.versions = versions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Rolling upgrade of Axigen (passive node first, one switchover)")
            yield Static(self.versions)
            yield Input(placeholder="/path/to/axigen .deb, .rpm or axigen-X.Y.Z.x86_64.deb.run", id="package")
            yield Checkbox("Switch back to the current node at the end", id="switch-back")
            yield Checkbox("I accept Axigen's licence (needed for the vendor's .run installer)", id="license")
            with Horizontal():
                yield Button("Start", id="start", variant="warning")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            path = self.query_one("#package", Input).value.strip()
            if not path:
                self.notify("enter the package path", severity="error")
                return
            self.dismiss((path, self.query_one("#switch-back", Checkbox).value,
                          self.query_one("#license", Checkbox).value))
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AuditViewer(ModalScreen[None]):
    """The last lines of the audit log (every remote command, redacted)."""

    DEFAULT_CSS = """
    AuditViewer { align: center middle; }
    AuditViewer > Vertical { width: 96%; height: 90%; border: thick $primary; background: $panel; }
    AuditViewer VerticalScroll { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close")]

    def __init__(self, path: Path, lines: list[str]):
        super().__init__()
        self.path, self.lines = path, lines

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Audit log {self.path} (last {len(self.lines)} commands; Esc closes)")
            with VerticalScroll():
                yield Static("\n".join(self.lines) or "(empty)", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def audit_lines(path: Path, limit: int = 200) -> list[str]:
    """`time node rc $ argv` lines of the audit log's last `limit` entries."""
    import json

    from steps.files import FileProblem, read_own
    try:  # never through a symbolic link, never a FIFO (the log is ours; rotation keeps it under 8 MiB)
        raw = read_own(path, 64 * 1024 * 1024).decode(errors="replace").splitlines()[-limit:]
    except FileProblem:
        return []
    out = []
    for line in raw:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if "argv" in e:
            out.append(f"{e.get('time', '')[11:19]} {e.get('node', ''):6} rc={e.get('rc')} "
                       f"{'*' if e.get('mutating') else ' '} $ {' '.join(e['argv'])[:160]}")
        else:
            out.append(f"{e.get('time', '')[11:19]} {e.get('node', '')} {e.get('op', '')} {e.get('path', '')}")
    return out


# ---------------------------------------------------------------- command palette


class MaintenanceCommands(Provider):
    """Every maintenance action in the command palette."""

    async def search(self, query: str) -> Hits:
        screen = self.screen
        if not isinstance(screen, MaintenanceScreen):
            return
        matcher = self.matcher(query)
        for key, action, title, help_ in MaintenanceScreen.ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), getattr(screen, f"action_{action}"), help=help_)


# ---------------------------------------------------------------- the screen


class MaintenanceScreen(Screen):
    """Dashboard refreshed by a worker (one round trip per node per refresh) and the maintenance actions."""

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
        ("a", "audit", "Audit log", "Every command axha ran on the nodes"),
        ("r", "refresh", "Refresh now", "Read the cluster state again"),
    )
    BINDINGS = [Binding(key, action, SHORT.get(action, title.split(" ")[0]), show=action in SHORT)
                for key, action, title, _ in ACTIONS]
    COMMANDS = Screen.COMMANDS | {MaintenanceCommands}
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
        self._ctx_lock = threading.Lock()
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Reading the cluster state...", id="summary")
        yield Static("", id="nodes")
        yield Static("", id="resources")
        yield Static("", id="busy")
        with VerticalScroll(id="attention"):
            yield Static("", id="attention-text")
        yield LogPane(id="log")
        yield Footer()

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
        from textual.worker import get_current_worker

        from steps.maint.status import read_state
        worker = get_current_worker()
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                state = read_state(self.context())
            except Exception as exc:  # shown, and retried at the next tick
                self.app.call_from_thread(self.query_one("#summary", Static).update,
                                          Text(f"Cannot read the cluster: {exc}", style="bold red"))
            else:
                self.app.call_from_thread(self.show_state, state)
            self._stop.wait(REFRESH_SECONDS)

    def action_refresh(self) -> None:
        if self.ctx_factory is not None:
            self.refresh_loop()

    # ------------------------------------------------------------ actions (each runs in a worker)

    @work(thread=True, exclusive=True, group="maint-action")
    def run_action(self, title: str, call) -> None:
        self.app.call_from_thread(self.set_busy, f"{title}...")
        try:
            report = call(self.context())
            message = getattr(report, "message", str(report))
            ok = getattr(report, "ok", True)
        except Exception as exc:  # an action's failure is shown, never crashes the screen
            message, ok = getattr(exc, "explain", lambda: str(exc))(), False
        self.app.call_from_thread(self.set_busy, "")
        self._log(f"{title}: {'OK' if ok else 'FAILED'}: {message}")
        self.app.call_from_thread(self.notify, message.splitlines()[0][:200], title=title,
                                  severity="information" if ok else "error")

    def _actions(self, ctx):
        from steps.maint.actions import Actions
        return Actions(ctx, lambda e: self.app.call_from_thread(self._event, e))

    def action_switchover(self) -> None:
        def call(ctx):
            from steps.maint.switchover import Switchover
            return Switchover(ctx, None, lambda e: self.app.call_from_thread(self._event, e)).run()
        self.run_action("Switchover", call)

    def action_standby(self) -> None:
        if self.state is None:
            return
        detail = "\n".join(f"{n.name}: {n.state}" for n in self.state.nodes)

        def picked(node: str | None) -> None:
            if node:
                view = self.state.node(node)
                on = not (view and view.standby)
                self.run_action(f"{'Standby' if on else 'Unstandby'} {node}",
                                lambda ctx: self._actions(ctx).standby(node, on))
        self.app.push_screen(NodePicker("Standby / unstandby which node?", self.state.node_names, detail), picked)

    def action_maintenance(self) -> None:
        on = not (self.state and self.state.maintenance_mode)
        self.run_action(f"Maintenance mode {'on' if on else 'off'}", lambda ctx: self._confirmed(
            ctx, f"Turn maintenance mode {'on' if on else 'off'}?", lambda: self._actions(ctx).maintenance(on)))

    def _confirmed(self, ctx, title: str, then):
        from steps.framework import Confirmation
        from steps.maint.actions import ActionReport
        if not ctx.confirm(Confirmation("maint", title, "Type yes to continue.")):
            return ActionReport(False, "confirm", "not confirmed: nothing changed")
        return then()

    def action_cleanup(self) -> None:
        self.run_action("Cleanup", lambda ctx: self._actions(ctx).cleanup())

    def action_clear_constraints(self) -> None:
        self.run_action("Clear constraints", lambda ctx: self._confirmed(
            ctx, "Remove the leftover location constraints?", lambda: self._actions(ctx).clear_constraints()))

    def action_verify_drbd(self) -> None:
        self.run_action("DRBD verify", lambda ctx: self._actions(ctx).verify_drbd())

    def action_backup(self) -> None:
        def call(ctx):
            from steps.session import state_dir
            return self._actions(ctx).backup(state_dir(ctx.spec) / "backups")
        self.run_action("Backup", call)

    def action_upgrade(self) -> None:
        versions = ""
        if self.state is not None:
            versions = "Now: " + ", ".join(
                f"{n.name} {n.axigen_version or '-'}" + (f" (runs {n.axigen_running})" if n.axigen_running else "")
                for n in self.state.nodes)

        def picked(answer) -> None:
            if answer:
                path, switch_back, accept_license = answer

                def call(ctx):
                    from steps.maint.upgrade import Upgrade
                    return Upgrade(ctx, package=path, switch_back=switch_back, accept_license=accept_license,
                                   emit=lambda e: self.app.call_from_thread(self._event, e)).run()
                self.run_action("Upgrade", lambda ctx: self._confirmed(
                    ctx, f"Upgrade Axigen on both nodes from {path}?", lambda: call(ctx)))
        self.app.push_screen(UpgradeDialog(versions), picked)

    def action_split_brain(self) -> None:
        if self.state is None:
            return
        sb = self.state.split_brain
        detail = (f"{sb.reason}\n" if sb.detected else "No split brain detected now.\n") + "\n".join(
            f"{node}: {ev['role']} {ev['disk']} {ev['connection']}" for node, ev in sb.evidence)

        def picked(node: str | None) -> None:
            if node:
                self.run_action(f"Split-brain recovery (discard {node})",
                                lambda ctx: self._actions(ctx).split_brain_recover(node))
        self.app.push_screen(NodePicker("Whose changes are DISCARDED?", self.state.node_names, detail), picked)

    def action_audit(self) -> None:
        self.audit_worker()

    @work(thread=True, exclusive=True, group="maint-audit")
    def audit_worker(self) -> None:
        from steps.session import state_paths
        spec = getattr(self.app, "spec", None) or (self.ctx.spec if self.ctx else None)
        if spec is None:
            return
        path = state_paths(spec)[0]
        lines = audit_lines(path)
        self.app.call_from_thread(self.app.push_screen, AuditViewer(path, lines))
