"""The log pane at 80x24: long lines wrap (an error's advice is never cut at the width), the pane keeps following
new lines (after the plan view, after hiding and showing it, after a resize) unless the admin scrolled back, and F6
shows the whole log."""
from __future__ import annotations

from textual.widgets import OptionList

from axha.steps.framework import OutputLine, PlanReady, StepFinished, StepStarted
from tests.app.screen_text import screen_lines
from tests.app.test_dialogs import LONG_ERROR
from tests.app.test_install_screen import load_events
from tests.waiting import wait_for
from axha.tui.app import AxhaApp
from axha.tui.dialogs.readers import LogViewer
from axha.tui.widgets.logpane import LogPane, wrap_line

SIZE = (80, 24)


def test_wrap_line_keeps_every_word_and_indents_the_continuations():
    lines = wrap_line("   [node2] " + LONG_ERROR, 60)
    assert all(len(line) <= 60 for line in lines) and len(lines) > 3
    assert " ".join(part.strip() for part in lines) == "[node2] " + LONG_ERROR
    assert lines[0].startswith("   [node2]") and all(line.startswith("     ") for line in lines[1:])
    assert wrap_line("short", 60) == ["short"] and wrap_line("x" * 100, 60) == ["x" * 60, "  " + "x" * 40]


def pane_rows(app) -> list[str]:
    """The text rows of the current screen's log pane, as painted."""
    pane = app.screen.query_one(LogPane)
    rows = screen_lines(app)
    region = pane.scrollable_content_region  # the text, without the scrollbar
    return [rows[y][region.x:region.right].rstrip() for y in range(region.y, region.bottom)]


def pane_words(app) -> str:
    return " ".join(" ".join(row.split()) for row in pane_rows(app))


async def test_a_long_error_in_the_log_is_readable_in_full():
    """Issue 16: error advice read `To continue: fix th`. In the pane the error wraps into rows that fit the
    width, its end on the screen and its beginning one scroll up; F6 shows it whole, with the rest of the log."""
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query(LogPane), "the inventory's log pane")
        pane = app.screen.query_one(LogPane)
        app.write_log(LONG_ERROR)
        await wait_for(pilot, lambda: "switchover again." in pane_words(app), "the error's last words in the pane")
        rows = pane.lines[-len(wrap_line(LONG_ERROR, pane.text_width)):]
        assert " ".join(" ".join(row.split()) for row in rows) == " ".join(LONG_ERROR.split())
        assert all(len(row) <= pane.text_width for row in rows) and pane.text_width <= SIZE[0]
        pane.focus()
        await pilot.press("up", "up", "up")
        await wait_for(pilot, lambda: " ".join(rows[0].split()) in pane_words(app), "its first row")
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, LogViewer), "the log view")
        await pilot.pause()
        shown = " ".join(" ".join(line.split()) for line in screen_lines(app))
        assert " ".join(LONG_ERROR.split()).replace("█", "") in shown.replace("█ ", "").replace(" █", "")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LogViewer), "the log view closed")


async def test_the_log_follows_new_lines_after_the_plan_view_and_while_hidden():
    """Issue 16: after the plan view the pane stopped following for a whole install. Here: a plan-only run, the
    admin walks the step list (the plan view), then the install's output streams in: the last line is on the
    screen each time; scrolled back the pane stays put and says so, End follows again; hidden with Ctrl+L and
    shown again, or the terminal resized, it is still at the newest line."""
    events = load_events()
    app = AxhaApp(startup_checks=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen.query("#steps"), "the install screen")
        screen = app.screen
        for event in events:  # the plan view: every step planned, with its commands
            if isinstance(event, (StepStarted, PlanReady)):
                screen.feed(event)
            elif isinstance(event, StepFinished):
                screen.feed(StepFinished(event.step_id, "planned", "plan ready"))
        screen.query_one("#steps", OptionList).focus()
        await pilot.press("down", "down", "down", "up")
        pane = screen.query_one(LogPane)
        for i in range(120):
            screen.feed(OutputLine("drbd-initial-sync", "node1", f"output {i}: " + "words that wrap " * (i % 7)))
        await wait_for(pilot, lambda: "output 119:" in pane_words(app), "the newest line on screen")
        assert pane.following and not pane.border_title.startswith("scrolled back")

        pane.focus()
        await pilot.press("up", "up", "up")
        await wait_for(pilot, lambda: not pane.following, "the pane to stop following")
        assert "End follows again" in " ".join(screen_lines(app))
        app.write_log("while scrolled back")
        await pilot.pause()
        assert "while scrolled back" not in pane_words(app)
        await pilot.press("end")
        await wait_for(pilot, lambda: pane.following and "while scrolled back" in pane_words(app), "End")

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not pane.display, "the pane hidden")
        for i in range(30):
            app.write_log(f"hidden {i}")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "hidden 29" in pane_words(app), "the newest line after showing the pane")

        await pilot.resize_terminal(120, 30)
        app.write_log("after the resize " + "wide " * 30)
        await wait_for(pilot, lambda: "after the resize" in pane_words(app), "the newest line after a resize")
        assert pane.following
