"""`axha lab ...` command line: up, down, status, exec, power, bmc, fault (lab.cli.main(argv) -> int)."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from axha_lab.layout import LabError, instance_from_env


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="axha lab", description="Two simulated cluster nodes on this machine.")
    p.add_argument("--instance", type=int, default=None, help="lab instance 0..9 (default $AXHA_LAB_INSTANCE or 0)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("up", help="create or repair the lab (safe to repeat)")
    s.add_argument("--profile", help="built-in profile name or a directory with node1/ and node2/")
    s.add_argument("--cluster-file", help="where to write the cluster file (default ./axha-lab.yaml)")
    s.add_argument("--arbiter", action=argparse.BooleanOptionalAction, default=None,
                   help="add (--arbiter) or remove (--no-arbiter) a third host running corosync-qnetd for a quorum "
                   "device, named in the cluster file's quorum_device (default: keep what the lab has)")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s = sub.add_parser("down", help="remove the lab and everything it created")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s = sub.add_parser("reset", help="power-cycle both nodes back to their state right after `lab up`")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s = sub.add_parser("reinstall", help="bring a node back as new hardware with a fresh OS (new SSH host keys; "
                       "the lab's known_hosts keeps the old ones)")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s.add_argument("node")
    s.add_argument("--new-disk", action="store_true", help="and a blank new backing disk")
    s.add_argument("--new-bmc", action="store_true", help="and a new BMC address (written into the cluster file)")
    s = sub.add_parser("status", help="show nodes, BMCs, files")
    s.add_argument("--json", action="store_true")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s = sub.add_parser("exec", help="run a command inside a node or the arbiter: lab exec node1 -- hostname")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s.add_argument("node")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s = sub.add_parser("power", help="power a node (or the arbiter) on, off (a power cut) or cycle it")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s.add_argument("node")
    s.add_argument("action", choices=["on", "off", "cycle", "status"])
    s = sub.add_parser("bmc", help="start or stop a node's IPMI BMC")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s.add_argument("node")
    s.add_argument("action", choices=["start", "stop"])
    s = sub.add_parser("fault", help="inject a network fault inside a node: loss IFACE PCT | rate IFACE KBIT | clear")
    s.add_argument("--instance", type=int, default=argparse.SUPPRESS)
    s.add_argument("node")
    s.add_argument("kind", choices=["loss", "rate", "clear"])
    s.add_argument("args", nargs="*")
    return p


def _exec_instance(args: argparse.Namespace) -> None:
    """`lab exec node1 --instance N -- cmd`: REMAINDER swallowed --instance N; take it back (never run the command
    in the wrong lab instance)."""
    cmd = list(args.cmd)
    while cmd[:1] and (cmd[0] == "--instance" or cmd[0].startswith("--instance=")):
        raw = cmd[0].partition("=")[2] if "=" in cmd[0] else (cmd[1] if len(cmd) > 1 else "")
        cmd = cmd[1:] if "=" in cmd[0] else cmd[2:]
        try:
            args.instance = int(raw)
        except ValueError:
            raise LabError(f"--instance needs a number 0..9, got {raw!r}") from None
    args.cmd = cmd


def _print_status(st: dict) -> None:
    print(f"lab instance {st['instance']} (profile {st.get('profile')}), state {st['state_dir']}")
    for n in st["nodes"]:
        print(f"  {n['name']}: power {n['power']}, ssh root@{n['ssh_address']}:{n['ssh_port']}, "
              f"BMC {n['bmc']} at {n['bmc_address']}:{n['bmc_port']} (user {n['bmc_user']})")
    a = st.get("arbiter")
    if a:
        print(f"  {a['name']}: power {a['power']}, ssh root@{a['ssh_address']}:{a['ssh_port']}, corosync-qnetd on "
              f"port {a['qnetd_port']}")
    print(f"  VIP {st['vip']}, shared disk {st['shared_device']}")
    print(f"  ssh key {st['ssh_key']}, known_hosts {st['known_hosts']}")
    print(f"  cluster file {st['cluster_file']}, secrets {st['secrets_file']}")
    for version, path in sorted(st["packages"].items()):
        print(f"  axigen {version}: {path}")
        installer = Path(path).with_name(f"axigen-{version}.x86_64.deb.run")  # lab.axigen.build.run_name
        if installer.exists():
            print(f"  axigen {version} installer: {installer}")


def _run(args: argparse.Namespace) -> int:
    from axha_lab import bmc_procs, core, faults, nodes
    from axha_lab.host import require_root
    from axha_lab.layout import Layout

    if args.command == "exec":
        _exec_instance(args)
    instance = instance_from_env(args.instance)
    Layout(instance)  # validates the range
    if args.command == "status":
        st = core.status(instance)
        print(json.dumps(st, indent=2)) if args.json else _print_status(st)
        return 0
    require_root()
    if args.command == "up":
        st = core.up(instance, args.profile, args.cluster_file, args.arbiter)
        _print_status(st)
    elif args.command == "reset":
        _print_status(core.reset(instance))
    elif args.command == "reinstall":
        from axha_lab.reinstall import reinstall
        _print_status(reinstall(instance, args.node, new_disk=args.new_disk, new_bmc=args.new_bmc))
    elif args.command == "down":
        core.down(instance)
        print(f"lab instance {instance} is down")
    elif args.command == "exec":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            raise LabError("give a command: axha lab exec node1 -- hostname")
        if sys.stdin.isatty() and sys.stdout.isatty():
            # the host's terminal has no name in the node's private /dev: give the command a node-side pty
            cmd = ["script", "-qefc", shlex.join(cmd), "/dev/null"]
        argv = nodes.exec_argv(instance, Layout(instance).machine(args.node).name, cmd)
        return subprocess.run(argv).returncode
    elif args.command == "power":
        Layout(instance).machine(args.node)
        if args.action in ("off", "cycle"):
            nodes.power_off(instance, args.node)
        if args.action in ("on", "cycle"):
            nodes.power_on(instance, args.node)
        print(f"{args.node}: power {nodes.power_state(instance, args.node)}")
    elif args.command == "bmc":
        Layout(instance).node(args.node)
        (bmc_procs.bmc_start if args.action == "start" else bmc_procs.bmc_stop)(instance, args.node)
        print(f"{args.node}: BMC {'running' if bmc_procs.bmc_pids(instance, args.node) else 'stopped'}")
    elif args.command == "fault":
        faults.apply(instance, args.node, args.kind, args.args)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except LabError as exc:
        print(f"axha lab: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"axha lab: permission denied on {exc.filename or 'a lab file'}: run it as root", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
