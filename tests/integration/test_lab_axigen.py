"""The stand-in Axigen inside real lab nodes: installed by `lab up` (10.5.0-1 with
AXIGEN_INSTALL_DONT_START_SERVICE=yes, disabled, stopped), run by Pacemaker's own LSB execution, listening on the
loopback until its listeners are moved with the CLI, upgraded to 10.5.1 with dpkg without losing mail, and read
as "not running" by Pacemaker after a power cut leaves its pid file behind."""

from __future__ import annotations

import imaplib
import json
import poplib
import re
import smtplib
import socket
from pathlib import Path

import pytest

from axha_lab.axigen.build import run_name
from tests.waiting import wait_until

pytestmark = pytest.mark.lab

# Runs inside a node: a CLI session on 127.0.0.1:7000 (read up to each prompt, as Axigen's axigen_cli.py
# does); argv[1] is a JSON list of lines to send; prints the JSON list of replies.
CLI_CLIENT = r"""
import json, re, socket, sys
sock = socket.create_connection(("127.0.0.1", 7000), 10)
def read():
    data = b""
    while not re.search(rb"<[^>]*> $", data) and b"have a nice day" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()
replies = [read()]
for line in json.loads(sys.argv[1]):
    sock.sendall(line.encode() + b"\r\n")
    replies.append(read())
print(json.dumps(replies))
"""

# Runs inside a node: the first line of each TCP port on 127.0.0.1 given in argv ("refused" if none).
FIRST_LINES = r"""
import json, socket, sys
out = {}
for port in sys.argv[1:]:
    try:
        with socket.create_connection(("127.0.0.1", int(port)), 5) as s:
            out[port] = s.makefile("rb").readline().decode().strip()
    except ConnectionRefusedError:
        out[port] = "refused"
print(json.dumps(out))
"""


def text(proc) -> str:
    return (proc.stdout or b"").decode() + (proc.stderr or b"").decode()


def address(lab, node: str) -> str:
    return next(n["ssh_address"] for n in lab["nodes"] if n["name"] == node)


def cli(lab_exec, node: str, lines: list[str]) -> list[str]:
    proc = lab_exec(node, ["python3", "-c", CLI_CLIENT, json.dumps(lines)])
    assert proc.returncode == 0, text(proc)
    return json.loads(proc.stdout)


def running_version(lab_exec, node: str) -> str:
    """What the running server says at <login> to GET VERSION (the only way to learn the running version)."""
    reply = cli(lab_exec, node, ["GET VERSION", "EXIT"])[1]
    return re.search(r"^(\d+\.\d+\.\d+)\|Linux\|x86_64\r$", reply, re.M).group(1)


def first_lines(lab_exec, node: str, *ports: int) -> dict[str, str]:
    proc = lab_exec(node, ["python3", "-c", FIRST_LINES, *map(str, ports)])
    assert proc.returncode == 0, text(proc)
    return json.loads(proc.stdout)


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True


def wait_for(condition, what: str, timeout: float = 60.0):
    return wait_until(condition, what, timeout, interval=0.1)


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


def dpkg_i(lab_exec, node: str, deb: str, *env: str):
    return lab_exec(node, ["sh", "-c", f"cat > /tmp/axigen.deb && env {' '.join(env)} dpkg -i /tmp/axigen.deb"],
                    stdin=Path(deb).read_bytes(), timeout=180)


def test_installed_disabled_and_stopped_on_both_nodes(fresh_lab, lab_exec):
    for node in ("node1", "node2"):
        version = lab_exec(node, ["dpkg-query", "-W", "-f", "${Version} ${db:Status-Status}", "axigen"])
        assert version.stdout.decode() == "10.5.0-1 installed"
        binary = lab_exec(node, ["/opt/axigen/bin/axigen", "--version"])
        assert binary.stdout.decode() == "Axigen Mail Server 10.5.0 (Linux/x86_64)\n"
        assert lab_exec(node, ["systemctl", "is-enabled", "axigen"]).stdout.decode().strip() == "disabled"
        status = lab_exec(node, ["/etc/init.d/axigen", "status"])
        assert (status.returncode, status.stdout.decode().strip()) == (3, "Axigen Mail Server is not running")
        # never started: the skeleton is there, the configuration file is not (the first start writes it)
        listing = lab_exec(node, ["ls", "/var/opt/axigen", "/var/opt/axigen/run"]).stdout.decode().split()
        assert "domains" in listing and "serverData" in listing and "axigen.cfg" not in listing
        assert "version" not in listing and "templates" not in listing


def test_pacemaker_runs_it_as_an_lsb_resource(fresh_lab, lab_exec):
    # crm_resource --force-* runs the agent through Pacemaker's own executor code
    def force(action, cls="lsb"):
        proc = lab_exec("node2", ["crm_resource", f"--force-{action}", "--class", cls, "--agent", "axigen"])
        return proc.returncode, text(proc)

    assert force("check")[0] == 7  # OCF "not running", from the script's status 3
    assert force("start")[0] == 0
    rc, out = force("check")
    assert rc == 0 and "is running" in out
    assert force("start")[0] == 0  # already running: still success
    assert force("check", "service")[0] == 0
    # the default configuration listens on the loopback only
    seen = first_lines(lab_exec, "node2", 25, 143, 110, 7000)
    assert seen["25"] == "220 node2 Axigen ESMTP ready"
    assert seen["143"] == "* OK Axigen- IMAP4rev1 service is ready"
    assert seen["110"].startswith("+OK POP3 server on node2 ready <")
    assert seen["7000"] == "Welcome to AXIGEN's Command Line Interface"
    assert refused(address(fresh_lab, "node2"), 25)
    assert running_version(lab_exec, "node2") == "10.5.0"
    assert force("stop")[0] == 0
    assert force("stop")[0] == 0  # already stopped: still success
    assert force("check")[0] == 7


def test_listeners_moved_with_the_cli_and_mail_kept_across_the_upgrade(fresh_lab, lab_exec):
    host = address(fresh_lab, "node1")
    start = lab_exec("node1", ["/etc/init.d/axigen", "start"])
    assert start.returncode == 0, text(start)
    assert lab_exec("node1", ["/opt/axigen/bin/axigen", "-A", "lab-admin"]).returncode == 0
    moves = []
    for service, port in (("SMTP-INCOMING", 25), ("IMAP", 143), ("POP3", 110)):
        moves += [f"CONFIG {service}", f"UPDATE Listener address 127.0.0.1:{port}", f"SET address {host}:{port}",
                  "COMMIT", "DONE"]
    replies = cli(lab_exec, "node1", ["USER admin", "lab-admin", "CONFIG SERVER", *moves, "DONE", "SAVE CONFIG",
                                      "EXIT"])
    assert replies[2].endswith("<#> ") and replies[-2].startswith("+OK") and replies[-1].startswith("+OK: have"), \
        replies
    assert not [r for r in replies if r.startswith("-ERR")], replies
    assert refused(host, 25)  # the running listeners move at the next start
    restart = lab_exec("node1", ["/etc/init.d/axigen", "restart"])
    assert restart.returncode == 0, text(restart)

    with smtplib.SMTP(host, 25, timeout=10) as smtp:
        assert smtp.ehlo()[0] == 250
        smtp.sendmail("ops@example.org", ["alice@example.com"], "Subject: before upgrade\r\n\r\nstill here\r\n")
    by_pop, by_imap = read_back(host, "alice@example.com")
    assert len(by_pop) == len(by_imap) == 1 and b"Subject: before upgrade" in by_pop[0] + by_imap[0]
    stored = lab_exec("node1", ["find", "/var/opt/axigen/domains", "-name", "*.eml"]).stdout.decode().split()
    assert len(stored) == 1 and stored[0].startswith("/var/opt/axigen/domains/example.com/alice/")
    config = lab_exec("node1", ["md5sum", "/var/opt/axigen/run/axigen.cfg"]).stdout

    # the upgrade (no AXIGEN_INSTALL_DONT_START_SERVICE): the postinst's start finds it running, so the
    # 10.5.0 process keeps serving until it is restarted; the package says 10.5.1-1
    upgrade = dpkg_i(lab_exec, "node1", fresh_lab["packages"]["10.5.1"])
    assert upgrade.returncode == 0, text(upgrade)
    assert lab_exec("node1", ["dpkg-query", "-W", "-f", "${Version}", "axigen"]).stdout.decode() == "10.5.1-1"
    assert running_version(lab_exec, "node1") == "10.5.0"
    assert lab_exec("node1", ["md5sum", "/var/opt/axigen/run/axigen.cfg"]).stdout == config
    assert lab_exec("node1", ["systemctl", "is-enabled", "axigen"]).stdout.decode().strip() == "disabled"

    restart = lab_exec("node1", ["/etc/init.d/axigen", "restart"])
    assert restart.returncode == 0, text(restart)
    assert running_version(lab_exec, "node1") == "10.5.1"
    assert read_back(host, "alice") == ([], [])  # "alice" alone is alice@localdomain: another mailbox
    by_pop, by_imap = read_back(host, "alice@example.com")
    assert [b"still here" in m for m in by_pop + by_imap] == [True, True]
    stop = lab_exec("node1", ["/etc/init.d/axigen", "stop"])
    assert stop.returncode == 0, text(stop)
    assert lab_exec("node1", ["/etc/init.d/axigen", "status"]).returncode == 3


def test_power_cut_leaves_a_stale_pid_file_that_pacemaker_reads_as_stopped(fresh_lab, lab_exec):
    from axha_lab import nodes

    instance = fresh_lab["instance"]
    assert lab_exec("node2", ["/etc/init.d/axigen", "start"]).returncode == 0
    nodes.power_off(instance, "node2")
    nodes.power_on(instance, "node2")
    nodes.wait_booted(instance, "node2")
    assert lab_exec("node2", ["test", "-e", "/var/opt/axigen/run/axigen.pid"]).returncode == 0
    status = lab_exec("node2", ["/etc/init.d/axigen", "status"])
    assert status.returncode == 1 and "pid file" in text(status)  # LSB: dead, pid file exists
    check = lab_exec("node2", ["crm_resource", "--force-check", "--class", "lsb", "--agent", "axigen"])
    assert check.returncode == 7, text(check)  # Pacemaker maps LSB status 1 to "not running"
    start = lab_exec("node2", ["crm_resource", "--force-start", "--class", "lsb", "--agent", "axigen"])
    assert start.returncode == 0, text(start)
    assert running_version(lab_exec, "node2") == "10.5.0"
    assert lab_exec("node2", ["/etc/init.d/axigen", "stop"]).returncode == 0


def test_a_plain_install_starts_it_and_the_installer_asks_first(fresh_lab, lab_exec):
    purge = lab_exec("node2", ["dpkg", "--purge", "axigen"])
    assert purge.returncode == 0, text(purge)
    install = dpkg_i(lab_exec, "node2", fresh_lab["packages"]["10.5.0"])
    assert install.returncode == 0, text(install)
    # no policy-rc.d or runlevel stands in the way: the postinst runs the init script itself
    assert lab_exec("node2", ["/etc/init.d/axigen", "status"]).returncode == 0
    assert lab_exec("node2", ["systemctl", "is-enabled", "axigen"]).stdout.decode().strip() == "enabled"
    assert first_lines(lab_exec, "node2", 25)["25"] == "220 node2 Axigen ESMTP ready"
    assert lab_exec("node2", ["sh", "-c", "/etc/init.d/axigen stop && dpkg --purge axigen"]).returncode == 0

    run = Path(fresh_lab["packages"]["10.5.0"]).with_name(run_name("10.5.0")).read_bytes()
    lab_exec("node2", ["sh", "-c", "cat > /tmp/axigen.run"], stdin=run)
    refused_install = lab_exec("node2", ["sh", "-c", "echo no | sh /tmp/axigen.run --quiet"])
    assert refused_install.returncode == 1 and "not accepted" in text(refused_install)
    assert lab_exec("node2", ["dpkg-query", "-W", "-f", "${db:Status-Status}", "axigen"]).stdout.decode() in (
        "", "not-installed", "config-files")
    accepted = lab_exec("node2", ["sh", "-c", "echo yes | AXIGEN_INSTALL_DONT_START_SERVICE=yes "
                                              "sh /tmp/axigen.run --nomd5 --quiet"])
    assert accepted.returncode == 0, text(accepted)
    assert lab_exec("node2", ["dpkg-query", "-W", "-f", "${Version}", "axigen"]).stdout.decode() == "10.5.0-1"
    assert lab_exec("node2", ["/etc/init.d/axigen", "status"]).returncode == 3
