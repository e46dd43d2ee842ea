"""Axigen's versions (shared/AXIGEN.md) and the commands that ask for them (pure): the *running* version from the
CLI service's answer to `GET VERSION` at its `<login>` prompt (no credentials), the *installed* one from
`/opt/axigen/bin/axigen --version` and the package database (dpkg or rpm). No banner is ever read for a version."""
from __future__ import annotations

import ipaddress
import re
import shlex

from axha.steps.axigen import BINARY, CLI_HOST, CLI_PORT

CLI_READ_BYTES = 16 << 10


# ---------------------------------------------------------------- versions


_DOTTED = re.compile(r"(?<![\w.])(\d+\.\d+(?:\.\d+)*)(?![\w.]*\d)")
_CLI_VERSION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)+)\|[A-Za-z]")


def parse_binary_version(text: str) -> str | None:
    """`axigen --version` -> '10.5.1'. The exact wording is unknown (AXIGEN.md): the first dotted number after
    the word Axigen or version, else the first dotted number of the output."""
    text = (text or "")[:4096]
    m = re.search(r"(?i)(?:axigen|version)\D{0,40}?(\d+\.\d+(?:\.\d+)*)", text)
    if m:
        return m.group(1)
    m = _DOTTED.search(text)
    return m.group(1) if m else None


def parse_cli_version(text: str) -> str | None:
    """The CLI's answer to GET VERSION (`10.6.30|Linux|x86_64`, maybe next to `+OK` lines and prompts)."""
    for line in (text or "")[:CLI_READ_BYTES].splitlines():
        line = line.strip()
        if not line or line.startswith("-ERR"):
            continue
        m = _CLI_VERSION.search(line)
        if m:
            return m.group(1)
    return None


def upstream_version(package_version: str | None) -> str | None:
    """A package's version without epoch and Debian revision / rpm release: '1:10.5.1-1' -> '10.5.1'."""
    if not package_version:
        return None
    v = package_version.strip()
    v = re.sub(r"^\d+:", "", v)
    return v.rsplit("-", 1)[0] if "-" in v else v


def same_version(a: str | None, b: str | None) -> bool:
    """Two versions of Axigen name the same release (package or binary or CLI form)."""
    ua, ub = upstream_version(a), upstream_version(b)
    return bool(ua) and ua == ub


# ---------------------------------------------------------------- commands (argv; no shell but where it says)


def cli_version_argv(host: str = CLI_HOST, port: int = CLI_PORT, timeout: int = 5) -> tuple[str, ...]:
    """Ask the CLI service on the node itself for the running version: bash's /dev/tcp (bash is on every Debian and
    RHEL node), GET VERSION at the <login> prompt, then EXIT. No credentials are needed or sent."""
    ipaddress.ip_address(host)
    script = (f"exec 3<>/dev/tcp/{host}/{int(port)} || exit 7; "
              "printf 'GET VERSION\\r\\nEXIT\\r\\n' >&3; "
              f"timeout {int(timeout)} head -c {CLI_READ_BYTES} <&3")
    return ("timeout", str(int(timeout) + 1), "bash", "-c", script)


def package_version_argv(package: str) -> tuple[str, ...]:
    """The installed package's version from whichever package database the node has (dpkg, else rpm).
    Prints nothing (rc 1) when the package is not installed."""
    q = shlex.quote(package)
    script = (f"if command -v dpkg-query >/dev/null 2>&1; then "
              f"s=$(dpkg-query -W -f '${{db:Status-Abbrev}}\\t${{Version}}' {q} 2>/dev/null) || exit 1; "
              f"case \"$s\" in ii*) printf '%s\\n' \"${{s#*\t}}\";; *) exit 1;; esac; "
              f"elif command -v rpm >/dev/null 2>&1; then "
              f"rpm -q --qf '%{{VERSION}}-%{{RELEASE}}\\n' {q} || exit 1; "
              f"else echo 'no dpkg-query or rpm on this node' >&2; exit 2; fi")
    return ("sh", "-c", script)


def binary_version_argv() -> tuple[str, ...]:
    return (BINARY, "--version")


def parse_package_version(rc: int, text: str) -> str | None:
    """package_version_argv's output: the version, or None (not installed / no answer). rpm prints `package axigen
    is not installed` (rpm's lib/query.c) on stdout with rc 1: never a version."""
    if rc != 0:
        return None
    for line in (text or "")[:4096].splitlines():
        line = line.strip()
        if re.fullmatch(r"(\d+:)?[0-9][0-9A-Za-z.+~]*(-[0-9A-Za-z.+~_]+)?", line):
            return line
    return None
