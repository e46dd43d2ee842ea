"""Thin helpers to run host commands for the lab (argv lists, timeouts, clear errors) and to tell the user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from axha_lab.layout import LabError

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def say(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    """A small, predictable environment for lab commands (LC_ALL=C, system PATH)."""
    env = {"PATH": CLEAN_PATH, "LC_ALL": "C", "HOME": "/root"}
    env.update(extra)
    return env


def run(argv: list[str], *, check: bool = True, timeout: float = 60, stdin: bytes | None = None,
        what: str = "") -> subprocess.CompletedProcess:
    """Run one host command; raise LabError saying what failed when check and rc != 0."""
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=clean_env())
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed; run `axha lab up` as root to install the lab packages") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{what or argv[0]} did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        raise LabError(f"{what or ' '.join(argv)} failed (rc {proc.returncode}): {err}")
    return proc


def out(argv: list[str], **kw) -> str:
    """Run a command and return its stdout as text."""
    return run(argv, **kw).stdout.decode(errors="replace")


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a file atomically with the given mode (created with it, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def require_root() -> None:
    """The lab changes namespaces, mounts and devices: refuse clearly when not root."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, mounts, loop devices): run it with sudo or as root")
