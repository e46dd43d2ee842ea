"""The second wall behind validation: the pieces renderers put values into (corosync.conf and DRBD .res words,
fence-agents' key=value stdin, CIB XML attributes) refuse any value that could change the structure around it.

Validation (steps.spec_load) already refuses such values; these checks make a renderer safe on its own, so a value that
reaches it some other way (a future field, a spec built in code) raises RenderError instead of writing a newline,
a brace, a quote or a semicolon into a file a root daemon reads.
"""
from __future__ import annotations

import re

from axha.steps.errors import InputError

# a word in corosync.conf (`key: value` to the end of the line; `{`, `}` and `#` are structure) or in a DRBD
# resource file (words end at whitespace; `;`, `{`, `}`, `"` and `#` are structure): no whitespace, no quotes,
# nothing but what names, numbers, addresses and device paths are made of
CONF_WORD = re.compile(r"[A-Za-z0-9_.:%/@+\[\]-]+")
OPTION_NAME = re.compile(r"[a-z][a-z0-9_-]*")
# what Python's str.splitlines (and so fence-agents' readlines on a text stream, which also turns \r into a line
# end) treats as a line end, and what else has no place in an option value
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
# characters XML 1.0 forbids, or that an XML parser turns into a space in an attribute (tab, CR, LF)
_XML_BAD = re.compile("[\x00-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


class RenderError(InputError):
    """A value a renderer refuses: it could change the structure of the file or stream it goes into."""


def conf_word(value: object, what: str) -> str:
    """`value` as one word of a config file, or RenderError."""
    text = str(value)
    if not CONF_WORD.fullmatch(text):
        raise RenderError(f"refusing to write {what} {_show(text)} into a configuration file: only letters, digits "
                          "and _ . : % / @ + - [ ] are allowed there",
                          remedy="Check the cluster file with `axha validate`.")
    return text


def option_lines(pairs: "list[tuple[str, object]] | tuple[tuple[str, object], ...]",
                 secret: "set[str] | frozenset[str]" = frozenset()) -> str:
    """fence-agents' stdin options: one `name=value` line each (fence-agents read them when the agent gets no
    arguments: fencing.py _parse_input_stdin strips each line, splits at the first `=` and removes one pair of
    double quotes around the value). A value that starts or ends with a space or a double quote is written in
    double quotes, so it comes back exactly; a value with a line break or a control character is refused (it would
    end the line and start an option of its own, e.g. password_script). Names in `secret` are never shown in an
    error."""
    lines = []
    for name, value in pairs:
        text = str(value)
        if not OPTION_NAME.fullmatch(name):
            raise RenderError(f"refusing the fence agent option name {_show(name)}")
        if _LINE_BREAKING.search(text):
            shown = "its value" if name in secret else _show(text)
            raise RenderError(f"refusing to pass {shown} as the fence agent option {name}: it holds a line break "
                              "or a control character", remedy="Check the cluster file and the secrets.")
        if text != text.strip() or text.startswith('"') or text.endswith('"'):
            text = f'"{text}"'
        lines.append(f"{name}={text}\n")
    return "".join(lines)


def xml_attr(value: object) -> str:
    """`value` escaped for an XML attribute in double quotes, or RenderError for a character XML would drop,
    refuse or turn into a space."""
    text = str(value)
    if _XML_BAD.search(text):
        raise RenderError(f"refusing to write {_show(text)} into the CIB: it holds a control character",
                          remedy="Check the cluster file with `axha validate`.")
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;"))


def _show(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."
