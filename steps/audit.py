"""The audit log: one JSON line per remote command (time, node, argv, rc, duration, output excerpt), redacted."""
from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

MASK = "********"
EXCERPT = 2000
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


class AuditLog:
    """Appends one JSON object per line; safe to share between worker threads."""

    def __init__(self, path: str | os.PathLike, redactor: Redactor | None = None):
        self.path = Path(path)
        self.redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, entry: dict) -> None:
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)

    def record(self, result, *, mutating: bool = False) -> None:
        r = self.redactor.redact
        self._write({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
            "node": result.node,
            "argv": [r(a) for a in result.argv],
            "rc": result.rc,
            "duration": round(result.duration, 3),
            "mutating": mutating,
            "stdout": r(_excerpt(result.stdout)),
            "stderr": r(_excerpt(result.stderr)),
        })

    def record_transfer(self, node: str, direction: str, path: str, size: int, mode: int | None = None) -> None:
        self._write({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "node": node,
                     "argv": [f"<{direction}>", path], "rc": 0, "duration": 0.0, "mutating": direction == "put",
                     "stdout": f"{size} bytes" + (f", mode {mode:o}" if mode is not None else ""), "stderr": ""})

    def note(self, node: str, message: str) -> None:
        self._write({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "node": node, "argv": [],
                     "rc": 0, "duration": 0.0, "mutating": False, "stdout": self.redactor.redact(message),
                     "stderr": ""})

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT:
        return text
    return text[: EXCERPT // 2] + f"\n... [{len(text) - EXCERPT} characters cut] ...\n" + text[-EXCERPT // 2:]
