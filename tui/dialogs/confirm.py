"""The dialogs that guard a change: an unknown host key, and the typed confirmation."""
from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static

from axha.tui.dialogs.base import Dialog


class HostKeyDialog(Dialog):
    """Shows an unknown host key's fingerprint; dismisses True (accept, remember in known_hosts) or False."""

    CANCEL_VALUE = False
    BINDINGS = [Binding("escape", "cancel", "Refuse")]

    def __init__(self, error):
        super().__init__()
        self.error = error
        self.title_text = f"Unknown SSH host key: {error.node or ''} ({error.hostname})"

    def body(self) -> Iterable:
        e = self.error
        short = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa", "rsa-sha2-512": "rsa"}.get(
            e.key_type, "ecdsa" if e.key_type.startswith("ecdsa") else "*")
        yield Static(f"{e.key_type} key fingerprint:", classes="gap", markup=False)
        yield Static(e.fingerprint, classes="fingerprint", id="fingerprint", markup=False)
        yield Static("Compare it with the node's own key, on its console:\n"
                     f"  ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub\n"
                     "Accept only if they match. Accepting adds it to known_hosts.", classes="gap", markup=False)

    def answer(self) -> Iterable:
        with Horizontal(id="buttons"):
            yield Button("Refuse", id="cancel")
            yield Button("Accept", id="accept", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")


class TypedConfirm(Dialog):
    """A steps.framework.Confirmation: the admin types the expected text (or `yes`) to confirm; Esc cancels.
    The focus starts in the field: typing the exact text is the safeguard, and Enter on anything else does
    nothing (Confirm stays disabled until the text matches)."""

    CANCEL_VALUE = False

    def __init__(self, confirmation):
        super().__init__()
        self.confirmation = confirmation
        self.expected = confirmation.expected or "yes"
        self.title_text = confirmation.title

    def body(self) -> Iterable:
        if self.confirmation.details:
            yield Static(self.confirmation.details, id="details", markup=False)

    def answer(self) -> Iterable:
        yield Static(Text.assemble("Type ", (self.expected, "bold"), " exactly to continue (Esc cancels):"),
                     id="ask")
        yield Input(placeholder=f"type {self.expected} here", id="typed", select_on_focus=False)
        with Horizontal(id="buttons"):
            yield Button("Cancel", id="cancel")
            yield Button("Confirm", id="confirm", variant="error", disabled=True)

    def _answer_rows(self, answer) -> int:
        return answer.outer_size.height or 7  # the question line, the field (3) and the buttons (3)

    def focus_safe(self) -> None:
        self.query_one("#typed", Input).focus()

    def matches(self) -> bool:
        return self.query_one("#typed", Input).value.strip() == self.expected

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not self.matches()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.matches():
            self.dismiss(True)
        else:
            self.notify(f"type {self.expected} exactly, or Esc to cancel", severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm" and self.matches())
