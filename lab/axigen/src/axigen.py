#!/usr/bin/python3
"""Axigen stand-in for the axha lab: SMTP, POP3 and IMAP on one mail store (stdlib only).

Installed as /opt/axigen/bin/axigen by the lab's axigen .deb; the builder replaces @VERSION@.
Mail lives under <datadir>/domains/<domain>/<user>/<id>.eml; nothing here ever deletes a
message except a POP3 client's DELE followed by QUIT.
"""

import argparse
import datetime
import email.utils
import os
import re
import shutil
import signal
import socket
import socketserver
import sys
import threading
import time

VERSION = "@VERSION@"
PRODUCT = "Axigen-" + VERSION
DEFAULTS = {
    "hostname": "",            # empty: the node's own name (uname -n)
    "default_domain": "localdomain",
    "datadir": "/var/opt/axigen",
    "sharedir": "/opt/axigen/share",
    "listen": "",              # empty: all addresses (IPv6 and IPv4)
    "smtp_port": "25",
    "pop3_port": "110",
    "imap_port": "143",
    "max_message_kb": "10240",
}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
LINE_LIMIT = 4096
_counter_lock = threading.Lock()
_counter = [0]


# ------------------------------------------------------------------ configuration
def read_config(path):
    """key = value lines (# comments), as in /etc/opt/axigen/axigen.cfg."""
    config = dict(DEFAULTS)
    if not path:
        return config
    try:
        with open(path, encoding="utf-8") as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                if "=" not in line:
                    raise SystemExit(f"axigen: {path}:{number}: expected 'key = value', got {raw.strip()!r}")
                key, value = (part.strip() for part in line.split("=", 1))
                if key not in DEFAULTS:
                    raise SystemExit(f"axigen: {path}:{number}: unknown setting {key!r}")
                config[key] = value.strip('"')
    except FileNotFoundError:
        raise SystemExit(f"axigen: configuration file {path} not found")
    return config


# ------------------------------------------------------------------ mail store
class Store:
    """The mail store under datadir/domains."""

    def __init__(self, datadir, default_domain):
        self.datadir = datadir
        self.default_domain = default_domain

    def mailbox(self, address):
        """Directory of an address 'user@domain' (or 'user' in the default domain); None if invalid."""
        address = address.strip().strip("<>").lower()
        user, _, domain = address.partition("@")
        domain = domain or self.default_domain
        if not NAME_RE.match(user) or not NAME_RE.match(domain) or ".." in user + domain:
            return None
        return os.path.join(self.datadir, "domains", domain, user)

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


# ------------------------------------------------------------------ data dir refresh
def refresh_datadir(datadir, sharedir, log=print):
    """Copy the files this version ships into the data dir (templates, run/version), as an install does.

    Mail (domains/) and the queue are never touched.
    """
    for sub in ("domains", "queue", "log", "run", "templates", "serverData"):
        os.makedirs(os.path.join(datadir, sub), exist_ok=True)
    source = os.path.join(sharedir, "templates")
    target = os.path.join(datadir, "templates")
    if os.path.isdir(source):
        for name in sorted(os.listdir(source)):
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name + ".new"))
            os.replace(os.path.join(target, name + ".new"), os.path.join(target, name))
    with open(os.path.join(datadir, "run", "version.new"), "w", encoding="utf-8") as handle:
        handle.write(VERSION + "\n")
    os.replace(os.path.join(datadir, "run", "version.new"), os.path.join(datadir, "run", "version"))
    log(f"data dir {datadir} refreshed for {PRODUCT}")


def datadir_version(datadir):
    try:
        with open(os.path.join(datadir, "run", "version"), encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


# ------------------------------------------------------------------ protocol plumbing
class Session(socketserver.StreamRequestHandler):
    """One client connection: line I/O with CRLF."""

    timeout = 300

    def send(self, line):
        self.wfile.write(line.encode("utf-8", "replace") + b"\r\n")

    def recv(self):
        """One line without its end, or None at end of connection."""
        raw = self.rfile.readline(LINE_LIMIT + 2)
        if not raw:
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
        self.send(f"220 {host} {PRODUCT} ESMTP ready")
        helo, sender, recipients = None, None, []
        while True:
            line = self.recv()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO" or verb == "HELO":
                if not arg.strip():
                    self.send(f"501 {verb} requires a domain")
                    continue
                helo, sender, recipients = arg.strip(), None, []
                if verb == "HELO":
                    self.send(f"250 {host} {PRODUCT} ESMTP hello")
                else:
                    self.send(f"250-{host} {PRODUCT} ESMTP hello")
                    self.send("250-PIPELINING")
                    self.send("250-8BITMIME")
                    self.send(f"250-SIZE {int(self.app.config['max_message_kb']) * 1024}")
                    self.send("250 HELP")
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
                ident = self.app.deliver(helo, self.client_address[0], sender, recipients, body)
                self.send(f"250 Mail queued for delivery (id {ident})")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                self.send("250 Reset done")
            elif verb == "NOOP":
                self.send("250 OK")
            elif verb == "QUIT":
                self.send(f"221 {host} {PRODUCT} ESMTP is closing connection")
                return
            else:
                self.send("502 Command not implemented")

    def read_data(self):
        lines = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw:
                return None
            if raw in (b".\r\n", b".\n"):
                return b"".join(lines)
            if raw.startswith(b".."):
                raw = raw[1:]
            lines.append(raw if raw.endswith(b"\r\n") else raw.rstrip(b"\n") + b"\r\n")


class Pop3Session(Session):
    def converse(self):
        host = self.app.hostname
        stamp = f"<{os.getpid()}.{int(time.time())}@{host}>"
        self.send(f"+OK {PRODUCT} POP3 server on {host} ready {stamp}")
        user, mailbox, messages, deleted = None, None, [], set()
        while True:
            line = self.recv()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb, arg = verb.upper(), arg.strip()
            if verb == "CAPA":
                self.send("+OK Capability list follows")
                for cap in ("USER", "UIDL", "TOP", "PIPELINING", "IMPLEMENTATION " + PRODUCT, "."):
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
                self.send(f"+OK {PRODUCT} POP3 server on {host} signing off")
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


class ImapSession(Session):
    CAPABILITY = "IMAP4rev1 LITERAL+ AUTH=PLAIN"

    def converse(self):
        self.send(f"* OK {PRODUCT} IMAP4rev1 service is ready")
        mailbox, messages = None, None
        while True:
            line = self.recv()
            if line is None:
                return
            tag, _, rest = line.partition(" ")
            command, _, arg = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                self.send(f"{tag} NO UID commands are not supported by this stand-in")
            elif command == "CAPABILITY":
                self.send(f"* CAPABILITY {self.CAPABILITY}")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "NOOP":
                self.send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                self.send(f"* BYE {PRODUCT} IMAP4rev1 server logging out")
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
                self.send(f"{tag} BAD Command not supported by this stand-in")

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


# ------------------------------------------------------------------ server
class Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, app, family):
        self.address_family = family
        self.app = app
        super().__init__(address, handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise


class App:
    def __init__(self, config):
        self.config = config
        self.hostname = config["hostname"] or socket.gethostname()
        self.datadir = config["datadir"]
        self.store = Store(self.datadir, config["default_domain"])
        self.log_lock = threading.Lock()

    def log(self, message):
        stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
        line = f"{stamp} {self.hostname} {PRODUCT}: {message}\n"
        try:
            with self.log_lock, open(os.path.join(self.datadir, "log", "everything.txt"), "a") as handle:
                handle.write(line)
        except OSError:
            sys.stderr.write(line)

    def deliver(self, helo, peer, sender, recipients, body):
        ident = None
        for rcpt in recipients:
            received = (f"Received: from {helo} ([{peer}]) by {self.hostname} (Axigen) with ESMTP id "
                        f"{os.urandom(3).hex().upper()};\r\n\t{email.utils.formatdate(localtime=True)}\r\n")
            ident = self.store.deliver(self.store.mailbox(rcpt), received.encode() + body)
            self.log(f"SMTP: message {ident} from <{sender}> delivered to <{rcpt}>")
        return ident

    def listeners(self):
        address = self.config["listen"]
        ports = {"smtp": (SmtpSession, self.config["smtp_port"]), "pop3": (Pop3Session, self.config["pop3_port"]),
                 "imap": (ImapSession, self.config["imap_port"])}
        servers = []
        try:
            for name, (handler, port) in ports.items():
                servers.append(self.listen(address, int(port), handler))
        except OSError as error:
            for server in servers:
                server.server_close()
            raise SystemExit(f"axigen: cannot listen for {name} on {address or '*'}:{port}: {error.strerror}")
        return servers

    def listen(self, address, port, handler):
        if address:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return Listener((address, port), handler, self, family)
        try:
            return Listener(("::", port), handler, self, socket.AF_INET6)
        except OSError as error:
            if error.errno not in (97, 99):  # EAFNOSUPPORT, EADDRNOTAVAIL: no IPv6 here
                raise
            return Listener(("0.0.0.0", port), handler, self, socket.AF_INET)


def write_pidfile(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".new", "w") as handle:
        handle.write(f"{os.getpid()}\n")
    os.replace(path + ".new", path)


def run(app, pidfile, ready=None):
    """Serve until SIGTERM/SIGINT."""
    if datadir_version(app.datadir) != VERSION:
        refresh_datadir(app.datadir, app.config["sharedir"], log=app.log)
    servers = app.listeners()
    # SIGTERM/SIGINT are blocked here (and so in every serving thread) and taken by sigwait below
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
               for s in servers]
    for thread in threads:
        thread.start()
    if pidfile:
        write_pidfile(pidfile)
    ports = ", ".join(f"{s.server_address[0]}:{s.server_address[1]}" for s in servers)
    app.log(f"started, listening on {ports}")
    if ready:
        ready()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    stoppers = [threading.Thread(target=s.shutdown) for s in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper, server in zip(stoppers, servers):
        stopper.join()
        server.server_close()
    app.log("stopped")
    if pidfile:
        try:
            with open(pidfile) as handle:
                if handle.read().strip() == str(os.getpid()):
                    os.unlink(pidfile)
        except FileNotFoundError:
            pass
    return 0


def daemonize(app, pidfile):
    """Fork into the background; the parent returns 0 once the ports answer, 1 if starting failed."""
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            answer = pipe.read()
        if answer.startswith("ok"):
            return 0
        sys.stderr.write(answer or "axigen: the daemon died while starting\n")
        return 1
    os.close(read_end)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="axigen", description="Axigen stand-in mail server (axha lab)")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    parser.add_argument("-C", "--configfile", default="/etc/opt/axigen/axigen.cfg")
    parser.add_argument("-P", "--pidfile", default=None, help="default <datadir>/run/axigen.pid")
    parser.add_argument("--datadir", help="override the configuration's datadir")
    parser.add_argument("--sharedir", help="override the configuration's sharedir")
    parser.add_argument("--listen", help="address to listen on (default: all)")
    parser.add_argument("--ports", help="smtp=N,pop3=N,imap=N (default 25, 110, 143)")
    parser.add_argument("--hostname", help="name in the banners (default: uname -n)")
    parser.add_argument("--foreground", action="store_true", help="do not fork")
    parser.add_argument("--refresh-datadir", action="store_true",
                        help="copy the files this version ships into the data dir and exit")
    args = parser.parse_args(argv)
    if args.version:
        print(f"Axigen Mail Server version {VERSION} (lab stand-in)")
        return 0
    config = read_config(args.configfile if os.path.exists(args.configfile) or args.configfile !=
                         parser.get_default("configfile") else None)
    for key in ("datadir", "sharedir", "listen", "hostname"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if args.ports:
        for item in args.ports.split(","):
            name, _, port = item.partition("=")
            if name not in ("smtp", "pop3", "imap") or not port.isdigit():
                parser.error(f"--ports: expected smtp=N,pop3=N,imap=N, got {item!r}")
            config[name + "_port"] = port
    if args.refresh_datadir:
        refresh_datadir(config["datadir"], config["sharedir"])
        return 0
    os.makedirs(os.path.join(config["datadir"], "log"), exist_ok=True)
    app = App(config)
    pidfile = args.pidfile or os.path.join(config["datadir"], "run", "axigen.pid")
    if args.foreground:
        return run(app, pidfile)
    return daemonize(app, pidfile)


if __name__ == "__main__":
    sys.exit(main())
