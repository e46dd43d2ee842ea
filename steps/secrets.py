"""Secrets (SSH password or key passphrase, BMC passwords): from a 0600 file, the environment or a prompt."""
from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from axha.steps.envsecrets import child_environment, environment_secrets, is_secret_variable, take_from_environment
from axha.steps.errors import InputError

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


# ---------------------------------------------------------------- the secrets file


def default_secrets_path(cluster_path: str | None) -> Path | None:
    if not cluster_path or cluster_path.startswith("<"):
        return None
    p = Path(cluster_path)
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name[:-4] if p.name.endswith(".yml") else p.name
    return p.with_name(f"{stem}.secrets.yaml")


SECRET_KEYS = ("ssh_password", "ssh_key_passphrase", "bmc_passwords")


def read_secrets_file(path: str | Path) -> dict:
    """Read the secrets file, refusing one that others can read (it must be 0600 or stricter). Only a regular
    file is read (never a FIFO or a device), from the descriptor whose mode was checked; a value is never shown
    in an error (only its key and line)."""
    from axha.steps.bounded import YamlProblem, decode_utf8, load_yaml
    from axha.steps.files import FileProblem, read_regular

    path = Path(path)
    try:
        raw, st = read_regular(path)
    except FileProblem as exc:
        if exc.missing:
            raise InputError(f"secrets file {path} does not exist",
                             remedy="Create it with mode 0600, set AXHA_* variables, or let axha prompt.") from None
        raise InputError(f"secrets file {path} {exc}", remedy="Give the path of the 0600 secrets file.") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"secrets file {path} has mode {stat.S_IMODE(st.st_mode):04o}; others could read it",
                         remedy=f"Run: chmod 600 {path}")

    def where(line: int | None, key: str = "") -> str:
        return f"secrets file {path}" + (f":{line}" if line else "") + (f": {key}" if key else "")

    try:
        data, lines = load_yaml(decode_utf8(raw))
    except FileProblem as exc:
        raise InputError(f"{where(exc.line)}: {exc}", remedy="Save it as UTF-8 text.") from None
    except YamlProblem as exc:
        # the message of a YAML syntax error can quote the text around it: only its kind is shown
        message = exc.message if not exc.message.startswith("not valid YAML") else "not valid YAML"
        raise InputError(f"{where(exc.line, _dotted(exc.keypath))}: {message}",
                         remedy="Fix it (the content is not shown here on purpose).") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InputError(f"{where(lines.get(()))}: expected a mapping with {', '.join(SECRET_KEYS)}")
    for key in data:
        if key not in SECRET_KEYS:
            raise InputError(f"{where(lines.get((key,)), key)}: unknown key; expected one of {', '.join(SECRET_KEYS)}")
    bmc = data.get("bmc_passwords") or {}
    if not isinstance(bmc, dict):
        raise InputError(f"{where(lines.get(('bmc_passwords',)), 'bmc_passwords')}: expected a mapping of node "
                         "names to passwords")
    for node, value in bmc.items():
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where(lines.get(('bmc_passwords', node)), 'bmc_passwords.' + node)}: expected text "
                             "(put the password in quotes)")
    for key in ("ssh_password", "ssh_key_passphrase"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InputError(f"{where(lines.get((key,)), key)}: expected text (put it in quotes)")
    return data


def _dotted(keypath: tuple) -> str:
    return ".".join(str(k) for k in keypath)


__all__ = ["Secrets", "load_secrets", "save_secrets", "read_secrets_file", "env_name", "default_secrets_path",
           "check_secret", "take_from_environment", "environment_secrets", "child_environment", "is_secret_variable"]


def check_secret(value: str | None, what: str) -> str | None:
    """A secret as given, or InputError when it cannot be passed on safely: it has a control character (a newline
    would end fence_ipmilan's option line) or is longer than MAX_SECRET. Never shows the value."""
    from axha.steps.bounded import bad_character

    if value is None or value == "":
        return None
    if len(value) > MAX_SECRET:
        raise InputError(f"{what} is longer than {MAX_SECRET} characters")
    bad = bad_character(value)
    if bad:
        raise InputError(f"{what} contains the character {bad}; a password here can hold any printable "
                         "character but no control character", remedy="Change it on the BMC/node, then here.")
    return value


MAX_SECRET = 1024


def load_secrets(spec, path: str | Path | None = None, env: dict | None = None, prompt: Prompt | None = None,
                 need_bmc: bool = True) -> Secrets:
    """Secrets from (in order of precedence) the environment, the secrets file, then the prompt."""
    env = environment_secrets() if env is None else env
    path = path or spec.secrets_file or default_secrets_path(spec.path)
    data: dict = {}
    if path and (Path(path).exists() or spec.secrets_file or path != default_secrets_path(spec.path)):
        data = read_secrets_file(path)
    ssh_password = check_secret(env.get("AXHA_SSH_PASSWORD") or data.get("ssh_password"), "the SSH password")
    passphrase = check_secret(env.get("AXHA_SSH_KEY_PASSPHRASE") or data.get("ssh_key_passphrase"),
                              "the SSH key passphrase")
    bmc: dict[str, str] = {}
    for node in spec.node_names:
        value = env.get(env_name(node)) or env.get("AXHA_BMC_PASSWORD") or (data.get("bmc_passwords") or {}).get(node)
        if not value and need_bmc and prompt is not None:
            value = prompt(f"BMC password for {node} ({spec.node(node).bmc.user}@{spec.node(node).bmc.address})")
        value = check_secret(value, f"the BMC password of {node}")
        if value:
            bmc[node] = value
    return Secrets(ssh_password=ssh_password, ssh_key_passphrase=passphrase, bmc_passwords=bmc)


def save_secrets(secrets: Secrets, path: str | Path) -> None:
    from axha.steps.bounded import dump_yaml
    from axha.steps.files import atomic_write

    data = {"ssh_password": secrets.ssh_password, "ssh_key_passphrase": secrets.ssh_key_passphrase,
            "bmc_passwords": dict(secrets.bmc_passwords)}
    atomic_write(path, dump_yaml(data), 0o600)
