"""`axha status|switchover|upgrade|standby|unstandby|maintenance|cleanup|...`: maintenance from the command line."""
from __future__ import annotations

import argparse
import json
import time

from axha.tui.clihelp import context_for_cli, fail, load_for_cli, output_dir, print_event, seconds

EXIT_CODES = "Exit codes: 0 done / healthy, 1 refused, failed or problems found, 2 bad input."


def register(subparsers, common) -> None:
    def add(name: str, help_: str, func, description: str = ""):
        p = subparsers.add_parser(name, parents=[common], help=help_,
                                  description=(description or help_[0].upper() + help_[1:] + ".") + "\n\n" +
                                  EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("status", "show the live cluster state (nodes, resources, DRBD, links, fencing, VIP answers)", cmd_status,
            "One read-only round trip per node plus the SMTP/IMAP greeting on the virtual IP. Exit 1 when "
            "something needs attention (a node down, a link down, a failed action, ...).")
    p.add_argument("--watch", nargs="?", const=2.0, type=seconds(0.5, 3600), metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until Ctrl-C")
    p = add("switchover", "move the mail service to the other node, after checking every gate", cmd_switchover,
            "Gates first (all reported together), then a crm_simulate preview, the move, live following, a "
            "check that SMTP/IMAP answer on the VIP, and the move constraint cleared (also on failure). "
            "Reports the service gap.")
    p.add_argument("--to", metavar="NODE", help="the node to move to (default: the passive node)")
    p.add_argument("--plan", action="store_true", help="gates and preview only; change nothing")
    p.add_argument("--timeout", type=seconds(1, 3600), default=120.0,
                   help="seconds to wait for the move (default 120)")
    p = add("upgrade", "rolling upgrade of Axigen, passive node first, with a switchover in between", cmd_upgrade,
            "Gates, versions, a backup (both nodes + locally), upgrade the passive node (Axigen kept from running "
            "there), switch over, verify the running version through Axigen's CLI (GET VERSION) and the VIP, "
            "upgrade the other node, verify. Journaled: run it again after an interruption and it continues; a "
            "finished upgrade is history, so a later upgrade or downgrade is a new operation.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--package", metavar="PATH",
                     help="the Axigen package to install (uploaded to both nodes): a .deb, an .rpm, or the vendor's "
                          "axigen-<version>.<arch>.deb.run / .rpm.run installer (needs --accept-license)")
    src.add_argument("--version", metavar="VERSION", help="install this version from the nodes' repositories")
    p.add_argument("--switch-back", action="store_true", help="move the service back to where it ran before")
    p.add_argument("--plan", action="store_true", help="show the stages and versions; change nothing")
    p.add_argument("--restart", action="store_true", help="forget an unfinished upgrade's journal and start over")
    p.add_argument("--accept-license", action="store_true",
                   help="you accept Axigen's licence: lets axha extract a vendor .run installer (--noexec) and "
                        "install the package inside it without its interactive licence prompt")
    p = add("standby", "put a node in standby (its resources move away) and wait until they settled", cmd_standby)
    p.add_argument("node")
    p = add("unstandby", "bring a node out of standby and wait until the cluster settled", cmd_unstandby)
    p.add_argument("node")
    p = add("maintenance", "cluster maintenance mode on or off (Pacemaker stops managing resources)",
            cmd_maintenance)
    p.add_argument("mode", choices=("on", "off"))
    add("cleanup", "clean up failed actions and wait until the cluster settled", cmd_cleanup)
    add("clear-constraints", "remove leftover cli-prefer/cli-ban (and stale drbd-fence) constraints",
        cmd_clear_constraints)
    add("verify-drbd", "start DRBD's online verify of the replicated data", cmd_verify_drbd)
    p = add("backup", "back up the whole configuration (CIB, corosync, DRBD, Axigen) on both nodes and here",
            cmd_backup)
    p.add_argument("--output", metavar="DIR", type=output_dir,
                   help="local directory (default: the state dir's backups/)")
    p = add("split-brain-recover", "recover from a DRBD split brain, discarding one node's changes",
            cmd_split_brain, "Shows each side's evidence, then (after you type the node's name) discards the "
            "changes of --discard NODE and resyncs it from the other node.")
    p.add_argument("--discard", metavar="NODE", required=True, help="the node whose changes are thrown away")
    for name in ("standby", "unstandby", "maintenance", "cleanup", "clear-constraints", "verify-drbd", "backup",
                 "split-brain-recover"):
        subparsers.choices[name].add_argument("--plan", action="store_true",
                                              help="check and show the commands per node; change nothing")


# ---------------------------------------------------------------- helpers


def _open(args, journal: str | None = None):
    spec, secrets = load_for_cli(args)
    return context_for_cli(args, spec, secrets, journal=journal)


def _close(ctx) -> None:
    try:
        from axha.steps.session import close_context
        close_context(ctx)
    except Exception:  # closing must never hide the command's result
        pass


def _emitter(args):
    if args.json:
        return lambda event: None
    return lambda event: print_event(event, False)


def _run(args, body) -> int:
    ctx = None
    try:
        ctx = _open(args)
        return body(ctx)
    except Exception as exc:  # the CLI boundary: AxhaError -> message + remedy, else one line
        return fail(exc, getattr(args, "debug", False))
    finally:
        if ctx is not None:
            _close(ctx)


def _report(args, report) -> int:
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(("OK: " if report.ok else "FAILED: ") + report.message)
        for line in report.details:
            print(f"   {line}")
    return 0 if report.ok else 1


# ---------------------------------------------------------------- status


def format_status(state) -> str:
    """The human `axha status` text (also what the dashboard shows, in plain lines)."""
    out = [f"cluster {state.cluster}: service on {state.active_node or 'NO NODE'}"
           f"{', DC ' + state.dc if state.dc else ''}{', quorum' if state.quorum else ', NO QUORUM'}"
           f"{', MAINTENANCE MODE' if state.maintenance_mode else ''}"]
    for n in state.nodes:
        d = state.drbd_of(n.name)
        drbd = (f"DRBD {d.role}/{d.disk} peer {d.peer_disk} {d.connection}"
                + (f" {d.replication} {d.sync_percent:.1f}%" if d.sync_percent is not None else "")) if d else \
            "DRBD down"
        running = f" (runs {n.axigen_running})" if n.axigen_running else ""
        out.append(f"  {n.name:10} {n.state:11} axigen {n.axigen_version or '-':10}{running} {drbd}")
        links = [l for l in state.links if l.node == n.name]
        out.append("  " + " " * 10 + " links: " + ", ".join(f"link{l.link} {l.address} {l.peer_state}" for l in links))
    for f in state.fencing:
        out.append(f"  fence {f['id']}: {f['role']}" + (f" on {f['node']}" if f["node"] else ""))
    for a in state.service_answers:
        out.append(f"  {a.protocol.upper()} on the VIP: " + (a.banner if a.ok else f"NO ANSWER ({a.error})"))
    if state.quorum_device is not None:
        qd = state.quorum_device
        seen = ", ".join(f"{name} {'vote' if v['vote'] else 'NO VOTE'} ({v['state'] or v['error'] or '?'}, "
                         f"{v['total_votes']}/{v['expected_votes']} votes)" for name, v in qd["nodes"].items())
        out.append(f"  quorum device {qd['host']}:{qd['port']} {qd['algorithm']}: {seen}")
    if state.warnings:
        out.append("attention:")
        out.extend(f"  {'!!' if w.loud else ' -'} {w.text}" for w in state.warnings)
    else:
        out.append("all healthy")
    return "\n".join(out)


def _status_code(state) -> int:
    return 1 if any(w.loud for w in state.warnings) else 0


def cmd_status(args) -> int:
    from axha.steps.maint.status import read_state

    def body(ctx) -> int:
        while True:
            state = read_state(ctx)
            if args.json:
                print(json.dumps(state.to_json(), indent=None if args.watch else 1), flush=True)
            else:
                if args.watch:
                    print("\033[2J\033[H", end="")
                print(format_status(state), flush=True)
            if not args.watch:
                return _status_code(state)
            time.sleep(args.watch)
    try:
        return _run(args, body)
    except KeyboardInterrupt:
        return 0


# ---------------------------------------------------------------- switchover


def cmd_switchover(args) -> int:
    from axha.steps.maint.switchover import Switchover

    def body(ctx) -> int:
        report = Switchover(ctx, args.to, _emitter(args), timeout=args.timeout).run(plan_only=args.plan)
        if args.json:
            print(json.dumps(report.to_dict(), indent=1))
        else:
            for gate in report.gates:
                if gate.status != "PASS":
                    print(f"   {gate.status} [{gate.node or '-'}] {gate.code}: {gate.summary}"
                          + (f"\n      -> {gate.remedy}" if gate.remedy else ""))
            print(("OK: " if report.ok else "REFUSED: " if report.refused else "FAILED: ") + report.message)
            if report.gap is not None:
                print(f"   service gap (SMTP on the VIP): {report.gap.longest_gap:.2f} s "
                      f"({report.gap.failures}/{report.gap.polls} polls unanswered); total {report.duration:.1f} s")
            for w in report.warnings:
                print(f"   warning: {w}")
        return 0 if report.ok else 1
    return _run(args, body)


# ---------------------------------------------------------------- upgrade


def cmd_upgrade(args) -> int:
    from axha.steps.maint.upgrade import Upgrade

    def body(ctx) -> int:
        up = Upgrade(ctx, package=args.package, version=args.version, switch_back=args.switch_back,
                     emit=_emitter(args), accept_license=args.accept_license)
        report = up.run(plan_only=args.plan, restart=args.restart)
        return _report(args, report)
    return _run(args, body)


# ---------------------------------------------------------------- actions


def _action(args, call) -> int:
    from axha.steps.maint.actions import Actions
    return _run(args, lambda ctx: _report(args, call(Actions(ctx, _emitter(args), plan_only=args.plan))))


def cmd_standby(args) -> int:
    return _action(args, lambda a: a.standby(args.node, True))


def cmd_unstandby(args) -> int:
    return _action(args, lambda a: a.standby(args.node, False))


def cmd_maintenance(args) -> int:
    return _action(args, lambda a: a.maintenance(args.mode == "on"))


def cmd_cleanup(args) -> int:
    return _action(args, lambda a: a.cleanup())


def cmd_clear_constraints(args) -> int:
    return _action(args, lambda a: a.clear_constraints())


def cmd_verify_drbd(args) -> int:
    return _action(args, lambda a: a.verify_drbd())


def cmd_backup(args) -> int:
    def call(a):
        from axha.steps.session import state_dir
        return a.backup(args.output or (state_dir(a.spec) / "backups"))
    return _action(args, call)


def cmd_split_brain(args) -> int:
    return _action(args, lambda a: a.split_brain_recover(args.discard))
