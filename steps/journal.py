"""The install/upgrade journal: versioned JSON of step progress, rewritten atomically after every change."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from steps.errors import InputError
from steps.spec import atomic_write

VERSION = 1
STATES = ("pending", "running", "done", "failed")


class Journal:
    """{version, cluster, steps: {step_id: {state, started, finished, message, data}}}; one writer at a time."""

    def __init__(self, path: str | Path, cluster: str = ""):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.data = self._load(cluster)

    def _load(self, cluster: str) -> dict:
        if not self.path.exists():
            return {"version": VERSION, "cluster": cluster, "steps": {}}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"journal {self.path} is unreadable ({exc})",
                             remedy="Move it aside; axha re-checks every step's real state on the next run.") from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise InputError(f"journal {self.path} has version {data.get('version') if isinstance(data, dict) else '?'}"
                             f", this axha writes version {VERSION}", remedy="Move it aside and run again.")
        if cluster and data.get("cluster") and data["cluster"] != cluster:
            raise InputError(f"journal {self.path} belongs to cluster {data['cluster']!r}, not {cluster!r}",
                             remedy="Use the matching cluster file, or move the journal aside.")
        data.setdefault("steps", {})
        return data

    def _save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=2, sort_keys=True), 0o600)

    def state(self, step_id: str) -> str:
        return self.data["steps"].get(step_id, {}).get("state", "pending")

    def entry(self, step_id: str) -> dict:
        return dict(self.data["steps"].get(step_id, {}))

    def mark(self, step_id: str, state: str, message: str = "", **data) -> None:
        if state not in STATES:
            raise ValueError(state)
        with self._lock:
            entry = self.data["steps"].setdefault(step_id, {})
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if state == "running":
                entry["started"] = now
            if state in ("done", "failed"):
                entry["finished"] = now
            entry["state"] = state
            entry["message"] = message
            if data:
                entry.setdefault("data", {}).update(data)
            self._save()

    def set_data(self, step_id: str, **data) -> None:
        with self._lock:
            self.data["steps"].setdefault(step_id, {"state": "pending"}).setdefault("data", {}).update(data)
            self._save()

    def reset(self) -> None:
        with self._lock:
            self.data["steps"] = {}
            self._save()
