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

import os
import select
import shlex
import socket
import threading
import time
from dataclasses import replace
from typing import Sequence

from axha.steps.errors import CommandTimeout, ConnectError
from axha.steps.runner import DEFAULT_TIMEOUT, OnLine, Result
from axha.steps.ssh_auth import KeyAuth
from axha.steps.ssh_files import SftpFiles
from axha.steps.ssh_known_hosts import AcceptHostKey, HostKeyCheck, ReplaceHostKey, known_hosts_name
from axha.steps.ssh_paramiko import _paramiko, _plain

PID_MARK = b"AXHA-PID "
WRAPPER = 'echo "AXHA-PID $$" >&2; exec timeout -k 5 "$0" "$@"'
KILL_GRACE = 1.0


def remote_command(argv: Sequence[str], timeout: float, sudo: bool) -> str:
    """The exact command string sent over SSH for an argv list (see the module docstring)."""
    if not argv:
        raise ValueError("empty command")
    limit = f"{max(1, int(timeout + 5.999))}s"
    wrapped = ["env", "LC_ALL=C", "LANG=C", "sh", "-c", WRAPPER, limit, *argv]
    return shlex.join((["sudo", "-n", "--"] if sudo else []) + wrapped)


class SshRunner(HostKeyCheck, KeyAuth, SftpFiles):
    """Runs commands on one node over SSH. Lazy connect, one Transport shared by threads, reconnect if it died."""

    def __init__(self, node, *, key_file: str | None = None, password: str | None = None,
                 passphrase: str | None = None, known_hosts: str | None = None, audit=None,
                 accept_host_key: AcceptHostKey | None = None, connect_timeout: float = 10.0,
                 use_agent: bool = True, replace_host_key: ReplaceHostKey | None = None):
        self.spec = node
        self.node = node.name
        self.key_file = key_file
        self._password, self._passphrase = password, passphrase
        self.known_hosts = known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        self.audit = audit
        self.accept_host_key = accept_host_key
        self.replace_host_key = replace_host_key   # node replacement only: see ssh_known_hosts.ReplaceHostKey
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


def _feed(channel, data: str | bytes) -> None:
    try:
        channel.sendall(data.encode() if isinstance(data, str) else data)
        channel.shutdown_write()
    except (OSError, EOFError):  # the command ended or was stopped before reading all of it
        pass
    except Exception:  # paramiko raises SSHException when the channel closed meanwhile
        pass
