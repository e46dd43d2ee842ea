"""The TUI shell and the inventory screen driven with Textual's Pilot at 80x24, plus an SVG snapshot."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from axha.steps.framework import Confirmation
from axha.steps.spec_load import load_cluster
from axha.tui.app import AxhaApp
from axha.tui.dialogs.confirm import HostKeyDialog, TypedConfirm
from axha.tui.screens.inventory import InventoryScreen
from tests.waiting import wait_for, wait_for_dialog

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "tests/fixtures/cluster-example.yaml"

VALUES = {
    "f-cluster": "mail", "f-vip-address": "10.1.0.100", "f-vip-cidr": "24", "f-vip-interface": "eth0",
    "f-nodes-0-name": "mx1", "f-nodes-1-name": "mx2",
    "f-nodes-0-ssh_address": "10.1.0.11", "f-nodes-1-ssh_address": "10.1.0.12",
    "f-nodes-0-link0-address": "10.2.0.11", "f-nodes-1-link0-address": "10.2.0.12",
    "f-nodes-0-link0-interface": "eth1", "f-nodes-1-link0-interface": "eth1",
    "f-nodes-0-link1-address": "10.3.0.11", "f-nodes-1-link1-address": "10.3.0.12",
    "f-nodes-0-link1-interface": "eth2", "f-nodes-1-link1-interface": "eth2",
    "f-nodes-0-bmc-address": "10.9.0.11", "f-nodes-1-bmc-address": "10.9.0.12",
    "f-nodes-0-bmc-user": "ADMIN", "f-nodes-1-bmc-user": "ADMIN",
    "f-nodes-0-backing_disk": "/dev/sdb", "f-nodes-1-backing_disk": "/dev/sdb",
}


@pytest.fixture(autouse=True)
def state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AXHA_STATE_DIR", "/tmp/axha-test-state")
    monkeypatch.chdir(REPO)


def inventory(app) -> InventoryScreen:
    screen = app.screen
    assert isinstance(screen, InventoryScreen)
    return screen


async def test_fill_invalid_value_shows_inline_error_then_save(tmp_path):
    target = tmp_path / "mail.yaml"
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        inv = inventory(app)
        await wait_for(pilot, lambda: inv.built, "the form built")
        for ident, value in VALUES.items():
            inv.query_one("#" + ident).value = value
        inv.query_one("#f-file").value = str(target)
        # the admin types a wrong address into node 2's link0 field
        field = inv.query_one("#f-nodes-1-link0-address")
        inv.query_one("#tabs").active = "tab-nodes"
        await pilot.pause()
        field.focus()
        field.value = ""
        await pilot.press(*"10.2.0.300")
        await wait_for(pilot, lambda: field.has_class("-error") and inv._timer is None)  # the debounced check ran
        line = inv.query_one(".error-line")
        assert line.parent is field.parent.parent  # right under the link0 address row
        assert "node 2: '10.2.0.300' is not an IP address" in str(line.content)
        assert "nodes[1].link0.address" in str(inv.query_one("#status").content)
        # saving refuses and keeps the focus on the bad field
        await pilot.press("ctrl+s")
        # the refusal is logged once save has decided (it writes nothing after that: only a valid form starts the
        # writer)
        await wait_for(pilot, lambda: any(line.startswith("not saved: ") for line in app.log_lines),
                       "the refused save in the log")
        assert not target.exists() and app.focused is field
        # fix it: the error goes away, save writes a file load_cluster reads back
        await pilot.press("backspace", "backspace", "backspace", "1", "2")
        await wait_for(pilot, lambda: inv._timer is None and not field.has_class("-error"))
        assert not inv.query(".error-line")
        inv.query_one("#s-bmc-0").value = "bmc-pass-1"
        inv.query_one("#s-bmc-1").value = "bmc-pass-2"
        inv.query_one("#save-secrets").value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.spec is not None)
    spec = load_cluster(target)
    assert spec.name == "mail" and spec.nodes[1].link0.address == "10.2.0.12" and spec.nodes[0].ssh_port == 22
    secrets_file = tmp_path / "mail.secrets.yaml"
    assert (secrets_file.stat().st_mode & 0o777) == 0o600
    assert "bmc-pass-2" in secrets_file.read_text() and "bmc-pass" not in target.read_text()
    assert app.spec == spec and "mail" in app.sub_title


async def test_loads_a_cluster_file_into_the_form():
    app = AxhaApp(EXAMPLE, startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        inv = inventory(app)
        await wait_for(pilot, lambda: inv.query_one("#f-nodes-1-bmc-address").value == "192.168.77.202"
                       if inv.built else False)
        assert inv.query_one("#f-storage-mode").value == "drbd"
        assert "axigen" in app.sub_title
        assert "audit: /tmp/axha-test-state/axigen-8699453a/audit.jsonl" in app.log_title


async def test_navigation_placeholder_and_palette(monkeypatch):
    from axha.tui import app as app_module

    monkeypatch.setitem(app_module.SCREENS, "preflight",
                        ("axha.tui.screens.no_such_screen", "X", "Preflight", "help"))
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert app.current == "preflight" and "not part of this build yet" in str(
            app.screen.query_one("#message").content)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, InventoryScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Go to Inventory (key F2)", "Go to Maintenance (key F5)", "Save cluster file (key Ctrl+S)"} <= set(titles)


async def test_confirm_and_host_key_dialogs_from_a_worker():
    from axha.steps.errors import HostKeyError

    app = AxhaApp(startup_checks=False)
    answers: dict[str, bool] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        question = Confirmation("wipe", "Wipe /dev/vdb on node1?", "All data on it is lost.", expected="/dev/vdb")
        worker = threading.Thread(target=lambda: answers.update(confirm=app.confirm_from_worker(question)))
        worker.start()
        dialog = await wait_for_dialog(pilot, TypedConfirm, "typed")
        await pilot.press("y", "e", "s", "enter")  # not the expected text: nothing happens
        # but the warning that Enter was refused (a toast): the dialog has handled the Enter and stayed
        await wait_for(pilot, lambda: any("type /dev/vdb exactly" in n.message for n in app._notifications),
                       "the warning after a wrong Enter")
        assert app.screen is dialog and dialog.query_one("#typed").value == "yes"
        app.screen.query_one("Input").value = "/dev/vdb"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "confirm" in answers)
        assert answers["confirm"] is True

        error = HostKeyError("unknown host key", node="node1", fingerprint="SHA256:abcdefghijklmnop",
                             key_type="ssh-ed25519", hostname="192.168.77.11")
        worker = threading.Thread(target=lambda: answers.update(key=app.accept_host_key_from_worker(error)))
        worker.start()
        dialog = await wait_for_dialog(pilot, HostKeyDialog, "cancel")
        assert "SHA256:abcdefghijklmnop" in str(dialog.query_one("#fingerprint").content)
        await pilot.press("enter")  # focus starts on Refuse
        await wait_for(pilot, lambda: "key" in answers)
        assert answers["key"] is False


# which screen opens on an installed cluster (decided by crm_mon, never by a journal): test_installed_decision.py


def test_snapshot_inventory_nodes_tab_with_inline_error(snap_compare):
    """The picture must show, at 80x24: the header 'axha - axigen - tests/fixtures/cluster-example.yaml'; the tabs
    Cluster/Nodes/Storage/Secrets with Nodes active; a two-column table (node1 | node2) of hostname, SSH, link0,
    link1, BMC and disk fields (rows from Hostname down to about BMC user visible, a 1-column scrollbar for the
    rest); node2's link0 address 192.168.78.11 marked as an error with the
    red line '^ node 2: address 192.168.78.11 is already used at nodes[0].link0.address' under the link0 address row;
    the same message in the status line; the log pane with 'audit: /tmp/axha-test-state/axigen-8699453a/audit.jsonl' in its
    title; the top line with F2-F5 (Inventory highlighted) and the cluster name; and the footer with ^s Save,
    ^o Load, ^r Check, ^q Quit, f1 Keys and ^p Palette, all inside 80 columns."""

    async def run_before(pilot):
        app = pilot.app
        inv = app.screen
        await wait_for(pilot, lambda: app.spec is not None and inv.built
                       and inv.query_one("#f-nodes-1-bmc-address").value == "192.168.77.202")
        await wait_for(pilot, lambda: inv._timer is None)  # the check after loading has run
        inv.query_one("#tabs").active = "tab-nodes"
        inv.query_one("#f-nodes-1-link0-address").value = "192.168.78.11"
        await wait_for(pilot, lambda: inv._timer is not None)
        await wait_for(pilot, lambda: inv._timer is None and inv.query(".error-line"))
        name = inv.query_one("#f-nodes-0-name")
        name.focus()
        await wait_for(pilot, lambda: app.focused is name, "the focus on node 1's hostname")

    assert snap_compare(AxhaApp(EXAMPLE, startup_checks=False), terminal_size=(80, 24), run_before=run_before)


async def test_invalid_file_is_loaded_into_the_form_with_its_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / EXAMPLE).read_text().replace("interface: mgmt0", "interface: 'not valid!'"))
    app = AxhaApp(str(bad), startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        inv = inventory(app)
        await wait_for(pilot, lambda: bool(inv.query(".error-line")))
        assert app.spec is None and "(not valid)" in app.sub_title
        assert inv.query_one("#f-nodes-0-ssh_address").value == "192.168.77.11"  # the rest is still filled in
        assert inv.query_one("#f-vip-interface").has_class("-error")
        assert "vip.interface" in str(inv.query_one("#status").content)


async def test_ctrl_o_loads_the_file_named_in_the_form():
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        inv = inventory(app)
        await wait_for(pilot, lambda: inv.built)
        inv.query_one("#f-file").value = EXAMPLE
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: app.spec is not None)
        await wait_for(pilot, lambda: inv.query_one("#f-nodes-0-bmc-address").value == "192.168.77.201")
        assert app.current == "inventory" and "axigen" in app.sub_title


async def test_storage_rows_secrets_default_and_tab_into_a_field():
    """Issue 16's inventory minors: no 'Shared device' row in drbd mode (it comes back in shared mode), the
    secrets file's default shown as the full path it would be, and Tab into a filled field does not select it
    all (typing adds to the value instead of replacing it)."""
    from tests.app.screen_text import on_screen, screen_lines

    app = AxhaApp(EXAMPLE, startup_checks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        inv = inventory(app)
        await wait_for(pilot, lambda: app.spec is not None and inv.built
                       and inv.query_one("#f-storage-mode").value == "drbd", "the example loaded")
        inv.query_one("#tabs").active = "tab-storage"
        await wait_for(pilot, lambda: on_screen(app, "Storage mode"), "the storage tab")
        assert not on_screen(app, "Shared device")
        inv.query_one("#f-storage-mode").value = "shared"
        await wait_for(pilot, lambda: on_screen(app, "Shared device"), "the shared device row in shared mode")
        inv.query_one("#f-storage-mode").value = "drbd"
        await wait_for(pilot, lambda: not on_screen(app, "Shared device"), "the row gone again")

        expected = REPO / "tests/fixtures/cluster-example.secrets.yaml"
        inv.query_one("#tabs").active = "tab-cluster"
        await wait_for(pilot, lambda: f"Secrets file when left empty: {expected}" in " ".join(
            line.strip() for line in screen_lines(app)), "the full path on the Cluster tab")

        inv.query_one("#f-vip-address").focus()
        await pilot.press("tab")   # into 'VIP prefix length', filled from the file (24)
        field = inv.query_one("#f-vip-cidr")
        await wait_for(pilot, lambda: app.focused is field, "the focus on the prefix length")
        before = field.value
        await pilot.press("1")
        assert before == "24" and sorted(field.value) == sorted(before + "1")   # added to, not replaced
