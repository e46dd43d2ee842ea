#!/usr/bin/python3
"""Axigen stand-in for the axha lab: the real Axigen's options, axigen.cfg, CLI and mail services (stdlib only).

Installed as /opt/axigen/bin/axigen by the lab's axigen .deb; the builder replaces @VERSION@. Every behaviour
here has a source line in AXIGEN.md or is listed in lab/axigen/README.md as an unknown resolved the hard way.
Mail lives under /var/opt/axigen/domains/<domain>/<user>/<id>.eml; nothing here deletes a message except a
POP3 client's DELE followed by QUIT.
"""

import email.utils
import hashlib
import hmac
import ipaddress
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

VERSION = "@VERSION@"
WORKDIR = "/var/opt/axigen"                 # fixed, as the real one's
DEFAULT_CONFIG = WORKDIR + "/run/axigen.cfg"
DEFAULT_PIDFILE = WORKDIR + "/run/axigen.pid"
PASSWORD_FILE = "serverData/admin.pwd"      # relative to WORKDIR
SKELETON_DIRS = ("bitdefender", "domains", "filters", "log", "queue", "reporting", "run", "serverData")
SKELETON_FILES = {
    "axigen_cert.pem": ("-----BEGIN CERTIFICATE-----\naxha lab stand-in: not a certificate\n"
                        "-----END CERTIFICATE-----\n"),
    "axigen_dh.pem": ("-----BEGIN DH PARAMETERS-----\naxha lab stand-in: not DH parameters\n"
                      "-----END DH PARAMETERS-----\n"),
}
DEFAULT_DOMAIN = "localdomain"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
LINE_LIMIT = 4096
MAX_MESSAGE = 10 * 1024 * 1024
CLI_SESSION_SECONDS = 1800
_counter_lock = threading.Lock()
_counter = [0]

# the service blocks of axigen.cfg the stand-in serves, and their names in Server.services
SERVICE_NAMES = {"smtpIncoming": "smtp", "imap": "imap", "pop3": "pop3", "cli": "cli", "webadmin": "webadmin",
                 "webmail": "webmail"}
# what the CLI calls them (CONFIG SMTP-INCOMING ...) and the prompt word
CLI_SERVICES = {"SMTP-INCOMING": "smtpIncoming", "IMAP": "imap", "POP3": "pop3", "WEBADMIN": "webadmin",
                "CLI": "cli", "WEBMAIL": "webmail"}

DEFAULT_CONFIG_TEXT = """\
Server {
  services = (log processing smtp imap pop3 cli webadmin)
  smtpIncoming = {
    listeners = (
      {
        address = 127.0.0.1:25
        enable = yes
      }
    )
  }
  imap = {
    listeners = (
      {
        address = 127.0.0.1:143
        enable = yes
      }
    )
  }
  pop3 = {
    listeners = (
      {
        address = 127.0.0.1:110
        enable = yes
      }
    )
  }
  cli = {
    listeners = (
      {
        address = 127.0.0.1:7000
        enable = yes
      }
    )
  }
  webadmin = {
    listeners = (
      {
        address = 127.0.0.1:9000
        enable = yes
      }
    )
  }
}
"""


# ------------------------------------------------------------------ axigen.cfg
class ConfigError(Exception):
    """axigen.cfg is malformed: the message names file:line."""


class Word(str):
    """A bare word (yes, 127.0.0.1:25, smtp)."""


class Quoted(str):
    """A "quoted string"."""


class Block(list):
    """{ key = value ... }: an ordered list of [key, value] pairs."""

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def put(self, key, value):
        for pair in self:
            if pair[0] == key:
                pair[1] = value
                return
        self.append([key, value])


MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32
_SPECIAL = set('{}()=,"#')


def tokenize(text, path):
    """(kind, value, line) tokens; kind is one of { } ( ) = , word string. Linear in the input."""
    tokens, i, line, n = [], 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ConfigError(f"{path}:{line}: comment /* not closed")
            line += text.count("\n", i, end)
            i = end + 2
        elif c in "{}()=,":
            tokens.append((c, c, line))
            i += 1
        elif c == '"':
            j, out = i + 1, []
            while True:
                if j >= n or text[j] == "\n":
                    raise ConfigError(f"{path}:{line}: string not closed on its line")
                if text[j] == "\\" and j + 1 < n and text[j + 1] in '"\\':
                    out.append(text[j + 1])
                    j += 2
                elif text[j] == '"':
                    break
                else:
                    out.append(text[j])
                    j += 1
            tokens.append(("string", "".join(out), line))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _SPECIAL and not text[j].isspace() and not text.startswith("/*", j):
                j += 1
            tokens.append(("word", text[i:j], line))
            i = j
    return tokens


class _Parser:
    def __init__(self, tokens, path):
        self.tokens, self.pos, self.path = tokens, 0, path

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "", self.last_line())

    def last_line(self):
        return self.tokens[-1][2] if self.tokens else 1

    def take(self, kind, what):
        token = self.peek()
        if token[0] != kind:
            shown = "end of file" if token[0] == "end" else repr(token[1])
            raise ConfigError(f"{self.path}:{token[2]}: expected {what}, found {shown}")
        self.pos += 1
        return token

    def body(self, depth, closer):
        """key = value pairs up to closer ('}' or 'end')."""
        if depth > MAX_DEPTH:
            raise ConfigError(f"{self.path}:{self.peek()[2]}: blocks nested deeper than {MAX_DEPTH}")
        block = Block()
        while self.peek()[0] != closer:
            key = self.take("word", "a setting name")
            self.take("=", f"'=' after {key[1]!r}")
            value = self.value(depth)
            block.append([key[1], value])
            if isinstance(value, list) and not isinstance(value, Block) and self.peek()[0] == ",":
                self.pos += 1  # an optional comma after a list
        return block

    def value(self, depth):
        kind, text, line = self.peek()
        if kind == "word":
            self.pos += 1
            return Word(text)
        if kind == "string":
            self.pos += 1
            return Quoted(text)
        if kind == "{":
            self.pos += 1
            block = self.body(depth + 1, "}")
            self.take("}", "'}'")
            return block
        if kind == "(":
            self.pos += 1
            if depth + 1 > MAX_DEPTH:
                raise ConfigError(f"{self.path}:{line}: lists nested deeper than {MAX_DEPTH}")
            items = []
            while self.peek()[0] != ")":
                if self.peek()[0] == "end":
                    raise ConfigError(f"{self.path}:{line}: list '(' not closed")
                items.append(self.value(depth + 1))
            self.take(")", "')'")
            return items
        shown = "end of file" if kind == "end" else repr(text)
        raise ConfigError(f"{self.path}:{line}: expected a value, found {shown}")


def parse_config(text, path="axigen.cfg"):
    """The Block of the whole file: one top-level `Server { ... }`."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}:1: file larger than {MAX_CONFIG_BYTES} bytes")
    parser = _Parser(tokenize(text, path), path)
    name = parser.take("word", "'Server'")
    if name[1] != "Server":
        raise ConfigError(f"{path}:{name[2]}: expected 'Server', found {name[1]!r}")
    parser.take("{", "'{' after 'Server'")
    server = parser.body(1, "}")
    parser.take("}", "'}' closing 'Server'")
    parser.take("end", "end of file after the 'Server' block")
    return server


def render_value(value, indent):
    pad = "  " * indent
    if isinstance(value, Block):
        inner = "".join(f"{pad}  {k} = {render_value(v, indent + 1)}\n" for k, v in value)
        return "{\n" + inner + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(v, list) for v in value):
            return "(" + " ".join(render_value(v, indent) for v in value) + ")"
        inner = "".join(f"{pad}  {render_value(v, indent + 1)}\n" for v in value)
        return "(\n" + inner + pad + ")"
    if isinstance(value, Quoted) or not value or any(c in _SPECIAL or c.isspace() for c in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def render_config(server):
    return "Server " + render_value(server, 0) + "\n"


def parse_address(text):
    """(host, port, family) of 'ip:port' or '[ipv6]:port'; ValueError if it is not one."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})", text or "")
    if not match:
        raise ValueError(f"{text!r} is not an address ip:port or [ipv6]:port")
    host, port = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    family = socket.AF_INET6 if match.group(1) else socket.AF_INET
    ipaddress.ip_address(host)
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: port out of range")
    return host, int(port), family


def listeners_of(server, path):
    """[(block name, host, port, family)] of the enabled listeners of the services that run."""
    services = server.get("services")
    running = None if services is None else {str(s) for s in services}
    wanted = []
    for key, value in server:
        if key not in SERVICE_NAMES or not isinstance(value, Block):
            continue
        if running is not None and SERVICE_NAMES[key] not in running:
            continue
        listeners = value.get("listeners", [])
        if not isinstance(listeners, list) or isinstance(listeners, Block):
            raise ConfigError(f"{path}: {key}.listeners is not a list")
        for listener in listeners:
            if not isinstance(listener, Block):
                raise ConfigError(f"{path}: {key}.listeners holds {listener!r}, not a {{ }} block")
            if str(listener.get("enable", "no")) != "yes":
                continue
            try:
                host, port, family = parse_address(listener.get("address"))
            except ValueError as error:
                raise ConfigError(f"{path}: {key} listener: {error}") from None
            wanted.append((key, host, port, family))
    return wanted


def atomic_write(path, data, mode=0o600):
    temp = f"{path}.tmp{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def load_config(path):
    """The Server block of the configuration file; the default file is written first when it is missing."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        atomic_write(path, DEFAULT_CONFIG_TEXT, 0o600)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_CONFIG_BYTES + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    return parse_config(text, path)


# ------------------------------------------------------------------ working directory and admin password
def ensure_workdir():
    """The 10.4+ working-directory skeleton, for whatever of it is missing (mail is never touched)."""
    for sub in SKELETON_DIRS:
        os.makedirs(os.path.join(WORKDIR, sub), exist_ok=True)
    for name, content in SKELETON_FILES.items():
        path = os.path.join(WORKDIR, name)
        if not os.path.exists(path):
            atomic_write(path, content, 0o600)


def hash_password(password, salt=None, rounds=100_000):
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"pbkdf2_sha256${rounds}${salt.hex()}${digest.hex()}"


def check_password(password):
    try:
        with open(os.path.join(WORKDIR, PASSWORD_FILE), encoding="utf-8") as handle:
            stored = handle.read().strip()
        _, rounds, salt, _ = stored.split("$")
        return hmac.compare_digest(hash_password(password, bytes.fromhex(salt), int(rounds)), stored)
    except (OSError, ValueError):
        return False


def set_admin_password(password):
    ensure_workdir()
    atomic_write(os.path.join(WORKDIR, PASSWORD_FILE), hash_password(password) + "\n", 0o600)


# ------------------------------------------------------------------ mail store
class Store:
    """The mail store under WORKDIR/domains."""

    def mailbox(self, address):
        """Directory of an address 'user@domain' (or 'user' in the default domain); None if invalid."""
        address = address.strip().strip("<>").lower()
        user, _, domain = address.partition("@")
        domain = domain or DEFAULT_DOMAIN
        if not NAME_RE.match(user) or not NAME_RE.match(domain) or ".." in user + domain:
            return None
        return os.path.join(WORKDIR, "domains", domain, user)

    def deliver(self, mailbox, data):
        os.makedirs(mailbox, exist_ok=True)
        with _counter_lock:
            _counter[0] += 1
            message_id = "%020d.%d.%d" % (time.time_ns(), os.getpid(), _counter[0])
        final = os.path.join(mailbox, message_id + ".eml")
        temp = os.path.join(mailbox, "." + message_id + ".tmp")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
        dirfd = os.open(mailbox, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        return message_id

    def messages(self, mailbox):
        """Paths of the messages in a mailbox, oldest first."""
        try:
            names = sorted(n for n in os.listdir(mailbox) if n.endswith(".eml"))
        except FileNotFoundError:
            return []
        return [os.path.join(mailbox, n) for n in names]


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


# ------------------------------------------------------------------ protocol plumbing
class Session(socketserver.StreamRequestHandler):
    """One client connection: line I/O with CRLF."""

    timeout = 300

    def send(self, line, end="\r\n"):
        self.wfile.write((line + end).encode("utf-8", "replace"))

    def recv(self):
        """One line without its end, or None at end of connection (or a line over the limit)."""
        raw = self.rfile.readline(LINE_LIMIT + 2)
        if not raw or (len(raw) > LINE_LIMIT and not raw.endswith(b"\n")):
            return None
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    @property
    def app(self):
        return self.server.app

    def handle(self):
        try:
            self.converse()
        except (ConnectionError, socket.timeout, OSError):
            pass


class SmtpSession(Session):
    def converse(self):
        host = self.app.hostname
        self.send(f"220 {host} Axigen ESMTP ready")
        helo, sender, recipients = None, None, []
        while True:
            line = self.recv()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                if not arg.strip():
                    self.send(f"501 {verb} requires a domain")
                    continue
                helo, sender, recipients = arg.strip(), None, []
                if verb == "HELO":
                    self.send(f"250 {host} Axigen ESMTP hello")
                else:
                    self.send(f"250-{host} Axigen ESMTP hello")
                    self.send("250-PIPELINING")
                    self.send("250-8BITMIME")
                    self.send(f"250 SIZE {MAX_MESSAGE}")
            elif verb == "MAIL":
                match = re.match(r"(?i)^FROM:\s*<([^>]*)>", arg)
                if helo is None:
                    self.send("503 Send HELO/EHLO first")
                elif not match:
                    self.send("501 Syntax: MAIL FROM:<address>")
                else:
                    sender, recipients = match.group(1), []
                    self.send("250 Sender accepted")
            elif verb == "RCPT":
                match = re.match(r"(?i)^TO:\s*<([^>]+)>", arg)
                if sender is None:
                    self.send("503 Send MAIL first")
                elif not match:
                    self.send("501 Syntax: RCPT TO:<address>")
                elif self.app.store.mailbox(match.group(1)) is None:
                    self.send(f"553 Invalid mailbox name <{match.group(1)}>")
                else:
                    recipients.append(match.group(1))
                    self.send("250 Recipient accepted")
            elif verb == "DATA":
                if not recipients:
                    self.send("503 Send RCPT first")
                    continue
                self.send("354 Ready to receive data; end with <CR><LF>.<CR><LF>")
                body = self.read_data()
                if body is None:
                    return
                if body is False:
                    self.send("552 Message size exceeds the limit")
                else:
                    ident = self.app.deliver(helo, self.client_address[0], recipients, body)
                    self.send(f"250 Mail queued for delivery (id {ident})")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                self.send("250 Reset done")
            elif verb == "NOOP":
                self.send("250 OK")
            elif verb == "QUIT":
                self.send(f"221 {host} Axigen ESMTP is closing connection")
                return
            else:
                self.send("502 Command not implemented")

    def read_data(self):
        """The message (dot-unstuffed), None at end of connection, False when it is over the size limit."""
        lines, size = [], 0
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw:
                return None
            if raw in (b".\r\n", b".\n"):
                return False if size > MAX_MESSAGE else b"".join(lines)
            if raw.startswith(b".."):
                raw = raw[1:]
            size += len(raw)
            if size <= MAX_MESSAGE:
                lines.append(raw if raw.endswith(b"\r\n") else raw.rstrip(b"\n") + b"\r\n")


class Pop3Session(Session):
    def converse(self):
        host = self.app.hostname
        stamp = f"<{os.getpid()}.{int(time.time())}@{host}>"
        self.send(f"+OK POP3 server on {host} ready {stamp}")
        user, mailbox, messages, deleted = None, None, [], set()
        while True:
            line = self.recv()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb, arg = verb.upper(), arg.strip()
            if verb == "CAPA":
                self.send("+OK Capability list follows")
                for cap in ("USER", "UIDL", "TOP", "PIPELINING", "."):
                    self.send(cap)
            elif verb == "USER" and mailbox is None:
                user = arg if self.app.store.mailbox(arg) else None
                self.send("+OK User accepted" if user else "-ERR Invalid user name")
            elif verb == "PASS" and mailbox is None:
                if user is None:
                    self.send("-ERR Send USER first")
                else:
                    # the stand-in has no accounts: any password opens the mailbox
                    mailbox = self.app.store.mailbox(user)
                    messages = self.app.store.messages(mailbox)
                    self.send(f"+OK {len(messages)} messages")
            elif verb == "QUIT":
                for index in sorted(deleted):
                    try:
                        os.unlink(messages[index])
                    except FileNotFoundError:
                        pass
                self.send(f"+OK POP3 server on {host} signing off")
                return
            elif mailbox is None:
                self.send("-ERR Authenticate first")
            elif verb == "STAT":
                live = [i for i in range(len(messages)) if i not in deleted]
                self.send(f"+OK {len(live)} {sum(os.path.getsize(messages[i]) for i in live)}")
            elif verb in ("LIST", "UIDL"):
                show = (lambda i: os.path.getsize(messages[i])) if verb == "LIST" else \
                    (lambda i: os.path.basename(messages[i])[:-4])
                if arg:
                    index = self.index(arg, messages, deleted)
                    if index is not None:
                        self.send(f"+OK {index + 1} {show(index)}")
                    continue
                self.send("+OK")
                for i in range(len(messages)):
                    if i not in deleted:
                        self.send(f"{i + 1} {show(i)}")
                self.send(".")
            elif verb in ("RETR", "TOP"):
                parts = arg.split()
                index = self.index(parts[0] if parts else "", messages, deleted)
                if index is None:
                    continue
                data = read_bytes(messages[index])
                if verb == "TOP":
                    head, _, body = data.partition(b"\r\n\r\n")
                    keep = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                    data = head + b"\r\n\r\n" + b"\r\n".join(body.split(b"\r\n")[:keep])
                self.send(f"+OK {len(data)} octets")
                for raw in data.split(b"\r\n"):
                    self.wfile.write((b"." + raw if raw.startswith(b".") else raw) + b"\r\n")
                self.send(".")
            elif verb == "DELE":
                index = self.index(arg, messages, deleted)
                if index is not None:
                    deleted.add(index)
                    self.send(f"+OK Message {index + 1} deleted")
            elif verb == "RSET":
                deleted.clear()
                self.send("+OK")
            elif verb == "NOOP":
                self.send("+OK")
            else:
                self.send("-ERR Unknown command")

    def index(self, arg, messages, deleted):
        if not arg.isdigit() or not 1 <= int(arg) <= len(messages) or int(arg) - 1 in deleted:
            self.send("-ERR No such message")
            return None
        return int(arg) - 1


IMAP_ARGS = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def imap_words(text):
    return [quoted if quoted or bare == "" else bare for quoted, bare in IMAP_ARGS.findall(text)]


def sequence_set(text, count):
    """Message numbers (1-based) of an IMAP sequence set such as 1, 2:4, 1:*."""
    numbers = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        low = count if low == "*" else int(low)
        high = low if not high else (count if high == "*" else int(high))
        if low > high:
            low, high = high, low
        numbers.extend(n for n in range(low, high + 1) if 1 <= n <= count)
    return numbers


# Axigen's default IMAP greeting is "Axigen-%V IMAP4rev1 service is ready" (KB257); how %V expands is unknown,
# so the stand-in expands it to nothing: no version can be read from it.
IMAP_GREETING = "Axigen-%V IMAP4rev1 service is ready".replace("%V", "")


class ImapSession(Session):
    CAPABILITY = "IMAP4rev1"  # only what is implemented here (no AUTHENTICATE, no LITERAL+)

    def converse(self):
        self.send(f"* OK {IMAP_GREETING}")
        mailbox, messages = None, None
        while True:
            line = self.recv()
            if line is None:
                return
            tag, _, rest = line.partition(" ")
            command, _, arg = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                self.send(f"{tag} NO UID commands are not supported")
            elif command == "CAPABILITY":
                self.send(f"* CAPABILITY {self.CAPABILITY}")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "NOOP":
                self.send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                self.send("* BYE IMAP4rev1 server logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            elif command == "LOGIN":
                words = imap_words(arg)
                box = self.app.store.mailbox(words[0]) if words else None
                if len(words) != 2 or box is None:
                    self.send(f"{tag} NO Invalid user name")
                else:
                    mailbox = box  # no accounts in the stand-in: any password opens the mailbox
                    self.send(f"{tag} OK LOGIN completed")
            elif mailbox is None:
                self.send(f"{tag} BAD Authenticate first")
            elif command in ("SELECT", "EXAMINE"):
                words = imap_words(arg)
                if not words or words[0].upper() != "INBOX":
                    self.send(f"{tag} NO Mailbox does not exist")
                    continue
                messages = self.app.store.messages(mailbox)
                self.send(r"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)")
                self.send(f"* {len(messages)} EXISTS")
                self.send("* 0 RECENT")
                self.send("* OK [UIDVALIDITY 1] UIDs valid")
                mode = "READ-WRITE" if command == "SELECT" else "READ-ONLY"
                self.send(f"{tag} OK [{mode}] {command} completed")
            elif command == "FETCH":
                if messages is None:
                    self.send(f"{tag} BAD Select a mailbox first")
                    continue
                self.fetch(tag, arg, messages)
            elif command == "CLOSE":
                messages = None
                self.send(f"{tag} OK CLOSE completed")
            else:
                self.send(f"{tag} BAD Command not supported")

    def fetch(self, tag, arg, messages):
        seq, _, items = arg.partition(" ")
        items = items.strip().upper()
        try:
            numbers = sequence_set(seq, len(messages))
        except ValueError:
            self.send(f"{tag} BAD Invalid sequence set")
            return
        whole = ("BODY[]", "BODY.PEEK[]", "RFC822")
        wanted = [w for w in whole if w in items.replace("(", " ").replace(")", " ").split()]
        if not wanted and "RFC822.SIZE" not in items:
            self.send(f"{tag} BAD Only BODY[], BODY.PEEK[], RFC822 and RFC822.SIZE can be fetched")
            return
        for number in numbers:
            data = read_bytes(messages[number - 1])
            parts = []
            if "RFC822.SIZE" in items:
                parts.append(f"RFC822.SIZE {len(data)}")
            if wanted:
                name = "RFC822" if wanted[0] == "RFC822" else "BODY[]"
                self.wfile.write(f"* {number} FETCH ({' '.join(parts + [name])} {{{len(data)}}}\r\n".encode())
                self.wfile.write(data)
                self.wfile.write(b")\r\n")
            else:
                self.send(f"* {number} FETCH ({' '.join(parts)})")
        self.send(f"{tag} OK FETCH completed")


class HttpSession(Session):
    """WebAdmin (and WebMail if configured): a minimal HTTP answer, enough to show the port serves."""

    timeout = 30

    def converse(self):
        request = self.recv()
        if request is None:
            return
        for _ in range(100):
            header = self.recv()
            if not header:
                break
        body = b"<html><head><title>Axigen</title></head><body>Axigen</body></html>\n"
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)


# ------------------------------------------------------------------ CLI
CLI_GREETING = "Welcome to AXIGEN's Command Line Interface\r\nYou must login first"
LOGIN_HELP = ("The commands available in this context are:",
              "  GET VERSION              - shows the server version, OS and architecture",
              "  SET CONSOLE-CODES on|off - enables or disables console codes",
              "  SET QUIET on|off         - enables or disables detailed information",
              "  SHOW                     - shows the options of this context",
              "  USER <name>              - logs in",
              "  HELP                     - shows this list",
              "  EXIT                     - closes the session")


# COMMIT keeps an entity's changes (a listener), DONE a sub-configuration's (the server, a service)
LEAVE_WITH = {"server": "DONE", "service": "DONE", "listener": "COMMIT"}


class CliContext:
    """One level of the CLI: root, server, a service, or a listener; holds its uncommitted changes."""

    def __init__(self, kind, prompt, key=None, block=None, original=None):
        # prompt: the context's name in the prompt, "<" + prompt + "#> " ("" at the root: "<#> ")
        self.kind, self.prompt, self.key = kind, prompt, key
        self.block, self.original = block, original


def copy_block(block):
    out = Block()
    for key, value in block:
        if isinstance(value, Block):
            value = copy_block(value)
        elif isinstance(value, list):
            value = [copy_block(v) if isinstance(v, Block) else v for v in value]
        out.append([key, value])
    return out


class CliSession(Session):
    def converse(self):
        self.deadline = time.monotonic() + CLI_SESSION_SECONDS
        self.send(CLI_GREETING)
        self.prompt("login")
        stack = None  # None: not logged in
        while time.monotonic() < self.deadline:
            line = self.recv()
            if line is None:
                return
            words = line.split()
            if not words:
                self.prompt(stack[-1].prompt + "#" if stack else "login")
                continue
            verb = words[0].upper()
            if verb == "EXIT" and len(words) == 1:
                self.send("+OK: have a nice day")
                return
            if stack is None:
                stack = self.at_login(words)
                if stack is None:
                    self.prompt("login")
                    continue
            else:
                self.command(stack, words, line)
            self.prompt(stack[-1].prompt + "#")
        self.send("-ERR: session time limit reached")

    def prompt(self, name):
        self.send(f"<{name}>", end=" ")

    def ok(self, text="command successful"):
        self.send(f"+OK: {text}")

    def err(self, text):
        self.send(f"-ERR: {text}")

    # ---------------------------------------------------------------- <login>
    def at_login(self, words):
        upper = [w.upper() for w in words]
        if upper == ["GET", "VERSION"]:
            self.send(f"{VERSION}|Linux|x86_64")
            self.ok()
        elif upper == ["HELP"]:
            for text in LOGIN_HELP:
                self.send(text)
            self.ok()
        elif upper == ["SHOW"]:
            self.send("quiet = off")
            self.send("console-codes = off")
            self.ok()
        elif len(words) == 3 and upper[:2] in (["SET", "QUIET"], ["SET", "CONSOLE-CODES"]) \
                and upper[2] in ("ON", "OFF"):
            self.ok()
        elif upper[0] == "USER" and len(words) == 2:
            self.prompt("password")
            password = self.recv()
            if password is None:
                raise ConnectionError("closed at the password prompt")
            if words[1] == "admin" and check_password(password):
                self.ok("Authentication successful")
                return [CliContext("root", "")]
            self.err("Authentication failed")
        else:
            self.err("invalid command; type HELP for the commands of this context")
        return None

    # ---------------------------------------------------------------- logged in
    def command(self, stack, words, line):
        here = stack[-1]
        upper = [w.upper() for w in words]
        if upper == ["HELP"]:
            self.help(here)
        elif here.kind == "root":
            self.at_root(stack, upper)
        elif upper == ["BACK"] or upper == [LEAVE_WITH[here.kind]]:
            self.leave(stack, upper[0])
        elif upper in (["DONE"], ["COMMIT"]):
            self.err(f"use {LEAVE_WITH[here.kind]} to keep the changes of this context (or BACK to discard them)")
        elif here.kind == "server" and len(upper) == 2 and upper[0] == "CONFIG" and upper[1] in CLI_SERVICES:
            key = CLI_SERVICES[upper[1]]
            with self.app.config_lock:
                current = self.app.running.get(key)
            block = copy_block(current) if isinstance(current, Block) else Block()
            stack.append(CliContext("service", f"server-{upper[1].lower()}", key, block))
            self.ok()
        elif here.kind == "service" and len(words) == 4 and upper[0] in ("ADD", "UPDATE") \
                and upper[1] == "LISTENER" and words[2] == "address":
            self.open_listener(stack, upper[0], words[3])
        elif here.kind == "listener" and len(words) == 3 and upper[0] == "SET":
            self.set_listener(here, words[1], words[2])
        elif here.kind in ("service", "listener") and upper == ["SHOW"]:
            self.send(render_value(here.block, 0))
            self.ok()
        else:
            self.err("invalid command; type HELP for the commands of this context")

    def at_root(self, stack, upper):
        if upper == ["CONFIG", "SERVER"]:
            stack.append(CliContext("server", "server"))
            self.ok()
        elif upper == ["SAVE", "CONFIG"]:
            try:
                self.app.save_config()
            except OSError as error:
                self.err(f"cannot write the configuration file: {error.strerror}")
                return
            self.ok("configuration saved")
        else:
            self.err("invalid command; type HELP for the commands of this context")

    def help(self, here):
        commands = {
            "root": ("CONFIG SERVER", "SAVE CONFIG", "HELP", "EXIT"),
            "server": tuple(f"CONFIG {name}" for name in CLI_SERVICES) + ("DONE", "BACK", "HELP", "EXIT"),
            "service": ("ADD Listener address <ip:port>", "UPDATE Listener address <ip:port>", "SHOW", "DONE",
                        "BACK", "HELP", "EXIT"),
            "listener": ("SET address <ip:port>", "SET enable yes|no", "SHOW", "COMMIT", "BACK", "HELP", "EXIT"),
        }[here.kind]
        self.send("The commands available in this context are:")
        for text in commands:
            self.send("  " + text)
        self.ok()

    def open_listener(self, stack, verb, address):
        service = stack[-1]
        try:
            parse_address(address)
        except ValueError as error:
            self.err(str(error))
            return
        listeners = service.block.get("listeners", [])
        found = next((l for l in listeners if isinstance(l, Block) and str(l.get("address")) == address), None)
        if verb == "ADD" and found is not None:
            self.err(f"a listener on {address} already exists; use UPDATE Listener address {address}")
            return
        if verb == "UPDATE" and found is None:
            self.err(f"no listener on {address}")
            return
        block = copy_block(found) if found is not None else Block([["address", Word(address)]])
        stack.append(CliContext("listener", f"{service.prompt}-listener", block=block, original=found))
        self.ok()

    def set_listener(self, here, key, value):
        if key == "address":
            try:
                parse_address(value)
            except ValueError as error:
                self.err(str(error))
                return
        elif key == "enable":
            if value not in ("yes", "no"):
                self.err("enable takes yes or no")
                return
        else:
            self.err(f"unknown setting {key!r}")
            return
        here.block.put(key, Word(value))
        self.ok()

    def leave(self, stack, verb):
        here = stack.pop()
        if verb == "BACK":
            self.ok("changes discarded")
            return
        parent = stack[-1]
        if here.kind == "listener":
            listeners = parent.block.get("listeners")
            if not isinstance(listeners, list):
                listeners = []
                parent.block.put("listeners", listeners)
            others = [l for l in listeners if l is not here.original]
            if any(str(l.get("address")) == str(here.block.get("address")) for l in others if isinstance(l, Block)):
                stack.append(here)
                self.err(f"a listener on {here.block.get('address')} already exists")
                return
            if here.original is not None:
                listeners[listeners.index(here.original)] = here.block
            else:
                listeners.append(here.block)
            # a committed listener is in the running configuration (the parent's BACK keeps it)
            with self.app.config_lock:
                service = self.app.running.get(parent.key)
                if not isinstance(service, Block):
                    service = Block()
                    self.app.running.append([parent.key, service])
                service.put("listeners", [copy_block(l) if isinstance(l, Block) else l for l in listeners])
            here.original = None
        elif here.kind == "service":
            with self.app.config_lock:
                self.app.running.put(here.key, copy_block(here.block))
        self.ok()


# ------------------------------------------------------------------ server
class Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, app, family):
        self.address_family = family
        self.app = app
        super().__init__(address, handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise


HANDLERS = {"smtpIncoming": SmtpSession, "imap": ImapSession, "pop3": Pop3Session, "cli": CliSession,
            "webadmin": HttpSession, "webmail": HttpSession}


class App:
    def __init__(self, config_path, running):
        self.config_path = config_path
        self.running = running          # the Server block the CLI edits; SAVE CONFIG writes it
        self.config_lock = threading.Lock()
        self.hostname = os.uname().nodename
        self.store = Store()

    def deliver(self, helo, peer, recipients, body):
        ident = None
        for rcpt in recipients:
            received = (f"Received: from {helo} ([{peer}]) by {self.hostname} (Axigen) with ESMTP id "
                        f"{os.urandom(3).hex().upper()};\r\n\t{email.utils.formatdate(localtime=True)}\r\n")
            ident = self.store.deliver(self.store.mailbox(rcpt), received.encode() + body)
        return ident

    def save_config(self):
        with self.config_lock:
            text = render_config(self.running)
        atomic_write(self.config_path, text, 0o600)

    def listeners(self):
        servers = []
        for key, host, port, family in listeners_of(self.running, self.config_path):
            shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
            try:
                servers.append(Listener((host, port), HANDLERS[key], self, family))
            except OSError as error:
                for server in servers:
                    server.server_close()
                raise SystemExit(f"axigen: cannot start the {key} listener on {shown}: {error.strerror}") from None
        return servers


def write_pidfile(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, f"{os.getpid()}\n", 0o644)


def run(app, pidfile, ready=None):
    """Serve until SIGTERM/SIGINT."""
    servers = app.listeners()
    # SIGTERM/SIGINT are blocked here (and so in every serving thread) and taken by sigwait below
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
               for s in servers]
    for thread in threads:
        thread.start()
    write_pidfile(pidfile)
    if ready:
        ready()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    stoppers = [threading.Thread(target=s.shutdown) for s in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper, server in zip(stoppers, servers):
        stopper.join()
        server.server_close()
    try:
        with open(pidfile) as handle:
            if handle.read().strip() == str(os.getpid()):
                os.unlink(pidfile)
    except FileNotFoundError:
        pass
    return 0


def daemonize(app, pidfile):
    """Fork into the background; the parent returns 0 once the listeners are up, 1 if starting failed."""
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            answer = pipe.read()
        if answer.startswith("ok"):
            return 0
        sys.stderr.write(answer or "axigen: the server died while starting\n")
        return 1
    os.close(read_end)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    pipe = os.fdopen(write_end, "w")

    def ready():
        pipe.write("ok\n")
        pipe.close()
        os.dup2(devnull, 2)

    try:
        code = run(app, pidfile, ready=ready)
    except SystemExit as error:
        if not pipe.closed:
            pipe.write(f"{error}\n")
            pipe.close()
        os._exit(1)
    os._exit(code)


USAGE = ("usage: axigen [-v|--version] [--foreground] [--drop-core] [-P|--pidfile FILE] [-C|--configfile FILE] "
         "[-A PASSWORD]")


def parse_args(argv):
    """{'version', 'foreground', 'pidfile', 'configfile', 'admin_password'}; SystemExit(2) on anything else."""
    opts = {"version": False, "foreground": False, "pidfile": DEFAULT_PIDFILE, "configfile": DEFAULT_CONFIG,
            "admin_password": None}
    with_value = {"-P": "pidfile", "--pidfile": "pidfile", "-C": "configfile", "--configfile": "configfile",
                  "-A": "admin_password"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if arg in ("-v", "--version"):
            opts["version"] = True
        elif arg == "--foreground":
            opts["foreground"] = True
        elif arg == "--drop-core":
            pass
        elif name in with_value and (eq or arg == name):
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise SystemExit(f"axigen: option {arg} needs a value\n{USAGE}")
            if not value:
                raise SystemExit(f"axigen: option {name} needs a non-empty value\n{USAGE}")
            opts[with_value[name]] = value
        else:
            raise SystemExit(f"axigen: unknown option {arg!r}\n{USAGE}")
        i += 1
    return opts


def main(argv=None):
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as error:
        sys.stderr.write(f"{error}\n")
        return 2
    if opts["version"]:
        print(f"Axigen Mail Server {VERSION} (Linux/x86_64)")
        return 0
    if opts["admin_password"] is not None:
        set_admin_password(opts["admin_password"])
        return 0
    configfile = os.path.abspath(opts["configfile"])
    pidfile = os.path.abspath(opts["pidfile"])
    try:
        running = load_config(configfile)
        listeners_of(running, configfile)
    except ConfigError as error:
        sys.stderr.write(f"axigen: configuration error: {error}\n")
        return 1
    ensure_workdir()
    os.chdir(WORKDIR)
    app = App(configfile, running)
    if opts["foreground"]:
        try:
            return run(app, pidfile)
        except SystemExit as error:
            sys.stderr.write(f"{error}\n")
            return 1
    return daemonize(app, pidfile)


if __name__ == "__main__":
    sys.exit(main())
