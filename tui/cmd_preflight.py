"""`axha preflight`: are both servers ready for an Axigen HA cluster? Read-only; exit 0 when nothing FAILs."""
from __future__ import annotations

import json
import sys
import threading

EPILOG = """\
checks: cpu memory raid network links fencing storage software axigen time names firewall
exit codes: 0 nothing failed (warnings allowed), 1 at least one FAIL, 2 bad input
Nothing is changed on the nodes: every command preflight runs only reads."""


def register(subparsers, common) -> None:
    from axha.checks.preflight import CHECK_IDS

    parser = subparsers.add_parser(
        "preflight", parents=[common], help="check both servers (hardware, network, fencing, storage, software)",
        description="Run every readiness check on both nodes at once (one SSH connection per node, its few commands started together) and print "
                    "PASS/WARN/FAIL with what to do about each problem. Read-only.",
        epilog=EPILOG, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="CHECK", action="append", choices=CHECK_IDS,
                        help="run only this check (repeatable)")
    from axha.tui.clihelp import output_file

    parser.add_argument("--markdown", metavar="FILE", type=output_file,
                        help="also write the report as Markdown to FILE")
    parser.set_defaults(func=handle)


def _line(result) -> list[str]:
    out = []
    for f in result.findings:
        where = result.node
        out.append(f"{f.status:4}  {result.title:<14} {where:<8} {f.code}: {f.summary}")
        if f.remedy and f.status in ("FAIL", "WARN"):
            out.append(f"{'':29}-> {f.remedy}")
    return out


def handle(args) -> int:
    from axha.checks.preflight import run_preflight
    from axha.steps.session import close_context
    from axha.tui.clihelp import context_for_cli, load_for_cli

    spec, secrets = load_for_cli(args, need_bmc=True)
    ctx = context_for_cli(args, spec, secrets)
    try:
        if not args.json:
            print(f"preflight of cluster {spec.name}: {spec.nodes[0].name} and {spec.nodes[1].name} "
                  f"(read-only)", flush=True)
        lock = threading.Lock()  # results come from both nodes' threads: one whole line block at a time

        def emit(result) -> None:
            text = json.dumps({"event": "CheckResult", **result.to_dict()}) if args.json else "\n".join(_line(result))
            with lock:
                sys.stdout.write(text + "\n")
                sys.stdout.flush()

        report = run_preflight(ctx, emit, only=tuple(args.only) if args.only else None)
    finally:
        close_context(ctx)
    if args.markdown:
        from axha.steps.files import atomic_write
        atomic_write(args.markdown, report.to_markdown(), 0o644)
    counts = report.counts()
    if args.json:
        print(json.dumps({"event": "PreflightReport", **report.to_dict()}), flush=True)
    else:
        verdict = "ready" if report.ok else "NOT ready: fix every FAIL above, then run preflight again"
        print(f"\n{counts['FAIL']} FAIL, {counts['WARN']} WARN, {counts['PASS']} PASS in {report.duration:.1f} s: "
              f"{verdict}", file=sys.stdout, flush=True)
    return 0 if report.ok else 1
