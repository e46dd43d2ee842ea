"""The inventory screen: load, edit, validate (inline errors) and save the cluster file, and enter the secrets."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.lazy import Lazy
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Label, Select, Static, TabbedContent, TabPane

from axha.tui.commands import KeyCommands
from axha.tui.screens.inventory_fields import (CLUSTER_FIELDS, NODE_FIELDS, NUMBER, STORAGE_FIELDS, _dig, _put,
                                              all_keys, field_id, key_to_id, node_key)
from axha.tui.widgets.logpane import LogPane
from axha.tui.widgets.navbar import NavBar


class InventoryScreen(Screen):
    """Edit the cluster file. Ctrl+S validates and saves, Ctrl+O loads the file named in 'Cluster file', Ctrl+R
    checks; errors appear under the field and in the status line."""

    DEFAULT_CSS = """
    InventoryScreen TabbedContent { height: 1fr; }
    InventoryScreen TabPane { padding: 0; }
    InventoryScreen VerticalScroll { height: 1fr; padding: 0 1 0 0; scrollbar-size-vertical: 1; }
    InventoryScreen .row { height: 1; margin: 0 0 0 0; }
    InventoryScreen .row Label { width: 20; padding: 0 1; color: $text-muted; }
    InventoryScreen .row.head Label { color: $text; text-style: bold; }
    InventoryScreen .row Input { width: 1fr; margin: 0 1 0 0; }
    InventoryScreen .row Select { width: 1fr; margin: 0 1 0 0; }
    InventoryScreen .row .colhead { width: 1fr; text-style: bold underline; color: $text; padding: 0 0 0 1; }
    InventoryScreen Input.-error { background: $error 30%; color: $text; }
    InventoryScreen .error-line { color: $error; padding: 0 1 0 21; height: auto; }
    InventoryScreen .hint { color: $text-muted; padding: 0 1; height: auto; }
    InventoryScreen #secrets-default { margin: 1 0 0 0; }
    InventoryScreen Checkbox { margin: 1 0 0 1; }
    InventoryScreen #status { height: 1; padding: 0 1; background: $boost; }
    InventoryScreen #status.-error { color: $error; text-style: bold; }
    InventoryScreen #status.-ok { color: $success; }
    InventoryScreen .row.-hidden { display: none; }
    """
    KEYS_TITLE = "Inventory"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", tooltip="Check the form and save the cluster file"),
        Binding("ctrl+o", "load", "Load", tooltip="Load the file named in 'Cluster file' (replaces the form)"),
        Binding("ctrl+r", "validate", "Check", tooltip="Check the form without saving"),
    ]
    COMMANDS = Screen.COMMANDS | {KeyCommands}

    def __init__(self, ctx_factory=None, **kwargs):
        super().__init__(**kwargs)
        self.ctx_factory = ctx_factory
        self._timer = None
        self._error_id: str | None = None
        self._filling = False

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield NavBar()
        with TabbedContent(id="tabs"):
            with TabPane("Cluster", id="tab-cluster"):
                with VerticalScroll():
                    with Horizontal(classes="row"):
                        yield Label("Cluster file")
                        yield Input(placeholder="path to save, e.g. axha.yaml", id="f-file", compact=True,
                                    select_on_focus=False)
                    yield from self._rows(CLUSTER_FIELDS)
                    yield Static("", id="secrets-default", classes="hint")
            with TabPane("Nodes", id="tab-nodes"):
                with Lazy(VerticalScroll()):  # hidden tabs are built after the first paint
                    with Horizontal(classes="row head"):
                        yield Label("")
                        yield Static("node 1", classes="colhead", id="head-0")
                        yield Static("node 2", classes="colhead", id="head-1")
                    for f in NODE_FIELDS:
                        with Horizontal(classes="row"):
                            yield Label(f.label)
                            for i in (0, 1):
                                yield Input(placeholder=f.placeholder, id=field_id(node_key(i, f)), compact=True,
                                            select_on_focus=False)
            with TabPane("Storage", id="tab-storage"):
                with Lazy(VerticalScroll()):
                    yield from self._rows(STORAGE_FIELDS)
            with TabPane("Secrets", id="tab-secrets"):
                with Lazy(VerticalScroll()):
                    yield Static("Never written to the cluster file. Kept in memory unless you tick the box; "
                                 "then saved to the secrets file with mode 0600.", classes="hint")
                    for ident, label in (("s-ssh_password", "SSH password"),
                                         ("s-ssh_key_passphrase", "Key passphrase"),
                                         ("s-bmc-0", "BMC pw node 1"), ("s-bmc-1", "BMC pw node 2")):
                        with Horizontal(classes="row"):
                            yield Label(label, id=f"label-{ident}")
                            yield Input(password=True, id=ident, compact=True, placeholder="(not set)",
                                        select_on_focus=False)
                    yield Checkbox("Save secrets to the 0600 secrets file", id="save-secrets", compact=True)
        yield Static("", id="status")
        yield LogPane(id="log")
        yield Footer(compact=True, show_command_palette=False)

    def _rows(self, fields):
        for f in fields:
            hidden = " -hidden" if f.key == ("storage", "device") else ""  # the default mode is drbd
            with Horizontal(classes="row" + hidden, id="row-" + field_id(f.key)):
                yield Label(f.label)
                if f.kind == "select":
                    yield Select([(o, o) for o in f.options], value=f.options[0], allow_blank=False,
                                 id=field_id(f.key), compact=True)
                else:
                    yield Input(placeholder=f.placeholder, id=field_id(f.key), compact=True, select_on_focus=False)

    def on_mount(self) -> None:
        self.set_status("Fill in the cluster, then Ctrl+S to check and save.", "")
        path = getattr(self.app, "cluster_path", None)
        if path:
            self.query_one("#f-file", Input).value = str(path)
        self._update_secrets_hint()

    def _update_secrets_hint(self) -> None:
        """The secrets file's default, as the full path it would be (beside the cluster file), under the rows:
        a path is often longer than the field."""
        from axha.steps.secrets import default_secrets_path

        path = self.query_one("#f-file", Input).value.strip() or "axha.yaml"
        default = default_secrets_path(str(Path(path).expanduser().absolute()))
        self.query_one("#secrets-default", Static).update(f"Secrets file when left empty: {default}")

    def _update_storage_rows(self) -> None:
        """'Shared device' only in shared mode (in drbd mode the disks are the nodes' DRBD disks)."""
        rows = self.query("#row-f-storage-device")
        if not rows:
            return
        mode = self.query_one("#f-storage-mode", Select).value
        rows.first().set_class(mode != "shared", "-hidden")

    # ------------------------------------------------------------ data in and out

    def fill(self, data: dict | None, secrets=None, path: str | None = None) -> None:
        """Put a (possibly invalid) parsed cluster file and secrets into the inputs."""
        if not self.built:
            self.set_timer(0.05, lambda: self.fill(data, secrets, path))
            return
        self._filling = True
        try:
            if path:
                self.query_one("#f-file", Input).value = str(path)
            data = data if isinstance(data, dict) else {}
            for key, f in all_keys():
                value = _dig(data, key)
                widget = self.query_one("#" + field_id(key))
                if isinstance(widget, Select):
                    if value in f.options:
                        widget.value = value
                else:
                    widget.value = "" if value is None else str(value)
            if secrets is not None:
                self.query_one("#s-ssh_password", Input).value = secrets.ssh_password or ""
                self.query_one("#s-ssh_key_passphrase", Input).value = secrets.ssh_key_passphrase or ""
                for i in (0, 1):
                    name = _dig(data, ("nodes", i, "name"))
                    self.query_one(f"#s-bmc-{i}", Input).value = secrets.bmc_passwords.get(name, "") if name else ""
        finally:
            self._filling = False
        self._update_node_heads()
        self._update_storage_rows()
        self._update_secrets_hint()

    @property
    def built(self) -> bool:
        """True once the lazily built tabs are mounted (a moment after the first paint)."""
        return all(self.query(sel) for sel in ("#f-nodes-1-backing_disk", "#f-storage-mount_point", "#s-bmc-1"))

    def form_data(self) -> dict:
        """The cluster file structure from the inputs (empty inputs left out, so defaults apply)."""
        data: dict = {}
        for key, f in all_keys():
            widget = self.query_one("#" + field_id(key))
            if isinstance(widget, Select):
                value: Any = widget.value if isinstance(widget.value, str) else None
            else:
                text = widget.value.strip()
                value = None if text == "" else int(text) if f.kind == "int" and NUMBER.match(text) else text
            if value is not None:
                _put(data, key, value)
        return data

    def form_secrets(self):
        from axha.steps.secrets import Secrets

        def val(ident: str) -> str | None:
            return self.query_one("#" + ident, Input).value or None

        bmc = {}
        for i in (0, 1):
            name = self.query_one("#" + field_id(("nodes", i, "name")), Input).value.strip()
            if name and val(f"s-bmc-{i}"):
                bmc[name] = val(f"s-bmc-{i}")
        return Secrets(ssh_password=val("s-ssh_password"), ssh_key_passphrase=val("s-ssh_key_passphrase"),
                       bmc_passwords=bmc)

    def save_path(self) -> str:
        return self.query_one("#f-file", Input).value.strip() or "axha.yaml"

    # ------------------------------------------------------------ validation

    def validate(self):
        """Parse the form with steps.spec_load.parse_cluster; show the first error inline. Returns the spec or None."""
        from axha.steps.bounded import dump_yaml
        from axha.steps.spec_load import SpecError, parse_cluster

        if not self.built:
            self.set_status("Still building the form; try again in a moment.", "")
            return None
        self.clear_error()
        text = dump_yaml(self.form_data())
        try:
            spec = parse_cluster(text, str(Path(self.save_path()).absolute()))
        except SpecError as exc:
            self.show_error(exc.key, exc.message)
            return None
        self.set_status(f"Valid: cluster {spec.name!r}, nodes {spec.nodes[0].name} and {spec.nodes[1].name}.",
                        "-ok")
        return spec

    def clear_error(self) -> None:
        for widget in self.query(".-error"):
            widget.remove_class("-error")
        for line in self.query(".error-line"):
            line.remove()
        self._error_id = None

    def show_error(self, dotted: str, message: str) -> None:
        """Mark the input named by a SpecError key, put the message on a line under its row and in the status."""
        ident = key_to_id(dotted)
        matches = self.query("#" + ident)
        if matches:
            widget = matches.first()
            widget.add_class("-error")
            node = f"node {int(ident.split('-')[2]) + 1}: " if ident.startswith("f-nodes-") else ""
            row = widget.parent
            if row is not None and row.parent is not None:
                row.parent.mount(Static(f"^ {node}{message}", classes="error-line"), after=row)
        self._error_id = ident
        self.set_status(f"{dotted}: {message}", "-error")

    def focus_error(self) -> None:
        if not self._error_id:
            return
        try:
            widget = self.query_one("#" + self._error_id)
        except Exception:
            return
        pane = next((a for a in widget.ancestors if isinstance(a, TabPane)), None)
        if pane is not None and pane.id:
            self.query_one(TabbedContent).active = pane.id
        widget.focus()

    def set_status(self, text: str, kind: str) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_classes(kind)

    # ------------------------------------------------------------ events and actions

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        ident = event.input.id or ""
        if ident.startswith("f-nodes-") and ident.endswith("-name"):
            self._update_node_heads()
        if ident == "f-file":
            self._update_secrets_hint()
        if self._filling or ident == "f-file":
            return
        if ident.startswith("s-"):
            self.app.secrets = self.form_secrets()
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.4, self.action_validate)

    @on(Select.Changed)
    def _selected(self, event: Select.Changed) -> None:
        if event.select.id == "f-storage-mode":
            self._update_storage_rows()
        if not self._filling and event.select.has_focus:
            if self._timer is not None:
                self._timer.stop()
            self._timer = self.set_timer(0.4, self.action_validate)

    def _update_node_heads(self) -> None:
        for i in (0, 1):
            name = self.query_one("#" + field_id(("nodes", i, "name")), Input).value.strip()
            self.query_one(f"#head-{i}", Static).update(name or f"node {i + 1}")
            self.query_one(f"#label-s-bmc-{i}", Label).update(f"BMC pw {name or f'node {i + 1}'}"[:18])

    def action_validate(self) -> None:
        self._timer = None
        self.validate()

    def action_load(self) -> None:
        """Load the file named in the Cluster file field (replaces the form's content)."""
        path = self.query_one("#f-file", Input).value.strip()
        if not path:
            self.set_status("Type the cluster file's path in 'Cluster file' first.", "-error")
            return
        self.app.load_cluster_file(path)

    def action_save(self) -> None:
        spec = self.validate()
        if spec is None:
            self.focus_error()
            self.app.write_log(f"not saved: {self.query_one('#status', Static).content}")
            return
        save_secrets = self.query_one("#save-secrets", Checkbox).value
        self._save(spec, self.save_path(), self.form_secrets(), save_secrets)

    @work(thread=True, exclusive=True, group="inventory-save", exit_on_error=False)
    def _save(self, spec, path: str, secrets, save_secrets: bool) -> None:
        from axha.steps.secrets import default_secrets_path
        from axha.steps.secrets import save_secrets as write_secrets
        from axha.steps.spec_load import load_cluster
        from axha.steps.spec_save import save_cluster

        try:
            save_cluster(spec, path)
            saved = load_cluster(path)
            message = f"saved {path}"
            if save_secrets:
                secrets_path = saved.secrets_file or str(default_secrets_path(str(Path(path).absolute())))
                write_secrets(secrets, secrets_path)
                message += f" and secrets to {secrets_path} (mode 0600)"
        except Exception as exc:  # shown to the admin, the form stays as it is
            self.app.call_from_thread(self.set_status, f"not saved: {exc}", "-error")
            self.app.call_from_thread(self.app.write_log, f"save failed: {exc}")
            return
        self.app.call_from_thread(self._saved, saved, secrets, path, message)

    def _saved(self, spec, secrets, path: str, message: str) -> None:
        self.set_status(message.capitalize() + ".", "-ok")
        self.app.write_log(message)
        self.app.set_cluster(spec, secrets, path)
