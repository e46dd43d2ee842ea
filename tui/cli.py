"""The `axha` command: the TUI by default, subcommands contributed by tui.cmd_* modules, `lab` for the lab."""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from pathlib import Path

from axha.tui.clihelp import fail

COMMAND_MODULES = ("axha.tui.cmd_preflight", "axha.tui.cmd_install", "axha.tui.cmd_maint",
                   "axha.tui.cmd_replace", "axha.tui.cmd_qdevice")

DESCRIPTION = """\
axha installs and maintains a two-node active/passive Axigen mail cluster:
DRBD (or a shared array) + Corosync/Pacemaker + IPMI fencing.

Run without a command to open the wizard (a terminal UI). Every step it takes
is also available as a command below, for scripts and for admins who prefer a
shell. Commands that change a cluster show their plan first; --plan prints the
exact commands per node without running them."""

EPILOG = """\
exit codes:
  0  ok
  1  problems found, or the operation failed (the message says what to do)
  2  bad usage or bad input (cluster file, secrets file, arguments)

files:
  cluster file   YAML, no secrets (see README.md "Cluster file")
  secrets file   <cluster>.secrets.yaml beside it, mode 0600, or AXHA_* env vars
  audit log      /var/log/axha/<cluster>/audit.jsonl as root, else ~/.local/state/axha/...

examples:
  axha --cluster axha.yaml                 the wizard
  axha validate --cluster axha.yaml        check a cluster file
  axha preflight --cluster axha.yaml       are both servers ready?
  axha install --cluster axha.yaml --plan  what would install do?
  axha lab up                              a two-node lab on this machine (root)"""


class Parser(argparse.ArgumentParser):
    """argparse with a hint line on errors (exit 2, never a traceback)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n  -> run `{self.prog} --help` for the options\n")


def common_parser() -> argparse.ArgumentParser:
    """The options every command accepts (pass as parents=[common] to add_parser)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    # SUPPRESS: a value given before the command (axha --cluster F status) is not reset by the subparser
    group.add_argument("--cluster", metavar="FILE", default=argparse.SUPPRESS,
                       help="the cluster file (default: $AXHA_CLUSTER, ./axha.yaml or ./axha-lab.yaml)")
    group.add_argument("--secrets", metavar="FILE", default=argparse.SUPPRESS,
                       help="the secrets file (default: secrets_file in the cluster file, else "
                            "<cluster>.secrets.yaml beside it); must be mode 0600")
    group.add_argument("--json", action="store_true", help="machine-readable output: one JSON object per line")
    group.add_argument("--yes", action="store_true",
                       help="non-interactive: confirm questions without asking (unknown SSH host keys are still "
                            "refused: put them in known_hosts first)")
    group.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks of unexpected errors")
    return common


def build_parser(plugins: bool = True) -> tuple[argparse.ArgumentParser, list[str]]:
    """The full parser, and the list of command modules that failed to load (reported, not fatal).
    plugins=False: without the tui.cmd_* commands (starting the wizard does not need to import them)."""
    common = common_parser()
    parser = Parser(prog="axha", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cluster", metavar="FILE", help="the cluster file to open in the wizard")
    parser.add_argument("--secrets", metavar="FILE", help="the secrets file (mode 0600)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    validate = sub.add_parser("validate", parents=[common], help="check a cluster file and print what it means",
                              description="Read the cluster file, validate every key, and print the parsed "
                                          "cluster (or the first problem, with file, line and key). Exit 0 when "
                                          "valid, 2 when not.")
    validate.set_defaults(func=cmd_validate)
    sub.add_parser("lab", help="the two-node lab on this machine: axha lab up|down|status|exec|power|... "
                               "(run `axha lab --help`)", add_help=False)
    broken: list[str] = []
    for name in COMMAND_MODULES if plugins else ():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that part of axha is not installed yet
            broken.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # one broken command module must not take down the others
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        module.register(sub, common)
    return parser, broken


class _VersionAction(argparse.Action):
    """argparse's "version" action, looking the version up only when asked (importlib.metadata costs ~18 ms
    of every command's start otherwise)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"axha {_version()}")
        parser.exit()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("axha")
    except Exception:  # running from a source tree that was never installed
        return "(source tree)"


def cmd_validate(args) -> int:
    import json

    from axha.steps.spec_load import load_cluster
    from axha.steps.spec_save import spec_to_dict
    from axha.tui.clihelp import cluster_path

    spec = load_cluster(cluster_path(args))
    if args.json:
        print(json.dumps({"ok": True, "path": spec.path, "cluster": spec_to_dict(spec)}))
        return 0
    from axha.steps.spec_save import dump_cluster

    print(f"{spec.path}: valid cluster file for cluster {spec.name!r} "
          f"(nodes {spec.nodes[0].name} and {spec.nodes[1].name}, storage {spec.storage.mode})\n")
    print(dump_cluster(spec), end="")
    return 0


def lab_command() -> str | None:
    """The lab's own command (`axha-lab`, of the separate axha-lab distribution): beside this interpreter (a venv),
    else on PATH; None when the lab is not installed (an admin's install)."""
    beside = Path(sys.executable).parent / "axha-lab"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("axha-lab")


def run_lab(argv: list[str], debug: bool) -> int:
    """`axha lab ...` is `axha-lab ...`: the product never imports the lab, it hands the command line over."""
    command = lab_command()
    if command is None:
        print("axha: the lab is not installed here (it is the separate axha-lab distribution: "
              "`pip install -e ./lab` in a checkout, or `./run wizard`)", file=sys.stderr)
        return 2
    try:
        os.execv(command, [command, *argv])
    except OSError as exc:
        return fail(exc, debug)
    return 2  # not reached: execv replaced this process


def _command_index(argv: list[str]) -> int | None:
    """Index of the command word in argv (skipping top-level options and their values), None if there is none."""
    skip_next = False
    for i, word in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if word in ("--cluster", "--secrets"):
            skip_next = True
            continue
        if word.startswith("-"):
            continue
        return i
    return None


def _split_lab(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """When the command is `lab`, (options before it, everything after it), else None."""
    i = _command_index(argv)
    if i is None or argv[i] != "lab":
        return None
    return argv[:i], argv[i + 1:]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from axha.steps.envsecrets import take_from_environment

    take_from_environment()  # AXHA_* secrets: read from here on, never inherited by a child process
    debug = "--debug" in argv or os.environ.get("AXHA_DEBUG") == "1"
    lab = _split_lab(argv)
    if lab is not None:
        return run_lab(lab[1], debug)
    wizard_only = _command_index(argv) is None and not {"-h", "--help"} & set(argv)
    try:
        parser, broken = build_parser(plugins=not wizard_only)
    except Exception as exc:  # noqa: BLE001
        return fail(exc, debug)
    for problem in broken:
        print(f"axha: warning: a command module failed to load ({problem})", file=sys.stderr)
    args = parser.parse_args(argv)  # exits 2 with a message on bad usage
    if args.command is None:
        return run_tui(args)
    try:
        return int(args.func(args) or 0)
    except BaseException as exc:  # noqa: BLE001 - fail() decides what to show
        if isinstance(exc, SystemExit):
            raise
        return fail(exc, getattr(args, "debug", False) or debug)


def run_tui(args) -> int:
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        print("axha: the wizard needs a terminal; use a command instead (see `axha --help`)", file=sys.stderr)
        return 2
    try:
        from axha.tui.app import AxhaApp

        app = AxhaApp(cluster_path=args.cluster, secrets_path=args.secrets)
        app.run()
        return int(app.return_code or 0)
    except BaseException as exc:  # noqa: BLE001
        return fail(exc, args.debug)


if __name__ == "__main__":
    sys.exit(main())
