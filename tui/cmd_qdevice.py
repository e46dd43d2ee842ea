"""`axha quorum-device add|remove`: a quorum device (corosync-qnetd on a third host) for an installed cluster."""
from __future__ import annotations

import argparse
import json
import os
import sys

from axha.tui.clihelp import cluster_path, confirm_start, context_for_cli, fail, load_for_cli

DESCRIPTION = """\
add: give the running cluster the quorum device of the cluster file's `quorum_device` (host, port, algorithm,
ssh_*): the arbiter checked (SSH, corosync-qnetd 3, its clock, its port reachable from both nodes), corosync-qnetd
running there with its CA, the TLS certificates on both nodes the way corosync-qdevice-net-certutil makes them,
corosync.conf with the device and without two_node (reloaded, no restart), corosync-qdevice running and its vote
counted, then the fence delay removed (with a tie-breaker there is no fence race).

remove: take `quorum_device` out of the cluster file first; then the fence delay is put back, corosync-qdevice
stopped and disabled, corosync.conf back to two_node (reloaded), the nodes' qdevice certificates removed. The
arbiter is left as it is.

Both show their commands first (--plan only shows them), are journaled (run again after an interruption: it
continues) and change nothing when the cluster is already so.

Exit codes: 0 done or nothing to do, 1 refused, failed or not confirmed, 2 bad input."""


def register(subparsers, common) -> None:
    p = subparsers.add_parser("quorum-device", parents=[common], help="add or remove the quorum device (a third "
                              "host's corosync-qnetd) of an installed cluster", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("add", "remove"))
    p.add_argument("--install-packages", action="store_true",
                   help="add: install corosync-qnetd on the arbiter and corosync-qdevice on the nodes (apt or dnf)")
    p.add_argument("--plan", action="store_true", help="check and show the commands per host; change nothing")
    p.set_defaults(func=handle)


def handle(args) -> int:
    from axha.steps.install.qdevice import add_steps, remove_steps
    from axha.steps.operation import run_operation
    from axha.steps.session import close_context
    from axha.steps.spec_load import SpecError, load_cluster
    from axha.tui.cmd_install import RECORD_ENV, Printer

    ctx = None
    try:
        spec = load_cluster(cluster_path(args))     # the file's quorum_device first: no secrets asked for nothing
        if args.action == "add" and spec.quorum_device is None:
            raise SpecError(spec.path or "<cluster file>", None, "quorum_device",
                            "no quorum_device in the cluster file: add one (host, and optionally port, algorithm, "
                            "ssh_address, ssh_port, ssh_user) and run again")
        if args.action == "remove" and spec.quorum_device is not None:
            raise SpecError(spec.path or "<cluster file>", None, "quorum_device",
                            "the cluster file still has a quorum_device: take it out first (the cluster file says "
                            "what the cluster should be), then run quorum-device remove")
        spec, secrets = load_for_cli(args, need_bmc=True)
        if not confirm_start(args, f"axha quorum-device {args.action} changes the running cluster and needs a "
                             "confirmation", f"{args.action.capitalize()} the quorum device of cluster {spec.name!r}? "
                             "Every command is shown as it runs."):
            print("axha: not started", file=sys.stderr)
            return 1
        ctx = context_for_cli(args, spec, secrets)
        ctx.options["install_packages"] = args.install_packages
        printer = Printer(args.json, os.environ.get(RECORD_ENV), args.plan)
        steps = add_steps(spec, {"install_packages": args.install_packages}) if args.action == "add" \
            else remove_steps(spec)
        report = run_operation(ctx, f"quorum-device-{args.action}", steps, printer, plan_only=args.plan)
    except Exception as exc:  # the CLI boundary: AxhaError -> message + remedy, else one line
        return fail(exc, getattr(args, "debug", False))
    finally:
        if ctx is not None:
            close_context(ctx)
    if args.json:
        print(json.dumps({"event": "QuorumDeviceFinished", "action": args.action, **report.to_dict()}), flush=True)
    elif args.plan:
        print("plan: FAILED (see above)" if not report.ok else
              "plan: nothing to do" if not printer.plans else f"plan: {len(printer.plans)} command(s)")
    else:
        print(f"quorum-device {args.action}: " + ("done and verified" if report.ok else "FAILED (see above)"))
    return 0 if report.ok else 1
