"""Files over SSH for the runner: put writes atomically (SFTP, or SFTP to a private temp file and sudo when not
root), get reads (cat through sudo when not root, its content never logged)."""
from __future__ import annotations

import posixpath
import uuid

from axha.steps.errors import AxhaError, ConnectError
from axha.steps.ssh_paramiko import _paramiko, _plain


class SftpFiles:
    """SshRunner's file transfer (a mixin: uses its connect, _exec, sudo, audit, where and node)."""

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
