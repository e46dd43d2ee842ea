"""The one-round-trip protocol of axha's read-only node scripts: each command's output between two marker lines,

    @@axha NAME
    ...the command's stdout and stderr...
    @@axha-rc NAME RC

so one SSH round trip answers many questions and every answer keeps its own exit code. SEC_FUNC is the shell side
(`sec NAME CMD ARGS...`), split_sections the reading side. Used by preflight (checks.script) and the install's
disk guard (steps.disk).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MARK = "@@axha"
MAX_OUTPUT = 4 * 2**20   # what a reader looks at of one command's output

SEC_FUNC = (r"""sec() { n=$1; shift; printf '%s %s\n' '@@axha' "$n"; "$@" </dev/null 2>&1; rc=$?; """
            r"""printf '\n%s-rc %s %s\n' '@@axha' "$n" "$rc"; }""")

_BEGIN = re.compile(r"^@@axha ([a-z0-9_]+)$")
_END = re.compile(r"^@@axha-rc ([a-z0-9_]+) (-?\d+)$")


@dataclass(frozen=True)
class Section:
    """One command's output inside the script's output: its exit code and text (stdout and stderr merged)."""

    name: str
    rc: int
    text: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def begin_line(name: str) -> str:
    """The line that opens section `name` (a streaming reader can react to it)."""
    return f"{MARK} {name}"


def is_end_line(line: str) -> bool:
    """True for a line that closes a section (a streaming reader can parse what came so far)."""
    return _END.match(line) is not None


def split_sections(output: str) -> dict[str, Section]:
    """Cut the script's output at its markers; a section without an end marker (cut short) gets rc -1."""
    sections: dict[str, Section] = {}
    name, lines = None, []
    for line in output.splitlines():
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if name is not None:
                sections[name] = Section(name, -1, "\n".join(lines))
            name, lines = begin.group(1), []
        elif end and name == end.group(1):
            text = "\n".join(lines)
            sections[name] = Section(name, int(end.group(2)), text[:-1] if text.endswith("\n") else text)
            name, lines = None, []
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections[name] = Section(name, -1, "\n".join(lines))
    return sections


# ---------------------------------------------------------------- reading what node commands print


def extract_json(text: str) -> Any:
    """The JSON document inside a command's merged output (warnings before or after it are ignored)."""
    text = text[:MAX_OUTPUT]
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError("no JSON in the output")
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    return json.loads(text[start:end + 1])


def key_values(text: str, sep: str = ":") -> dict[str, str]:
    """`Key : value` lines into a dict (first occurrence wins, keys stripped)."""
    out: dict[str, str] = {}
    for line in text[:MAX_OUTPUT].splitlines():
        if sep in line:
            key, value = line.split(sep, 1)
            out.setdefault(key.strip(), value.strip())
    return out
