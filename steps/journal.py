"""The install/upgrade journal: versioned JSON of step progress, rewritten atomically after every change.

A journal is a hint, the cluster is the truth. Two rules keep an old journal from being obeyed:
- `bind(instance)`: a journal records the cluster instance id it was written for (steps.instance). When the
  cluster now has another id, or none while the journal has one (servers re-installed, a lab re-created), the
  journal is stale: its file is set aside as `<name>.json.stale-<time>` and the run starts with an empty journal.
  A journal written before the cluster had an id (an install's first steps) takes the id when it is first seen;
  for operations on an installed cluster (bind(..., adopt=False)) such a journal with progress is set aside too.
- `finish()` / `start_anew_if_finished()`: a journal whose operation finished is history. The next run of that
  operation starts a new one; the old file is kept as `<name>.json.done-<time>`.
At most KEEP_ASIDE set-aside files of each kind are kept per journal (the oldest go first).
steps.session.open_bound_journal() applies both for an operation that runs outside run_steps (the upgrade).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Sequence

from axha.steps.errors import InputError
from axha.steps.files import FileProblem, atomic_write, read_own

VERSION = 1
STATES = ("pending", "running", "done", "failed")
KEEP_ASIDE = 10
MAX_JOURNAL_BYTES = 16 * 1024 * 1024
STALE, DONE = "stale", "done"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


class Journal:
    """{version, cluster, instance?, finished?, steps: {step_id: {state, started, finished, message, data}}};
    one writer at a time."""

    def __init__(self, path: str | Path, cluster: str = ""):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.data = self._load(cluster)

    def _load(self, cluster: str) -> dict:
        try:
            raw = read_own(self.path, MAX_JOURNAL_BYTES)  # never through a symbolic link, never a FIFO
        except FileProblem as exc:
            if exc.missing:
                return {"version": VERSION, "cluster": cluster, "steps": {}}
            raise InputError(f"journal {self.path} {exc}",
                             remedy="Move it aside; axha re-checks every step's real state on the next run.") from None
        try:
            data = json.loads(raw)
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
            self.data.pop("finished", None)
            self._save()

    # ------------------------------------------------------------ which cluster, which run

    @property
    def instance(self) -> str | None:
        """The cluster instance id this journal was written for (None: not bound yet)."""
        return self.data.get("instance")

    @property
    def finished(self) -> bool:
        return bool(self.data.get("finished"))

    def bind(self, instance: str | None, *, adopt: bool = True) -> str | None:
        """Tie the journal to the cluster instance `instance` (None: the cluster has no id). Returns None when the
        journal is kept (new, not bound yet, or the same id), else the note saying it was set aside.
        adopt=False: a journal with progress but no id, on a cluster that has one, is set aside too (it was
        written before the cluster had its id, so it cannot show it belongs; an install's journal is adopted)."""
        with self._lock:
            mine = self.data.get("instance")
            progress = any(e.get("state", "pending") != "pending" for e in self.data.get("steps", {}).values())
            if mine is None and instance and progress and not adopt:
                aside = self._set_aside(STALE)
                self.data = {"version": VERSION, "cluster": self.data.get("cluster", ""), "steps": {},
                             "instance": instance}
                where = f"set aside as {aside.name}" if aside else "not used"
                return (f"journal {self.path} was written before this cluster had an instance id (the cluster now "
                        f"has {instance}), so it may describe an earlier installation: {where}")
            if mine is None:
                if instance:
                    self.data["instance"] = instance
                    if self.path.exists():
                        self._save()
                return None
            if mine == instance:
                return None
            aside = self._set_aside(STALE)
            self.data = {"version": VERSION, "cluster": self.data.get("cluster", ""), "steps": {}}
            if instance:
                self.data["instance"] = instance
        where = f"set aside as {aside.name}" if aside else "not used"
        return (f"journal {self.path} belongs to an earlier installation of this cluster (instance {mine}, the "
                f"cluster now has {instance or 'none'}): {where}")

    def finish(self) -> None:
        """The operation this journal follows has finished: the next run of it starts a new journal."""
        with self._lock:
            self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._save()

    def start_anew_if_finished(self, final_steps: Sequence[str] = ()) -> str | None:
        """When the journal's operation finished (finish() was called, or every step of `final_steps` is done, for
        journals written before finish() existed), keep it as history and start empty; returns the note."""
        with self._lock:
            steps = self.data.get("steps", {})
            legacy = bool(final_steps) and all(steps.get(s, {}).get("state") == "done" for s in final_steps)
            if not (self.data.get("finished") or legacy):
                return None
            aside = self._set_aside(DONE)
            keep = {k: self.data[k] for k in ("cluster", "instance") if self.data.get(k)}
            self.data = {"version": VERSION, "cluster": "", "steps": {}, **keep}
        where = f"kept as {aside.name}" if aside else "not kept"
        return f"the previous {self.path.stem} finished: this is a new one (its journal is {where})"

    def set_aside(self, kind: str = STALE) -> Path | None:
        """Move the journal file aside (e.g. to restart an operation from scratch) and start empty; the path it
        went to, or None when there was no file."""
        with self._lock:
            aside = self._set_aside(kind)
            keep = {k: self.data[k] for k in ("cluster", "instance") if self.data.get(k)}
            self.data = {"version": VERSION, "cluster": "", "steps": {}, **keep}
            return aside

    def _set_aside(self, kind: str) -> Path | None:
        return set_aside_file(self.path, kind)


def set_aside_file(path: Path, kind: str) -> Path | None:
    """Move a journal file to <name>.<kind>-<time> (keeping the newest KEEP_ASIDE of that kind); the new path, or
    None when there was no file. Works on a journal too damaged to load."""
    path = Path(path)
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.{kind}-{_stamp()}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{kind}-{_stamp()}-{n}")
    os.replace(path, target)
    old = sorted(path.parent.glob(f"{path.name}.{kind}-*"))  # names sort by time
    for stale in old[:-KEEP_ASIDE]:
        try:
            stale.unlink()
        except OSError:
            pass
    return target
