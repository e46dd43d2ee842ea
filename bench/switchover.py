"""Benchmark: `axha switchover` against the raw sequence (crm_resource --move, --wait, --clear) on the same lab in
the same run, alternating, with the SMTP service gap of each measured the same way (poll every 100 ms).

    python -m bench.switchover --cluster /path/axha-lab.yaml [--rounds 2] [--json]

Both are measured from this machine over the same open SSH connections (one Context), so the comparison is the
work each does: axha adds the gates, the crm_simulate preview, live following, the VIP check and the clear check.
Target: axha time <= 1.2x raw, and a service gap no longer than raw's."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from axha.steps.maint.gap import ServiceGapMonitor
from axha.steps.maint.status import read_state
from axha.steps.maint.switchover import Switchover, clear_argv, move_argv


def raw_switchover(ctx, target: str) -> dict:
    """What an admin types: move, wait for the cluster to settle, clear."""
    runner = ctx.runner(target)
    monitor = ServiceGapMonitor(ctx.spec.vip.address).start()
    start = time.monotonic()
    runner.run(move_argv(target), timeout=60, mutating=True).check("crm_resource --move")
    runner.run(("crm_resource", "--wait", "--timeout=180s"), timeout=200).check("crm_resource --wait")
    runner.run(clear_argv(), timeout=60, mutating=True).check("crm_resource --clear")
    seconds = time.monotonic() - start
    monitor.wait_answering(30)
    gap = monitor.stop()
    where = read_state(ctx, with_service=False).active_node
    return {"kind": "raw", "target": target, "ok": where == target, "seconds": seconds,
            "gap": gap.longest_gap}


def axha_switchover(ctx, target: str) -> dict:
    start = time.monotonic()
    report = Switchover(ctx, target).run(confirm=False)
    seconds = time.monotonic() - start
    return {"kind": "axha", "target": target, "ok": report.ok, "seconds": seconds,
            "gap": report.gap.longest_gap if report.gap else None, "message": report.message}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.switchover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--secrets")
    parser.add_argument("--rounds", type=int, default=2, help="switchovers of each kind (alternating)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from axha.steps.secrets import load_secrets
    from axha.steps.session import close_context, open_context
    from axha.steps.spec_load import load_cluster

    spec = load_cluster(args.cluster)
    ctx = open_context(spec, load_secrets(spec, args.secrets), confirm=lambda q: True)
    runs: list[dict] = []
    try:
        for round_ in range(args.rounds):
            # alternate which goes first, so each kind moves the service in both directions
            for kind in (("axha", "raw") if round_ % 2 == 0 else ("raw", "axha")):
                state = read_state(ctx, with_service=False)
                target = state.other(state.active_node) if state.active_node else None
                if target is None:
                    print("the group runs nowhere: cannot benchmark", file=sys.stderr)
                    return 1
                result = (axha_switchover if kind == "axha" else raw_switchover)(ctx, target)
                runs.append(result)
                if not args.json:
                    print(f"{kind:5} -> {target}: {result['seconds']:6.2f} s, service gap {result['gap']:.2f} s"
                          f"{'' if result['ok'] else '  FAILED ' + result.get('message', '')}", flush=True)
                time.sleep(3)  # let monitors and DRBD settle between runs
    finally:
        close_context(ctx)
    axha = [r for r in runs if r["kind"] == "axha" and r["ok"]]
    raw = [r for r in runs if r["kind"] == "raw" and r["ok"]]
    if not axha or not raw:
        print("not enough successful runs", file=sys.stderr)
        return 1
    a_t, r_t = statistics.median(r["seconds"] for r in axha), statistics.median(r["seconds"] for r in raw)
    a_g, r_g = statistics.median(r["gap"] for r in axha), statistics.median(r["gap"] for r in raw)
    summary = {"runs": runs, "axha_median_s": round(a_t, 2), "raw_median_s": round(r_t, 2),
               "time_ratio": round(a_t / r_t, 3), "axha_gap_median_s": round(a_g, 2),
               "raw_gap_median_s": round(r_g, 2), "time_target_met": a_t <= 1.2 * r_t,
               "gap_target_met": a_g <= r_g + 0.2}   # 0.2 s = two polls of measurement resolution
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"axha {a_t:.2f} s vs raw {r_t:.2f} s: {a_t / r_t:.2f}x (target <= 1.2x: "
              f"{'met' if summary['time_target_met'] else 'NOT met'}); service gap axha {a_g:.2f} s vs raw "
              f"{r_g:.2f} s ({'no longer' if summary['gap_target_met'] else 'LONGER'})")
    return 0 if summary["time_target_met"] and summary["gap_target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
