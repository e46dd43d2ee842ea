"""Secrets (SSH password or key passphrase, BMC passwords): from a 0600 file, the environment or a prompt."""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from steps.errors import InputError

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class Secrets:
    ssh_password: str | None = None
    ssh_key_passphrase: str | None = None
    bmc_passwords: dict[str, str] = field(default_factory=dict)

    def bmc_password(self, node: str) -> str:
        try:
            return self.bmc_passwords[node]
        except KeyError:
            raise InputError(f"no BMC password for node {node}",
                             remedy=f"Put it under bmc_passwords.{node} in the secrets file, or set "
                                    f"{env_name(node)}.") from None

    def values(self) -> list[str]:
        return [v for v in (self.ssh_password, self.ssh_key_passphrase, *self.bmc_passwords.values()) if v]

    def __repr__(self) -> str:  # never show a secret in a traceback or a log
        return f"Secrets(ssh_password={'set' if self.ssh_password else None}, bmc_passwords={sorted(self.bmc_passwords)})"


def env_name(node: str) -> str:
    return "AXHA_BMC_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", node).upper()


def default_secrets_path(cluster_path: str | None) -> Path | None:
    if not cluster_path or cluster_path.startswith("<"):
        return None
    p = Path(cluster_path)
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name[:-4] if p.name.endswith(".yml") else p.name
    return p.with_name(f"{stem}.secrets.yaml")


def read_secrets_file(path: str | Path) -> dict:
    """Read the secrets file, refusing one that others can read (it must be 0600 or stricter)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"secrets file {path} does not exist",
                         remedy="Create it with mode 0600, set AXHA_* variables, or let axha prompt.") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"secrets file {path} has mode {stat.S_IMODE(st.st_mode):04o}; others could read it",
                         remedy=f"Run: chmod 600 {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"secrets file {path} is not readable YAML: {type(exc).__name__}",
                         remedy="Fix its syntax (the content is not shown here on purpose).") from None
    if not isinstance(data, dict):
        raise InputError(f"secrets file {path}: expected a mapping with ssh_password, ssh_key_passphrase, "
                         "bmc_passwords")
    unknown = set(data) - {"ssh_password", "ssh_key_passphrase", "bmc_passwords"}
    if unknown:
        raise InputError(f"secrets file {path}: unknown key(s) {', '.join(sorted(unknown))}")
    bmc = data.get("bmc_passwords") or {}
    if not isinstance(bmc, dict) or not all(isinstance(v, str) for v in bmc.values()):
        raise InputError(f"secrets file {path}: bmc_passwords must map node names to text")
    for key in ("ssh_password", "ssh_key_passphrase"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InputError(f"secrets file {path}: {key} must be text")
    return data


def load_secrets(spec, path: str | Path | None = None, env: dict | None = None, prompt: Prompt | None = None,
                 need_bmc: bool = True) -> Secrets:
    """Secrets from (in order of precedence) the environment, the secrets file, then the prompt."""
    env = os.environ if env is None else env
    path = path or spec.secrets_file or default_secrets_path(spec.path)
    data: dict = {}
    if path and (Path(path).exists() or spec.secrets_file or path != default_secrets_path(spec.path)):
        data = read_secrets_file(path)
    ssh_password = env.get("AXHA_SSH_PASSWORD") or data.get("ssh_password")
    passphrase = env.get("AXHA_SSH_KEY_PASSPHRASE") or data.get("ssh_key_passphrase")
    bmc: dict[str, str] = {}
    for node in spec.node_names:
        value = env.get(env_name(node)) or env.get("AXHA_BMC_PASSWORD") or (data.get("bmc_passwords") or {}).get(node)
        if not value and need_bmc and prompt is not None:
            value = prompt(f"BMC password for {node} ({spec.node(node).bmc.user}@{spec.node(node).bmc.address})")
        if value:
            bmc[node] = value
    return Secrets(ssh_password=ssh_password, ssh_key_passphrase=passphrase, bmc_passwords=bmc)


def save_secrets(secrets: Secrets, path: str | Path) -> None:
    from steps.spec import atomic_write
    data = {"ssh_password": secrets.ssh_password, "ssh_key_passphrase": secrets.ssh_key_passphrase,
            "bmc_passwords": dict(secrets.bmc_passwords)}
    atomic_write(path, yaml.safe_dump(data, sort_keys=False), 0o600)
