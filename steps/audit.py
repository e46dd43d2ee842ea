"""The audit log: one JSON line per remote command (time, node, argv, rc, duration, output excerpt), redacted.

It stays useful while a dashboard polls every two seconds:
- every changing (mutating) command, file transfer and note is written in full, always;
- a read-only command whose answer (rc, stdout, stderr; crm_mon's own clock masked) is the same as the last time
  it ran on that node is not written again; the next entry written for it carries `unchanged: N` (the repeats
  left out) and `unchanged_since`, and a command that keeps answering the same gets such a summary entry at most
  every SUMMARY_EVERY seconds;
- past ROTATE_BYTES the file is rotated: audit.jsonl -> audit.1.jsonl -> ... -> audit.<KEEP_ROTATED>.jsonl;
  before the oldest is dropped, its changing entries are appended to audit.changes.jsonl, which is never rotated,
  so no changing entry is ever lost. At most about (KEEP_ROTATED + 1) x ROTATE_BYTES plus the changes file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path

from axha.steps.errors import AxhaError
from axha.steps.files import FileProblem, open_append, read_own

MASK = "********"
EXCERPT = 2000
ROTATE_BYTES = 8 * 1024 * 1024
KEEP_ROTATED = 4
SUMMARY_EVERY = 600.0
# the parts of a read-only answer that change on every call without the cluster changing: crm_mon's clock
_VOLATILE = re.compile(r'(last_update time|last_updated)="[^"]*"')
# a secret's value after its name: password=x, password: "x y", "passphrase": "x", -P x, --password x
_SECRET_NAME = r"(?:passw(?:or)?d|passwd|passphrase|secret|token|auth_?key)"
_QUOTED_OR_WORD = r"""(?:"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"',;&}]+)"""
_KV_SECRET = re.compile(rf"""(?i)(\b{_SECRET_NAME}\b["']?)(\s*[=:]\s*)({_QUOTED_OR_WORD})""")
# --password x anywhere; -P x only on an ipmitool command line (elsewhere -P is another option: df -P, cp -P)
_OPT_SECRET = re.compile(rf"""(?<![\w-])(--pass(?:word|wd|phrase))(\s*=?\s*)({_QUOTED_OR_WORD})""")
_IPMITOOL_P = re.compile(rf"""(\bipmitool\b[^\n]*?\s-P)(\s*)({_QUOTED_OR_WORD})""")
STRONG = 8      # a secret this long is masked wherever it occurs, also inside a longer word
# A secret that is a common word, a short number, or one or two characters occurs in ordinary output (`uid=0(root)`,
# `port 22`): masking every occurrence would show the reader which word it is, so such a secret is masked only where
# it stands as a password value (_KV_SECRET, _OPT_SECRET). Shorter than STRONG, it is masked as a whole word only
# (masking `tar` inside `started` would also tell).
COMMON_WORDS = frozenset("""
admin administrator root user users guest test testing default password passwd pass secret changeme letmein
welcome qwerty login logout ipmi bmc node cluster axigen online offline started stopped starting stopping running
master slave primary secondary promoted unpromoted true false yes no on off none null ok error errors fail failed
failure warning status start stop restart active inactive enabled disabled linux debian ubuntu centos redhat
rocky alma server system service services mail smtp imap pop3 http https local localhost host hosts link links
drbd corosync pacemaker fence stonith disk disks data backup operator supervisor manager support service calvin
super console monitor power reset cycle lanplus ether eth0 eth1 lo any all
""".split())


def weak_secret(secret: str, public: "set[str] | frozenset[str]" = frozenset()) -> bool:
    """True when `secret` is too common to mask everywhere without revealing it (see COMMON_WORDS)."""
    low = secret.lower()
    return len(secret) < 3 or (secret.isdigit() and len(secret) < 6) or low in COMMON_WORDS or low in public


def secret_forms(secret: str) -> set[str]:
    """The ways a secret can appear in output and command lines: as is, JSON- and Python-escaped, shell-quoted
    and backslash-escaped, XML/HTML-escaped and URL-encoded."""
    import html
    import shlex
    from urllib.parse import quote, quote_plus

    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
             shlex.quote(secret), re.sub(r"([^A-Za-z0-9_./,:@%+=-])", r"\\\1", secret), html.escape(secret),
             html.escape(secret).replace("&#x27;", "&apos;"), quote(secret, safe=""), quote_plus(secret)}
    return {form for form in forms if form}


class AuditError(AxhaError):
    """The audit log cannot be written where it should be (a symbolic link or a FIFO there, no permission)."""


def default_state_dir() -> Path:
    """/var/log/axha as root, else $XDG_STATE_HOME/axha (~/.local/state/axha)."""
    if os.environ.get("AXHA_STATE_DIR"):
        return Path(os.environ["AXHA_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/log/axha")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "axha"


class Redactor:
    """Knows every secret in play and masks it in text: each secret in every form it can take (secret_forms),
    and whatever stands as a password value (password=..., "password": "...", -P ..., --password ...). Masking
    happens on the whole text before anything is cut from it. A common or very short secret (weak_secret) is
    masked only as a password value, never everywhere (that would show which word it is)."""

    def __init__(self, secrets: "list[str] | tuple[str, ...]" = (), public: "list[str] | tuple[str, ...]" = ()):
        self._secrets: set[str] = set()
        self._public: set[str] = set()
        self._lock = threading.Lock()
        self._patterns: "tuple[re.Pattern | None, re.Pattern | None] | None" = None
        self.add_public(public)
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)
                self._patterns = None

    def add_public(self, words) -> None:
        """Words everybody may see (user and node names from the cluster file): a secret equal to one of them is
        weak, since masking it would reveal it (a BMC password ADMIN for the BMC user ADMIN)."""
        with self._lock:
            self._public.update(w.lower() for w in words if w)
            self._patterns = None

    @property
    def weak_count(self) -> int:
        """How many secrets in play are masked only as password values (common words, short numbers...)."""
        with self._lock:
            return sum(1 for s in self._secrets if weak_secret(s, self._public))

    def _compiled(self) -> "tuple[re.Pattern | None, re.Pattern | None]":
        with self._lock:
            if self._patterns is None:
                anywhere, words = set(), set()
                for secret in self._secrets:
                    if weak_secret(secret, self._public):
                        continue
                    (anywhere if len(secret) >= STRONG else words).update(secret_forms(secret))

                def alternation(forms: set[str]) -> str:
                    return "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))

                self._patterns = (re.compile(alternation(anywhere)) if anywhere else None,
                                  re.compile(rf"(?<![A-Za-z0-9])(?:{alternation(words)})(?![A-Za-z0-9])")
                                  if words else None)
            return self._patterns

    def redact(self, text: str) -> str:
        if not text:
            return text
        for pattern in self._compiled():
            if pattern is not None:
                text = pattern.sub(MASK, text)
        for pattern in (_KV_SECRET, _OPT_SECRET, _IPMITOOL_P):
            text = pattern.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
        return text


class _Repeats:
    """Per audit file (shared by every AuditLog of it in this process: a dashboard opens one per poll): the last
    answer of each read-only command per node, and how often it was left out since it was last written."""

    def __init__(self):
        self.lock = threading.Lock()
        self.last: dict[tuple, dict] = {}


_REPEATS: dict[Path, _Repeats] = {}
_REPEATS_LOCK = threading.Lock()


def _repeats_for(path: Path) -> _Repeats:
    with _REPEATS_LOCK:
        return _REPEATS.setdefault(path.resolve(), _Repeats())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


class AuditLog:
    """Appends one JSON object per line; safe to share between worker threads."""

    def __init__(self, path: str | os.PathLike, redactor: Redactor | None = None, *,
                 rotate_bytes: int = ROTATE_BYTES, keep: int = KEEP_ROTATED, summary_every: float = SUMMARY_EVERY):
        self.path = Path(path)
        self.redactor = redactor or Redactor()
        self.rotate_bytes, self.keep, self.summary_every = rotate_bytes, max(1, keep), summary_every
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repeats = _repeats_for(self.path)
        self._lock = self._repeats.lock

    def _write(self, entry: dict) -> None:
        with self._lock:
            self._append(entry)

    def _append(self, entry: dict) -> None:
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        try:
            if os.lstat(self.path).st_size + len(data) > self.rotate_bytes:
                self._rotate()
        except FileNotFoundError:
            pass
        self._append_bytes(self.path, data)

    @staticmethod
    def _append_bytes(path: Path, data: bytes) -> None:
        """Append to one of our files, never through a symlink (O_NOFOLLOW) or into a FIFO or a device."""
        try:
            fd = open_append(path, 0o600)
        except FileProblem as exc:
            raise AuditError(f"audit log {path} {exc}", remedy=f"Remove or move {path} away and run again.") from None
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def rotated(self, n: int) -> Path:
        """audit.<n>.jsonl (n >= 1: older with every n)."""
        return self.path.with_name(f"{self.path.stem}.{n}{self.path.suffix}")

    @property
    def changes_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.changes{self.path.suffix}")

    def _rotate(self) -> None:
        oldest = self.rotated(self.keep)
        if oldest.exists():
            try:
                text = read_own(oldest, 4 * self.rotate_bytes).decode(errors="replace")
            except FileProblem:  # not our file (a link, a FIFO...): dropped unread
                text = ""
            kept = [line for line in text.splitlines() if _is_change(line)]
            if kept:
                self._append_bytes(self.changes_path, ("\n".join(kept) + "\n").encode())
            oldest.unlink()
        for n in range(self.keep - 1, 0, -1):
            if self.rotated(n).exists():
                os.replace(self.rotated(n), self.rotated(n + 1))
        os.replace(self.path, self.rotated(1))

    def record(self, result, *, mutating: bool = False) -> None:
        r = self.redactor.redact
        entry = {
            "time": _now(),
            "node": result.node,
            "argv": [r(a) for a in result.argv],
            "rc": result.rc,
            "duration": round(result.duration, 3),
            "mutating": mutating,
            # masked first, then cut: a secret across the cut is masked whole
            "stdout": _excerpt(r(result.stdout)),
            "stderr": _excerpt(r(result.stderr)),
        }
        if mutating:
            self._write(entry)
            return
        key = (result.node, tuple(result.argv))
        digest = hashlib.sha256(json.dumps([result.rc, _VOLATILE.sub(r"\1=", result.stdout), result.stderr])
                                .encode(errors="replace")).hexdigest()
        now = time.monotonic()
        with self._lock:
            last = self._repeats.last.get(key)
            if last is not None and last["digest"] == digest:
                last["unchanged"] += 1
                if now - last["written"] < self.summary_every:
                    return
                # a summary: still the same answer; the output is in the entry written before
                entry.update(stdout="", stderr="", unchanged=last["unchanged"], unchanged_since=last["time"],
                             summary=True)
                last.update(unchanged=0, written=now)
                self._append(entry)
                return
            if last is not None and last["unchanged"]:
                entry.update(unchanged=last["unchanged"], unchanged_since=last["time"])
            self._repeats.last[key] = {"digest": digest, "unchanged": 0, "written": now, "time": entry["time"]}
            self._append(entry)

    def record_transfer(self, node: str, direction: str, path: str, size: int, mode: int | None = None) -> None:
        self._write({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "node": node,
                     "argv": [f"<{direction}>", path], "rc": 0, "duration": 0.0, "mutating": direction == "put",
                     "stdout": f"{size} bytes" + (f", mode {mode:o}" if mode is not None else ""), "stderr": ""})

    def note(self, node: str, message: str) -> None:
        self._write({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "node": node, "argv": [],
                     "rc": 0, "duration": 0.0, "mutating": False, "stdout": self.redactor.redact(message),
                     "stderr": ""})

    def entries(self) -> list[dict]:
        """The entries of the current file (the rotated ones are audit.1.jsonl, ... and audit.changes.jsonl); a
        line that is not JSON (a write cut short by a crash) is left out."""
        return self._read(self.path)

    def history(self, changes: int) -> tuple[list[dict], int]:
        """The newest entries, oldest first, across the current file and as many rotated ones (audit.1.jsonl, ...,
        then audit.changes.jsonl) as it takes to hold `changes` entries that changed something, or all of them;
        and how many files were read. Right after a rotation the current file is nearly empty: the audit view
        still shows what happened before."""
        files = [self.path, *(self.rotated(n) for n in range(1, self.keep + 1)), self.changes_path]
        parts, found, read = [], 0, 0
        for path in files:
            part = self._read(path)
            read += path.exists()
            parts.append(part)
            found += sum(1 for e in part if e.get("mutating"))
            if found >= changes:
                break
        return [e for part in reversed(parts) for e in part], read

    def _read(self, path: Path) -> list[dict]:
        try:
            text = read_own(path, 4 * self.rotate_bytes).decode(errors="replace")
        except FileProblem as exc:
            if exc.missing:
                return []
            raise AuditError(f"audit log {path} {exc}") from None
        out = []
        for line in text.splitlines():
            try:
                entry = json.loads(line) if line.strip() else None
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out


def _is_change(line: str) -> bool:
    try:
        return bool(json.loads(line).get("mutating"))
    except (ValueError, AttributeError):
        return bool(line.strip())   # a line we cannot read is kept rather than lost


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT:
        return text
    return text[: EXCERPT // 2] + f"\n... [{len(text) - EXCERPT} characters cut] ...\n" + text[-EXCERPT // 2:]
