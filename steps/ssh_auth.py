"""SSH authentication for the runner: the configured key file, else the agent's keys and ~/.ssh/id_*, then the
password; a key file is read only when it is a regular file of a sane size."""
from __future__ import annotations

import os

from axha.steps.errors import ConnectError
from axha.steps.files import FileProblem, read_regular
from axha.steps.ssh_paramiko import _paramiko, _plain

KEY_FILE_LIMIT = 1024 * 1024


class KeyAuth:
    """SshRunner's authentication (a mixin: uses its spec, where, node, key_file, use_agent, _password and
    _passphrase)."""

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
