"""SshRunner: runs argv lists on a node over one reused paramiko connection, host key checked, audited.

How a command runs on the node (the remote side of `run`/`stream`):

    [sudo -n --] env LC_ALL=C LANG=C sh -c 'echo "AXHA-PID $$" >&2; exec timeout -k 5 T "$@"' axha ARGV...

- argv is quoted once here with shlex.join; callers pass lists.
- `sudo -n --` is added when the SSH user is not root (never a password prompt: -n fails instead).
- The wrapper shell reports its PID on stderr (stripped from the output) and then becomes coreutils `timeout`,
  which puts itself in a new process group whose id is that PID. To stop a command (caller's timeout, cancel,
  or on_line returning True) axha closes the channel and, on a second channel, sends SIGTERM then SIGKILL to that
  process group (through sudo when not root). Closing an SSH channel alone does not stop a remote process that is
  not writing; the group kill does. The remote `timeout` (our timeout + 5 s) is the backstop when the connection
  itself is lost.
- Secrets go through stdin only, never argv; stdin is never logged.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import posixpath
import select
import shlex
import socket
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from axha.steps.errors import AxhaError, CommandTimeout, ConnectError, HostKeyError
from axha.steps.files import FileProblem, open_append, read_regular
from axha.steps.runner import DEFAULT_TIMEOUT, OnLine, Result


def _paramiko():
    """paramiko, imported on first use without `invoke`: paramiko.config imports invoke (a dependency of
    paramiko) only to run ssh_config's `Match exec`, which axha never reads, and that import pulls asyncio and
    unittest.mock in: about 80 ms of every command's start (python -X importtime). invoke stays importable."""
    import sys
    if "paramiko" not in sys.modules and "invoke" not in sys.modules:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # makes `import invoke` fail inside paramiko
        try:
            import paramiko
        finally:
            if sys.modules.get("invoke", 0) is None:
                del sys.modules["invoke"]
    import paramiko
    return paramiko

# paramiko logs transport-thread failures (with tracebacks) that we already turn into ConnectError; without a
# handler Python's last-resort handler would print them on stderr, right over the TUI
logging.getLogger("paramiko").addHandler(logging.NullHandler())

PID_MARK = b"AXHA-PID "
WRAPPER = 'echo "AXHA-PID $$" >&2; exec timeout -k 5 "$0" "$@"'
KILL_GRACE = 1.0
AcceptHostKey = Callable[[HostKeyError], bool]
KNOWN_HOSTS_LIMIT = 16 * 1024 * 1024
KEY_FILE_LIMIT = 1024 * 1024


def parse_known_hosts(text: str):
    """(paramiko HostKeys, set of revoked keys' base64) from known_hosts text. `@revoked` lines revoke their key;
    `@cert-authority` lines and lines paramiko cannot read (bad base64, unknown key types) are skipped."""
    paramiko = _paramiko()
    HostKeyEntry, InvalidHostKey = paramiko.hostkeys.HostKeyEntry, paramiko.hostkeys.InvalidHostKey

    keys, revoked = paramiko.HostKeys(), set()
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            marker, _, rest = line.partition(" ")
            fields = rest.split()
            if marker == "@revoked" and len(fields) >= 3:
                revoked.add(fields[2])
            continue
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except (paramiko.SSHException, InvalidHostKey, ValueError, TypeError, IndexError):
            continue
        if entry is not None:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return keys, revoked


def fingerprint(key) -> str:
    """SHA256 fingerprint of a host key the way OpenSSH prints it (SHA256:base64, no padding)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    """The host name as written in known_hosts: `addr` on port 22, else `[addr]:port`."""
    return address if port == 22 else f"[{address}]:{port}"


def remote_command(argv: Sequence[str], timeout: float, sudo: bool) -> str:
    """The exact command string sent over SSH for an argv list (see the module docstring)."""
    if not argv:
        raise ValueError("empty command")
    limit = f"{max(1, int(timeout + 5.999))}s"
    wrapped = ["env", "LC_ALL=C", "LANG=C", "sh", "-c", WRAPPER, limit, *argv]
    return shlex.join((["sudo", "-n", "--"] if sudo else []) + wrapped)


class SshRunner:
    """Runs commands on one node over SSH. Lazy connect, one Transport shared by threads, reconnect if it died."""

    def __init__(self, node, *, key_file: str | None = None, password: str | None = None,
                 passphrase: str | None = None, known_hosts: str | None = None, audit=None,
                 accept_host_key: AcceptHostKey | None = None, connect_timeout: float = 10.0,
                 use_agent: bool = True):
        self.spec = node
        self.node = node.name
        self.key_file = key_file
        self._password, self._passphrase = password, passphrase
        self.known_hosts = known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        self.audit = audit
        self.accept_host_key = accept_host_key
        self.connect_timeout = connect_timeout
        self.use_agent = use_agent
        self.sudo = node.ssh_user != "root"
        self._transport = None
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        for secret in (password, passphrase):
            if audit is not None and secret:
                audit.redactor.add(secret)

    def __repr__(self) -> str:
        return f"SshRunner({self.spec.ssh_user}@{self.spec.ssh_address}:{self.spec.ssh_port}, node={self.node})"

    # ------------------------------------------------------------ connection

    @property
    def where(self) -> str:
        return f"{self.spec.ssh_user}@{self.spec.ssh_address}:{self.spec.ssh_port}"

    def connect(self):
        """The live Transport, connecting (and authenticating) when there is none or it died."""
        with self._lock:
            if self._transport is not None and self._transport.is_active() and self._transport.is_authenticated():
                return self._transport
            if self._transport is not None:
                self._transport.close()
            self._transport = None
            transport = self._open(allow_prompt=True)
            self._transport = transport
            return transport

    def _open(self, allow_prompt: bool):
        paramiko = _paramiko()

        hostname = known_hosts_name(self.spec.ssh_address, self.spec.ssh_port)
        known = self._load_known_hosts()
        known_keys = known.lookup(hostname) if known is not None else None
        sock = self._socket()
        transport = paramiko.Transport(sock)
        transport.set_keepalive(15)
        if known_keys:
            # ask the server for a key type we already know, like OpenSSH does
            preferred = [t for t in transport.get_security_options().key_types if t in known_keys or
                         (t.startswith("rsa-sha2") and "ssh-rsa" in known_keys)]
            if preferred:
                transport.get_security_options().key_types = preferred
        try:
            transport.start_client(timeout=self.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise ConnectError(f"SSH handshake with {self.where} failed: {_plain(exc)}", node=self.node,
                               remedy="Check that an SSH server answers on that address and port.") from None
        key = transport.get_remote_server_key()
        try:
            self._check_host_key(hostname, key, known_keys, allow_prompt)
        except BaseException:
            transport.close()
            raise
        if not transport.is_active():  # the admin took longer than the server's LoginGraceTime
            transport.close()
            return self._open(allow_prompt=False)
        try:
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        return transport

    def _socket(self) -> socket.socket:
        address, port = self.spec.ssh_address, self.spec.ssh_port
        try:
            return socket.create_connection((address, port), timeout=self.connect_timeout)
        except socket.gaierror:
            raise ConnectError(f"cannot resolve the host name {address!r}", node=self.node,
                               remedy="Use an IP address or fix DNS / /etc/hosts on this machine.") from None
        except ConnectionRefusedError:
            raise ConnectError(f"{address}:{port} refused the SSH connection", node=self.node,
                               remedy="Is sshd running on the node, and is ssh_port right?") from None
        except (socket.timeout, TimeoutError):
            raise ConnectError(f"no answer from {address}:{port} within {self.connect_timeout:g} s", node=self.node,
                               remedy="Check the address, the network path and any firewall.") from None
        except OSError as exc:
            raise ConnectError(f"cannot reach {address}:{port}: {exc.strerror or exc}", node=self.node,
                               remedy="Check the address and the network path.") from None

    def _load_known_hosts(self):
        """known_hosts as paramiko HostKeys; the keys of its @revoked lines go to self._revoked (refused for every
        host). @cert-authority lines are skipped: paramiko cannot check host certificates, so a host known only
        through a CA is an unknown host here. A line paramiko cannot read is skipped, as OpenSSH does."""
        keys, self._revoked = parse_known_hosts(self._read_known_hosts())
        return keys

    def _read_known_hosts(self) -> str:
        try:
            data, _ = read_regular(self.known_hosts, KNOWN_HOSTS_LIMIT)
        except FileProblem as exc:
            if exc.missing:
                return ""
            raise ConnectError(f"known_hosts file {self.known_hosts} {exc}", node=self.node,
                               remedy="Fix or move the file aside.") from None
        return data.decode(errors="replace")

    def _check_host_key(self, hostname: str, key, known_keys, allow_prompt: bool) -> None:
        key_type, fp = key.get_name(), fingerprint(key)
        if key.get_base64() in self._revoked:
            raise HostKeyError(
                f"REVOKED host key for {hostname}: the node presents {key_type} {fp}, which {self.known_hosts} marks "
                "@revoked. Refusing to connect.", node=self.node, fingerprint=fp, key_type=key_type, changed=True,
                hostname=hostname, key=key,
                remedy="Find out why the key was revoked; give the node a new host key before connecting.")
        if known_keys:
            same_type = known_keys.get(key_type)
            if same_type is None and key_type.startswith("rsa-sha2"):
                same_type = known_keys.get("ssh-rsa")
            if same_type is not None and same_type.asbytes() == key.asbytes():
                return
            raise HostKeyError(
                f"HOST KEY CHANGED for {hostname}: the node now presents {key_type} {fp}, which does not match "
                f"{self.known_hosts}. Someone may be intercepting the connection, or the node was reinstalled. "
                "Refusing to connect.",
                node=self.node, fingerprint=fp, key_type=key_type, changed=True, hostname=hostname, key=key,
                remedy=f"Verify the node's key on its console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub); only "
                       f"if it is legitimate run: ssh-keygen -f {self.known_hosts} -R '{hostname}'")
        error = HostKeyError(
            f"unknown host key for {hostname}: {key_type} {fp}", node=self.node, fingerprint=fp,
            key_type=key_type, changed=False, hostname=hostname, key=key,
            remedy=f"Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_{_short_type(key_type)}_key.pub` on the "
                   f"node's console, then accept it, or add it to {self.known_hosts}.")
        if not allow_prompt or self.accept_host_key is None or not self.accept_host_key(error):
            raise error
        self._remember(hostname, key)

    def _remember(self, hostname: str, key) -> None:
        """Append the accepted key to known_hosts: never through a symbolic link (O_NOFOLLOW), never to a FIFO."""
        path = Path(self.known_hosts)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        try:
            fd = open_append(path, 0o644)
        except FileProblem as exc:
            raise ConnectError(f"cannot add the host key to {path}: it {exc}", node=self.node,
                               remedy=f"Add it yourself: echo '{line.strip()}' >> <your known_hosts>") from None
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as existing:
                    existing.seek(size - 1)
                    if existing.read(1) != b"\n":
                        line = "\n" + line
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        if self.audit is not None:
            self.audit.note(self.node, f"host key accepted by the admin: {hostname} {key.get_name()} "
                                       f"{fingerprint(key)} -> {path}")

    def _authenticate(self, transport) -> None:
        paramiko = _paramiko()

        user, tried = self.spec.ssh_user, []
        for label, key in self._keys():
            tried.append(label)
            try:
                transport.auth_publickey(user, key)
                return
            except paramiko.BadAuthenticationType as exc:
                if "password" not in exc.allowed_types or not self._password:
                    raise ConnectError(f"{self.where} does not accept key authentication (allows: "
                                       f"{', '.join(exc.allowed_types)})", node=self.node,
                                       remedy="Set ssh_password in the secrets file or allow public keys.") from None
                break
            except paramiko.AuthenticationException:
                continue
            except paramiko.SSHException as exc:
                raise ConnectError(f"SSH authentication with {self.where} failed: {_plain(exc)}",
                                   node=self.node) from None
        if self._password:
            tried.append("password")
            try:
                transport.auth_password(user, self._password)
                return
            except paramiko.AuthenticationException:
                pass
            except paramiko.SSHException as exc:
                raise ConnectError(f"SSH authentication with {self.where} failed: {_plain(exc)}",
                                   node=self.node) from None
        raise ConnectError(
            f"{self.where} refused authentication (tried: {', '.join(tried) or 'nothing: no key, agent or password'})",
            node=self.node,
            remedy=f"Install your public key in ~{user}/.ssh/authorized_keys on the node (ssh-copy-id), set "
                   "ssh.key_file in the cluster file, or put ssh_password in the secrets file.")

    def _keys(self):
        """(label, key) pairs to try: the configured key file, else the agent's keys and ~/.ssh/id_* files."""
        paramiko = _paramiko()

        if self.key_file:
            yield f"key {self.key_file}", self._load_key(self.key_file)
            return
        if self.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            try:
                for i, key in enumerate(paramiko.Agent().get_keys()):
                    yield f"agent key {i + 1}", key
            except paramiko.SSHException:
                pass
        for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
            path = os.path.expanduser(f"~/.ssh/{name}")
            if os.path.exists(path):
                try:
                    yield f"key {path}", self._load_key(path)
                except ConnectError:
                    continue

    def _load_key(self, path: str):
        paramiko = _paramiko()

        try:  # only a regular file of a sane size: a FIFO or /dev/zero as key file must not hang axha
            read_regular(path, KEY_FILE_LIMIT)
        except FileProblem as exc:
            if exc.missing:
                raise ConnectError(f"SSH key file {path} does not exist", node=self.node,
                                   remedy="Fix ssh.key_file in the cluster file.") from None
            raise ConnectError(f"SSH key file {path} {exc}", node=self.node,
                               remedy="Fix ssh.key_file in the cluster file.") from None
        try:
            return paramiko.PKey.from_path(path, self._passphrase.encode() if self._passphrase else None)
        except FileNotFoundError:
            raise ConnectError(f"SSH key file {path} does not exist", node=self.node,
                               remedy="Fix ssh.key_file in the cluster file.") from None
        except (paramiko.PasswordRequiredException, TypeError):  # cryptography raises TypeError for it
            if self._passphrase:
                raise ConnectError(f"cannot load SSH key {path}: wrong passphrase", node=self.node,
                                   remedy="Check ssh_key_passphrase / AXHA_SSH_KEY_PASSPHRASE.") from None
            raise ConnectError(f"SSH key {path} is protected by a passphrase", node=self.node,
                               remedy="Put ssh_key_passphrase in the secrets file or set "
                                      "AXHA_SSH_KEY_PASSPHRASE.") from None
        except (paramiko.SSHException, ValueError, OSError) as exc:
            hint = "wrong passphrase or not a private key" if self._passphrase else "not a readable private key"
            raise ConnectError(f"cannot load SSH key {path}: {hint} ({type(exc).__name__})", node=self.node,
                               remedy="Check ssh.key_file and ssh_key_passphrase.") from None

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    # ------------------------------------------------------------ commands

    def run(self, argv, *, stdin=None, timeout=DEFAULT_TIMEOUT, mutating=False, check=False) -> Result:
        result = self._exec(tuple(argv), stdin, timeout, mutating, None, None)
        return result.check() if check else result

    def stream(self, argv, on_line: OnLine, *, timeout=DEFAULT_TIMEOUT, stdin=None, mutating=False,
               cancel: threading.Event | None = None) -> Result:
        return self._exec(tuple(argv), stdin, timeout, mutating, on_line, cancel)

    def _exec(self, argv: tuple[str, ...], stdin, timeout: float, mutating: bool, on_line, cancel,
              raw: list | None = None, quiet: bool = False) -> Result:
        """quiet: the output is a file's content (get): the audit log records its size, never the bytes."""
        start = time.monotonic()
        deadline = start + timeout
        channel = self._channel(min(timeout, 30.0))
        out, err, pending, pid = bytearray(), bytearray(), bytearray(), None
        stopped = timed_out = False
        try:
            channel.exec_command(remote_command(argv, timeout, self.sudo))
            if stdin is not None:
                # fed from a thread: a command that writes much output before reading all its stdin must not
                # deadlock against us
                threading.Thread(target=_feed, args=(channel, stdin), daemon=True).start()
            else:
                channel.shutdown_write()
            while True:
                got = False
                while channel.recv_ready():
                    chunk = channel.recv(65536)
                    got = True
                    out += chunk
                    if on_line is not None:
                        pending += chunk
                        if self._emit_lines(pending, on_line, final=False):
                            stopped = True
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    got = True
                if pid is None and b"\n" in err and err.startswith(PID_MARK):
                    head, _, rest = bytes(err).partition(b"\n")
                    pid, err = int(head[len(PID_MARK):] or 0), bytearray(rest)
                if stopped or (cancel is not None and cancel.is_set()):
                    stopped = True
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                if got:
                    continue
                wait = min(0.2, max(0.0, deadline - time.monotonic()))
                if channel.eof_received or channel.closed:
                    # all output is in; the exit status follows (or the channel closes)
                    if channel.status_event.wait(wait) or channel.closed:
                        break
                else:
                    select.select([channel], [], [], wait)
            if stopped or timed_out:
                channel.close()
                self._kill(pid)
                rc = -1
            else:
                rc = channel.recv_exit_status()
                if on_line is not None and pending:
                    self._emit_lines(pending, on_line, final=True)
        except (EOFError, OSError, socket.error) as exc:
            self.close()
            raise ConnectError(f"lost the connection to {self.where} while running "
                               f"`{self._show(argv)}`: {_plain(exc)}", node=self.node,
                               remedy="Check the node (was it rebooted or fenced?) and run again.") from None
        finally:
            channel.close()
        if pid is None and err.startswith(PID_MARK):
            err = bytearray(bytes(err).partition(b"\n")[2])
        duration = time.monotonic() - start
        if raw is not None:
            raw.append(bytes(out))
        result = Result(self.node, argv, rc, out.decode(errors="replace"), err.decode(errors="replace"), duration,
                        stopped)
        logged = replace(result, stdout=f"[{len(out)} bytes of file content, not logged]") if quiet else result
        if timed_out:
            self._audit(Result(self.node, argv, -1, logged.stdout, result.stderr + "\n[axha: timed out]", duration),
                        mutating)
            raise CommandTimeout(f"`{self._show(argv)}` did not finish within {timeout:g} s (stopped it)",
                                 node=self.node,
                                 remedy="Check the node's load and the command's state, then retry.")
        self._audit(logged, mutating)
        return result

    def _channel(self, timeout: float):
        """A new exec channel; when the connection died (node rebooted or fenced), reconnect once."""
        for attempt in (1, 2):
            transport = self.connect()
            try:
                return transport.open_session(timeout=timeout)
            except Exception as exc:  # paramiko raises SSHException or ChannelException; connection lost
                self.close()
                if attempt == 2:
                    raise ConnectError(f"cannot open a command channel to {self.where}: {_plain(exc)}",
                                       node=self.node, remedy="Check that the node is up, then run again.") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _emit_lines(pending: bytearray, on_line: OnLine, final: bool) -> bool:
        """Call on_line for each complete line in pending (all of it when final); True if it asked to stop."""
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                if final and pending:
                    line = pending.decode(errors="replace")
                    del pending[:]
                    return on_line(line) is True
                return False
            line = pending[:cut].decode(errors="replace").rstrip("\r")
            del pending[: cut + 1]
            if on_line(line) is True:
                return True

    def _kill(self, pid: int | None) -> None:
        """Stop a command's remote process group: SIGTERM, then SIGKILL after a grace period."""
        if not pid:
            return
        # TERM, then KILL whatever is left after the grace period; returns as soon as no live member is left, so a
        # stopped stream (a follow loop the reader is done with) costs a round trip, not the whole grace period.
        # Live = in the group and not a zombie (`kill -0` also counts zombies an init has not reaped yet).
        alive = (f"awk -v g={pid} '{{sub(/.*\\) /, \"\"); if ($3 == g && $1 != \"Z\") f = 1}} END {{exit !f}}' "
                 f"/proc/[0-9]*/stat 2>/dev/null")
        script = (f"kill -s TERM -- -{pid} 2>/dev/null || exit 0; i=0; "
                  f"while [ $i -lt {int(KILL_GRACE * 20)} ] && {alive}; do sleep 0.05; i=$((i+1)); done; "
                  f"kill -s KILL -- -{pid} 2>/dev/null; exit 0")
        command = shlex.join((["sudo", "-n", "--"] if self.sudo else []) + ["sh", "-c", script])
        try:
            channel = self.connect().open_session(timeout=10)
            channel.exec_command(command)
            channel.settimeout(KILL_GRACE + 10)
            channel.recv_exit_status()
            channel.close()
        except Exception:  # best effort: the remote `timeout` backstop still ends it
            pass

    def _show(self, argv: Sequence[str]) -> str:
        text = shlex.join(argv)
        return self.audit.redactor.redact(text) if self.audit is not None else text

    def _audit(self, result: Result, mutating: bool) -> None:
        if self.audit is not None:
            self.audit.record(result, mutating=mutating)

    # ------------------------------------------------------------ files

    def put(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Write a file atomically: SFTP to a temp name in the same directory, chmod, rename over the target.
        Not root: SFTP to a private temp file, then sudo copies it next to the target and renames it."""
        raw = data.encode() if isinstance(data, str) else data
        if not self.sudo:
            tmp = posixpath.join(posixpath.dirname(path) or "/", f".{posixpath.basename(path)}.axha-{uuid.uuid4().hex[:8]}")
            self._sftp_write(tmp, raw, mode, rename_to=path)
        else:
            tmp = f"/tmp/.axha-put-{uuid.uuid4().hex}"
            self._sftp_write(tmp, raw, 0o600, rename_to=None)
            script = ('set -e; t=$(mktemp "$(dirname "$2")/.axha-put.XXXXXX"); cat "$1" > "$t"; rm -f "$1"; '
                      'chmod "$3" "$t"; mv -f "$t" "$2"')
            result = self._exec(("sh", "-c", script, "axha-put", tmp, path, f"{mode:o}"), None, 60, True, None, None)
            if result.rc != 0:
                self._exec(("rm", "-f", tmp), None, 30, True, None, None)
                raise AxhaError(f"cannot write {path}: {result.stderr.strip() or 'rc ' + str(result.rc)}",
                                node=self.node)
        if self.audit is not None:
            self.audit.record_transfer(self.node, "put", path, len(raw), mode)

    def _sftp_write(self, tmp: str, raw: bytes, mode: int, rename_to: str | None) -> None:
        sftp = self._sftp()
        try:
            try:
                with sftp.open(tmp, "wb") as handle:
                    handle.chmod(mode)
                    handle.write(raw)
                if rename_to is not None:
                    sftp.posix_rename(tmp, rename_to)
            except OSError as exc:
                try:
                    sftp.remove(tmp)
                except OSError:
                    pass
                raise AxhaError(f"cannot write {rename_to or tmp} over SFTP: {_plain(exc)}", node=self.node,
                                remedy="Check the directory exists and the SSH user may write it.") from None
        finally:
            sftp.close()

    def get(self, path: str) -> bytes:
        """Read a remote file; FileNotFoundError when it does not exist."""
        if self.sudo:
            raw: list[bytes] = []
            # the content (an authkey, a backup) is never logged, only its size
            result = self._exec(("cat", "--", path), None, 60, False, None, None, raw, quiet=True)
            if result.rc != 0:
                if "No such file" in result.stderr:
                    raise FileNotFoundError(path)
                raise AxhaError(f"cannot read {path}: {result.stderr.strip()}", node=self.node)
            return raw[0]
        sftp = self._sftp()
        try:
            with sftp.open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise AxhaError(f"cannot read {path} over SFTP: {_plain(exc)}", node=self.node) from None
        finally:
            sftp.close()
        if self.audit is not None:
            self.audit.record_transfer(self.node, "get", path, len(data))
        return data

    def _sftp(self):
        paramiko = _paramiko()

        try:
            return paramiko.SFTPClient.from_transport(self.connect())
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"cannot open SFTP to {self.where}: {_plain(exc)}", node=self.node,
                               remedy="Enable the sftp subsystem in the node's sshd_config.") from None


def _feed(channel, data: str | bytes) -> None:
    try:
        channel.sendall(data.encode() if isinstance(data, str) else data)
        channel.shutdown_write()
    except (OSError, EOFError):  # the command ended or was stopped before reading all of it
        pass
    except Exception:  # paramiko raises SSHException when the channel closed meanwhile
        pass


def _short_type(key_type: str) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa", "rsa-sha2-512": "rsa"}.get(
        key_type, "ecdsa" if key_type.startswith("ecdsa") else "*")


def _plain(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
