"""Secrets in the environment (AXHA_SSH_PASSWORD, AXHA_BMC_PASSWORD...): taken out of it when axha starts, so no
child process inherits them, and kept here for steps.secrets.load_secrets."""
from __future__ import annotations

import os

ENV_SECRET_NAMES = ("AXHA_SSH_PASSWORD", "AXHA_SSH_KEY_PASSPHRASE", "AXHA_BMC_PASSWORD")
_TAKEN: dict[str, str] = {}


def is_secret_variable(name: str) -> bool:
    """AXHA_SSH_PASSWORD, AXHA_SSH_KEY_PASSPHRASE, AXHA_BMC_PASSWORD and AXHA_BMC_PASSWORD_<NODE>."""
    return name in ENV_SECRET_NAMES or name.startswith("AXHA_BMC_PASSWORD_")


def take_from_environment() -> None:
    """Move the AXHA_* secrets out of this process's environment (kept here for load_secrets), so that no child
    process axha starts (the BMC helper, local tools, the lab, an editor the wizard opens) inherits them. The
    command line calls it first thing; calling it again is harmless."""
    for name in [n for n in os.environ if is_secret_variable(n)]:
        _TAKEN[name] = os.environ.pop(name)


def environment_secrets() -> dict[str, str]:
    """The AXHA_* secrets given in the environment (those taken out of it, and any set since)."""
    return {**_TAKEN, **{n: v for n, v in os.environ.items() if is_secret_variable(n)}}


def child_environment(base: dict | None = None) -> dict[str, str]:
    """An environment for a child process: `base` (default os.environ) without any AXHA_* secret."""
    return {k: v for k, v in (os.environ if base is None else base).items() if not is_secret_variable(k)}
