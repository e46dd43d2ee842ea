"""The stand-in Axigen packages: real dpkg-deb builds, real dpkg installs into a throwaway root, the real
daemon answering real smtplib/poplib/imaplib clients on 127.0.0.x, the real init script's LSB exit codes."""

from __future__ import annotations

import hashlib
import imaplib
import os
import poplib
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab.axigen import VERSIONS, banner_version, build_packages

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
ADDRESS = "127.0.0.62"


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    return build_packages(tmp_path_factory.mktemp("debs"))


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def field(deb: str, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True, check=True).stdout.strip()


# ------------------------------------------------------------------------------------------ build
def test_builds_both_versions(debs):
    assert sorted(debs) == ["10.5.0", "10.5.1"] == sorted(VERSIONS)
    for version, path in debs.items():
        assert Path(path).name == f"axigen_{version}_all.deb"
        assert (field(path, "Package"), field(path, "Version"), field(path, "Architecture")) == \
            ("axigen", version, "all")


def test_package_contents(debs):
    listing = subprocess.run(["dpkg-deb", "-c", debs["10.5.0"]], capture_output=True, text=True,
                             check=True).stdout
    entries = {line.split()[-1]: line.split()[0] for line in listing.splitlines()}
    assert entries["./etc/init.d/axigen"] == "-rwxr-xr-x"
    assert entries["./opt/axigen/bin/axigen"] == "-rwxr-xr-x"
    assert entries["./etc/opt/axigen/axigen.cfg"] == "-rw-r--r--"
    assert "root/root" in listing and "./var/opt/axigen/domains/" not in listing
    conffiles = subprocess.run(["dpkg-deb", "--info", debs["10.5.0"], "conffiles"], capture_output=True,
                               text=True, check=True).stdout.split()
    assert conffiles == ["/etc/opt/axigen/axigen.cfg", "/etc/init.d/axigen"]


def test_build_is_reproducible_and_skipped_when_unchanged(debs, tmp_path):
    again = build_packages(tmp_path)
    assert {v: sha256(p) for v, p in again.items()} == {v: sha256(p) for v, p in debs.items()}
    before = {v: os.stat(p).st_mtime_ns for v, p in again.items()}
    time.sleep(0.01)
    assert build_packages(tmp_path) == again
    assert {v: os.stat(p).st_mtime_ns for v, p in again.items()} == before  # not rebuilt
    # a package whose recorded sources differ (a source file changed) is rebuilt
    (tmp_path / "axigen_10.5.1_all.deb.sources").write_text("sources of an older checkout\n")
    build_packages(tmp_path)
    assert os.stat(again["10.5.1"]).st_mtime_ns != before["10.5.1"]
    assert os.stat(again["10.5.0"]).st_mtime_ns == before["10.5.0"]
    assert sha256(again["10.5.1"]) == sha256(debs["10.5.1"])


def test_banner_version():
    assert banner_version("220 node1 Axigen-10.5.0 ESMTP ready") == "10.5.0"
    assert banner_version("* OK Axigen-10.5.1 IMAP4rev1 service is ready") == "10.5.1"
    assert banner_version("220 mx ESMTP Postfix") is None


# ------------------------------------------------------------------------------------------ daemon
class Daemon:
    """The packaged daemon run from an extracted package on 127.0.0.62 high ports."""

    def __init__(self, deb: str, tmp: Path, datadir: Path, ports: dict[str, int]):
        self.root = tmp / ("root-" + Path(deb).stem)
        subprocess.run(["dpkg-deb", "-x", deb, str(self.root)], check=True)
        self.datadir, self.ports = datadir, ports
        self.pidfile = datadir / "run" / "axigen.pid"
        argv = ["/usr/bin/python3", str(self.root / "opt/axigen/bin/axigen"),
                "--configfile", str(self.root / "etc/opt/axigen/axigen.cfg"), "--datadir", str(datadir),
                "--sharedir", str(self.root / "opt/axigen/share"), "--listen", ADDRESS, "--hostname", "node9",
                "--ports", ",".join(f"{k}={v}" for k, v in ports.items())]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr  # returns once the ports answer
        self.pid = int(self.pidfile.read_text())

    def alive(self) -> bool:
        # the daemon is an orphan: until this host's init reaps it, it is a zombie with no command line
        try:
            return Path(f"/proc/{self.pid}/cmdline").read_bytes() != b""
        except FileNotFoundError:
            return False

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self.alive()


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((ADDRESS, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def send_mail(ports, to, subject):
    with smtplib.SMTP(ADDRESS, ports["smtp"], timeout=10) as smtp:
        smtp.sendmail("sender@example.org", to, f"Subject: {subject}\r\n\r\nbody of {subject}\r\n.leading dot\r\n")


def banners(ports) -> dict[str, str]:
    out = {}
    with socket.create_connection((ADDRESS, ports["smtp"]), timeout=10) as s:
        out["smtp"] = s.makefile("rb").readline().decode().strip()
    pop = poplib.POP3(ADDRESS, ports["pop3"], timeout=10)
    out["pop3"] = pop.getwelcome().decode()
    pop.quit()
    imap = imaplib.IMAP4(ADDRESS, ports["imap"], timeout=10)
    out["imap"] = imap.welcome.decode()
    imap.logout()
    return out


def pop3_messages(ports, user) -> list[bytes]:
    pop = poplib.POP3(ADDRESS, ports["pop3"], timeout=10)
    pop.user(user)
    pop.pass_("any password")
    count, _ = pop.stat()
    messages = [b"\r\n".join(pop.retr(n)[1]) for n in range(1, count + 1)]
    pop.quit()
    return messages


def imap_messages(ports, user) -> list[bytes]:
    imap = imaplib.IMAP4(ADDRESS, ports["imap"], timeout=10)
    assert "IMAP4REV1" in imap.capabilities
    imap.login(user, "any password")
    status, data = imap.select("INBOX")
    count = int(data[0])
    messages = []
    for n in range(1, count + 1):
        status, fetched = imap.fetch(str(n), "(BODY[])")
        assert status == "OK"
        messages.append(fetched[0][1])
    imap.logout()
    return messages


def test_daemon_serves_mail_and_keeps_it_across_upgrade(debs, tmp_path):
    ports = dict(zip(("smtp", "pop3", "imap"), free_ports(3)))
    datadir = tmp_path / "data"
    daemon = Daemon(debs["10.5.0"], tmp_path, datadir, ports)
    try:
        seen = banners(ports)
        assert seen["smtp"] == "220 node9 Axigen-10.5.0 ESMTP ready"
        assert seen["pop3"].startswith("+OK Axigen-10.5.0 POP3 server on node9 ready <")
        assert seen["imap"] == "* OK Axigen-10.5.0 IMAP4rev1 service is ready"
        send_mail(ports, ["alice@example.com", "bob"], "before upgrade")
        [pop] = pop3_messages(ports, "alice@example.com")
        [imap] = imap_messages(ports, "bob@localdomain")
        for message in (pop, imap):
            assert b"Subject: before upgrade" in message and b"\r\n.leading dot\r\n" in message
            assert b"by node9 (Axigen) with ESMTP id" in message
        stored = sorted(p.relative_to(datadir).parts[:3] for p in (datadir / "domains").rglob("*.eml"))
        assert stored == [("domains", "example.com", "alice"), ("domains", "localdomain", "bob")]
        assert (datadir / "run" / "version").read_text() == "10.5.0\n"
    finally:
        daemon.stop()
    assert not daemon.pidfile.exists()

    daemon = Daemon(debs["10.5.1"], tmp_path, datadir, ports)
    try:
        assert banner_version(banners(ports)["smtp"]) == "10.5.1"
        assert [b"before upgrade" in m for m in pop3_messages(ports, "alice@example.com")] == [True]
        assert [b"before upgrade" in m for m in imap_messages(ports, "bob")] == [True]
        # the new version refreshed the files it ships into the data dir (it was not installed by dpkg here)
        assert (datadir / "run" / "version").read_text() == "10.5.1\n"
        assert "version=10.5.1" in (datadir / "templates" / "webmail-skin.tmpl").read_text()
    finally:
        daemon.stop()


def test_daemon_refuses_bad_mailbox_and_busy_port(debs, tmp_path):
    ports = dict(zip(("smtp", "pop3", "imap"), free_ports(3)))
    daemon = Daemon(debs["10.5.0"], tmp_path, tmp_path / "data", ports)
    try:
        with smtplib.SMTP(ADDRESS, ports["smtp"], timeout=10) as smtp:
            smtp.ehlo("client")
            smtp.mail("a@example.org")
            assert smtp.rcpt("../etc@example.com")[0] == 553
        second = subprocess.run(
            ["/usr/bin/python3", str(daemon.root / "opt/axigen/bin/axigen"), "--datadir", str(tmp_path / "d2"),
             "--listen", ADDRESS, "--ports", ",".join(f"{k}={v}" for k, v in ports.items())],
            capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert f"cannot listen for smtp on {ADDRESS}:{ports['smtp']}: Address already in use" in second.stderr
    finally:
        daemon.stop()


# ------------------------------------------------------------------------------------------ dpkg
def dpkg(root: Path, *args: str):
    # --force-script-chrootless: maintainer scripts run on this host with DPKG_ROOT=root (the throwaway
    # root has no shell or python to chroot into); --force-depends: python3 is not installed in it.
    return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
                           "--log=/dev/null", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def throwaway_root(tmp_path):
    if os.geteuid() != 0 or shutil.which("dpkg") is None:
        pytest.skip("dpkg --root needs root and dpkg")
    root = tmp_path / "root"
    for sub in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc/init.d", "usr/sbin"):
        (root / sub).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    return root


def rc_links(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root / "etc")) for p in (root / "etc").glob("rc?.d/*axigen"))


def test_dpkg_install_upgrade_remove_keep_mail(debs, throwaway_root):
    root = throwaway_root
    first = dpkg(root, "-i", debs["10.5.0"])
    assert first.returncode == 0, first.stderr
    data = root / "var/opt/axigen"
    assert (data / "run/version").read_text() == "10.5.0\n"
    assert "Welcome to Axigen 10.5.0" in (data / "templates/welcome.tmpl").read_text()
    # a fresh install enables the service at boot (update-rc.d defaults), like Debian service packages
    assert rc_links(root) == ["rc0.d/K01axigen", "rc1.d/K01axigen", "rc2.d/S01axigen", "rc3.d/S01axigen",
                              "rc4.d/S01axigen", "rc5.d/S01axigen", "rc6.d/K01axigen"]
    mail = data / "domains/example.com/alice/00000000000000000001.1.1.eml"
    mail.parent.mkdir(parents=True)
    mail.write_bytes(b"Subject: kept\r\n\r\nkept\r\n")
    (data / "templates/welcome.tmpl").write_text("edited by hand\n")
    # the lab (and the wizard) disable it at boot; an upgrade must not enable it again
    # (what `update-rc.d axigen disable` does; it has no DPKG_ROOT support for a throwaway root)
    for level in "2345":
        (root / f"etc/rc{level}.d/S01axigen").rename(root / f"etc/rc{level}.d/K01axigen")
    disabled = rc_links(root)
    assert "rc2.d/K01axigen" in disabled

    upgrade = dpkg(root, "-i", debs["10.5.1"])
    assert upgrade.returncode == 0, upgrade.stderr
    status = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f", "${Version}", "axigen"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "10.5.1"
    assert (data / "run/version").read_text() == "10.5.1\n"
    assert "Welcome to Axigen 10.5.1" in (data / "templates/welcome.tmpl").read_text()  # refreshed
    assert mail.read_bytes() == b"Subject: kept\r\n\r\nkept\r\n"  # mail untouched
    assert rc_links(root) == disabled

    remove = dpkg(root, "--remove", "axigen")
    assert remove.returncode == 0, remove.stderr
    assert not (root / "opt/axigen/bin/axigen").exists()
    assert mail.exists()
    purge = dpkg(root, "--purge", "axigen")
    assert purge.returncode == 0, purge.stderr
    assert rc_links(root) == [] and mail.exists()


# ------------------------------------------------------------------------------------------ init script
LSB_SEQUENCE = textwrap.dedent("""\
    set -u
    ip link set lo up
    # the package's absolute paths (/opt/axigen, /etc/opt/axigen, /var/opt/axigen), in this mount namespace only
    for d in opt etc/opt var/opt; do mount -t tmpfs tmpfs "/$d"; mkdir -p "/$d/axigen"; done
    mount --bind "$ROOT/opt/axigen" /opt/axigen
    mount --bind "$ROOT/etc/opt/axigen" /etc/opt/axigen
    S="$ROOT/etc/init.d/axigen"
    step() { name=$1; shift; out=$("$@" 2>&1); echo "$name rc=$? $out"; }
    step status-stopped $S status
    step stop-stopped $S stop
    step start-stopped $S start
    step status-running $S status
    pid1=$(cat /var/opt/axigen/run/axigen.pid)
    step start-running $S start
    pid2=$(cat /var/opt/axigen/run/axigen.pid)
    echo "same-pid $([ "$pid1" = "$pid2" ] && echo yes || echo no)"
    echo "banner $(python3 -c 'import socket; print(socket.create_connection(("127.0.0.1", 25)).makefile().readline().strip())')"
    step restart $S restart
    echo "new-pid $([ "$(cat /var/opt/axigen/run/axigen.pid)" != "$pid1" ] && echo yes || echo no)"
    step stop-running $S stop
    step status-after-stop $S status
    echo 1 > /var/opt/axigen/run/axigen.pid
    step status-stale-pid $S status
    step start-stale-pid $S start
    step force-reload $S force-reload
    step stop-final $S stop
    step bogus $S bogus
""")


def test_init_script_is_lsb_compliant(debs, tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (private mount and network namespaces)")
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", debs["10.5.0"], str(root)], check=True)
    result = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", LSB_SEQUENCE],
                            env=dict(os.environ, ROOT=str(root)), capture_output=True, text=True, timeout=120)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    rc = {name: value.split()[0] for name, value in lines.items()}
    assert rc["status-stopped"] == "rc=3", result.stdout + result.stderr
    assert rc["stop-stopped"] == "rc=0"
    assert rc["start-stopped"] == "rc=0"
    assert rc["status-running"] == "rc=0" and "version 10.5.0" in lines["status-running"]
    assert rc["start-running"] == "rc=0" and lines["same-pid"] == "yes"
    assert lines["banner"].startswith("220 ") and lines["banner"].endswith(" Axigen-10.5.0 ESMTP ready")
    assert rc["restart"] == "rc=0" and lines["new-pid"] == "yes"
    assert rc["stop-running"] == "rc=0"
    assert rc["status-after-stop"] == "rc=3"
    assert rc["status-stale-pid"] == "rc=3" and "stale pid file" in lines["status-stale-pid"]
    assert rc["start-stale-pid"] == "rc=0"
    assert rc["force-reload"] == "rc=0"
    assert rc["stop-final"] == "rc=0"
    assert rc["bogus"] == "rc=2"
