"""Bounded input: files read only when they are small regular files, YAML read as YAML 1.2 core with limits.

Everything axha reads from an admin (the cluster file, the secrets file) comes through here, so a hostile or
careless file ends in a short error naming its line, never in a hang, a memory blow-up or a traceback:
- `read_regular(path, limit)` (steps.files): only a regular file (never a FIFO, nor /dev/zero behind a symlink),
  of at most MAX_BYTES (64 KiB: a cluster file is about 2 KiB), read without blocking;
- `decode_utf8(data)`: strict UTF-8, the error names the line of the first bad byte.
- `load_yaml(text)`: PyYAML's scanner and parser, a composer that stops at MAX_DEPTH levels and MAX_ALIASES
  aliases, then one walk that builds plain Python values with at most MAX_VALUES values (aliases counted every
  time they are used, so an alias bomb stops at once), refuses duplicate keys, non-text keys, tags other than
  YAML's core ones, over-long scalars and control characters, and resolves plain scalars by the YAML 1.2 core
  schema: no sexagesimal numbers (`1:00` is text, not 60), no yes/no/on/off booleans, no `<<` merge keys, no
  timestamps. It returns the value and the line of every key path, for error messages.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from axha.steps.files import MAX_BYTES, FileProblem, read_regular

MAX_DEPTH = 16             # the cluster file nests 4 levels
MAX_ALIASES = 64
MAX_VALUES = 5000          # values after alias expansion (a cluster file has about 60)
MAX_SCALAR = 4096          # characters in one scalar
MAX_DIGITS = 20            # digits in one number (ports and minors have at most 7)

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, SEQ, MAP = (_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), full matches
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")

# characters no value in an admin's file has a use for, and that can change what a config file or a log line
# means: C0/C1 controls (newline, tab, escape, DEL...), format characters (bidi overrides, zero-width),
# surrogates, private use, line and paragraph separators
_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def bad_character(text: str) -> str | None:
    """The first character of `text` that has no place in a value (as U+XXXX with its name), or None."""
    for ch in text:
        if (ch < " " or ch > "~") and unicodedata.category(ch) in _BAD_CATEGORIES:
            name = unicodedata.name(ch, "") or {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB",
                                                 "\x1b": "ESCAPE", "\x00": "NUL"}.get(ch, "a control character")
            return f"U+{ord(ch):04X} ({name})"
    return None


# ---------------------------------------------------------------- files


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8 text; FileProblem with the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8",
                          line=data[: exc.start].count(b"\n") + 1) from None


# ---------------------------------------------------------------- YAML


@dataclass
class YamlProblem(Exception):
    """Where a YAML document went wrong: 1-based line (or None), the key path (may be empty), what."""

    line: int | None
    keypath: tuple
    message: str

    def __str__(self) -> str:
        return self.message


class _Resolver(BaseResolver):
    """Plain scalars by the YAML 1.2 core schema; quoted ones are text."""

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            if implicit[0]:
                for tag, pattern in ((NULL, _NULL), (BOOL, _BOOL), (INT, _INT), (FLOAT, _FLOAT)):
                    if pattern.fullmatch(value):
                        return tag
            return STR
        return SEQ if kind is SequenceNode else MAP


class _Composer(Composer):
    """PyYAML's composer with a depth and an alias budget, checked before it descends (it recurses per level)."""

    def __init__(self):
        super().__init__()
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlProblem(self.peek_event().start_mark.line + 1, (),
                                  f"more than {MAX_ALIASES} aliases (*name); write the values out")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlProblem(self.peek_event().start_mark.line + 1, (),
                                  f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Loader(Reader, Scanner, Parser, _Composer, _Resolver):
    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Composer.__init__(self)
        _Resolver.__init__(self)


def load_yaml(text: str, *, allow_empty: bool = True) -> tuple[Any, dict[tuple, int]]:
    """(value, {key path: line}) of one YAML document, bounded (see the module docstring). Raises YamlProblem."""
    if len(text) > MAX_BYTES:
        raise YamlProblem(None, (), f"more than {MAX_BYTES} characters")
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses non-printable characters here already
        root = loader.get_single_node()
    except YamlProblem:
        raise
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        raise YamlProblem(line, (), f"not valid YAML: the character U+{exc.character:04X} is not allowed in YAML "
                                    "text" if isinstance(exc.character, int) else "not valid YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlProblem(mark.line + 1 if mark else None, (), f"not valid YAML: {problem}") from None
    except RecursionError:  # not reached with MAX_DEPTH, kept so no input can give a traceback
        raise YamlProblem(None, (), f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if root is None:
        return None, lines
    return _Builder(lines).build(root, (), 0), lines


class _Builder:
    """Plain values from composed nodes. An aliased node is walked again each time it is used (that is what a
    later walk of the value would do), so the budget counts its expansion; errors and key lines inside an alias
    point at the line where it is used, not where its anchor was."""

    def __init__(self, lines: dict[tuple, int]):
        self.lines = lines
        self.budget = MAX_VALUES
        self.seen: set[int] = set()

    def build(self, node, path: tuple, depth: int, used_at: int | None = None) -> Any:
        self.budget -= 1
        fresh = id(node) not in self.seen
        self.seen.add(id(node))
        line = node.start_mark.line + 1 if fresh or used_at is None else used_at
        if self.budget < 0:
            raise YamlProblem(line, path, f"expands to more than {MAX_VALUES} values (aliases?); write it out plainly")
        if depth > MAX_DEPTH:
            raise YamlProblem(line, path, f"nested deeper than {MAX_DEPTH} levels (an alias inside itself?)")
        self.lines.setdefault(path, line)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path, line)
        inner = None if fresh else line
        if isinstance(node, SequenceNode):
            if node.tag != SEQ:
                raise YamlProblem(line, path, f"the YAML tag {node.tag} is not accepted here")
            return [self.build(item, path + (i,), depth + 1, line) for i, item in enumerate(node.value)]
        if node.tag != MAP:
            raise YamlProblem(line, path, f"the YAML tag {node.tag} is not accepted here")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1 if inner is None else inner
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(key_line, path, "a key must be a plain name, not a list or a mapping")
            key = key_node.value
            self.budget -= 1
            if len(key) > 128 or bad_character(key):
                raise YamlProblem(key_line, path, "a key must be a plain name (at most 128 characters, no control "
                                                  "characters)")
            if key in out:
                raise YamlProblem(key_line, path + (key,),
                                  f"duplicate key '{key}' (also on line {self.lines[path + (key,)]}); "
                                  "give each key once")
            self.lines[path + (key,)] = key_line
            out[key] = self.build(value_node, path + (key,), depth + 1, key_line)
        return out

    @staticmethod
    def scalar(node: ScalarNode, path: tuple, line: int) -> Any:
        value, tag = node.value, node.tag
        if len(value) > MAX_SCALAR:
            raise YamlProblem(line, path, f"a value longer than {MAX_SCALAR} characters")
        if tag == STR:
            bad = bad_character(value)
            if bad:
                raise YamlProblem(line, path, f"contains the character {bad}, which no value here may hold")
            return value
        if tag == NULL and _NULL.fullmatch(value):
            return None
        if tag == BOOL and _BOOL.fullmatch(value):
            return value.lower() == "true"
        if tag == INT and _INT.fullmatch(value):
            digits = value.lstrip("+-")
            if len(digits) > MAX_DIGITS:
                raise YamlProblem(line, path, f"a number with more than {MAX_DIGITS} digits")
            if digits.startswith(("0o", "0x")):
                return int(digits[2:], 8 if digits[1] == "o" else 16)
            return int(value, 10)
        if tag == FLOAT and _FLOAT.fullmatch(value):
            if len(value) > MAX_DIGITS + 8:
                raise YamlProblem(line, path, f"a number with more than {MAX_DIGITS} digits")
            return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
        raise YamlProblem(line, path, f"the YAML tag {tag} is not accepted here (write the value plainly)")


class _DumpResolver(yaml.resolver.Resolver):
    """PyYAML's own (YAML 1.1) resolver, and also the 1.2 core patterns: a string either would read as something
    else is written quoted, so what dump_yaml writes reads back the same with load_yaml (and with yaml.safe_load)."""

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode and implicit[0]:
            for tag, pattern in ((NULL, _NULL), (BOOL, _BOOL), (INT, _INT), (FLOAT, _FLOAT)):
                if pattern.fullmatch(value):
                    return tag
        return super().resolve(kind, value, implicit)


class _Dumper(yaml.emitter.Emitter, yaml.serializer.Serializer, yaml.representer.SafeRepresenter, _DumpResolver):
    def __init__(self, stream, **kwargs):
        yaml.emitter.Emitter.__init__(self, stream, width=kwargs.get("width"), allow_unicode=True)
        yaml.serializer.Serializer.__init__(self)
        yaml.representer.SafeRepresenter.__init__(self, default_flow_style=False, sort_keys=False)
        _DumpResolver.__init__(self)


def dump_yaml(data: Any) -> str:
    """YAML text of plain data (dicts, lists, text, numbers) that load_yaml reads back to the same data."""
    return yaml.dump(data, Dumper=_Dumper)


__all__ = ["dump_yaml", "FileProblem", "YamlProblem", "read_regular", "decode_utf8", "load_yaml", "bad_character",
           "MAX_BYTES", "MAX_DEPTH", "MAX_ALIASES", "MAX_VALUES"]
