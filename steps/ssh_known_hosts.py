"""The node's host key against known_hosts: the file read the way OpenSSH reads it (@revoked refuses a key,
@cert-authority is skipped), OpenSSH's fingerprint, the admin asked about an unknown key, an accepted key appended."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Callable

from axha.steps.errors import ConnectError, HostKeyError
from axha.steps.files import FileProblem, open_append, read_regular
from axha.steps.ssh_paramiko import _paramiko

AcceptHostKey = Callable[[HostKeyError], bool]
# Node replacement (issue 14): the new server's key, accepted only when the admin named exactly this fingerprint
# (`--accept-host-key SHA256:...`, as `ssh-keygen -l` prints it) or confirmed it by the node's name. Never a default.
ReplaceHostKey = Callable[[HostKeyError], bool]
KNOWN_HOSTS_LIMIT = 16 * 1024 * 1024


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

class HostKeyCheck:
    """SshRunner's host key check (a mixin: uses its known_hosts, accept_host_key, audit, node and _revoked)."""

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
            changed = HostKeyError(
                f"HOST KEY CHANGED for {hostname}: the node now presents {key_type} {fp}, which does not match "
                f"{self.known_hosts}. Someone may be intercepting the connection, or the node was reinstalled. "
                "Refusing to connect.",
                node=self.node, fingerprint=fp, key_type=key_type, changed=True, hostname=hostname, key=key,
                remedy=f"Verify the node's key on its console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub); only "
                       f"if it is legitimate run: ssh-keygen -f {self.known_hosts} -R '{hostname}'",
                old_fingerprints=tuple(dict.fromkeys(fingerprint(k) for k in known_keys.values())))
            replace = getattr(self, "replace_host_key", None)
            if not allow_prompt or replace is None or not replace(changed):
                raise changed
            self._replace(hostname, key, changed.old_fingerprints)
            return
        error = HostKeyError(
            f"unknown host key for {hostname}: {key_type} {fp}", node=self.node, fingerprint=fp,
            key_type=key_type, changed=False, hostname=hostname, key=key,
            remedy=f"Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_{_short_type(key_type)}_key.pub` on the "
                   f"node's console, then accept it, or add it to {self.known_hosts}.")
        if not allow_prompt or self.accept_host_key is None or not self.accept_host_key(error):
            raise error
        self._remember(hostname, key)

    def _replace(self, hostname: str, key, old: tuple[str, ...]) -> None:
        """The admin accepted the changed key (node replacement): the old lines go, the new key is written."""
        try:
            removed = replace_known_host(self.known_hosts, hostname, key)
        except (OSError, FileProblem) as exc:
            raise ConnectError(f"cannot replace the host key in {self.known_hosts}: {exc}", node=self.node,
                               remedy=f"Run ssh-keygen -f {self.known_hosts} -R '{hostname}', then accept the "
                                      "new key.") from None
        if self.audit is not None:
            self.audit.note(self.node, f"host key REPLACED by the admin: {hostname} {', '.join(old)} -> "
                                       f"{key.get_name()} {fingerprint(key)} ({removed} line(s) of "
                                       f"{self.known_hosts} removed)")

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


def replace_known_host(path: str | os.PathLike, hostname: str, key) -> int:
    """Rewrite known_hosts with every plain line for `hostname` removed and the new key appended: atomically
    (a temporary file renamed over it), never through a symbolic link, other lines (comments, markers, hashed
    entries of other hosts) kept byte for byte; the number of lines removed. A hashed line for the host
    (|1|salt|hash) is matched the way OpenSSH does (HMAC-SHA1 of the name)."""
    from axha.steps.files import atomic_write

    path = Path(path)
    try:
        data, _ = read_regular(path, KNOWN_HOSTS_LIMIT, nofollow=True)
    except FileProblem as exc:
        if not exc.missing:
            raise
        data = b""
    kept, removed = [], 0
    for line in data.decode(errors="surrogateescape").splitlines(keepends=True):
        fields = line.split()
        if fields and not line.lstrip().startswith(("#", "@")) and _names_match(fields[0], hostname):
            removed += 1
            continue
        kept.append(line)
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    kept.append(f"{hostname} {key.get_name()} {key.get_base64()}\n")
    atomic_write(path, "".join(kept).encode(errors="surrogateescape"), 0o644)
    return removed


def _names_match(field: str, hostname: str) -> bool:
    if field.startswith("|1|"):
        try:
            _, _, salt, digest = field.split("|", 3)
            import hmac
            mac = hmac.new(base64.b64decode(salt), hostname.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(base64.b64encode(mac).decode(), digest)
        except (ValueError, TypeError):
            return False
    return hostname in field.split(",")


def _short_type(key_type: str) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa", "rsa-sha2-512": "rsa"}.get(
        key_type, "ecdsa" if key_type.startswith("ecdsa") else "*")
