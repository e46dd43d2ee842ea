"""Every dialog at 80x24: a body that scrolls, the input and the buttons always on the screen, the focus on the safe
choice; an SVG snapshot of each (its docstring says what must be visible) and Pilot tests of the answers. The
questions are the engine's own, made from recorded real cluster states."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App

from axha.steps.audit import AuditLog
from axha.steps.errors import HostKeyError
from axha.steps.framework import Confirmation
from axha.steps.maint.switchover import Switchover, simulate_move_argv
from axha.steps.runner import Recorded, Result
from tests.app.screen_text import on_screen, row_of, screen_lines
from tests.waiting import wait_for, wait_for_dialog
from tests.unit.test_maint_status import FIX
from tests.unit.test_maint_switchover import ctx_with, healthy
from axha.tui.dialogs.audit import audit_text, is_read_only
from axha.tui.dialogs.confirm import HostKeyDialog, TypedConfirm
from axha.tui.dialogs.questions import NodePicker, PathDialog, UpgradeDialog
from axha.tui.dialogs.readers import AuditViewer, KeysDialog, LogViewer

SIZE = (80, 24)


class DialogHost(App):
    """A bare app that opens one dialog and keeps the answer it was dismissed with."""

    def __init__(self, make):
        super().__init__()
        self.make, self.answers = make, []

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.answers.append)


def switchover_question() -> Confirmation:
    """The question the engine asks before a switchover of the healthy lab cluster (gates, crm_simulate's
    preview of the move), captured from Switchover.run on recorded output."""
    asked = []
    sim = (FIX / "pacemaker" / "sim-move.txt").read_text()
    ctx = ctx_with({"node2": [Recorded(simulate_move_argv("node2"), 0, sim)]})
    ctx.confirm = lambda q: asked.append(q) or False
    report = Switchover(ctx, state=healthy(), measure_gap=False).run()
    assert not report.ok and len(asked) == 1
    return asked[0]


def wipe_question_of_a_used_disk() -> Confirmation:
    """The install's question before erasing node2's disk that holds an ext4 (the storage steps replayed on a
    recorded lab run)."""
    from tests.unit.test_install_storage import replay, run
    _, _, questions = run(replay("refused-disk"))
    return questions[0]


def host_key_error() -> HostKeyError:
    return HostKeyError("unknown host key", node="node1", hostname="192.168.77.201", key_type="ssh-ed25519",
                        fingerprint="SHA256:Rl1c7cn4QJc0Eo8Ks5d3sBnQ6Hn7Dg2mL0hM5y0JqGk")


def audit_entries(tmp_path: Path) -> tuple[Path, list[dict]]:
    """An audit log written by the product's own AuditLog: a dashboard's polls, a switchover's commands, a note."""
    log = AuditLog(tmp_path / "audit.jsonl")

    def result(node, argv, rc=0, out=""):
        return Result(node=node, argv=tuple(argv), rc=rc, stdout=out, stderr="", duration=0.05)
    for i in range(6):
        log.record(result("node1", ["crm_mon", "--output-as=xml", "--inactive"], out=f"<crm_mon v='{i % 2}'/>"))
        log.record(result("node2", ["drbdsetup", "status", "axigen", "--json"], out=f"[{i % 2}]"))
    log.record(result("node2", ["crm_resource", "--move", "-r", "axigen-group", "-N", "node2"]), mutating=True)
    log.record(result("node2", ["crm_resource", "--clear", "-r", "axigen-group"], rc=1, out="no such"),
               mutating=True)
    log.note("node1", "upgrade: the journal of an earlier installation was set aside")
    return log.path, log.entries()


def maintenance_keys():
    from axha.tui.app import AxhaApp
    from axha.tui.commands import key_rows
    from axha.tui.screens.maintenance import MaintenanceScreen
    return KeysDialog(key_rows(MaintenanceScreen(None, auto_refresh=False), AxhaApp.BINDINGS))


LONG_ERROR = ("Switchover: FAILED: switchover refused: DRBD on node2 is Inconsistent (SyncTarget 41.3%): it does "
              "not have all the data yet. To continue: wait for the resync to finish (the dashboard shows its "
              "percent and ETA), check `drbdadm status axigen` on node2, then run the switchover again.")

DIALOGS = {
    "switchover": lambda: TypedConfirm(switchover_question()),
    "wipe": lambda: TypedConfirm(wipe_question_of_a_used_disk()),
    "host-key": lambda: HostKeyDialog(host_key_error()),
    "standby-picker": lambda: NodePicker("Standby / unstandby which node?", ("node1", "node2"),
                                         "node1: online  (runs the mail service: standby moves it)\nnode2: online",
                                         default="node2"),
    "upgrade": lambda: UpgradeDialog("Now: node1 10.5.0-1 (runs 10.5.0), node2 10.5.0-1"),
    "export": lambda: PathDialog("Write the preflight report as JSON to:", Path("/root/axha/preflight-axigen.json"),
                                 "Enter writes it (an existing file is replaced); Esc cancels."),
}


# ---------------------------------------------------------------- the blockers, with Pilot


@pytest.mark.parametrize("kind", sorted(DIALOGS))
async def test_at_80x24_the_answer_row_is_on_screen_and_the_focus_is_safe(kind):
    """Issue 16's first blocker: the switchover dialog's field and buttons were below the screen. Each dialog,
    its body as long as the engine makes it: the title, the field (if any) and every button lie inside the 24
    rows, and the focus starts on the field to type in or on the choice that changes nothing."""
    app = DialogHost(DIALOGS[kind])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#buttons"), "the dialog")
        await pilot.pause()
        dialog = app.screen
        for widget in [dialog.query_one("#title"), *dialog.query("Input"), *dialog.query("Button")]:
            top, bottom = row_of(app, widget)
            assert 0 <= top and bottom < SIZE[1], f"{kind}: {widget} at rows {top}-{bottom}"
            assert widget.region.right <= SIZE[0]
        focused = app.focused
        assert focused is not None
        assert focused.id in {"switchover": "typed", "wipe": "typed", "host-key": "cancel",
                              "standby-picker": "pick-node2", "upgrade": "package", "export": "path"}[kind]


async def test_switchover_asks_for_the_target_node_not_yes_and_esc_cancels():
    """README: a switchover asks for the node name. `yes` is refused (Enter does nothing but warn), the target's
    name enables Confirm; Esc answers no. The field shows all that was typed (it showed `ye` at 100x30)."""
    app = DialogHost(DIALOGS["switchover"])
    async with app.run_test(size=SIZE) as pilot:
        dialog = await wait_for_dialog(pilot, TypedConfirm, "typed")   # ready for keys
        assert dialog.expected == "node2" and on_screen(app, "Type node2 exactly to continue")
        await pilot.press("y", "e", "s", "enter")
        await pilot.pause()
        assert app.answers == [] and dialog.query_one("#confirm").disabled
        field = dialog.query_one("#typed")
        assert "yes" in screen_lines(app)[field.region.y + 1]   # the field's text row, inside its border
        await pilot.press("backspace", "backspace", "backspace", *"node2")
        await wait_for(pilot, lambda: not dialog.query_one("#confirm").disabled, "Confirm enabled")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.answers == [False], "Esc to answer no")


async def test_a_long_body_scrolls_and_says_how_much_is_below():
    app = DialogHost(DIALOGS["switchover"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#more").has_class("-shown"), "the 'more' line")
        more = str(app.screen.query_one("#more").render())
        assert "more line(s) below" in more
        await pilot.press("pagedown", "pagedown", "pagedown")
        await wait_for(pilot, lambda: "the end" in str(app.screen.query_one("#more").render()), "the end")
        assert on_screen(app, "Mail service pauses for the move")   # the body's last line, now readable


async def test_wipe_asks_for_the_disk_path():
    app = DialogHost(DIALOGS["wipe"])
    async with app.run_test(size=SIZE) as pilot:
        expected = (await wait_for_dialog(pilot, TypedConfirm, "typed")).expected   # ready for keys
        assert expected.startswith("/dev/")
        await pilot.press(*expected, "enter")
        await wait_for(pilot, lambda: app.answers == [True], "the typed path to confirm")


async def test_node_picker_starts_on_the_passive_node_and_cancel_is_none():
    app = DialogHost(DIALOGS["standby-picker"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "pick-node2", "node2 focused")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.answers == [None], "Esc to cancel")


def test_safe_node_is_never_the_active_or_primary_one():
    from axha.tui.dialogs.questions import safe_node
    assert safe_node(("node1", "node2"), {"node1"}) == "node2"
    assert safe_node(("node1", "node2"), {"node2"}) == "node1"
    assert safe_node(("node1", "node2"), {"node1", "node2"}) is None


async def test_the_audit_view_is_newest_first_and_hides_read_only_commands_until_asked(tmp_path):
    path, entries = audit_entries(tmp_path)
    assert sum(is_read_only(e) for e in entries) == 12
    app = DialogHost(lambda: AuditViewer(path, entries))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, AuditViewer), "the audit view")
        await pilot.pause()
        lines = [line for line in screen_lines(app) if " node" in line and ":" in line[:12]]
        assert "journal of an earlier installation" in lines[0] and "--clear" in lines[1] and "--move" in lines[2]
        assert not on_screen(app, "crm_mon") and on_screen(app, "12 read-only commands hidden")
        await pilot.press("p")
        await wait_for(pilot, lambda: on_screen(app, "crm_mon --output-as=xml"), "the polls shown")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.answers == [None], "Esc to close")


def test_audit_text_marks_changes_and_failures(tmp_path):
    _, entries = audit_entries(tmp_path)
    text = audit_text(entries, show_polls=False).renderables
    plain = [t.plain for t in text]
    assert plain[1].split()[2:5] == ["rc=1", "*", "$"] and plain[2].split()[2:5] == ["rc=0", "*", "$"]


# ---------------------------------------------------------------- snapshots, 80x24


def test_snapshot_switchover_confirmation(snap_compare):
    """The switchover question at 80x24: the title 'Switch Axigen over from node1 to node2?', the first gates
    (PASS lines) in the scrolling body with its scrollbar, the line 'N more line(s) below: PgDn / PgUp scroll',
    'Type node2 exactly to continue (Esc cancels):', the empty field with the cursor in it, and the Cancel and
    the disabled red Confirm buttons on the bottom rows inside the orange frame."""
    assert snap_compare(DialogHost(DIALOGS["switchover"]), terminal_size=SIZE)


def test_snapshot_wipe_confirmation(snap_compare):
    """The install's wipe question: 'Erase /dev/... for DRBD metadata?', what is on the disk and that it will be
    lost, 'Type /dev/... exactly to continue', the field focused, Cancel and the disabled Confirm."""
    assert snap_compare(DialogHost(DIALOGS["wipe"]), terminal_size=SIZE)


def test_snapshot_host_key(snap_compare):
    """The unknown host key of node1 (192.168.77.201): the ed25519 fingerprint in bold orange, how to compare it
    on the node's console, and Refuse (focused) beside Accept."""
    assert snap_compare(DialogHost(DIALOGS["host-key"]), terminal_size=SIZE)


def test_snapshot_standby_picker(snap_compare):
    """Standby / unstandby: each node's state (node1 runs the mail service), then the buttons node1, node2
    (blue, focused: the passive node) and Cancel, in a blue frame."""
    assert snap_compare(DialogHost(DIALOGS["standby-picker"]), terminal_size=SIZE)


def test_snapshot_upgrade_dialog(snap_compare):
    """The upgrade's first page: the versions now, the package field (focused, its placeholder naming .deb, .rpm
    and .run), the two check boxes (switch back, licence), Cancel and Start."""
    assert snap_compare(DialogHost(DIALOGS["upgrade"]), terminal_size=SIZE)


def test_snapshot_export_path(snap_compare):
    """The preflight export: 'Write the preflight report as JSON to:', the field holding the absolute path
    /root/axha/preflight-axigen.json, Cancel and Write."""
    assert snap_compare(DialogHost(DIALOGS["export"]), terminal_size=SIZE)


def test_snapshot_log_viewer_long_error(snap_compare):
    """F6's log view: forty lines of log, the last the long switchover error wrapped over three lines and
    readable to its end ('...then run the switchover again.'), scrolled to the bottom."""
    lines = [f"-> step-{i}: done (applied in 0.{i} s)" for i in range(40)] + [LONG_ERROR]
    assert snap_compare(DialogHost(lambda: LogViewer(lines, "Log - audit: /var/log/axha/axigen-8699453a/"
                                                     "audit.jsonl")), terminal_size=SIZE)


def test_snapshot_keys_of_maintenance(snap_compare):
    """F1 on the maintenance screen: 'Maintenance keys' with every key and what it does in words (s, b, m, c, x,
    u, v, k, p, a, r; long lines wrapped under their text), the first of 'Everywhere' further down."""
    assert snap_compare(DialogHost(maintenance_keys), terminal_size=SIZE)


def test_snapshot_audit_view(snap_compare, tmp_path, monkeypatch):
    """The audit view newest first: the note, the failed clear (rc=1 in red) and the move, each change marked
    with a yellow '*'; the hint '12 read-only commands hidden: p shows them'; no crm_mon or drbdsetup poll."""
    path, entries = audit_entries(tmp_path)
    for e in entries:  # a fixed clock and path, so the picture does not change from run to run
        e["time"] = "2025-01-01T03:00:00.000Z"
    assert snap_compare(DialogHost(lambda: AuditViewer(Path("/var/log/axha/axigen-8699453a/audit.jsonl"),
                                                       entries)), terminal_size=SIZE)
