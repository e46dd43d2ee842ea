"""The stand-in Axigen inside real lab nodes: installed by `lab up` (10.5.0, disabled, stopped), started through the
systemctl stand-in and Pacemaker's own LSB/service execution, answering SMTP/POP3/IMAP on the node's address
with its version, and upgraded to 10.5.1 with dpkg without losing mail."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import time
from pathlib import Path

import pytest

from lab.axigen import banner_version

pytestmark = pytest.mark.lab


def text(proc) -> str:
    return (proc.stdout or b"").decode() + (proc.stderr or b"").decode()


def address(lab, node: str) -> str:
    return next(n["ssh_address"] for n in lab["nodes"] if n["name"] == node)


def smtp_banner(host: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((host, 25), timeout=5) as sock:
                return sock.makefile("rb").readline().decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def banners(host: str) -> dict[str, str]:
    pop = poplib.POP3(host, 110, timeout=10)
    imap = imaplib.IMAP4(host, 143, timeout=10)
    seen = {"smtp": smtp_banner(host), "pop3": pop.getwelcome().decode(), "imap": imap.welcome.decode()}
    pop.quit()
    imap.logout()
    return seen


def read_back(host: str, user: str) -> tuple[list[bytes], list[bytes]]:
    """Every message of the user's INBOX, over POP3 and over IMAP."""
    pop = poplib.POP3(host, 110, timeout=10)
    pop.user(user)
    pop.pass_("any")
    count, _ = pop.stat()
    by_pop = [b"\r\n".join(pop.retr(n)[1]) for n in range(1, count + 1)]
    pop.quit()
    imap = imaplib.IMAP4(host, 143, timeout=10)
    imap.login(user, "any")
    _, data = imap.select("INBOX")
    by_imap = [imap.fetch(str(n), "(BODY[])")[1][0][1] for n in range(1, int(data[0]) + 1)]
    imap.logout()
    return by_pop, by_imap


def test_installed_disabled_and_stopped_on_both_nodes(fresh_lab, lab_exec):
    for node in ("node1", "node2"):
        version = lab_exec(node, ["dpkg-query", "-W", "-f", "${Version} ${db:Status-Status}", "axigen"])
        assert version.stdout.decode() == "10.5.0 installed"
        assert lab_exec(node, ["systemctl", "is-enabled", "axigen"]).stdout.decode().strip() == "disabled"
        status = lab_exec(node, ["/etc/init.d/axigen", "status"])
        assert (status.returncode, status.stdout.decode().strip()) == (3, "axigen is not running")
        assert lab_exec(node, ["cat", "/var/opt/axigen/run/version"]).stdout.decode() == "10.5.0\n"


def test_pacemaker_runs_it_as_lsb_and_service_resource(fresh_lab, lab_exec):
    # crm_resource --force-* runs the agent through Pacemaker's own executor code (lsb: and service:)
    def force(action, cls="lsb"):
        proc = lab_exec("node2", ["crm_resource", f"--force-{action}", "--class", cls, "--agent", "axigen"])
        return proc.returncode, text(proc)

    assert force("check")[0] == 7  # OCF "not running", mapped from the script's status 3
    assert force("start")[0] == 0
    rc, out = force("check", "service")
    assert rc == 0 and "axigen is running" in out and "version 10.5.0" in out
    assert force("start", "service")[0] == 0  # already running: still success
    assert banner_version(smtp_banner(address(fresh_lab, "node2"))) == "10.5.0"
    assert force("stop")[0] == 0
    assert force("stop")[0] == 0  # already stopped: still success
    assert force("check")[0] == 7


def test_mail_survives_upgrade_to_10_5_1(fresh_lab, lab_exec):
    host = address(fresh_lab, "node1")
    start = lab_exec("node1", ["systemctl", "start", "axigen"])
    assert start.returncode == 0, text(start)
    seen = banners(host)
    assert seen["smtp"] == "220 node1 Axigen-10.5.0 ESMTP ready"
    assert seen["pop3"].startswith("+OK Axigen-10.5.0 POP3 server on node1 ready <")
    assert seen["imap"] == "* OK Axigen-10.5.0 IMAP4rev1 service is ready"

    with smtplib.SMTP(host, 25, timeout=10) as smtp:
        smtp.sendmail("ops@example.org", ["alice@example.com"], "Subject: before upgrade\r\n\r\nstill here\r\n")
    by_pop, by_imap = read_back(host, "alice@example.com")
    assert len(by_pop) == len(by_imap) == 1
    assert b"Subject: before upgrade" in by_pop[0] and b"Subject: before upgrade" in by_imap[0]
    stored = lab_exec("node1", ["find", "/var/opt/axigen/domains", "-name", "*.eml"]).stdout.decode().split()
    assert len(stored) == 1 and stored[0].startswith("/var/opt/axigen/domains/example.com/alice/")

    deb = Path(fresh_lab["packages"]["10.5.1"]).read_bytes()
    upgrade = lab_exec("node1", ["sh", "-c", "cat > /tmp/axigen.deb && dpkg -i /tmp/axigen.deb"], stdin=deb)
    assert upgrade.returncode == 0, text(upgrade)
    assert lab_exec("node1", ["dpkg-query", "-W", "-f", "${Version}", "axigen"]).stdout.decode() == "10.5.1"
    assert lab_exec("node1", ["cat", "/var/opt/axigen/run/version"]).stdout.decode() == "10.5.1\n"
    # the lab's policy-rc.d (exit 101) forbids maintainer scripts to act on services: the 10.5.0 daemon is
    # still the one answering until the administrator (or the cluster) restarts it
    assert banner_version(smtp_banner(host)) == "10.5.0"
    assert lab_exec("node1", ["systemctl", "is-enabled", "axigen"]).stdout.decode().strip() == "disabled"

    restart = lab_exec("node1", ["systemctl", "restart", "axigen"])
    assert restart.returncode == 0, text(restart)
    assert {k: banner_version(v) for k, v in banners(host).items()} == dict.fromkeys(("smtp", "pop3", "imap"),
                                                                                    "10.5.1")
    assert read_back(host, "alice") == ([], [])  # "alice" alone is alice@localdomain: another mailbox
    by_pop, by_imap = read_back(host, "alice@example.com")
    assert [b"still here" in m for m in by_pop + by_imap] == [True, True]
    stop = lab_exec("node1", ["systemctl", "stop", "axigen"])
    assert stop.returncode == 0, text(stop)
    assert lab_exec("node1", ["/etc/init.d/axigen", "status"]).returncode == 3


def test_power_cut_leaves_a_stale_pid_file_that_reads_as_stopped(fresh_lab, lab_exec):
    from lab import nodes

    instance = fresh_lab["instance"]
    assert lab_exec("node2", ["systemctl", "start", "axigen"]).returncode == 0
    nodes.power_off(instance, "node2")
    nodes.power_on(instance, "node2")
    nodes.wait_booted(instance, "node2")
    assert lab_exec("node2", ["test", "-e", "/var/opt/axigen/run/axigen.pid"]).returncode == 0
    status = lab_exec("node2", ["/etc/init.d/axigen", "status"])
    assert status.returncode == 3 and "stale pid file" in text(status)
    assert lab_exec("node2", ["systemctl", "start", "axigen"]).returncode == 0
    assert banner_version(smtp_banner(address(fresh_lab, "node2"))) == "10.5.0"
    assert lab_exec("node2", ["systemctl", "stop", "axigen"]).returncode == 0


def test_upgrade_restarts_a_running_server_when_policy_allows(fresh_lab, lab_exec):
    # As on a systemd server without policy-rc.d: invoke-rc.d sees /run/systemd/system and asks systemctl (the
    # lab's stand-in), which reports axigen active, so the postinst's `invoke-rc.d axigen restart` runs.
    setup = lab_exec("node1", ["sh", "-c", "mkdir -p /run/systemd/system && mv /usr/sbin/policy-rc.d /root/ "
                                           "&& systemctl start axigen && cat /var/opt/axigen/run/axigen.pid"])
    assert setup.returncode == 0, text(setup)
    old_pid = setup.stdout.decode().strip()
    try:
        deb = Path(fresh_lab["packages"]["10.5.1"]).read_bytes()
        upgrade = lab_exec("node1", ["sh", "-c", "cat > /tmp/axigen.deb && dpkg -i /tmp/axigen.deb"], stdin=deb)
        assert upgrade.returncode == 0, text(upgrade)
        status = lab_exec("node1", ["/etc/init.d/axigen", "status"])
        assert status.returncode == 0 and "version 10.5.1" in text(status)
        assert f"pid {old_pid}," not in text(status)
        assert banner_version(smtp_banner(address(fresh_lab, "node1"))) == "10.5.1"
    finally:
        lab_exec("node1", ["sh", "-c", "systemctl stop axigen; mv /root/policy-rc.d /usr/sbin/; "
                                       "rmdir /run/systemd/system"])


def test_fresh_install_does_not_start_it(fresh_lab, lab_exec):
    # even where policy-rc.d allows everything, a first install only enables the service at boot
    script = ("mkdir -p /run/systemd/system && mv /usr/sbin/policy-rc.d /root/ && dpkg --purge axigen >/dev/null "
              "&& cat > /tmp/axigen.deb && dpkg -i /tmp/axigen.deb >/dev/null; rc=$?; "
              "mv /root/policy-rc.d /usr/sbin/; rmdir /run/systemd/system; exit $rc")
    install = lab_exec("node2", ["sh", "-c", script], stdin=Path(fresh_lab["packages"]["10.5.0"]).read_bytes())
    assert install.returncode == 0, text(install)
    assert lab_exec("node2", ["/etc/init.d/axigen", "status"]).returncode == 3
    assert lab_exec("node2", ["systemctl", "is-enabled", "axigen"]).stdout.decode().strip() == "enabled"
