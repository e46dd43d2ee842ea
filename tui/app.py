"""AxhaApp: the Textual shell - header, footer, command palette, log pane, navigation between the screens."""
from __future__ import annotations

import collections
import importlib
import threading
from typing import Callable, Iterable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from axha.tui.widgets.logpane import LogPane
from axha.tui.widgets.navbar import NavBar

SCREENS = {
    "inventory": ("axha.tui.screens.inventory", "InventoryScreen", "Inventory", "Edit, check and save the cluster file"),
    "preflight": ("axha.tui.screens.preflight", "PreflightScreen", "Preflight", "Are both servers ready for a cluster?"),
    "install": ("axha.tui.screens.install", "InstallScreen", "Install", "Build the cluster, step by step"),
    "maintenance": ("axha.tui.screens.maintenance", "MaintenanceScreen", "Maintenance",
                    "Status, switchover, upgrade, standby, backup"),
}


class PlaceholderScreen(Screen):
    """Shown for a screen whose module is not in this build (or failed to load)."""

    DEFAULT_CSS = """
    PlaceholderScreen Vertical { height: 1fr; align: center middle; }
    PlaceholderScreen #message { width: 70; max-width: 100%; height: auto; border: round $warning; padding: 1 2; }
    """

    def __init__(self, name: str, message: str):
        super().__init__(name=name)
        self.message = message

    def compose(self) -> ComposeResult:
        yield NavBar()
        with Vertical():
            yield Static(self.message, id="message")
        yield LogPane()
        yield Footer(compact=True, show_command_palette=False)


class AxhaApp(App):
    """The axha wizard. Screens get a ctx_factory (call it in a worker thread only) and write to the log pane with
    app.write_log(text) or app.log_event(event), both callable from any thread."""

    TITLE = "axha"
    SUB_TITLE = "no cluster file"
    # The F-keys to the screens are on the top line of every screen (NavBar); the footer has the screen's own keys
    # and these three, which fit 80 columns on every screen. F1 lists every key, the palette every action.
    BINDINGS = [
        Binding("f2", "show('inventory')", "Inventory", show=False, tooltip="Go to Inventory: the cluster file"),
        Binding("f3", "show('preflight')", "Preflight", show=False, tooltip="Go to Preflight: are both servers "
                "ready?"),
        Binding("f4", "show('install')", "Install", show=False, tooltip="Go to Install: build the cluster"),
        Binding("f5", "show('maintenance')", "Maintain", show=False, tooltip="Go to Maintenance: the dashboard "
                "and its actions"),
        Binding("f1", "keys", "Keys", tooltip="This list of keys"),
        Binding("f6", "full_log", "Log", show=False, tooltip="Read the whole log, long lines wrapped"),
        Binding("ctrl+l", "toggle_log", "Log pane", show=False, tooltip="Hide or show the log pane"),
        Binding("ctrl+p", "command_palette", "Palette", tooltip="The command palette: every action, by name"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit axha (work on the nodes is stopped)"),
    ]

    def __init__(self, cluster_path: str | None = None, secrets_path: str | None = None, *,
                 startup_checks: bool = True):
        super().__init__()
        self.cluster_path = cluster_path
        self.secrets_path = secrets_path
        self.startup_checks = startup_checks
        self.spec = None
        self.secrets = None
        self.load_error: str | None = None
        self.log_lines: collections.deque[str] = collections.deque(maxlen=2000)
        self.log_panes: set[LogPane] = set()
        self.log_title = "Log"
        self.current = ""
        self._screens: dict[str, Screen] = {}
        self.refusals: dict[int, str] = {}  # worker thread -> the question the admin cancelled there

    # ------------------------------------------------------------ start

    def on_mount(self) -> None:
        self.show("inventory")
        if self.cluster_path:
            self.sub_title = f"{self.cluster_path} (loading)"
            # after the first paint: the screen shows at once, the file (and yaml) load right after
            self.call_after_refresh(self._load_startup, self.cluster_path, self.secrets_path)
        else:
            self.write_log("No cluster file given: fill in the inventory and save it (Ctrl+S).")

    @work(thread=True, exclusive=True, group="startup", exit_on_error=False)
    def _load_startup(self, path: str, secrets_path: str | None, check_installed: bool = True) -> None:
        """Read the cluster file and secrets off the main thread; then decide the first screen."""
        try:
            self._load_in_worker(path, secrets_path, check_installed)
        except RuntimeError:  # the app closed while we were loading or checking: nothing to show any more
            pass

    def _load_in_worker(self, path: str, secrets_path: str | None, check_installed: bool) -> None:
        from axha.steps.bounded import YamlProblem, decode_utf8, load_yaml
        from axha.steps.files import FileProblem, read_regular
        from axha.steps.errors import AxhaError
        from axha.steps.secrets import load_secrets
        from axha.steps.spec_load import load_cluster

        raw, spec, secrets, error = None, None, None, None
        try:  # the raw values for the form, read as boundedly as load_cluster reads them (no FIFO, no bomb)
            raw = load_yaml(decode_utf8(read_regular(path)[0]))[0]
        except (FileProblem, YamlProblem):
            raw = None
        try:
            spec = load_cluster(path)
            secrets = load_secrets(spec, secrets_path, need_bmc=False)
        except AxhaError as exc:
            error = exc
        self.call_from_thread(self._loaded, path, raw, spec, secrets, error)
        if spec is not None and check_installed and self.startup_checks:
            installed, why = self._installed(spec)
            if installed:
                self.call_from_thread(self._open_maintenance_if_idle, why)
            else:
                self.write_log(why)

    def load_cluster_file(self, path: str) -> None:
        """Load another cluster file into the inventory (in a worker; errors are shown in the form)."""
        self.sub_title = f"{path} (loading)"
        self._load_startup(path, None, False)

    def _open_maintenance_if_idle(self, why: str = "") -> None:
        """Go to maintenance unless the admin already went somewhere else meanwhile."""
        if self.current == "inventory" and not self.screen.is_modal:
            self.write_log(f"The cluster is installed ({why}): opening maintenance." if why else
                           "The cluster is installed: opening maintenance.")
            self.show("maintenance")

    def _loaded(self, path: str, raw, spec, secrets, error) -> None:
        inventory = self._screens.get("inventory")
        if inventory is not None and not inventory.is_mounted:  # loaded before the screen was composed
            self.set_timer(0.05, lambda: self._loaded(path, raw, spec, secrets, error))
            return
        if inventory is not None and hasattr(inventory, "fill"):
            inventory.fill(raw if isinstance(raw, dict) else None, secrets, path)
        if error is not None:
            self.load_error = str(error)
            self.sub_title = f"{path} (not valid)"
            self.write_log(error.explain() if hasattr(error, "explain") else str(error))
            if inventory is not None and hasattr(inventory, "validate"):
                if spec is None and raw is not None:
                    inventory.validate()
                else:
                    inventory.set_status(str(error), "-error")
            return
        self.set_cluster(spec, secrets, path)
        self.write_log(f"Loaded {path}: cluster {spec.name!r}.")

    def _installed(self, spec) -> tuple[bool, str]:
        """(installed, why): the engine's answer (steps.maint.installed), asked over a context of known host
        keys only, no prompt, short timeouts."""
        from axha.steps.maint.installed import cluster_installed
        from axha.steps.session import close_context, journal_path, open_context

        try:
            ctx = open_context(spec, self.secrets, connect_timeout=3.0)
        except Exception:  # no verdict: stay on inventory
            return False, (f"Could not ask the cluster whether it is installed (no connection to "
                           f"{' nor '.join(spec.node_names)}): staying on Inventory; Preflight (F3) shows why.")
        try:
            answer = cluster_installed(ctx, journal_exists=journal_path(spec, "install").exists())
        finally:
            close_context(ctx)
        return answer.installed, answer.why

    # ------------------------------------------------------------ cluster and context

    def set_cluster(self, spec, secrets, path: str | None = None) -> None:
        from axha.steps.session import state_paths

        self.spec, self.cluster_path = spec, path or self.cluster_path
        if secrets is not None:
            self.secrets = secrets
        self.load_error = None
        self.sub_title = f"{spec.name} - {self.cluster_path}"
        self.log_title = f"Log - audit: {state_paths(spec)[0]}"
        for pane in self.log_panes:
            pane.set_title(self.log_title)

    def open_context(self, journal: str | None = None):
        """A Context for the loaded cluster, with the TUI's host-key and confirmation dialogs. Worker threads only:
        it may show dialogs and wait for the admin."""
        from axha.steps.errors import InputError
        from axha.steps.session import open_context

        if threading.get_ident() == self._thread_id:
            raise RuntimeError("open_context() must be called from a worker thread")
        if self.spec is None:
            raise InputError("no valid cluster file loaded", remedy="Fill in the inventory (F2) and save it.")
        return open_context(self.spec, self.secrets, accept_host_key=self.accept_host_key_from_worker,
                            confirm=self.confirm_from_worker, journal=journal)

    def _ask_from_worker(self, make_screen: Callable[[], Screen]) -> bool:
        if threading.get_ident() == self._thread_id:
            raise RuntimeError("dialogs from the main thread: push the screen with a callback instead")
        answer: dict[str, bool] = {}
        done = threading.Event()

        def finished(value) -> None:
            answer["value"] = bool(value)
            done.set()

        try:
            self.call_from_thread(self.push_screen, make_screen(), finished)
        except RuntimeError:  # the app is closing: nobody can answer, so the answer is no
            return False
        from textual.worker import get_current_worker

        try:
            worker = get_current_worker()
        except Exception:  # a plain thread, not a Textual worker
            worker = None
        while not done.wait(0.2):
            if (worker is not None and worker.is_cancelled) or not self.is_running:
                return False
        return answer.get("value", False)

    def accept_host_key_from_worker(self, error) -> bool:
        """Show the host key dialog from a worker thread; True when the admin accepts the key."""
        from axha.tui.dialogs.confirm import HostKeyDialog

        accepted = self._ask_from_worker(lambda: HostKeyDialog(error))
        self.write_log(f"host key {error.fingerprint} for {error.hostname} "
                       f"{'accepted' if accepted else 'refused'} by the admin")
        return accepted

    def confirm_from_worker(self, confirmation) -> bool:
        """Show a TypedConfirm from a worker thread (the Context's confirm); True when confirmed."""
        from axha.tui.dialogs.confirm import TypedConfirm

        confirmed = self._ask_from_worker(lambda: TypedConfirm(confirmation))
        if not confirmed:
            self.refusals[threading.get_ident()] = confirmation.title
        self.write_log(f"{'confirmed' if confirmed else 'cancelled'}: {confirmation.title}")
        return confirmed

    def restart_operation(self, name: str) -> None:
        """Set operation `name`'s journal aside so it starts from its first step; the install is rerun at once."""
        from axha.steps.session import restart_journal

        if self.spec is None:
            self.notify("no cluster file loaded", severity="warning")
            return
        try:
            aside = restart_journal(self.spec, name)
        except OSError as exc:
            self.write_log(f"{name}: could not set the journal aside ({exc}); move it by hand, then run again.")
            return
        self.write_log(f"{name} restarted: " + (f"the previous journal is kept as {aside}" if aside else
                                                "there was no journal") + ".")
        if name == "install":
            self.show("install")
            screen = self._screens.get("install")
            if screen is not None and hasattr(screen, "action_run"):
                screen.action_run()

    # ------------------------------------------------------------ log

    def write_log(self, text: str) -> None:
        """Append to the log pane (any thread)."""
        if self._thread_id and threading.get_ident() != self._thread_id:
            try:
                self.call_from_thread(self.write_log, text)
            except RuntimeError:  # the app is closing; the audit log keeps the record
                pass
            return
        lines = str(text).splitlines() or [""]
        self.log_lines.extend(lines)
        for pane in list(self.log_panes):
            pane.write_lines(lines)

    def log_event(self, event) -> None:
        """Append an engine event (steps.framework events, Findings) to the log pane (any thread)."""
        from axha.tui.clihelp import format_event

        line = format_event(event)
        if line:
            self.write_log(line)

    def action_toggle_log(self) -> None:
        for pane in self.screen.query(LogPane):
            pane.toggle_class("-hidden")

    def action_full_log(self) -> None:
        from axha.tui.dialogs.readers import LogViewer

        if not self.screen.is_modal:
            self.push_screen(LogViewer(self.log_lines, self.log_title))

    def action_keys(self) -> None:
        from axha.tui.commands import key_rows
        from axha.tui.dialogs.readers import KeysDialog

        if self.screen.is_modal:
            return
        screen = self.screen
        rows = key_rows(screen, [b for b in self.BINDINGS if isinstance(b, Binding)])
        self.push_screen(KeysDialog(rows, getattr(screen, "KEYS_LEGEND", "")))

    # ------------------------------------------------------------ navigation

    def make_screen(self, name: str) -> Screen:
        module_name, class_name, title, _ = SCREENS[name]
        if name == "inventory":
            from axha.tui.screens.inventory import InventoryScreen

            return InventoryScreen(self.open_context, name=name)
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                return PlaceholderScreen(name, f"The {title} screen failed to load: {exc}")
            return PlaceholderScreen(name, f"The {title} screen is not part of this build yet "
                                           f"({module_name.replace('.', '/')}.py is missing).\n\n"
                                           f"Meanwhile use the command line: axha {name} --help")
        except Exception as exc:  # a broken screen module must not take the app down
            return PlaceholderScreen(name, f"The {title} screen failed to load: {type(exc).__name__}: {exc}")
        screen = cls(self.open_context)
        if not screen.name:
            screen._name = name
        return screen

    def show(self, name: str) -> None:
        """Switch to a screen by name (created on first use and kept)."""
        if name not in SCREENS:
            self.notify(f"no screen named {name!r}", severity="error")
            return
        if name not in self._screens:
            screen = self.make_screen(name)
            self._screens[name] = screen
            self.install_screen(screen, name=name)
        if self.current == name:
            return
        if self.current:
            self.switch_screen(name)
        else:
            self.push_screen(name)
        self.current = name

    def action_show(self, name: str) -> None:
        if self.screen.is_modal:  # answer the dialog first
            return
        self.show(name)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        keys = {"inventory": "F2", "preflight": "F3", "install": "F4", "maintenance": "F5"}
        for name, (_, _, title, help_text) in SCREENS.items():
            yield SystemCommand(f"Go to {title} (key {keys[name]})", help_text, lambda n=name: self.show(n))
        yield SystemCommand("Keys (key F1)", "Every key of this screen and of the app", self.action_keys)
        yield SystemCommand("Read the whole log (key F6)", "The log with long lines wrapped", self.action_full_log)
        inventory = self._screens.get("inventory")
        if inventory is not None:
            yield SystemCommand("Check cluster file (key Ctrl+R)", "Validate the inventory form",
                                inventory.action_validate)
            yield SystemCommand("Save cluster file (key Ctrl+S)", "Validate and save the inventory",
                                inventory.action_save)
            yield SystemCommand("Load cluster file (key Ctrl+O)", "Load the file named in 'Cluster file'",
                                inventory.action_load)
        if self.spec is not None:
            yield SystemCommand("Restart the install", "Set the install journal aside and run every step again "
                                "(each re-checks the real state)", lambda: self.restart_operation("install"))
            yield SystemCommand("Restart the upgrade", "Set the upgrade journal aside: the next upgrade starts "
                                "from its first stage", lambda: self.restart_operation("upgrade"))
        yield SystemCommand("Toggle log pane (key Ctrl+L)", "Show or hide the log at the bottom", self.action_toggle_log)
        for command in super().get_system_commands(screen):
            if command.title == "Keys":  # Textual's side panel: our Keys page (F1) says more
                continue
            if command.title == "Quit":
                command = SystemCommand("Quit (key Ctrl+Q)", command.help, command.callback)
            yield command
