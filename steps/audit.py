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

MASK = "********"
EXCERPT = 2000
ROTATE_BYTES = 8 * 1024 * 1024
KEEP_ROTATED = 4
SUMMARY_EVERY = 600.0
# the parts of a read-only answer that change on every call without the cluster changing: crm_mon's clock
_VOLATILE = re.compile(r'(last_update time|last_updated)="[^"]*"')
_KV_SECRET = re.compile(r"(?i)\b(passw(?:or)?d|passwd|passphrase|secret|token)(\s*[=:]\s*)(\S+)")


def default_state_dir() -> Path:
    """/var/log/axha as root, else $XDG_STATE_HOME/axha (~/.local/state/axha)."""
    if os.environ.get("AXHA_STATE_DIR"):
        return Path(os.environ["AXHA_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/log/axha")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "axha"


class Redactor:
    """Knows every secret in play and masks it (and anything shaped like password=...) in text."""

    def __init__(self, secrets: "list[str] | tuple[str, ...]" = ()):
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return _KV_SECRET.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


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
            if self.path.stat().st_size + len(data) > self.rotate_bytes:
                self._rotate()
        except FileNotFoundError:
            pass
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
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
            kept = [line for line in oldest.read_text(errors="replace").splitlines() if _is_change(line)]
            if kept:
                fd = os.open(self.changes_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, ("\n".join(kept) + "\n").encode())
                finally:
                    os.close(fd)
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
            "stdout": r(_excerpt(result.stdout)),
            "stderr": r(_excerpt(result.stderr)),
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
        """The entries of the current file (the rotated ones are audit.1.jsonl, ... and audit.changes.jsonl)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _is_change(line: str) -> bool:
    try:
        return bool(json.loads(line).get("mutating"))
    except (ValueError, AttributeError):
        return bool(line.strip())   # a line we cannot read is kept rather than lost


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT:
        return text
    return text[: EXCERPT // 2] + f"\n... [{len(text) - EXCERPT} characters cut] ...\n" + text[-EXCERPT // 2:]
