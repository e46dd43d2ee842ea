"""Record replay fixtures from a running lab (kept in the repository so every recording can be made again).

    python -m tests.integration.record_fixtures probe CLUSTER_FILE NAME "what state the lab is in"
        -> tests/fixtures/maint/probe-NAME.json: the composite probe (steps.maint.status.probe_argv) over SSH
    python -m tests.integration.record_fixtures rerun CLUSTER_FILE "what state the lab is in"
        -> tests/fixtures/install/rerun-node1.json, rerun-node2.json: every command of a plan-only run of the
           cluster steps (corosync, pacemaker, fencing, axigen-role), in order

Both talk to the real programs on the lab nodes over real SSH (the cluster file's own key and known_hosts).
"""
from __future__ import annotations

import datetime
import json
import shlex
import sys
from pathlib import Path

from axha.steps.secrets import load_secrets
from axha.steps.session import close_context, open_context
from axha.steps.spec_load import load_cluster
from tests.integration.storage_lab import Recorder

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def record_probe(cluster_file: str, name: str, what: str) -> Path:
    from axha.steps.maint.probe import probe_argv

    spec = load_cluster(cluster_file)
    ctx = open_context(spec, load_secrets(spec))
    argv = probe_argv(spec)
    out = {}
    try:
        for node, runner in ctx.runners.items():
            result = runner.run(argv, timeout=60)
            out[node] = {"commands": [{"argv": list(argv), "rc": result.rc, "stdout": result.stdout,
                                       "stderr": result.stderr}]}
    finally:
        close_context(ctx)
    path = FIX / "maint" / f"probe-{name}.json"
    source = (f"recorded on {datetime.date.today()} from {what} with tests/integration/record_fixtures.py: "
              f"ssh root@node {shlex.quote('probe_argv(spec)')}")
    path.write_text(json.dumps({"source": source, "nodes": out}, indent=1) + "\n")
    return path


def record_rerun(cluster_file: str, what: str) -> list[Path]:
    from axha.steps.framework import run_steps
    from axha.steps.install.corosync import CorosyncStep
    from axha.steps.install.fencing import FencingStep
    from axha.steps.install.pacemaker import PacemakerStep
    from axha.steps.install.role import AxigenRoleStep

    spec = load_cluster(cluster_file)
    ctx = open_context(spec, load_secrets(spec))
    recorders = {node: Recorder(runner) for node, runner in ctx.runners.items()}
    ctx.runners.clear()
    ctx.runners.update(recorders)
    try:
        report = run_steps(ctx, [CorosyncStep(), PacemakerStep(), FencingStep(), AxigenRoleStep()],
                           lambda e: None, plan_only=True)
    finally:
        for rec in recorders.values():
            rec.inner.close()
    if not report.ok or report.changed:
        raise SystemExit(f"the lab is not an installed cluster whose rerun plans nothing: {report}")
    paths = []
    for node, rec in recorders.items():
        path = FIX / "install" / f"rerun-{node}.json"
        rec.dump(path, f"recorded on {datetime.date.today()} from {what} with tests/integration/record_fixtures.py")
        paths.append(path)
    return paths


def main(argv: list[str]) -> None:
    if argv[:1] == ["probe"] and len(argv) == 4:
        print(record_probe(argv[1], argv[2], argv[3]))
    elif argv[:1] == ["rerun"] and len(argv) == 3:
        print(*record_rerun(argv[1], argv[2]), sep="\n")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
