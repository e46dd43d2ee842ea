"""Helpers shared by the `axha <command>` handlers: load the cluster, open a context, print events, fail cleanly."""
from __future__ import annotations

import getpass
import json
import os
import sys
import traceback
from pathlib import Path

from axha.steps.errors import AxhaError, InputError

DEFAULT_CLUSTER_FILES = ("axha.yaml", "axha-lab.yaml")


def cluster_path(args) -> str:
    """--cluster FILE, else $AXHA_CLUSTER, else ./axha.yaml or ./axha-lab.yaml when present."""
    path = getattr(args, "cluster", None) or os.environ.get("AXHA_CLUSTER")
    if path:
        return path
    for name in DEFAULT_CLUSTER_FILES:
        if Path(name).exists():
            return name
    raise InputError("no cluster file given", remedy="Pass --cluster FILE (create one with `axha` or "
                                                     "`axha lab up`), or set AXHA_CLUSTER.")


def seconds(low: float, high: float):
    """An argparse type: a finite number of seconds in [low, high] (never nan, inf or negative)."""
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds from {low:g} to {high:g}")
        return value

    parse.__name__ = "seconds"
    return parse


def output_dir(text: str) -> str:
    """An argparse type: a directory to write into, existing or creatable (its nearest existing ancestor is a
    directory this user may write), never /dev/null/x or a file."""
    import argparse

    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {ancestor} is not a directory, so nothing can be created under it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: no permission to write in {ancestor}")
    return str(path)


def output_file(text: str) -> str:
    """An argparse type: a file to (re)write, in an existing directory this user may write; not a directory."""
    import argparse

    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {parent} is not an existing directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: no permission to write in {parent}")
    return str(path)


def interactive(args) -> bool:
    return not getattr(args, "yes", False) and sys.stdin.isatty() and not getattr(args, "json", False)


def load_for_cli(args, need_bmc: bool = False):
    """(spec, secrets) for a command: the cluster file, then secrets from env / secrets file / a prompt."""
    from axha.steps.secrets import load_secrets
    from axha.steps.spec_load import load_cluster

    spec = load_cluster(cluster_path(args))
    prompt = (lambda text: getpass.getpass(text + ": ")) if interactive(args) else None
    secrets = load_secrets(spec, getattr(args, "secrets", None), prompt=prompt, need_bmc=need_bmc)
    return spec, secrets


def ask_host_key(error) -> bool:
    """Terminal prompt for an unknown host key, like OpenSSH's."""
    print(f"The authenticity of host {error.hostname} ({error.node}) can't be established.\n"
          f"{error.key_type} key fingerprint is {error.fingerprint}.", file=sys.stderr)
    try:
        answer = input("Are you sure you want to continue connecting (yes/no)? ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"


def confirm_on_terminal(question) -> bool:
    """Typed confirmation: the admin types the expected text (or `yes` when none is set)."""
    expected = question.expected or "yes"
    print(f"\n{question.title}\n{question.details}", file=sys.stderr)
    try:
        answer = input(f"Type {expected!r} to continue, anything else to stop: ")
    except EOFError:
        return False
    return answer.strip() == expected


def confirm_start(args, refusal: str, question: str) -> bool:
    """Before a command changes a cluster: --yes (or --plan) goes on; a terminal asks for a typed `yes`; without
    one the command is refused (InputError `refusal`: run it on a terminal or pass --yes)."""
    if getattr(args, "plan", False) or getattr(args, "yes", False):
        return True
    if not interactive(args):
        from axha.steps.errors import InputError
        raise InputError(refusal, remedy="Run it on a terminal, or pass --yes (see the commands first with --plan).")
    print(question, file=sys.stderr)
    try:
        return input("Type 'yes' to start: ").strip() == "yes"
    except EOFError:
        return False


def context_for_cli(args, spec, secrets, journal: str | None = None):
    """A Context for a command. Unknown host keys: prompt on the terminal; with --yes (or no terminal) they are
    refused, never auto-accepted. Confirmations: --yes accepts them, a terminal asks, else refused."""
    from axha.steps.session import open_context

    yes = getattr(args, "yes", False)
    accept = ask_host_key if interactive(args) else None
    if yes:
        def ask(question):
            print(f"(--yes) confirmed: {question.title}", file=sys.stderr)
            return True
    elif interactive(args):
        ask = confirm_on_terminal
    else:
        def ask(question):
            print(f"not confirmed (no terminal; pass --yes to confirm): {question.title}", file=sys.stderr)
            return False

    def confirm(question):
        if getattr(question, "by_command", False):   # the command line named the operation and its target
            print(f"(the command line) confirmed: {question.title}", file=sys.stderr)
            return True
        return ask(question)
    return open_context(spec, secrets, accept_host_key=accept, confirm=confirm, journal=journal,
                        options={"plan": getattr(args, "plan", False), "yes": yes})


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "?"
    value = int(value)
    return f"{value // 3600}h{value % 3600 // 60:02d}m" if value >= 3600 else f"{value // 60}m{value % 60:02d}s"


def format_event(event) -> str | None:
    """One human line for an engine event (None: nothing to show)."""
    kind = type(event).__name__
    if kind == "StepStarted":
        return f"== {event.title or event.step_id}"
    if kind == "PlanReady":
        return "\n".join(f"   [{a.node}] $ {a.command}    # {a.why}" for a in event.actions) or None
    if kind == "ActionStarted":
        return f"   [{event.node}] $ {event.command}    # {event.why}"
    if kind == "OutputLine":
        return f"   [{event.node}] {event.line}"
    if kind == "Progress":
        pct = 100.0 * event.done / event.total if event.total else 0.0
        rate = f", {event.rate:.1f} {event.unit}/s" if event.rate else ""
        return f"   [{event.node}] {event.label} {pct:5.1f}%{rate}, ETA {_fmt_seconds(event.eta)}"
    if kind == "ActionFinished":
        return None if event.rc == 0 else f"   [{event.node}] exited {event.rc} after {event.duration:.1f} s"
    if kind == "StepFinished":
        line = f"-> {event.step_id}: {event.status}" + (f" ({event.message})" if event.message else "")
        if event.status == "failed":   # what refused it, with its code and how to fix it
            line += "".join("\n" + format_finding(f) for f in event.findings if f.status == "FAIL")
        return line
    if hasattr(event, "to_dict"):
        return format_finding(event)
    return str(event)


def format_finding(finding) -> str:
    where = f"[{finding.node}] " if finding.node else ""
    text = f"{finding.status:4}  {where}{finding.code}: {finding.summary}"
    return text + (f"\n      -> {finding.remedy}" if finding.remedy and finding.status != "PASS" else "")


def print_event(event, json_mode: bool = False) -> None:
    """Print an engine event: one JSON object per line with --json, else a human line."""
    if json_mode:
        from axha.steps.framework import event_to_dict

        data = event.to_dict() if hasattr(event, "to_dict") and not hasattr(event, "step_id") else event_to_dict(event)
        print(json.dumps(data), flush=True)
        return
    line = format_event(event)
    if line:
        print(line, flush=True)


def fail(exc: BaseException, debug: bool = False) -> int:
    """Report an exception on stderr and return the exit code: AxhaError -> its message, remedy and code;
    anything else -> one line and a hint to run with --debug (the traceback only with --debug)."""
    if isinstance(exc, BrokenPipeError):  # `axha status | head`: the reader left; not an error
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    if isinstance(exc, KeyboardInterrupt):
        print("axha: interrupted", file=sys.stderr)
        return 130
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, AxhaError):
        print(f"axha: {exc.explain()}", file=sys.stderr)
        return exc.exit_code
    print(f"axha: unexpected error: {type(exc).__name__}: {exc}" + ("" if debug else " (run with --debug for "
                                                                     "details)"), file=sys.stderr)
    return 1
