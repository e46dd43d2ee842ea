"""Axigen's configuration file, `run/axigen.cfg` in the working directory (shared/AXIGEN.md), in Axigen's block
syntax (`Server { smtpIncoming = { listeners = ( { address = 127.0.0.1:25 ... } ) } ... }`): read into tokens and a
tree, its listeners, and the mail listeners bound to the VIP by editing only their address words (pure)."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from axha.steps.axigen import CLI_HOST, CLI_PORT, MAIL_SERVICES
from axha.steps.errors import InputError

MAX_CONFIG_BYTES = 4 << 20
MAX_DEPTH = 32
MAX_TOKENS = 500_000


# ---------------------------------------------------------------- axigen.cfg: tokens


class ConfigError(InputError):
    """axigen.cfg could not be read: says the line."""


@dataclass(frozen=True)
class Token:
    kind: str      # word | string | punct
    text: str
    start: int     # offsets into the file's text
    end: int
    line: int


_PUNCT = "{}()=,"
_WORD_STOP = set(_PUNCT + '"#') | set(" \t\r\n\f\v")


def tokenize(text: str, name: str = "axigen.cfg") -> list[Token]:
    """Axigen's block syntax as tokens: words, "strings", { } ( ) = , ; `#` and `/* */` comments skipped."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{name}: larger than {MAX_CONFIG_BYTES >> 20} MiB: not an Axigen configuration")
    tokens: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r\f\v":
            i += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ConfigError(f"{name}:{line}: a /* comment is never closed")
            line += text.count("\n", i, j)
            i = j + 2
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\n":
                    raise ConfigError(f"{name}:{line}: a quoted string runs past the end of the line")
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise ConfigError(f"{name}:{line}: a quoted string is never closed")
            tokens.append(Token("string", text[i:j + 1], i, j + 1, line))
            i = j + 1
        elif c in _PUNCT:
            tokens.append(Token("punct", c, i, i + 1, line))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _WORD_STOP and not text.startswith("/*", j):
                j += 1
            tokens.append(Token("word", text[i:j], i, j, line))
            i = j
        if len(tokens) > MAX_TOKENS:
            raise ConfigError(f"{name}:{line}: more than {MAX_TOKENS} tokens: not an Axigen configuration")
    return tokens


# ---------------------------------------------------------------- axigen.cfg: tree


@dataclass(frozen=True)
class Scalar:
    token: Token

    @property
    def text(self) -> str:
        t = self.token.text
        return re.sub(r"\\(.)", r"\1", t[1:-1]) if self.token.kind == "string" else t


@dataclass(frozen=True)
class Pair:
    key: Token
    value: "Value"


@dataclass(frozen=True)
class Block:
    pairs: tuple[Pair, ...]
    line: int

    def get(self, key: str) -> "Value | None":
        """The value of `key` (Axigen's own names; compared without case)."""
        wanted = key.lower()
        return next((p.value for p in self.pairs if p.key.text.lower() == wanted), None)


@dataclass(frozen=True)
class List:
    items: tuple["Value | Pair", ...]
    line: int


Value = Scalar | Block | List


class _Parser:
    def __init__(self, tokens: list[Token], name: str, last_line: int):
        self.tokens, self.i, self.name, self.last_line = tokens, 0, name, last_line

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def error(self, what: str) -> ConfigError:
        tok = self.peek()
        where = tok.line if tok else self.last_line
        got = f"{tok.text!r}" if tok else "the end of the file"
        return ConfigError(f"{self.name}:{where}: expected {what}, found {got}")

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            raise self.error(repr(text) if text else kind or "more")
        self.i += 1
        return tok

    def pairs(self, depth: int, closer: str | None) -> tuple[Pair, ...]:
        out = []
        while True:
            tok = self.peek()
            if tok is None:
                if closer is None:
                    return tuple(out)
                raise self.error(f"'{closer}'")
            if closer is not None and tok.text == closer and tok.kind == "punct":
                return tuple(out)
            if tok.kind == "punct" and tok.text == ",":
                self.i += 1
                continue
            key = self.take(kind="word")
            nxt = self.peek()
            if closer is None and nxt is not None and nxt.text == "{" and nxt.kind == "punct":
                out.append(Pair(key, self.value(depth)))     # top level: `Server { ... }`
                continue
            self.take("=")
            out.append(Pair(key, self.value(depth)))

    def value(self, depth: int) -> Value:
        if depth > MAX_DEPTH:
            raise self.error(f"at most {MAX_DEPTH} nested blocks")
        tok = self.peek()
        if tok is None:
            raise self.error("a value")
        if tok.kind in ("word", "string"):
            self.i += 1
            return Scalar(tok)
        if tok.text == "{":
            self.i += 1
            pairs = self.pairs(depth + 1, "}")
            self.take("}")
            return Block(pairs, tok.line)
        if tok.text == "(":
            self.i += 1
            items: list[Value | Pair] = []
            while True:
                cur = self.peek()
                if cur is None:
                    raise self.error("')'")
                if cur.kind == "punct" and cur.text == ")":
                    self.i += 1
                    return List(tuple(items), tok.line)
                if cur.kind == "punct" and cur.text == ",":
                    self.i += 1
                    continue
                after = self.peek(1)
                if cur.kind == "word" and after is not None and after.kind == "punct" and after.text == "=":
                    self.i += 2   # a list of key = value pairs (e.g. userDb's ldapConnectors)
                    items.append(Pair(cur, self.value(depth + 1)))
                else:
                    items.append(self.value(depth + 1))
        raise self.error("a value")


def parse_config(text: str, name: str = "axigen.cfg") -> Block:
    """The whole file as one Block of top-level pairs (normally one: `Server { ... }`)."""
    tokens = tokenize(text, name)
    return Block(_Parser(tokens, name, text.count("\n") + 1).pairs(0, None), 1)


def server_block(root: Block, name: str = "axigen.cfg") -> Block:
    server = root.get("Server")
    if not isinstance(server, Block):
        raise ConfigError(f"{name}: no `Server {{ ... }}` block: not an Axigen configuration")
    return server


# ---------------------------------------------------------------- listeners


@dataclass(frozen=True)
class Listener:
    service: str
    address: str           # as written, e.g. 127.0.0.1:25
    host: str
    port: int
    enabled: bool
    token: Token

    def to_dict(self) -> dict:
        return {"service": self.service, "address": self.address, "enabled": self.enabled}


def split_address(address: str) -> tuple[str, int] | None:
    """'127.0.0.1:25' -> ('127.0.0.1', 25); '[::1]:25' -> ('::1', 25); None when it is not host:port."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^\s:\[\]]+):(\d{1,5})", address)
    if not m:
        return None
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return (host, int(port)) if 0 < int(port) < 65536 else None


def render_address(host: str, port: int) -> str:
    """A listener address Axigen's parser reads as one bare word (the host is an IP address, checked here)."""
    ip = ipaddress.ip_address(host)
    if not 0 < int(port) < 65536:
        raise ValueError(f"port {port}")
    return f"[{ip.compressed}]:{int(port)}" if ip.version == 6 else f"{ip.compressed}:{int(port)}"


def listeners(root: Block, name: str = "axigen.cfg") -> tuple[Listener, ...]:
    """Every listener of every service block of `Server`."""
    out = []
    for pair in server_block(root, name).pairs:
        if not isinstance(pair.value, Block):
            continue
        found = pair.value.get("listeners")
        if not isinstance(found, List):
            continue
        for item in found.items:
            if not isinstance(item, Block):
                continue
            addr = item.get("address")
            if not isinstance(addr, Scalar):
                continue
            parts = split_address(addr.text)
            enable = item.get("enable")
            enabled = not (isinstance(enable, Scalar) and enable.text.lower() in ("no", "false", "0"))
            out.append(Listener(pair.key.text, addr.text, parts[0] if parts else "", parts[1] if parts else 0,
                                enabled, addr.token))
    return tuple(out)


def _is_local_or_any(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


@dataclass(frozen=True)
class BindPlan:
    """What binding the mail listeners to the VIP changes in axigen.cfg."""

    text: str                                   # the new file (== the old one when nothing changes)
    changes: tuple[tuple[str, str, str], ...]   # (service, old address, new address)
    problems: tuple[str, ...]                   # what stops the binding (the file is then unchanged)
    notes: tuple[str, ...]                      # listeners left alone, and why

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def describe(self) -> str:
        return "; ".join(f"{s} {old} -> {new}" for s, old, new in self.changes) or "nothing to change"


def bind_plan(text: str, vip: str, name: str = "axigen.cfg") -> BindPlan:
    """Bind every listener of the mail services (MAIL_SERVICES) that is on the loopback or on every address to
    the VIP, keeping its port; the CLI and WebAdmin stay as they are. Edits only the address words, so comments
    and everything else in the file stay byte for byte (raises ConfigError on a file it cannot read)."""
    root = parse_config(text, name)
    found = listeners(root, name)
    vip_ip = ipaddress.ip_address(vip)
    edits, changes, notes, problems = [], [], [], []
    for lst in found:
        if lst.service.lower() not in {s.lower() for s in MAIL_SERVICES}:
            if lst.service.lower() == "cli" and not _is_local_or_any(lst.host):
                notes.append(f"the CLI listens on {lst.address}, not on the loopback: axha reads the running "
                             f"version from {CLI_HOST}:{CLI_PORT}")
            continue
        if not lst.host:
            problems.append(f"{name}:{lst.token.line}: {lst.service} listener address {lst.address!r} is not "
                            "host:port")
            continue
        try:
            if ipaddress.ip_address(lst.host) == vip_ip:
                continue
        except ValueError:
            pass
        if not _is_local_or_any(lst.host):
            notes.append(f"{lst.service} listener {lst.address} is on another address: left as it is")
            continue
        new = render_address(vip, lst.port)
        edits.append((lst.token, new))
        changes.append((lst.service, lst.address, new))
    services = {lst.service.lower() for lst in found}
    if "smtpincoming" not in services:
        problems.append(f"{name}: no smtpIncoming listener: Axigen would not receive mail")
    if problems:
        return BindPlan(text, (), tuple(problems), tuple(notes))
    out = text
    for token, new in sorted(edits, key=lambda e: e[0].start, reverse=True):
        out = out[:token.start] + new + out[token.end:]
    # render, then read back: the result must parse and hold exactly the planned addresses
    after = {(lst.service, lst.address) for lst in listeners(parse_config(out, name), name)}
    for service, _old, new in changes:
        if (service, new) not in after:
            raise ConfigError(f"{name}: the rewritten file does not read back {service} {new}")
    return BindPlan(out, tuple(changes), (), tuple(notes))


def bound_to(text: str, vip: str, name: str = "axigen.cfg") -> tuple[bool, str]:
    """(every enabled mail listener is on the VIP and SMTP has one, what the file says) for verify/status."""
    found = listeners(parse_config(text, name), name)
    vip_ip = ipaddress.ip_address(vip)
    mail = [lst for lst in found if lst.service.lower() in {s.lower() for s in MAIL_SERVICES} and lst.enabled]

    def on_vip(lst: Listener) -> bool:
        try:
            return ipaddress.ip_address(lst.host) == vip_ip
        except ValueError:
            return False
    smtp = [lst for lst in mail if lst.service.lower() == "smtpincoming"]
    wrong = [lst for lst in mail if _is_local_or_any(lst.host)]
    ok = bool(smtp) and any(on_vip(lst) for lst in smtp) and not wrong
    summary = ", ".join(f"{lst.service} {lst.address}" for lst in found if lst.enabled) or "no listeners"
    return ok, summary
