"""Modal dialogs: accept/refuse an unknown SSH host key, and a typed confirmation before a destructive action."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

DIALOG_CSS = """
{name} {{
    align: center middle;
    background: $background 60%;
}}
{name} > Vertical {{
    width: 74;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $warning;
    background: $surface;
    padding: 0 1;
}}
{name} .title {{ text-style: bold; width: 100%; }}
{name} .detail {{ width: 100%; margin: 1 0 0 0; }}
{name} .fingerprint {{ text-style: bold; color: $warning; width: 100%; }}
{name} Horizontal {{ height: auto; align: right middle; margin: 1 0 0 0; }}
{name} Button {{ margin: 0 0 0 1; }}
{name} Input {{ margin: 1 0 0 0; }}
"""


class HostKeyDialog(ModalScreen[bool]):
    """Shows an unknown host key's fingerprint; dismisses True (accept, remember in known_hosts) or False."""

    DEFAULT_CSS = DIALOG_CSS.format(name="HostKeyDialog")
    BINDINGS = [Binding("escape", "refuse", "Refuse")]

    def __init__(self, error):
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        e = self.error
        with Vertical():
            yield Label(f"Unknown SSH host key: {e.node or ''} ({e.hostname})", classes="title")
            yield Static(f"{e.key_type} key fingerprint:", classes="detail")
            yield Static(e.fingerprint, classes="fingerprint", id="fingerprint")
            short = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa", "rsa-sha2-512": "rsa"}.get(
                e.key_type, "ecdsa" if e.key_type.startswith("ecdsa") else "*")
            yield Static("Compare it with the node's own key, on its console:\n"
                         f"  ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub\n"
                         "Accept only if they match. Accepting adds it to known_hosts.", classes="detail")
            with Horizontal():
                yield Button("Refuse", id="refuse", variant="default")
                yield Button("Accept", id="accept", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")

    def action_refuse(self) -> None:
        self.dismiss(False)


class TypedConfirm(ModalScreen[bool]):
    """A steps.framework.Confirmation: the admin types the expected text (or `yes`) to confirm; Esc refuses."""

    DEFAULT_CSS = DIALOG_CSS.format(name="TypedConfirm")
    BINDINGS = [Binding("escape", "refuse", "Cancel")]

    def __init__(self, confirmation):
        super().__init__()
        self.confirmation = confirmation
        self.expected = confirmation.expected or "yes"

    def compose(self) -> ComposeResult:
        c = self.confirmation
        with Vertical():
            yield Label(c.title, classes="title")
            yield Static(c.details, classes="detail")
            yield Static(Text.assemble("Type ", (self.expected, "bold"), " exactly to continue:"), classes="detail")
            yield Input(placeholder="type it here", id="typed")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Confirm", id="confirm", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value.strip() != self.expected

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.expected:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm" and
                     self.query_one("#typed", Input).value.strip() == self.expected)

    def action_refuse(self) -> None:
        self.dismiss(False)
