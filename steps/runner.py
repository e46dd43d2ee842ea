"""How commands reach a node: the Runner interface, a local runner and the replay runner for tests."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

from axha.steps.errors import CommandFailed, CommandTimeout

DEFAULT_TIMEOUT = 60.0
BASE_ENV = {"LC_ALL": "C", "LANG": "C"}

OnLine = Callable[[str], "bool | None"]
"""Receives each output line of a streamed command; returning True stops the command."""


@dataclass(frozen=True)
class Result:
    node: str
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    duration: float
    stopped: bool = False  # the caller stopped a stream on purpose

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def display(self) -> str:
        return shlex.join(self.argv)

    def check(self, message: str = "", remedy: str = "") -> "Result":
        if self.rc != 0:
            raise CommandFailed(self, message, remedy)
        return self


class Runner(Protocol):
    """Runs argv lists on one node. Every call has a timeout and is written to the audit log."""

    node: str

    def run(self, argv: Sequence[str], *, stdin: str | bytes | None = None, timeout: float = DEFAULT_TIMEOUT,
            mutating: bool = False, check: bool = False) -> Result: ...

    def stream(self, argv: Sequence[str], on_line: OnLine, *, timeout: float = DEFAULT_TIMEOUT,
               stdin: str | bytes | None = None, mutating: bool = False,
               cancel: threading.Event | None = None) -> Result: ...

    def put(self, path: str, data: bytes | str, mode: int = 0o644) -> None: ...

    def get(self, path: str) -> bytes: ...

    def close(self) -> None: ...


def _as_bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


class LocalRunner:
    """Runs commands on this machine (for the lab and for checks from the machine running axha)."""

    def __init__(self, node: str = "local", audit=None, env: dict[str, str] | None = None):
        self.node, self.audit = node, audit
        from axha.steps.envsecrets import child_environment

        self.env = {**child_environment(), **BASE_ENV, **(env or {})}  # no AXHA_* secret reaches a local command

    def run(self, argv, *, stdin=None, timeout=DEFAULT_TIMEOUT, mutating=False, check=False) -> Result:
        argv = tuple(argv)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=self.env, start_new_session=True)
        except FileNotFoundError:
            result = Result(self.node, argv, 127, "", f"{argv[0]}: command not found", 0.0)
            return self._finish(result, mutating, check)
        try:
            out, err = proc.communicate(_as_bytes(stdin), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            self._audit(Result(self.node, argv, -1, "", "timeout", time.monotonic() - start), mutating)
            raise CommandTimeout(f"`{shlex.join(argv)}` did not finish within {timeout:g} s", node=self.node,
                                 remedy="Check the node's load and the command's state, then retry.") from None
        result = Result(self.node, argv, proc.returncode, out.decode(errors="replace"),
                        err.decode(errors="replace"), time.monotonic() - start)
        return self._finish(result, mutating, check)

    def stream(self, argv, on_line, *, timeout=DEFAULT_TIMEOUT, stdin=None, mutating=False, cancel=None) -> Result:
        argv = tuple(argv)
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env, start_new_session=True)
        if stdin is not None:
            proc.stdin.write(_as_bytes(stdin))
        proc.stdin.close()
        timer = threading.Timer(timeout, _kill_group, (proc,))
        timer.start()
        lines, stopped = [], False
        try:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if on_line(line) is True or (cancel is not None and cancel.is_set()):
                    stopped = True
                    _kill_group(proc)
                    break
            err = proc.stderr.read().decode(errors="replace")
            rc = proc.wait()
        finally:
            timer.cancel()
        duration = time.monotonic() - start
        if not stopped and duration >= timeout:
            self._audit(Result(self.node, argv, -1, "\n".join(lines), "timeout", duration), mutating)
            raise CommandTimeout(f"`{shlex.join(argv)}` did not finish within {timeout:g} s", node=self.node)
        return self._finish(Result(self.node, argv, rc, "\n".join(lines) + ("\n" if lines else ""), err, duration,
                                   stopped), mutating, False)

    def put(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        from axha.steps.files import atomic_write
        atomic_write(path, data, mode)
        if self.audit:
            self.audit.record_transfer(self.node, "put", path, len(_as_bytes(data)), mode)

    def get(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def close(self) -> None:
        pass

    def _finish(self, result: Result, mutating: bool, check: bool) -> Result:
        self._audit(result, mutating)
        return result.check() if check else result

    def _audit(self, result: Result, mutating: bool) -> None:
        if self.audit:
            self.audit.record(result, mutating=mutating)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------- replay


class UnexpectedCommand(AssertionError):
    """A ReplayRunner was asked to run a command its recording does not contain."""


@dataclass(frozen=True)
class Recorded:
    """One recorded real command: argv, its exit code and output (from a real tool, see the fixture's source)."""

    argv: tuple[str, ...]
    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    stdin: str | None = None

    @staticmethod
    def from_dict(d: dict, base: Path | None = None) -> "Recorded":
        def text(key: str) -> str:
            if f"{key}_file" in d:
                return (base / d[f"{key}_file"]).read_text() if base else Path(d[f"{key}_file"]).read_text()
            return d.get(key, "")
        return Recorded(argv=tuple(d["argv"]), rc=d.get("rc", 0), stdout=text("stdout"), stderr=text("stderr"),
                        stdin=d.get("stdin"))


@dataclass
class ReplayRunner:
    """Replays recorded real outputs. ordered=True: calls must come in the recorded order (a queue);
    ordered=False: each call is looked up by argv (for checks that run in parallel). Any call not in the
    recording raises UnexpectedCommand, so a test fails on a command it did not expect."""

    node: str
    recordings: list[Recorded] = field(default_factory=list)
    ordered: bool = True
    files: dict[str, bytes] = field(default_factory=dict)
    audit: object = None
    calls: list[tuple[str, ...]] = field(default_factory=list)
    puts: list[tuple[str, bytes, int]] = field(default_factory=list)

    @classmethod
    def from_file(cls, node: str, path: str | Path, ordered: bool = True) -> "ReplayRunner":
        """Load a JSON fixture: {"node": ..., "source": "...", "commands": [{argv, rc, stdout|stdout_file, ...}]}."""
        path = Path(path)
        data = json.loads(path.read_text())
        commands = data["commands"] if isinstance(data, dict) else data
        return cls(node, [Recorded.from_dict(c, path.parent) for c in commands], ordered)

    def _take(self, argv: tuple[str, ...]) -> Recorded:
        self.calls.append(argv)
        if self.ordered:
            if not self.recordings:
                raise UnexpectedCommand(f"[{self.node}] unexpected command (recording exhausted): {shlex.join(argv)}")
            expected = self.recordings[0]
            if expected.argv != argv:
                raise UnexpectedCommand(f"[{self.node}] expected {shlex.join(expected.argv)!r}, "
                                        f"got {shlex.join(argv)!r}")
            return self.recordings.pop(0)
        for rec in self.recordings:
            if rec.argv == argv:
                return rec
        raise UnexpectedCommand(f"[{self.node}] unexpected command: {shlex.join(argv)}")

    def run(self, argv, *, stdin=None, timeout=DEFAULT_TIMEOUT, mutating=False, check=False) -> Result:
        rec = self._take(tuple(argv))
        result = Result(self.node, tuple(argv), rec.rc, rec.stdout, rec.stderr, 0.0)
        if self.audit:
            self.audit.record(result, mutating=mutating)
        return result.check() if check else result

    def stream(self, argv, on_line, *, timeout=DEFAULT_TIMEOUT, stdin=None, mutating=False, cancel=None) -> Result:
        rec = self._take(tuple(argv))
        stopped = False
        for line in rec.stdout.splitlines():
            if on_line(line) is True or (cancel is not None and cancel.is_set()):
                stopped = True
                break
        return Result(self.node, tuple(argv), rec.rc, rec.stdout, rec.stderr, 0.0, stopped)

    def put(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self.puts.append((path, _as_bytes(data), mode))
        self.files[path] = _as_bytes(data)

    def get(self, path: str) -> bytes:
        if path not in self.files:
            raise UnexpectedCommand(f"[{self.node}] unexpected file read: {path}")
        return self.files[path]

    def close(self) -> None:
        pass

    def assert_done(self) -> None:
        if self.ordered and self.recordings:
            raise AssertionError(f"[{self.node}] {len(self.recordings)} recorded command(s) never ran, first: "
                                 f"{shlex.join(self.recordings[0].argv)}")


def concurrently(calls: Iterable[Callable[[], object]]) -> list[object]:
    """Run every call at once, each in its own thread; their values (or the exception each raised) in order.
    The one fan-out of the engine (both nodes' commands, a node's scripts, a check beside the BMCs)."""
    calls = list(calls)
    results: list[object] = [None] * len(calls)

    def call(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # reported by the caller, per call
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run_all(runners: Iterable[Runner], fn: Callable[[Runner], object]) -> dict[str, object]:
    """Run fn(runner) for each node at once in threads; return {node: value or the exception raised}."""
    runners = list(runners)
    return dict(zip((r.node for r in runners), concurrently([lambda r=r: fn(r) for r in runners])))
