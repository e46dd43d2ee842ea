"""What is on the terminal, as text: the lines the compositor paints (modal dialogs included), for assertions
about what an admin can read at 80x24."""
from __future__ import annotations


def screen_lines(app) -> list[str]:
    """Every row of the screen as painted now, one string per row (trailing spaces kept)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def on_screen(app, text: str) -> bool:
    return any(text in line for line in screen_lines(app))


def row_of(app, widget) -> tuple[int, int]:
    """(first row, last row) of a widget's region on the screen."""
    region = widget.region
    return region.y, region.y + region.height - 1
