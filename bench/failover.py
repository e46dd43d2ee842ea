"""Failover benchmark: a power cut of the active node, then the time until SMTP answers on the VIP from the other
node; for node1 and for node2 as the cut node, on three clusters built in the same run on the same lab:

- pcs:          a plain pcs-built two-node cluster (bench/install.py's script: two_node, pcmk_delay_base=10s on
                the device that fences node1, as the usual two-node recipe has it),
- axha:         `axha install` without a quorum device (the same delay, the same two_node),
- axha+qdevice: `axha install` with the lab's arbiter (corosync-qnetd) as quorum device, no delay.

Before each cut the service is moved to the node to cut (crm_resource --move, then --clear) and the cluster is
settled (DRBD in sync, no leftover constraint); after it the node is powered on again and the cluster settles.
Medians of --rounds cuts per node and cluster. The goal (issue 15): with the quorum device at most 10 s for
either node and no slower than the plain cluster's best side.

    .venv/bin/python bench/failover.py [--instance 6] [--rounds 3] [--only axha+qdevice] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

GROUP = "axigen-group"


def lab_exec(instance: int):
    from axha_lab import nodes

    def run(node, argv):
        return nodes.node_run(instance, node, argv, check=False, timeout=120)
    return run


def poll(what: str, probe, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def build(kind: str, instance: int, cluster_file: str, state_dir: str) -> None:
    from axha_lab import core

    core.up(instance, None, cluster_file, arbiter=(kind == "axha+qdevice"))
    status = core.reset(instance)
    status.setdefault("cluster_file", cluster_file)
    if kind == "pcs":
        from install import pcs_run   # bench/install.py
        pcs_run(status)
        return
    env = {**os.environ, "AXHA_STATE_DIR": state_dir}
    proc = subprocess.run([sys.executable, "-m", "axha.tui.cli", "install", "--cluster", cluster_file, "--yes"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise SystemExit(f"axha install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")


def place(ex, node: str) -> None:
    """The service on `node`, settled, with no constraint left by the move."""
    from tests.integration.test_maintenance import crm, settled

    poll("a settled cluster", lambda: settled(ex), 600)
    if crm(ex).where(GROUP) != node:
        ex(node, ["crm_resource", "--move", "--resource", GROUP, "--node", node])
        poll(f"the service on {node}", lambda: crm(ex).where(GROUP) == node, 180)
        ex(node, ["crm_resource", "--clear", "--resource", GROUP])
    poll("a settled cluster", lambda: settled(ex) == node, 600)


def cut(instance: int, ex, node: str, vip: str) -> float:
    from axha_lab import nodes
    from axha.steps.maint.service import service_answer

    place(ex, node)
    nodes.power_off(instance, node)
    start = time.monotonic()

    def answered():
        a = service_answer(vip, "smtp", 25, timeout=1.0)
        return a.ok and node not in a.banner
    poll(f"SMTP on the VIP from the survivor of {node}", answered, 180, interval=0.1)
    took = time.monotonic() - start
    nodes.power_on(instance, node)
    nodes.wait_booted(instance, node)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", type=int, default=int(os.environ.get("AXHA_LAB_INSTANCE", "6")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", choices=("pcs", "axha", "axha+qdevice"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from axha_lab import core

    workdir = Path(tempfile.mkdtemp(prefix="axha-bench-failover-"))
    cluster_file = str(workdir / "axha-lab.yaml")
    ex = lab_exec(args.instance)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for kind in args.only or ("pcs", "axha", "axha+qdevice"):
            build(kind, args.instance, cluster_file, str(workdir / f"state-{kind.replace('+', '-')}"))
            vip = core.status(args.instance)["vip"]
            times: dict[str, list[float]] = {"node1": [], "node2": []}
            for _ in range(args.rounds):
                for node in ("node1", "node2"):
                    took = cut(args.instance, ex, node, vip)
                    times[node].append(took)
                    print(f"{kind}: power cut of {node}: SMTP answered after {took:.1f} s", file=sys.stderr,
                          flush=True)
            results[kind] = times
    finally:
        core.up(args.instance, None, cluster_file, arbiter=False)
    medians = {k: {n: statistics.median(v) for n, v in t.items()} for k, t in results.items()}
    out: dict = {"rounds": args.rounds, "times_s": results, "median_s": medians}
    if "axha+qdevice" in medians:
        qd = medians["axha+qdevice"]
        out["goal_10s_each"] = all(v <= 10.0 for v in qd.values())
        if "pcs" in medians:
            best = min(medians["pcs"].values())
            out["ratio_qdevice_worst_vs_pcs_best"] = max(qd.values()) / best
            out["goal_no_slower_than_pcs_best"] = max(qd.values()) <= best
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for kind, m in medians.items():
            print(f"{kind:13} median node1 cut {m['node1']:5.1f} s   node2 cut {m['node2']:5.1f} s")
        for key in ("goal_10s_each", "ratio_qdevice_worst_vs_pcs_best", "goal_no_slower_than_pcs_best"):
            if key in out:
                print(f"{key}: {out[key]:.2f}" if isinstance(out[key], float) else f"{key}: {out[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
