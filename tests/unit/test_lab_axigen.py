"""The stand-in Axigen: real dpkg-deb builds, the real daemon (Axigen's options, block-syntax axigen.cfg, CLI)
answering smtplib/poplib/imaplib on 127.0.0.62, the init script's LSB codes, real dpkg installs and the .deb.run
installer. Whatever writes /var/opt/axigen or /etc runs in a private mount (and network) namespace as root."""

from __future__ import annotations

import hashlib
import imaplib
import importlib.machinery
import importlib.util
import os
import poplib
import shutil
import signal
import smtplib
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from axha_lab.axigen import VERSIONS, build_installers, build_packages
from tests.waiting import wait_until

ADDRESS = "127.0.0.62"
needs_root_ns = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                   reason="needs root and unshare (private mount and network namespaces)")


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    return tmp_path_factory.mktemp("debs")


@pytest.fixture(scope="module")
def debs(outdir):
    return build_packages(outdir)


@pytest.fixture(scope="module")
def installers(outdir, debs):
    return build_installers(outdir)


@pytest.fixture(scope="module")
def roots(debs, tmp_path_factory):
    """{version: directory} with each .deb extracted."""
    out = {}
    for version, deb in debs.items():
        out[version] = tmp_path_factory.mktemp(f"root-{version}")
        subprocess.run(["dpkg-deb", "-x", deb, str(out[version])], check=True)
    return out


@pytest.fixture(scope="module")
def daemon_module(roots):
    """The packaged daemon imported as a module (for its pure parts: the axigen.cfg parser and renderer)."""
    path = str(roots["10.5.0"] / "opt/axigen/bin/axigen")
    loader = importlib.machinery.SourceFileLoader("axigen_standin", path)
    spec = importlib.util.spec_from_loader("axigen_standin", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def field(deb: str, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True, check=True).stdout.strip()


# ------------------------------------------------------------------------------------------ build
def test_builds_both_versions_with_a_debian_revision(debs, installers):
    assert sorted(debs) == sorted(installers) == ["10.5.0", "10.5.1"] == sorted(VERSIONS)
    for version, path in debs.items():
        assert Path(path).name == f"axigen_{version}-1_amd64.deb"
        assert (field(path, "Package"), field(path, "Version"), field(path, "Architecture")) == \
            ("axigen", f"{version}-1", "amd64")
        assert Path(installers[version]).name == f"axigen-{version}.x86_64.deb.run"
        assert os.access(installers[version], os.X_OK)


def test_package_contents(debs):
    listing = subprocess.run(["dpkg-deb", "-c", debs["10.5.0"]], capture_output=True, text=True,
                             check=True).stdout
    files = {line.split()[-1]: line.split()[0] for line in listing.splitlines() if not line.endswith("/")}
    # the package ships no configuration file and nothing under the working directory: the server writes
    # run/axigen.cfg at its first start, the postinst creates the skeleton
    assert files == {"./etc/init.d/axigen": "-rwxr-xr-x", "./opt/axigen/bin/axigen": "-rwxr-xr-x"}
    assert "root/root" in listing and "./var/" not in listing
    conffiles = subprocess.run(["dpkg-deb", "--info", debs["10.5.0"], "conffiles"], capture_output=True,
                               text=True, check=True).stdout.split()
    assert conffiles == ["/etc/init.d/axigen"]


def test_build_is_reproducible_and_skipped_when_unchanged(debs, installers, tmp_path):
    again, again_run = build_packages(tmp_path), build_installers(tmp_path)
    assert {v: sha256(p) for v, p in again.items()} == {v: sha256(p) for v, p in debs.items()}
    assert {v: sha256(p) for v, p in again_run.items()} == {v: sha256(p) for v, p in installers.items()}
    paths = list(again.values()) + list(again_run.values())
    before = {p: os.stat(p).st_mtime_ns for p in paths}
    assert build_packages(tmp_path) == again and build_installers(tmp_path) == again_run
    assert {p: os.stat(p).st_mtime_ns for p in paths} == before  # not rebuilt
    # a package whose recorded sources differ (a source file changed) is rebuilt, to the same bytes
    (tmp_path / "axigen_10.5.1-1_amd64.deb.sources").write_text("sources of an older checkout\n")
    os.utime(again["10.5.1"], ns=(0, 0))
    build_packages(tmp_path)
    assert os.stat(again["10.5.1"]).st_mtime_ns != 0
    assert os.stat(again["10.5.0"]).st_mtime_ns == before[again["10.5.0"]]
    assert sha256(again["10.5.1"]) == sha256(debs["10.5.1"])


# ------------------------------------------------------------------------------------------ options
def axigen(roots, version, *args, **kw):
    return subprocess.run(["/usr/bin/python3", str(roots[version] / "opt/axigen/bin/axigen"), *args],
                          capture_output=True, text=True, timeout=60, **kw)


def test_version_line(roots):
    for version in VERSIONS:
        for option in ("-v", "--version"):
            result = axigen(roots, version, option)
            assert (result.returncode, result.stdout) == (0, f"Axigen Mail Server {version} (Linux/x86_64)\n")


@pytest.mark.parametrize("argv", [["--datadir", "/tmp/x"], ["--refresh-datadir"], ["--sharedir", "/tmp"],
                                  ["--listen", ADDRESS], ["--ports", "smtp=25"], ["--hostname", "node9"],
                                  ["--fore"], ["-x"], ["--help"], ["-C"], ["extra"]])
def test_unknown_or_incomplete_options_are_refused(roots, argv):
    result = axigen(roots, "10.5.0", *argv)
    assert result.returncode != 0 and result.stdout == ""
    assert ("unknown option" in result.stderr or "needs a value" in result.stderr), result.stderr
    assert "usage: axigen" in result.stderr


# ------------------------------------------------------------------------------------------ axigen.cfg
REAL_EXAMPLE = """\
Server {
  services = (log processing smtp imap webmail webadmin)
  smtpIncoming = {
      listeners = (
        {
          address = 0.0.0.0:25
          enable = yes
        }
      )
  }
  imap = {
    listeners = (
      {
        address = 0.0.0.0:143
        enable = yes
      }
    ),
    allowStartTLS = yes
  }
  webadmin = { listeners = ( { address = 127.0.0.1:9000 enable = yes } ) }
}
"""


def test_config_parser_reads_the_real_syntax(daemon_module):
    m = daemon_module
    server = m.parse_config("# a comment\n/* a\nblock comment */\n" + REAL_EXAMPLE, "axigen.cfg")
    assert [str(s) for s in server.get("services")] == ["log", "processing", "smtp", "imap", "webmail", "webadmin"]
    assert server.get("imap").get("allowStartTLS") == "yes"
    listeners = m.listeners_of(server, "axigen.cfg")
    assert [(k, h, p) for k, h, p, _ in listeners] == [("smtpIncoming", "0.0.0.0", 25), ("imap", "0.0.0.0", 143),
                                                       ("webadmin", "127.0.0.1", 9000)]
    # rendering and parsing again gives the same tree (what SAVE CONFIG relies on)
    assert m.parse_config(m.render_config(server)) == server
    quoted = m.parse_config('Server { name = "a \\"b\\" c" }')
    assert quoted.get("name") == 'a "b" c' and m.parse_config(m.render_config(quoted)) == quoted


def test_default_config_has_loopback_listeners_only(daemon_module):
    m = daemon_module
    server = m.parse_config(m.DEFAULT_CONFIG_TEXT)
    assert [(k, h, p) for k, h, p, _ in m.listeners_of(server, "x")] == [
        ("smtpIncoming", "127.0.0.1", 25), ("imap", "127.0.0.1", 143), ("pop3", "127.0.0.1", 110),
        ("cli", "127.0.0.1", 7000), ("webadmin", "127.0.0.1", 9000)]


@pytest.mark.parametrize("text, where", [
    ("Server {\n  smtpIncoming = {\n    listeners = (\n", "cfg:3: list '(' not closed"),
    ("Server {\n  a = b\n  c d\n}\n", "cfg:3: expected '=' after 'c'"),
    ("Server {\n  a = \"open\n}\n", "cfg:2: string not closed"),
    ("Server {\n}\n}\n", "cfg:3: expected end of file"),
    ("Other { }\n", "cfg:1: expected 'Server'"),
    ("Server = {\n}\n", "cfg:1: expected '{' after 'Server'"),
    ("Server {\n /* never closed\n}\n", "cfg:2: comment /* not closed"),
    ("Server {\n  a = = b\n}\n", "cfg:2: expected a value"),
    ("Server {\n  a = { b = c },\n}\n", "cfg:2: expected a setting name"),
    ("Server {" + " a = {" * 40 + " }" * 40 + " }", "nested deeper than 32"),
    ("Server {\n imap = { listeners = ( { address = 1.2.3.4 enable = yes } ) }\n}\n", "is not an address"),
])
def test_config_parser_refuses_malformed_input_with_its_line(daemon_module, text, where):
    m = daemon_module
    with pytest.raises(m.ConfigError, match=where.replace("(", r"\(").replace("*", r"\*")):
        m.listeners_of(m.parse_config(text, "cfg"), "cfg")


def test_config_parser_is_bounded(daemon_module):
    m = daemon_module
    started = time.monotonic()
    with pytest.raises(m.ConfigError, match="larger than"):
        m.parse_config("Server {\n" + "# x\n" * (1 << 19) + "}\n", "cfg")
    with pytest.raises(m.ConfigError):
        m.parse_config("Server { a = " + "(" * 5000, "cfg")
    assert time.monotonic() - started < 10   # the behaviour under test (bounded work); well under 1 s when idle


# ------------------------------------------------------------------------------------------ daemon
NS_PREAMBLE = textwrap.dedent("""\
    set -u
    # the package's absolute paths, in this mount namespace only: /opt/axigen from the extracted package,
    # /var/opt/axigen from the test's directory $WORK
    mount -t tmpfs tmpfs /opt && mkdir /opt/axigen && mount --bind "$ROOT/opt/axigen" /opt/axigen
    mount -t tmpfs tmpfs /var/opt && mkdir /var/opt/axigen && mount --bind "$WORK" /var/opt/axigen
    A=/opt/axigen/bin/axigen
    step() { name=$1; shift; out=$("$@" 2>&1); echo "$name rc=$? $(echo $out)"; }
""")


# a server left running by a failed step is stopped through its own pid file (never by name)
NS_CLEANUP = ('\n[ -r /var/opt/axigen/run/axigen.pid ] && kill "$(cat /var/opt/axigen/run/axigen.pid)" 2>/dev/null'
              '\ntrue\n')


def in_namespace(script: str, root: Path, work: Path, net: bool = False, stdin: str | None = None,
                 env: dict | None = None, keep_running: bool = False) -> tuple[dict, dict, str]:
    """Run script after NS_PREAMBLE in a private mount (and network) namespace: ({step: rc}, {step: rest},
    the whole output). Unless keep_running, a server still running at the end is stopped."""
    work.mkdir(parents=True, exist_ok=True)
    argv = ["unshare", "--mount", "--propagation", "private", *(["--net"] if net else []), "sh", "-c",
            NS_PREAMBLE + ("ip link set lo up\n" if net else "") + script + ("" if keep_running else NS_CLEANUP)]
    result = subprocess.run(argv, env=dict(os.environ, ROOT=str(root), WORK=str(work), **(env or {})),
                            input=stdin, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    rc = {name: value.split()[0] for name, value in lines.items()}
    return rc, lines, output


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((ADDRESS, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def private_config(path: Path, ports: dict[str, int], webadmin: int) -> Path:
    blocks = "".join(f"  {name} = {{\n    listeners = (\n      {{\n        address = {ADDRESS}:{port}\n"
                     f"        enable = yes\n      }}\n    )\n  }}\n" for name, port in ports.items())
    path.write_text("# private configuration of a unit test\nServer {\n"
                    "  services = (log processing smtp imap pop3 cli webadmin)\n" + blocks +
                    f"  webadmin = {{ listeners = ( {{ address = {ADDRESS}:{webadmin} enable = no }} ) }}\n}}\n")
    return path


def alive(pid: int) -> bool:
    # the daemon is an orphan: until this host's init reaps it, it is a zombie with no command line
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""
    except FileNotFoundError:
        return False


class Daemon:
    """The packaged daemon started the way the init script starts it, with -C on a private config file."""

    def __init__(self, root: Path, work: Path, config: Path, password: str | None = None):
        set_pw = f'"$A" -A {password} >/dev/null || exit 9\n' if password else ""
        rc, lines, output = in_namespace(set_pw + f'step start "$A" -C {config}\n', root, work, keep_running=True)
        assert rc.get("start") == "rc=0", output  # returns once every listener is up
        self.work, self.pid = work, int((work / "run" / "axigen.pid").read_text())

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        wait_until(lambda: not alive(self.pid), f"axigen pid {self.pid} to exit", timeout=30)
        assert not (self.work / "run" / "axigen.pid").exists()


def send_mail(port, to, subject):
    with smtplib.SMTP(ADDRESS, port, timeout=10) as smtp:
        smtp.sendmail("sender@example.org", to, f"Subject: {subject}\r\n\r\nbody of {subject}\r\n.leading dot\r\n")


def banners(ports) -> dict[str, str]:
    out = {}
    with socket.create_connection((ADDRESS, ports["smtpIncoming"]), timeout=10) as s:
        out["smtp"] = s.makefile("rb").readline().decode().strip()
    pop = poplib.POP3(ADDRESS, ports["pop3"], timeout=10)
    out["pop3"] = pop.getwelcome().decode()
    pop.quit()
    imap = imaplib.IMAP4(ADDRESS, ports["imap"], timeout=10)
    out["imap"] = imap.welcome.decode()
    imap.logout()
    return out


def pop3_messages(port, user) -> list[bytes]:
    pop = poplib.POP3(ADDRESS, port, timeout=10)
    pop.user(user)
    pop.pass_("any password")
    count, _ = pop.stat()
    messages = [b"\r\n".join(pop.retr(n)[1]) for n in range(1, count + 1)]
    pop.quit()
    return messages


def imap_messages(port, user) -> list[bytes]:
    imap = imaplib.IMAP4(ADDRESS, port, timeout=10)
    assert "IMAP4REV1" in imap.capabilities
    imap.login(user, "any password")
    status, data = imap.select("INBOX")
    messages = []
    for n in range(1, int(data[0]) + 1):
        status, fetched = imap.fetch(str(n), "(BODY[])")
        assert status == "OK"
        messages.append(fetched[0][1])
    imap.logout()
    return messages


def refused(port) -> bool:
    try:
        socket.create_connection((ADDRESS, port), timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True


@pytest.fixture
def setup(roots, tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (private mount namespace)")
    ports = dict(zip(("smtpIncoming", "imap", "pop3", "cli"), free_ports(5)))
    webadmin = free_ports(1)[0]
    config = private_config(tmp_path / "private.cfg", ports, webadmin)
    return ports, webadmin, config, tmp_path / "work"


def test_daemon_serves_mail_from_a_private_config_and_keeps_it_across_versions(roots, setup):
    ports, webadmin, config, work = setup
    text = config.read_text()
    daemon = Daemon(roots["10.5.0"], work, config)
    try:
        host = os.uname().nodename
        seen = banners(ports)
        assert seen["smtp"] == f"220 {host} Axigen ESMTP ready"
        assert seen["pop3"].startswith(f"+OK POP3 server on {host} ready <")
        assert seen["imap"] == "* OK Axigen- IMAP4rev1 service is ready"
        assert not any("10.5" in banner for banner in seen.values())
        assert refused(webadmin)  # enable = no
        send_mail(ports["smtpIncoming"], ["alice@example.com", "bob"], "before upgrade")
        [pop] = pop3_messages(ports["pop3"], "alice@example.com")
        [imap] = imap_messages(ports["imap"], "bob@localdomain")
        for message in (pop, imap):
            assert b"Subject: before upgrade" in message and b"\r\n.leading dot\r\n" in message
            assert f"by {host} (Axigen) with ESMTP id".encode() in message
        stored = sorted(p.relative_to(work).parts[:3] for p in (work / "domains").rglob("*.eml"))
        assert stored == [("domains", "example.com", "alice"), ("domains", "localdomain", "bob")]
        # the working-directory skeleton (10.4+), and nothing of the pre-10.4 layout or an invented version file
        assert sorted(p.name for p in work.iterdir()) == [
            "axigen_cert.pem", "axigen_dh.pem", "bitdefender", "domains", "filters", "log", "queue", "reporting",
            "run", "serverData"]
        assert sorted(p.name for p in (work / "run").iterdir()) == ["axigen.pid"]
    finally:
        daemon.stop()

    daemon = Daemon(roots["10.5.1"], work, config)
    try:
        assert [b"before upgrade" in m for m in pop3_messages(ports["pop3"], "alice@example.com")] == [True]
        assert [b"before upgrade" in m for m in imap_messages(ports["imap"], "bob")] == [True]
    finally:
        daemon.stop()
    assert config.read_text() == text  # the daemon never rewrote it


def test_daemon_refuses_bad_mailbox_and_busy_address(roots, setup):
    ports, _, config, work = setup
    daemon = Daemon(roots["10.5.0"], work, config)
    try:
        with smtplib.SMTP(ADDRESS, ports["smtpIncoming"], timeout=10) as smtp:
            smtp.ehlo("client")
            smtp.mail("a@example.org")
            assert smtp.rcpt("../etc@example.com")[0] == 553
        rc, lines, output = in_namespace(f'step second "$A" -C {config}\n', roots["10.5.0"], work.parent / "w2")
        assert rc["second"] == "rc=1", output
        assert (f"cannot start the smtpIncoming listener on {ADDRESS}:{ports['smtpIncoming']}: "
                "Address already in use") in lines["second"]
    finally:
        daemon.stop()


def test_malformed_config_refused_with_file_and_line(roots, tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (private mount namespace)")
    bad = tmp_path / "bad.cfg"
    bad.write_text("Server {\n  imap = {\n    listeners = ( { address = 127.0.0.62:143 enable yes } )\n  }\n}\n")
    rc, lines, output = in_namespace(f'step bad "$A" -C {bad} --foreground\n', roots["10.5.0"], tmp_path / "w")
    assert rc["bad"] == "rc=1", output
    assert f"configuration error: {bad}:3: expected '=' after 'enable'" in lines["bad"]
    assert bad.read_text().startswith("Server {\n  imap")  # left as it was


class Cli:
    """A telnet-style CLI client: reads up to the prompt, like Axigen's own axigen_cli.py."""

    def __init__(self, port):
        self.sock = socket.create_connection((ADDRESS, port), timeout=10)
        self.greeting = self.read()

    def read(self) -> str:
        data = b""
        while not data.endswith(b"> ") and b"+OK: have a nice day\r\n" not in data:
            try:
                chunk = self.sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data.decode()

    def __call__(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.read()


def test_cli_session(daemon_module, roots, setup):
    ports, _, config, work = setup
    new_port = free_ports(1)[0]
    daemon = Daemon(roots["10.5.0"], work, config, password="s3cret")
    try:
        assert "s3cret" not in (work / "serverData" / "admin.pwd").read_text()  # stored hashed
        cli = Cli(ports["cli"])
        assert cli.greeting.endswith("\r\n<login> ") and "10.5" not in cli.greeting
        assert cli("GET VERSION") == "10.5.0|Linux|x86_64\r\n+OK: command successful\r\n<login> "
        assert cli("HELP").endswith("+OK: command successful\r\n<login> ")
        assert cli("SET QUIET on") == "+OK: command successful\r\n<login> "
        assert cli("CONFIG SERVER").startswith("-ERR")  # not logged in
        assert cli("USER admin") == "<password> "
        assert cli("wrong") == "-ERR: Authentication failed\r\n<login> "
        assert cli("USER root") == "<password> " and cli("s3cret").startswith("-ERR")
        assert cli("USER admin") == "<password> "
        assert cli("s3cret") == "+OK: Authentication successful\r\n<#> "
        assert cli("GET VERSION").startswith("-ERR")  # a <login> command only
        assert cli("CONFIG SERVER").endswith("\r\n<server#> ")
        assert cli("CONFIG SMTP-INCOMING").endswith("\r\n<server-smtp-incoming#> ")
        smtp = f"{ADDRESS}:{ports['smtpIncoming']}"
        assert cli(f"UPDATE Listener address {smtp}").endswith("\r\n<server-smtp-incoming-listener#> ")
        assert cli("SET address 10.0.0.1").startswith("-ERR")
        assert cli("DONE").startswith("-ERR")  # a listener is an entity: COMMIT
        assert cli(f"SET address {ADDRESS}:{new_port}").startswith("+OK")
        assert cli("COMMIT").endswith("\r\n<server-smtp-incoming#> ")
        # BACK discards the listener's uncommitted changes; the committed one stays
        assert cli(f"ADD Listener address {ADDRESS}:{new_port}").startswith("-ERR")  # exists now
        assert cli(f"UPDATE Listener address {ADDRESS}:{new_port}").startswith("+OK")
        assert cli("SET enable no").startswith("+OK")
        assert cli("BACK").endswith("\r\n<server-smtp-incoming#> ")
        assert cli("ADD Listener address [::1]:2526").startswith("+OK")
        assert cli("SET enable no").startswith("+OK")
        assert cli("COMMIT").startswith("+OK")
        assert cli("BOGUS command").startswith("-ERR")
        assert cli("COMMIT").startswith("-ERR")  # a service is a sub-configuration: DONE
        assert cli("BACK").endswith("\r\n<server#> ")
        assert cli("BACK").endswith("\r\n<#> ")
        assert config.read_text().count(smtp) == 1  # nothing written before SAVE CONFIG
        assert cli("SAVE CONFIG").startswith("+OK") and cli("SAVE CONFIG").endswith("\r\n<#> ")
        saved = daemon_module.parse_config(config.read_text(), str(config))
        smtp_listeners = [(str(l.get("address")), str(l.get("enable")))
                          for l in saved.get("smtpIncoming").get("listeners")]
        assert smtp_listeners == [(f"{ADDRESS}:{new_port}", "yes"), ("[::1]:2526", "no")]
        assert str(saved.get("imap").get("listeners")[0].get("address")) == f"{ADDRESS}:{ports['imap']}"
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        # the running listeners change only when the server is restarted
        assert refused(new_port) and not refused(ports["smtpIncoming"])
        assert cli("EXIT") == "+OK: have a nice day\r\n"
        assert cli.sock.recv(10) == b""
    finally:
        daemon.stop()
    daemon = Daemon(roots["10.5.0"], work, config)
    try:
        assert not refused(new_port) and refused(ports["smtpIncoming"])
    finally:
        daemon.stop()


def test_cli_without_an_admin_password_lets_nobody_in(roots, setup):
    ports, _, config, work = setup
    daemon = Daemon(roots["10.5.0"], work, config)
    try:
        cli = Cli(ports["cli"])
        assert cli("USER admin") == "<password> " and cli("").startswith("-ERR")
        assert cli("GET VERSION").startswith("10.5.0|Linux|x86_64\r\n")
        cli.sock.sendall(b"X" * 10000 + b"\r\n")  # over the line limit: the session ends
        assert cli.read() == ""
    finally:
        daemon.stop()


# ------------------------------------------------------------------------------------------ init script
LSB_SEQUENCE = textwrap.dedent("""\
    S="$ROOT/etc/init.d/axigen"
    probe() { python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1])), 5); \\
    print(s.makefile().readline().strip())" "$1" 2>&1 | tail -n1; }
    step status-stopped $S status
    step stop-stopped $S stop
    echo "config-before $([ -e /var/opt/axigen/run/axigen.cfg ] && echo yes || echo no)"
    step start-stopped $S start
    step status-running $S status
    pid1=$(cat /var/opt/axigen/run/axigen.pid)
    step start-running $S start
    echo "same-pid $([ "$pid1" = "$(cat /var/opt/axigen/run/axigen.pid)" ] && echo yes || echo no)"
    echo "smtp $(probe 25)"
    echo "imap $(probe 143)"
    echo "pop3 $(probe 110)"
    echo "cli $(probe 7000)"
    echo "webadmin $(python3 -c "import socket; socket.create_connection(('127.0.0.1', 9000), 5)" && echo up)"
    echo "uname $(uname -n)"
    step restart $S restart
    echo "new-pid $([ "$(cat /var/opt/axigen/run/axigen.pid)" != "$pid1" ] && echo yes || echo no)"
    step stop-running $S stop
    step status-after-stop $S status
    sh -c 'exit 0' & dead=$!; wait $dead
    echo "$dead" > /var/opt/axigen/run/axigen.pid
    step status-stale-pid $S status
    step start-stale-pid $S start
    step stop-final $S stop
    python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 143)); s.listen(); time.sleep(60)" &
    holder=$!
    while ! python3 -c "import socket; socket.create_connection(('127.0.0.1', 143), 1)" 2>/dev/null; do sleep 0.05; done
    step start-busy $S start
    step status-busy $S status
    kill $holder
    step bogus $S bogus
""")


@needs_root_ns
def test_init_script_lsb_codes_and_first_start_writes_the_default_config(daemon_module, roots, tmp_path):
    work = tmp_path / "work"
    rc, lines, output = in_namespace(LSB_SEQUENCE, roots["10.5.0"], work, net=True)
    assert rc["status-stopped"] == "rc=3", output
    assert rc["stop-stopped"] == "rc=0"
    assert lines["config-before"] == "no"
    assert rc["start-stopped"] == "rc=0", output
    assert rc["status-running"] == "rc=0" and "is running" in lines["status-running"]
    assert rc["start-running"] == "rc=0" and lines["same-pid"] == "yes"
    # the default configuration written at the first start: every service on the loopback only
    assert (work / "run/axigen.cfg").read_text() == daemon_module.DEFAULT_CONFIG_TEXT
    assert lines["smtp"] == f"220 {lines['uname']} Axigen ESMTP ready"
    assert lines["imap"] == "* OK Axigen- IMAP4rev1 service is ready"
    assert lines["pop3"].startswith(f"+OK POP3 server on {lines['uname']} ready <")
    assert lines["cli"] == "Welcome to AXIGEN's Command Line Interface"
    assert lines["webadmin"] == "up"
    assert rc["restart"] == "rc=0" and lines["new-pid"] == "yes"
    assert rc["stop-running"] == "rc=0"
    assert rc["status-after-stop"] == "rc=3"
    # a dead process with its pid file left (a power cut on the shared disk): LSB "dead and pid file exists"
    assert rc["status-stale-pid"] == "rc=1" and "pid file" in lines["status-stale-pid"]
    assert rc["start-stale-pid"] == "rc=0"
    assert rc["stop-final"] == "rc=0"
    assert rc["start-busy"] == "rc=1" and "127.0.0.1:143: Address already in use" in lines["start-busy"]
    assert rc["status-busy"] == "rc=3"
    assert rc["bogus"] == "rc=2"


# ------------------------------------------------------------------------------------------ dpkg and .run
DPKG_PREAMBLE = textwrap.dedent("""\
    # a throwaway system: /etc and the dpkg database as overlays, /opt and /var/opt empty
    umount /opt/axigen /opt /var/opt/axigen /var/opt
    mkdir -p "$WORK/etc.u" "$WORK/etc.w" "$WORK/dpkg.u" "$WORK/dpkg.w" "$WORK/varopt"
    mount -t tmpfs tmpfs /opt && mount --bind "$WORK/varopt" /var/opt  # the working directory, seen from the test
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/etc.u,workdir=$WORK/etc.w" /etc
    mount -t overlay overlay -o "lowerdir=/var/lib/dpkg,upperdir=$WORK/dpkg.u,workdir=$WORK/dpkg.w" /var/lib/dpkg
    rm -f /etc/rc?.d/[SK][0-9][0-9]axigen /etc/init.d/axigen
    mount -t tmpfs tmpfs /var/log
    D="dpkg --log=/dev/null --force-confnew"
    version() { dpkg-query -W -f '${db:Status-Status} ${Version}' axigen 2>/dev/null || echo none; }
    cliversion() { python3 "$WORK/cliversion.py"; }
""")

DPKG_SEQUENCE = textwrap.dedent("""\
    step install $D -i "$DEB0"
    echo "version-1 $(version)"
    step status-after-install /etc/init.d/axigen status
    echo "boot $(ls /etc/rc2.d | grep axigen)"
    echo "cli-version $(cliversion)"
    python3 -c "import smtplib; smtplib.SMTP('127.0.0.1', 25).sendmail('a@example.org', ['alice@example.com'], \\
    'Subject: kept\\r\\n\\r\\nkept\\r\\n')"
    echo '# edited by the administrator' >> /var/opt/axigen/run/axigen.cfg
    cfg=$(md5sum < /var/opt/axigen/run/axigen.cfg)
    step upgrade-running $D -i "$DEB1"
    echo "version-2 $(version)"
    echo "cli-version-after-upgrade $(cliversion)"
    step stop /etc/init.d/axigen stop
    step reinstall-dont-start env AXIGEN_INSTALL_DONT_START_SERVICE=yes $D -i "$DEB1"
    step status-dont-start /etc/init.d/axigen status
    echo "cfg-kept $([ "$(md5sum < /var/opt/axigen/run/axigen.cfg)" = "$cfg" ] && echo yes || echo no)"
    echo "mail-kept $(cat /var/opt/axigen/domains/example.com/alice/*.eml | grep -c '^kept')"
    step start /etc/init.d/axigen start
    echo "cli-version-restarted $(cliversion)"
    step remove $D --remove axigen
    echo "after-remove $(version) $(python3 -c "import socket; socket.create_connection(('127.0.0.1', 25), 5)" \\
    2>/dev/null && echo listening || echo closed)"
    step purge $D --purge axigen
    echo "boot-after-purge $(ls /etc/rc2.d | grep -c axigen)"
    echo "mail-after-purge $(ls /var/opt/axigen/domains/example.com/alice | wc -l)"
""")


CLIVERSION_PY = textwrap.dedent("""\
    import re, socket
    sock = socket.create_connection(("127.0.0.1", 7000), 5)
    sock.sendall(b"GET VERSION\\r\\n")
    data = b""
    while data.count(b"<login> ") < 2:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    print(re.search(rb"\\d+\\.\\d+\\.\\d+\\|[^\\r\\n]*", data).group().decode())
""")


def dpkg_namespace(script: str, root: Path, work: Path, **kw):
    """in_namespace on a throwaway system (DPKG_PREAMBLE), with the CLI version probe in $WORK."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("dpkg") is None:
        pytest.skip("needs root, unshare and dpkg (a throwaway system in a private mount namespace)")
    work.mkdir(parents=True)
    (work / "cliversion.py").write_text(CLIVERSION_PY)
    return in_namespace(DPKG_PREAMBLE + script, root, work, net=True, **kw)


def test_dpkg_install_starts_it_upgrade_keeps_mail_and_config(debs, roots, tmp_path):
    work = tmp_path / "work"
    rc, lines, output = dpkg_namespace(DPKG_SEQUENCE, roots["10.5.0"], work,
                                       env={"DEB0": debs["10.5.0"], "DEB1": debs["10.5.1"]})
    assert rc["install"] == "rc=0", output
    assert lines["version-1"] == "installed 10.5.0-1"
    # by default the install starts the service (AXIGEN.md: the installer honours
    # AXIGEN_INSTALL_DONT_START_SERVICE=yes, so by default it may start it) and enables it at boot
    assert rc["status-after-install"] == "rc=0", output
    assert lines["boot"] == "S01axigen"
    assert lines["cli-version"] == "10.5.0|Linux|x86_64"
    # an upgrade of a running server leaves the old process serving: the package version changed, the
    # running version did not
    assert rc["upgrade-running"] == "rc=0" and lines["version-2"] == "installed 10.5.1-1"
    assert lines["cli-version-after-upgrade"] == "10.5.0|Linux|x86_64"
    assert rc["reinstall-dont-start"] == "rc=0" and rc["status-dont-start"] == "rc=3", output
    assert lines["cfg-kept"] == "yes" and lines["mail-kept"] == "1"
    assert rc["start"] == "rc=0" and lines["cli-version-restarted"] == "10.5.1|Linux|x86_64"
    assert rc["remove"] == "rc=0" and lines["after-remove"] == "config-files 10.5.1-1 closed", output
    assert rc["purge"] == "rc=0" and lines["boot-after-purge"] == "0" and lines["mail-after-purge"] == "1"
    # the postinst made the working-directory skeleton (10.4+ layout, no webmail/ webadmin/ templates/)
    assert sorted(p.name for p in (work / "varopt/axigen").iterdir()) == [
        "axigen_cert.pem", "axigen_dh.pem", "bitdefender", "domains", "filters", "log", "queue", "reporting",
        "run", "serverData"]


RUN_SEQUENCE = textwrap.dedent("""\
    step refuse sh "$RUN" --quiet
    echo "after-refuse $(version) $([ -e /opt/axigen/bin/axigen ] && echo binary || echo no-binary)"
    echo yes | step accept-dont-start env AXIGEN_INSTALL_DONT_START_SERVICE=yes sh "$RUN" --nomd5 --quiet
    echo "after-accept $(version)"
    step status-dont-start /etc/init.d/axigen status
    $D --purge axigen >/dev/null
    echo y | step accept sh "$RUN"
    echo "after-accept-start $(version)"
    step status-started /etc/init.d/axigen status
    echo "tmp-left $(ls "${TMPDIR:-/tmp}" | grep -c axigen-install)"
    /etc/init.d/axigen stop >/dev/null
""")


def test_run_installer_asks_for_the_licence_then_installs_the_deb(installers, roots, tmp_path):
    work = tmp_path / "work"
    rc, lines, output = dpkg_namespace(RUN_SEQUENCE, roots["10.5.0"], work,
                                       stdin="no\n", env={"RUN": installers["10.5.0"], "TMPDIR": str(tmp_path)})
    assert rc["refuse"] == "rc=1", output
    assert "not accepted" in lines["refuse"] and "LICENSE AGREEMENT" in lines["refuse"]
    assert lines["after-refuse"] == "none no-binary"
    assert rc["accept-dont-start"] == "rc=0", output
    assert lines["after-accept"] == "installed 10.5.0-1" and rc["status-dont-start"] == "rc=3"
    assert rc["accept"] == "rc=0" and lines["after-accept-start"] == "installed 10.5.0-1"
    assert rc["status-started"] == "rc=0", output
    assert lines["tmp-left"] == "0"


def test_run_installer_extracts_checks_and_explains(installers, debs, tmp_path):
    run = installers["10.5.1"]
    target = tmp_path / "extracted"
    result = subprocess.run(["sh", run, "--noexec", "--target", str(target)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["LICENSE", "axigen_10.5.1-1_amd64.deb"]
    assert sha256(target / "axigen_10.5.1-1_amd64.deb") == sha256(debs["10.5.1"])
    helped = subprocess.run(["sh", run, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    for option in ("--noexec", "--target", "--keep", "--nomd5", "--quiet", "--help"):
        assert option in helped.stdout
    assert subprocess.run(["sh", run, "--bogus"], capture_output=True, timeout=60).returncode == 1
    damaged = tmp_path / "damaged.run"
    data = bytearray(Path(run).read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    checked = subprocess.run(["sh", str(damaged), "--noexec", "--target", str(tmp_path / "d")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2 and "MD5" in checked.stderr
