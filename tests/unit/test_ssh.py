"""SshRunner against a real throwaway OpenSSH server on 127.0.0.1 (needs root to run sshd)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from axha.steps.audit import AuditLog, Redactor
from axha.steps.errors import CommandTimeout, ConnectError, HostKeyError
from axha.steps.spec import BmcSpec, Link, NodeSpec
from axha.steps.ssh import SshRunner
from axha.steps.ssh_known_hosts import fingerprint
from tests.sshd_server import TEST_PASSWORD, start_sshd, stop_sshd
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"),
                                reason="needs root and /usr/sbin/sshd")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop_sshd(server)


def node_for(server, user: str = "root") -> NodeSpec:
    return NodeSpec(name="node1", ssh_address="127.0.0.1", ssh_port=server.port, ssh_user=user,
                    link0=Link("10.0.0.1", "eth1"), link1=Link("10.0.1.1", "eth2"),
                    bmc=BmcSpec("10.0.2.1", "admin"), backing_disk="/dev/vdb")


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl", Redactor())


@pytest.fixture
def runner(sshd, audit):
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(sshd.known_hosts), audit=audit)
    yield r
    r.close()


def process_cmdlines() -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return out


BACKSTOP = 5  # remote_command's `timeout` (int(timeout + 5.999) s) ends a command this long after its timeout


def wait_killed(marker: str, by: float) -> None:
    """Wait until no process's command line holds `marker` (the stopped command's remote group is gone: killed,
    then reaped), at most until `by` (time.monotonic()): when the command would have ended anyway (its own sleep
    or the remote `timeout` backstop), so a kill that did not happen still fails the test."""
    wait_until(lambda: not any(marker in line for line in process_cmdlines()), f"no process running {marker!r}",
               timeout=max(0.3, by - time.monotonic()))


def test_run_returns_output_rc_and_uses_c_locale(runner, audit):
    result = runner.run(["sh", "-c", 'echo "out $LC_ALL"; echo err >&2; exit 3'])
    assert (result.rc, result.stdout, result.stderr) == (3, "out C\n", "err\n")
    assert result.node == "node1"
    entry = audit.entries()[-1]
    assert entry["argv"] == ["sh", "-c", 'echo "out $LC_ALL"; echo err >&2; exit 3'] and entry["rc"] == 3


def test_arguments_are_quoted_once(runner):
    tricky = ["printf", "%s|", "a b", "$(id)", "'q'", ";", "*"]
    assert runner.run(tricky).stdout == "a b|$(id)|'q'|;|*|"


def test_connection_is_reused_across_threads(runner):
    results = []
    threads = [threading.Thread(target=lambda: results.append(runner.run(["echo", "x"]))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transport = runner.connect()
    assert [r.stdout for r in results] == ["x\n"] * 8
    assert runner.connect() is transport


def test_reconnects_when_the_connection_died(runner):
    assert runner.run(["true"]).rc == 0
    transport = runner.connect()
    transport.sock.close()  # the node went away under us (power cut, reboot)
    wait_until(lambda: not transport.is_active(), "paramiko to see the connection gone")
    assert runner.run(["echo", "back"]).stdout == "back\n"


def test_stdin_reaches_the_command_and_never_argv_audit_or_ps(sshd, tmp_path):
    secret = "Sup3r-Secret-BMC-pw"
    audit = AuditLog(tmp_path / "a.jsonl", Redactor([secret]))
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(sshd.known_hosts), audit=audit)
    seen: list[list[str]] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.append(process_cmdlines())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = r.run(["sh", "-c", 'read -r pw; sleep 0.5; [ "$pw" = "$1" ] && echo match', "x",
                        "Sup3r-Secret-BMC-pw"[:0] + "placeholder"], stdin=secret + "\n")
        checked = r.run(["sh", "-c", 'read -r pw; sleep 0.5; printf "%s" "$pw" | wc -c'], stdin=secret + "\n")
    finally:
        done.set()
        watcher.join()
        r.close()
    assert result.rc == 1  # "placeholder" != secret: stdin arrived, compared in the shell
    assert checked.stdout.strip() == str(len(secret))
    assert len(seen) > 5 and not any(secret in line for snap in seen for line in snap)
    assert secret not in (tmp_path / "a.jsonl").read_text()


def test_large_stdin_and_output_do_not_deadlock(runner):
    data = b"x" * (8 * 1024 * 1024) + b"\n"
    result = runner.run(["cat"], stdin=data, timeout=60)
    assert result.rc == 0 and len(result.stdout) == len(data)


def test_secret_in_output_is_redacted_in_audit(sshd, tmp_path):
    secret = "Another-Secret-99"
    audit = AuditLog(tmp_path / "a.jsonl", Redactor([secret]))
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(sshd.known_hosts), audit=audit)
    result = r.run(["cat"], stdin=secret)
    r.close()
    assert result.stdout == secret  # the caller gets the real output
    text = (tmp_path / "a.jsonl").read_text()
    assert secret not in text and "********" in text


def test_timeout_raises_and_kills_the_remote_process(runner, audit):
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        runner.run(["sh", "-c", "read -r x; sleep 41.7"], stdin="Stdin-Secret-77\n", timeout=1)
    assert "Stdin-Secret-77" not in info.value.explain()
    # the behaviour under test: stopped at the 1 s timeout, before the remote backstop (1 + 5 s) would end it
    assert time.monotonic() - start < 1 + BACKSTOP
    assert "did not finish within 1 s" in str(info.value)
    wait_killed("sleep 41.7", by=start + 1 + BACKSTOP - 0.5)
    assert not any("sleep 41.7" in line for line in process_cmdlines())
    assert audit.entries()[-1]["rc"] == -1


def test_stream_lines_and_stop_kills(runner):
    lines: list[str] = []
    result = runner.stream(["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done; printf tail"],
                           lines.append, timeout=10)
    assert lines == ["line1", "line2", "line3", "tail"] and result.rc == 0 and not result.stopped

    got: list[str] = []
    start = time.monotonic()
    result = runner.stream(["sh", "-c", "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.1; done; : 52.3"],
                           lambda line: got.append(line) or line == "n3", timeout=20)
    assert result.stopped and got[:3] == ["n1", "n2", "n3"]
    wait_killed(": 52.3", by=start + 20 + BACKSTOP - 0.5)   # an endless loop: only the backstop would end it
    assert not any(": 52.3" in line for line in process_cmdlines())


def test_stopping_a_stream_returns_once_the_remote_group_is_gone_and_kills_what_ignores_term(runner):
    from axha.steps.ssh import KILL_GRACE

    seen: dict[str, float] = {}

    def stop_at_n2(line: str) -> bool:
        seen[line] = time.monotonic()
        return line == "n2"

    # stopped while it sleeps (closing the channel alone does not end it: it writes nothing to fail on)
    result = runner.stream(["sh", "-c", "echo n1; echo n2; sleep 30; : 61.9"], stop_at_n2, timeout=20)
    # the group dies on TERM at once: no waiting out the grace period (a follow loop is stopped like this); the
    # upper bound is the behaviour under test, and nothing is waited for before looking at the processes
    assert result.stopped and time.monotonic() - seen["n2"] < KILL_GRACE - 0.1
    assert not any(": 61.9" in line for line in process_cmdlines())

    start = time.monotonic()
    result = runner.stream(["sh", "-c", "trap '' TERM; echo up; sleep 47.3"], lambda line: line == "up", timeout=20)
    assert result.stopped
    wait_killed("sleep 47.3", by=start + 20 + BACKSTOP - 0.5)
    assert not any("sleep 47.3" in line for line in process_cmdlines())  # KILLed after the grace period


def test_stream_cancel_event_stops_a_silent_command(runner):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    start = time.monotonic()
    result = runner.stream(["sleep", "33.3"], lambda line: None, timeout=30, cancel=cancel)
    # the behaviour under test: stopped soon after the cancel (0.5 s), not at the 30 s timeout
    assert result.stopped and time.monotonic() - start < 5
    wait_killed("sleep 33.3", by=start + 30 - 0.5)   # its own sleep (33.3 s) would end it later still
    assert not any("sleep 33.3" in line for line in process_cmdlines())


def test_stream_timeout(runner):
    with pytest.raises(CommandTimeout):
        runner.stream(["sh", "-c", "echo a; sleep 20"], lambda line: None, timeout=1)


def test_put_is_atomic_with_mode_and_get_reads_back(runner, tmp_path, audit):
    target = tmp_path / "conf" / "x.conf"
    target.parent.mkdir()
    runner.put(str(target), "secret-ish\n", mode=0o600)
    assert target.read_text() == "secret-ish\n" and (target.stat().st_mode & 0o777) == 0o600
    runner.put(str(target), b"v2", mode=0o644)
    assert target.read_bytes() == b"v2" and (target.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.conf"]  # no temp file left
    assert runner.get(str(target)) == b"v2"
    with pytest.raises(FileNotFoundError):
        runner.get(str(tmp_path / "nope"))
    kinds = [e["argv"][0] for e in audit.entries()]
    assert "<put>" in kinds and "<get>" in kinds


def test_unknown_host_key_is_shown_and_refused(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    asked: list[HostKeyError] = []
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(empty),
                  accept_host_key=lambda err: asked.append(err) or False)
    with pytest.raises(HostKeyError) as info:
        r.run(["true"])
    assert asked and asked[0].fingerprint == sshd.fingerprint() and asked[0].key_type == "ssh-ed25519"
    assert not info.value.changed and sshd.fingerprint() in str(info.value)
    assert not empty.exists()
    # no callback at all: refused too
    with pytest.raises(HostKeyError):
        SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(empty)).run(["true"])


def test_unknown_host_key_accepted_is_remembered(sshd, tmp_path):
    known = tmp_path / "kh" / "known_hosts"
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known),
                  accept_host_key=lambda err: True)
    assert r.run(["echo", "hi"]).stdout == "hi\n"
    r.close()
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519 " in known.read_text()
    # second runner: no callback needed any more
    again = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known))
    assert again.run(["true"]).rc == 0
    again.close()


def test_changed_host_key_is_refused_loudly(sshd, tmp_path):
    import paramiko

    fake = paramiko.Ed25519Key.from_private_key_file(str(sshd.other_key))
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {fake.get_base64()}\n")
    asked = []
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known),
                  accept_host_key=lambda err: asked.append(err) or True)
    with pytest.raises(HostKeyError) as info:
        r.run(["true"])
    assert info.value.changed and "HOST KEY CHANGED" in str(info.value)
    assert info.value.fingerprint == sshd.fingerprint() and fingerprint(fake) != sshd.fingerprint()
    assert "ssh-keygen" in info.value.remedy and not asked


def test_wrong_key_is_an_auth_failure_with_a_remedy(sshd):
    r = SshRunner(node_for(sshd), key_file=str(sshd.other_key), known_hosts=str(sshd.known_hosts), use_agent=False)
    with pytest.raises(ConnectError) as info:
        r.run(["true"])
    assert "refused authentication" in str(info.value) and "authorized_keys" in info.value.remedy


def test_passphrase_key(sshd):
    with pytest.raises(ConnectError) as info:
        SshRunner(node_for(sshd), key_file=str(sshd.enc_key), known_hosts=str(sshd.known_hosts)).run(["true"])
    assert "passphrase" in str(info.value)
    with pytest.raises(ConnectError) as info:
        SshRunner(node_for(sshd), key_file=str(sshd.enc_key), passphrase="wrong",
                  known_hosts=str(sshd.known_hosts)).run(["true"])
    assert "wrong passphrase" in str(info.value) and "wrong" not in str(info.value).replace("wrong passphrase", "")
    r = SshRunner(node_for(sshd), key_file=str(sshd.enc_key), passphrase=sshd.enc_passphrase,
                  known_hosts=str(sshd.known_hosts))
    assert r.run(["true"]).rc == 0
    r.close()


def test_connection_refused_and_unreachable(sshd, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    node = node_for(sshd)
    r = SshRunner(NodeSpec(**{**node.__dict__, "ssh_port": port}), known_hosts=str(tmp_path / "k"))
    with pytest.raises(ConnectError) as info:
        r.run(["true"])
    assert "refused the SSH connection" in str(info.value)


def test_non_root_user_goes_through_sudo_and_password_auth(sshd, tmp_path):
    if not sshd.sudo_user:
        pytest.skip("sudo/useradd not available")
    audit = AuditLog(tmp_path / "a.jsonl", Redactor())
    r = SshRunner(node_for(sshd, sshd.sudo_user), password=TEST_PASSWORD, known_hosts=str(sshd.known_hosts),
                  audit=audit, use_agent=False)
    assert r.run(["id", "-u"]).stdout == "0\n"  # ran as root through sudo -n
    target = tmp_path / "owned-by-root.conf"
    r.put(str(target), "data\n", mode=0o640)
    assert target.read_text() == "data\n" and target.stat().st_uid == 0 and (target.stat().st_mode & 0o777) == 0o640
    assert r.get(str(target)) == b"data\n"
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        r.run(["sleep", "44.4"], timeout=1)
    wait_killed("sleep 44.4", by=start + 1 + BACKSTOP - 0.5)
    assert not any("sleep 44.4" in line for line in process_cmdlines())
    r.close()
    assert TEST_PASSWORD not in (tmp_path / "a.jsonl").read_text()
    bad = SshRunner(node_for(sshd, sshd.sudo_user), password="not-the-password", known_hosts=str(sshd.known_hosts),
                    use_agent=False)
    with pytest.raises(ConnectError) as info:
        bad.run(["true"])
    assert "password" in str(info.value) and "not-the-password" not in str(info.value)


def test_a_secret_file_read_through_sudo_is_never_logged(sshd, tmp_path):
    """Issue 11: with a non-root ssh_user, get() reads through `sudo cat`; the corosync authkey (any file) must not
    land in the audit log as that command's output."""
    if not sshd.sudo_user:
        pytest.skip("sudo/useradd not available")
    audit = AuditLog(tmp_path / "a.jsonl", Redactor())
    key = tmp_path / "authkey"
    content = b"AUTHKEY-" + os.urandom(8).hex().encode() + b"-plain-text-part"
    key.write_bytes(content)
    key.chmod(0o400)
    r = SshRunner(node_for(sshd, sshd.sudo_user), password=TEST_PASSWORD, known_hosts=str(sshd.known_hosts),
                  audit=audit, use_agent=False)
    try:
        assert r.get(str(key)) == content
    finally:
        r.close()
    log = (tmp_path / "a.jsonl").read_text()
    assert b"AUTHKEY-".decode() not in log and "plain-text-part" not in log
    cat = [e for e in audit.entries() if e["argv"][:2] == ["cat", "--"]]
    assert cat and cat[0]["stdout"] == f"[{len(content)} bytes of file content, not logged]"


def test_known_hosts_with_cert_authority_and_revoked_lines(sshd, tmp_path):
    """Issue 11: an @cert-authority or @revoked line made every command fail with "unexpected error". Now
    @cert-authority is skipped (paramiko cannot check host certificates), @revoked refuses that key for any host,
    and the other lines still count."""
    plain = sshd.known_hosts.read_text()
    host_key = plain.split()[2]
    known = tmp_path / "known_hosts"
    known.write_text("@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFrZQ==\n"
                     "garbage line with !!! not base64\n" + plain)
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known))
    assert r.run(["true"]).rc == 0
    r.close()
    known.write_text(f"@revoked * ssh-ed25519 {host_key}\n" + plain)
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known),
                  accept_host_key=lambda err: True)
    with pytest.raises(HostKeyError) as info:
        r.run(["true"])
    assert "REVOKED" in str(info.value) and info.value.changed


def test_an_accepted_host_key_is_never_appended_through_a_symlink(sshd, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("# someone else's file\n")
    link = tmp_path / "known_hosts"
    link.symlink_to(target)
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(link),
                  accept_host_key=lambda err: True)
    with pytest.raises(ConnectError) as info:
        r.run(["true"])
    assert "symbolic link" in str(info.value) and "echo '" in info.value.remedy
    assert target.read_text() == "# someone else's file\n"


NOT_SSH = """
import socket, sys, threading
from axha.steps.errors import ConnectError
from axha.steps.spec import BmcSpec, Link, NodeSpec
from axha.steps.ssh import SshRunner

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(5)

def serve():
    conn, _ = listener.accept()
    conn.sendall(b"HTTP/1.0 400 Bad Request\\r\\n\\r\\n")
    conn.close()

threading.Thread(target=serve, daemon=True).start()
node = NodeSpec(name="node1", ssh_address="127.0.0.1", ssh_port=listener.getsockname()[1],
                link0=Link("10.0.0.1", "a"), link1=Link("10.0.1.1", "b"), bmc=BmcSpec("10.0.2.1", "x"),
                backing_disk="/dev/vdb")
try:
    SshRunner(node, known_hosts=sys.argv[1], connect_timeout=3).run(["true"])
except ConnectError as exc:
    print(exc)
# paramiko's transport thread logs its failure asynchronously: whatever it logs is written once it has ended
import paramiko
from tests.waiting import wait_until
wait_until(lambda: not any(isinstance(t, paramiko.Transport) for t in threading.enumerate()),
           "paramiko's transport thread to end")
"""


def test_not_an_ssh_server_is_a_clean_error_and_nothing_on_stderr(tmp_path):
    """paramiko's transport thread logs failures with tracebacks; they must never reach stderr (the TUI's screen).
    Run in a subprocess: pytest's own log capture would hide the problem."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", NOT_SSH, str(tmp_path / "k")], cwd=repo, capture_output=True,
                            text=True, timeout=60)
    assert "SSH handshake" in result.stdout
    assert result.stderr == "", result.stderr


def test_a_changed_host_key_is_replaced_only_when_the_admin_named_its_fingerprint(sshd, tmp_path):
    """Node replacement (issue 14): the new server's key replaces the old one in known_hosts only through the
    explicit replace_host_key callback (`--accept-host-key SHA256:...` or the node's name typed); the old lines for
    that host go (a hashed one too), every other line stays; the audit log says old -> new. accept_host_key (the
    unknown-key prompt) never does it."""
    import base64
    import hashlib
    import hmac

    import paramiko

    fake = paramiko.Ed25519Key.from_private_key_file(str(sshd.other_key))
    host = f"[127.0.0.1]:{sshd.port}"
    salt = b"0123456789abcdef0123"
    hashed = "|1|{}|{}".format(base64.b64encode(salt).decode(),
                               base64.b64encode(hmac.new(salt, host.encode(), hashlib.sha1).digest()).decode())
    known = tmp_path / "known_hosts"
    other = "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    known.write_text(f"# kept\n{other}{host} ssh-ed25519 {fake.get_base64()}\n{hashed} ssh-ed25519 {fake.get_base64()}\n")
    audit = AuditLog(tmp_path / "audit.jsonl", Redactor())
    offered = []
    refuse = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known), audit=audit,
                       accept_host_key=lambda err: True, replace_host_key=lambda err: offered.append(err) or False)
    with pytest.raises(HostKeyError) as info:
        refuse.run(["true"])
    assert info.value.changed and offered and offered[0].old_fingerprints == (fingerprint(fake),)
    assert fake.get_base64() in known.read_text()                      # refused: nothing rewritten
    wanted = sshd.fingerprint()
    r = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known), audit=audit,
                  replace_host_key=lambda err: err.fingerprint == wanted)
    assert r.run(["echo", "ok"]).stdout == "ok\n"
    r.close()
    text = known.read_text()
    assert text.startswith("# kept\n" + other) and fake.get_base64() not in text and hashed not in text
    assert text.endswith(f"{host} ssh-ed25519 {text.split()[-1]}\n") and text.count(host) == 1
    notes = [e["stdout"] for e in audit.entries() if not e["argv"]]
    assert any("REPLACED" in n and fingerprint(fake) in n and wanted in n for n in notes)
    again = SshRunner(node_for(sshd), key_file=str(sshd.client_key), known_hosts=str(known))
    assert again.run(["true"]).rc == 0                                 # the new key is simply known now
    again.close()
