"""Audit log entries in words (pure: entries -> rich text), for the audit viewer."""
from __future__ import annotations

from rich.console import Group
from rich.text import Text

AUDIT_SHOWN = 400


def is_read_only(entry: dict) -> bool:
    """A command that changed nothing (a poll, a check); notes and file writes are not."""
    argv = entry.get("argv") or []
    return bool(argv) and not entry.get("mutating") and not str(argv[0]).startswith("<")


def hidden_count(entries: list[dict]) -> int:
    return sum(1 for e in entries if is_read_only(e))


def audit_line(e: dict) -> Text:
    """`HH:MM:SS node rc * $ argv` for a command (`*`: it changed something), the note's text for a note."""
    when = str(e.get("time", ""))[11:19]
    node = str(e.get("node", ""))
    argv = e.get("argv") or []
    line = Text(f"{when} {node:<8} ")
    if not argv:
        line.append(str(e.get("stdout", "")).strip()[:300], style="italic")
        return line
    rc = e.get("rc")
    line.append(f"rc={rc} ", style="" if rc == 0 else "bold red")
    line.append("* " if e.get("mutating") else "  ", style="bold yellow")
    line.append("$ " + " ".join(str(a) for a in argv)[:300])
    if e.get("unchanged"):
        line.append(f"  (same answer {e['unchanged']} more times before)", style="dim")
    return line


def audit_text(entries: list[dict], show_polls: bool, limit: int = AUDIT_SHOWN) -> Group | Text:
    shown = [e for e in reversed(entries) if show_polls or not is_read_only(e)][:limit]
    if not shown:
        return Text("No command that changed something is logged yet." if not show_polls and entries else
                    "The audit log is empty.")
    return Group(*(audit_line(e) for e in shown))
