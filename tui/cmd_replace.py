"""`axha replace-node NODE`: rebuild a failed node from the survivor while it keeps serving mail."""
from __future__ import annotations

import argparse
import json
import re

from axha.tui.clihelp import context_for_cli, fail, load_for_cli, print_event

FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
DESCRIPTION = """\
Rebuild NODE (new hardware, a fresh OS, maybe a new BMC address or backing disk in the cluster file) from the
survivor while it keeps serving mail: gates (the survivor healthy and running the service, the old node gone),
the new SSH host key (typed node name, or --accept-host-key), preflight of the new server, its packages, Axigen
at the survivor's version (off at boot), corosync.conf and authkey from the survivor, fencing with its BMC,
Pacemaker joins, DRBD metadata (the install's disk guard) and a full resync with progress, verification.
Journaled: run it again after an interruption and it continues; run it again after success and nothing changes.

Exit codes: 0 done or nothing to do, 1 refused, failed or not confirmed, 2 bad input."""


def fingerprint(value: str) -> str:
    if not FINGERPRINT.fullmatch(value or ""):
        raise argparse.ArgumentTypeError("expected the key's SHA256 fingerprint as `ssh-keygen -l` prints it, "
                                         "SHA256: and 43 base64 characters")
    return value


def register(subparsers, common) -> None:
    p = subparsers.add_parser("replace-node", parents=[common], help="rebuild a failed node from the survivor "
                              "(new hardware, new host key, full resync)", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("node", help="the node to rebuild (its name in the cluster file)")
    p.add_argument("--accept-host-key", type=fingerprint, metavar="SHA256:...",
                   help="the new server's host key fingerprint, read on its console (ssh-keygen -lf "
                        "/etc/ssh/ssh_host_ed25519_key.pub): the only way to accept it without a terminal")
    p.add_argument("--disk-only", action="store_true",
                   help="the node stays; only its DRBD backing disk is new: metadata, attach, full resync")
    p.add_argument("--prove", action="store_true", help="afterwards switch the service to NODE and back")
    p.add_argument("--package", metavar="PATH", help="the Axigen package of the survivor's version (a .deb, .rpm or "
                   "the vendor's .run installer); default: the nodes' repositories")
    p.add_argument("--accept-license", action="store_true", help="as for axha upgrade: lets axha extract a vendor "
                   ".run installer")
    p.add_argument("--install-packages", action="store_true",
                   help="install the cluster packages on the new server (apt or dnf)")
    p.add_argument("--wipe-disk", action="append", default=[], metavar="NODE:PATH",
                   help="erase this backing disk if it holds data (instead of typing its path)")
    p.add_argument("--plan", action="store_true", help="check and show the commands per node; change nothing")
    p.set_defaults(func=handle)


def handle(args) -> int:
    from axha.steps.replace import replace_node
    from axha.steps.session import close_context
    from axha.tui.cmd_install import check_wipes, parse_wipe

    ctx = None
    try:
        spec, secrets = load_for_cli(args, need_bmc=True)
        wipes = parse_wipe(args.wipe_disk)
        check_wipes(spec, wipes)
        if args.package:
            from axha.steps.maint.package_file import check_package_file, read_package
            pkg = read_package(check_package_file(args.package), spec.axigen.package)
            if pkg.kind == "run" and not args.accept_license:
                from axha.steps.errors import InputError
                raise InputError(f"{args.package} is Axigen's own installer: pass --accept-license (see axha "
                                 "upgrade --help)")
        ctx = context_for_cli(args, spec, secrets)
        emit = (lambda event: None) if args.json else (lambda event: print_event(event, False))
        report = replace_node(ctx, args.node, emit, plan_only=args.plan, disk_only=args.disk_only,
                              prove=args.prove, package=args.package, install_packages=args.install_packages,
                              wipe_disks=wipes, accept_host_key=args.accept_host_key)
    except Exception as exc:  # the CLI boundary: AxhaError -> message + remedy, else one line
        return fail(exc, getattr(args, "debug", False))
    finally:
        if ctx is not None:
            close_context(ctx)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(("OK: " if report.ok else "FAILED: ") + report.message)
    return 0 if report.ok else 1
