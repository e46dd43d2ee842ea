"""Helpers for the storage integration tests: a runner into a lab node, and a recorder that writes replay fixtures."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from axha.steps.framework import Context
from axha.steps.runner import LocalRunner, Result
from axha.steps.spec_load import load_cluster


class LabRunner(LocalRunner):
    """Runs argv inside a lab node (nsenter into its namespaces), reporting the node-side argv in results."""

    def __init__(self, instance: int, node: str):
        super().__init__(node)
        self.instance = instance

    def _wrap(self, argv) -> list[str]:
        from axha_lab import nodes
        return nodes.exec_argv(self.instance, self.node, list(argv))

    def run(self, argv, *, stdin=None, timeout=60.0, mutating=False, check=False) -> Result:
        result = replace(super().run(self._wrap(argv), stdin=stdin, timeout=timeout), argv=tuple(argv))
        return result.check() if check else result

    def stream(self, argv, on_line, *, timeout=60.0, stdin=None, mutating=False, cancel=None) -> Result:
        result = super().stream(self._wrap(argv), on_line, timeout=timeout, stdin=stdin, cancel=cancel)
        return replace(result, argv=tuple(argv))

    def put(self, path: str, data, mode: int = 0o644) -> None:
        self.run(("sh", "-c", 'cat > "$0.tmp" && chmod "$1" "$0.tmp" && mv -f "$0.tmp" "$0"', path,
                  format(mode, "o")), stdin=data, check=True)

    def get(self, path: str) -> bytes:
        return self.run(("cat", path), check=True).stdout.encode()


class Recorder:
    """Wraps a runner and keeps every command with its real output, for ReplayRunner fixtures."""

    def __init__(self, inner):
        self.inner, self.node = inner, inner.node
        self.commands: list[dict] = []
        self.lock = threading.Lock()

    def _keep(self, argv, rc, stdout, stderr) -> None:
        with self.lock:
            self.commands.append({"argv": list(argv), "rc": rc, "stdout": stdout, "stderr": stderr})

    def run(self, argv, **kw) -> Result:
        result = self.inner.run(argv, **kw)
        self._keep(argv, result.rc, result.stdout, result.stderr)
        return result

    def stream(self, argv, on_line, **kw) -> Result:
        seen: list[str] = []

        def keep(line: str):
            seen.append(line)
            return on_line(line)

        result = self.inner.stream(argv, keep, **kw)
        self._keep(argv, result.rc, "".join(f"{line}\n" for line in seen), result.stderr)
        return result

    def put(self, path, data, mode=0o644) -> None:
        self.inner.put(path, data, mode)

    def get(self, path) -> bytes:
        return self.inner.get(path)

    def close(self) -> None:
        pass

    def dump(self, path: Path, source: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"node": self.node, "source": source, "commands": self.commands}, indent=1)
                        + "\n")


def lab_context(instance: int, cluster_file: str, *, record: bool = False, **options) -> Context:
    spec = load_cluster(cluster_file)
    runners = {}
    for node in spec.node_names:
        runner = LabRunner(instance, node)
        runners[node] = Recorder(runner) if record else runner
    return Context(spec=spec, runners=runners, options=dict(options))
