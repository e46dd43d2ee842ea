"""`axha install`: the whole install headless, journaled and resumable, with --plan to show every command first."""
from __future__ import annotations

import json
import os
import sys
import time

from axha.tui.clihelp import confirm_start, context_for_cli, fail, load_for_cli, print_event

RECORD_ENV = "AXHA_RECORD_EVENTS"             # write every event as a JSON line to this file (screen fixtures)
PROGRESS_EVERY = 2.0                          # seconds between printed progress lines per node (human output)

HELP = "install the cluster: storage, corosync, pacemaker, fencing, the Axigen role, then verify it"
DESCRIPTION = """\
Install the two-node Axigen cluster described by the cluster file. Every step reads the real state first,
plans the exact commands per node, runs them and verifies the result; a second run changes nothing, and a run
stopped anywhere (Ctrl-C, lost connection, crash) continues where it stopped when started again.

Steps: access, packages (only with --install-packages), DRBD or shared storage, corosync, pacemaker, fencing,
[fence drill with --fence-drill], Axigen role, verify.

Exit codes: 0 the cluster is installed and verified (or --plan printed), 1 a step failed (the message says on
which node, why, and what to do), 2 bad input (cluster file, secrets, options)."""


def register(subparsers, common) -> None:
    p = subparsers.add_parser("install", parents=[common], help=HELP, description=DESCRIPTION,
                              formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--plan", action="store_true",
                   help="only print the commands each step would run, per node; change nothing")
    p.add_argument("--wipe-disk", action="append", default=[], metavar="NODE:PATH",
                   help="allow erasing this non-empty backing disk (repeat per disk); without it a disk holding "
                        "any signature is refused")
    p.add_argument("--install-packages", action="store_true",
                   help="install the cluster packages with apt or dnf first")
    p.add_argument("--fence-drill", action="store_true",
                   help="after the install, really power-cycle each node in turn through Pacemaker and time its "
                        "return (the service fails over each time)")
    p.add_argument("--skip-initial-sync", action="store_true",
                   help="brand-new EMPTY disks only: mark both DRBD sides in sync without copying")
    p.set_defaults(func=cmd_install)


def parse_wipe(values: list[str]) -> list[tuple[str, str]]:
    from axha.steps.errors import InputError
    pairs = []
    for value in values:
        node, sep, path = value.partition(":")
        if not sep or not node or not path.startswith("/dev/"):
            raise InputError(f"--wipe-disk {value!r}: expected NODE:/dev/PATH", remedy="e.g. --wipe-disk node1:/dev/vdb")
        pairs.append((node, path))
    return pairs


def check_wipes(spec, pairs: list[tuple[str, str]]) -> None:
    """A typo in a destructive option must be loud: every --wipe-disk names a node and its own disk."""
    from axha.steps.errors import InputError
    for node, path in pairs:
        if node not in spec.node_names:
            raise InputError(f"--wipe-disk {node}:{path}: {node} is not a node of this cluster "
                             f"({', '.join(spec.node_names)})")
        allowed = [spec.node(node).backing_disk] if spec.storage.mode == "drbd" else [str(spec.storage.device)]
        if path not in allowed:
            raise InputError(f"--wipe-disk {node}:{path}: {path} is not the disk axha would write on {node} "
                             f"({allowed[0]})", remedy=f"e.g. --wipe-disk {node}:{allowed[0]}")


def install_options(args) -> dict:
    return {"install_packages": args.install_packages, "fence_drill": args.fence_drill,
            "wipe_disks": parse_wipe(args.wipe_disk), "skip_initial_sync": args.skip_initial_sync}


class Printer:
    """Prints events (JSON lines or human lines), thinning progress lines; optionally records every event."""

    def __init__(self, json_mode: bool, record: str | None = None, plan_only: bool = False):
        self.json_mode, self.plan_only = json_mode, plan_only
        self.last_progress: dict[str, float] = {}
        self.record = open(record, "a") if record else None
        self.plans: list = []

    def __call__(self, event) -> None:
        from axha.steps.framework import event_to_dict
        kind = type(event).__name__
        if self.record:
            self.record.write(json.dumps({"t": round(time.monotonic(), 3), **event_to_dict(event)}) + "\n")
            self.record.flush()
        if kind == "PlanReady":
            self.plans.extend(event.actions)
            if not self.json_mode and not self.plan_only:
                return   # each command is printed as it starts; the full plan is for --plan
        if kind == "Progress" and not self.json_mode:
            now = time.monotonic()
            if now - self.last_progress.get(event.node, 0.0) < PROGRESS_EVERY:
                return
            self.last_progress[event.node] = now
        if kind == "StepFinished" and event.findings and not self.json_mode:
            print_event(event, self.json_mode)
            for f in event.findings:
                if f.status != "PASS":
                    print_event(f, self.json_mode)
        else:
            print_event(event, self.json_mode)


def interrupted(ctx) -> None:
    """Ctrl-C: the step that was running is journaled as failed (interrupted), not left 'running'."""
    journal = getattr(ctx, "journal", None)
    if journal is None:
        return
    for step_id, entry in list(journal.data.get("steps", {}).items()):
        if entry.get("state") == "running":
            journal.mark(step_id, "failed", "interrupted by the admin (Ctrl-C)")


def cmd_install(args) -> int:
    from axha.steps.framework import run_steps
    from axha.steps.install import install_steps
    from axha.steps.session import close_context

    ctx = None
    try:
        options = install_options(args)
        spec, secrets = load_for_cli(args, need_bmc=True)
        check_wipes(spec, options["wipe_disks"])
        a, b = spec.node_names
        if not confirm_start(args, "axha install changes both nodes and needs a confirmation",
                             f"Install the Axigen cluster {spec.name!r} on {a} and {b}? Every command is shown as "
                             "it runs."):
            print("axha: not started", file=sys.stderr)
            return 1
        ctx = context_for_cli(args, spec, secrets, journal=None if args.plan else "install")
        ctx.options.update(options)
        printer = Printer(args.json, os.environ.get(RECORD_ENV), args.plan)
        # the journal is checked against the cluster's instance id by run_steps, which says what it resumes
        report = run_steps(ctx, install_steps(spec, options), printer, plan_only=args.plan)
        if args.json:
            print(json.dumps({"event": "InstallFinished", **report.to_dict()}), flush=True)
        elif args.plan and not report.ok:
            print("plan: FAILED (see above)")
        elif args.plan:
            print("plan: nothing to do" if not printer.plans else f"plan: {len(printer.plans)} command(s)")
        else:
            print("install: cluster installed and verified" if report.ok else "install: FAILED (see above)")
        return 0 if report.ok else 1
    except KeyboardInterrupt:
        interrupted(ctx)
        print(f"axha: install interrupted. Nothing is half-pushed: every step re-checks the real state, so it is "
              f"safe to run `axha install --cluster {getattr(ctx, 'spec', None) and ctx.spec.path or 'FILE'}` "
              f"again to continue where it stopped.",
              file=sys.stderr)
        return 130
    except BaseException as exc:  # every failure is reported by fail(): message, remedy, exit code
        return fail(exc, getattr(args, "debug", False))
    finally:
        if ctx is not None:
            close_context(ctx)
