"""Guided rolling upgrade of Axigen: passive node first, switchover, verify, other node; journaled and resumable."""
from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from axha.steps import axigen, axigen_versions, names
from axha.steps.errors import AxhaError, InputError
from axha.steps.files import FileProblem, read_regular
from axha.steps.framework import FAIL, Action, Finding, OutputLine, Step, run_steps
from axha.steps.maint.backup import make_backup
from axha.steps.maint.status import read_state, service_answers
from axha.steps.maint.backup import backup_argv
from axha.steps.maint.switchover import Switchover, clear_argv, move_argv, switchover_gates

REMOTE_PKG_DIR = "/var/cache/axha"
STAGES = ("gates", "backup", "upload", "upgrade-first", "switchover", "verify-new", "upgrade-second",
          "switch-back", "final")
DPKG_TIMEOUT = 300
# Axigen's rpm installer honours this (AXIGEN.md "Package and processes"); passed to every installer axha runs.
# Whether a .deb honours it is unknown, so the passive node is checked afterwards and Axigen stopped there.
DONT_START = "AXIGEN_INSTALL_DONT_START_SERVICE=yes"
RUNNING_PATTERN = "/opt/axigen/bin/[a]xigen"   # [a]: the pattern never matches the command line that holds it
RUN_NAME = re.compile(r"axigen-(?P<version>\d+(?:\.\d+)+(?:-\d+)?)\.[A-Za-z0-9_]+\.(?P<kind>deb|rpm)\.run")
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]{0,63}")
VERSION_TEXT = re.compile(r"[0-9][A-Za-z0-9.+~:-]{0,63}")
CLI_WAIT = 60.0


def _noop(_event) -> None:
    pass


@dataclass(frozen=True)
class UpgradeReport:
    ok: bool
    message: str
    stages: tuple[tuple[str, str, str], ...] = ()     # (stage, state, message)
    versions: tuple[tuple[str, str | None], ...] = ()
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"ok": self.ok, "message": self.message,
                "stages": [{"stage": s, "state": st, "message": m} for s, st, m in self.stages],
                "versions": dict(self.versions), "details": list(self.details)}


def _local(argv: list[str], what: str, remedy: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                             env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    except FileNotFoundError:
        raise InputError(f"{argv[0]} is needed on this machine to read {what}", remedy=remedy) from None
    except subprocess.TimeoutExpired:
        raise InputError(f"{argv[0]} did not answer within 30 s reading {what}") from None
    if out.returncode != 0 or not out.stdout.strip():
        raise InputError(f"{what} is not readable: {out.stderr.strip()[:200]}",
                         remedy="Pass the Axigen package (.deb, .rpm or the vendor's .run installer).")
    return out.stdout.strip()


def deb_field(path: str, field: str) -> str:
    """A control field of a local .deb (dpkg-deb -f)."""
    return _local(["dpkg-deb", "-f", path, field], f"{path} (a .deb)",
                  "apt-get install dpkg, or pass --version instead of --package")


def rpm_field(path: str, tag: str) -> str:
    """A header tag of a local .rpm (rpm -qp --qf)."""
    return _local(["rpm", "-qp", "--qf", "%{" + tag + "}", path], f"{path} (an .rpm)",
                  "install rpm on this machine, or pass --version instead of --package")


# a package file's name goes into a remote path, the plan and the audit log: plain characters only
PACKAGE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,199}")
MAX_PACKAGE_BYTES = 4 << 30   # Axigen's packages are a few hundred MB; the upload holds the file in memory


def check_package_file(path: str) -> str:
    """The absolute path of `path` if it names a regular file of at most MAX_PACKAGE_BYTES with a plain name
    (InputError otherwise). Opened without blocking, so a FIFO is refused instead of hanging dpkg-deb; the absolute
    form never reads as an option to dpkg-deb, rpm or tar."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise InputError("--package: the path holds a control character", remedy="Pass the path of the package file.")
    absolute = os.path.abspath(path)
    name = Path(absolute).name
    if not PACKAGE_FILE_NAME.fullmatch(name):
        raise InputError(f"--package {name!r}: a package file name is letters, digits and . _ + ~ - only",
                         remedy="Rename the file (e.g. axigen_10.5.1-1_amd64.deb) or copy it under a plain name.")
    try:
        fd = os.open(absolute, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise InputError(f"{path}: no such package file",
                         remedy="Pass the path of the Axigen .deb, .rpm or the vendor's .run installer.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open the package file: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file", remedy="Pass the path of the package file itself.")
    if st.st_size > MAX_PACKAGE_BYTES:
        raise InputError(f"{path}: {st.st_size} bytes, more than the {MAX_PACKAGE_BYTES} an Axigen package has",
                         remedy="Pass the Axigen package (.deb, .rpm or the vendor's .run installer).")
    return absolute


def read_package_bytes(path: str) -> bytes:
    """The package file's bytes, from the descriptor whose type and size were checked (it could have been swapped
    for a FIFO or a device since the plan was made)."""
    try:
        data, _ = read_regular(path, MAX_PACKAGE_BYTES)
    except FileProblem as problem:
        raise InputError(f"{path}: {problem}") from None
    return data


@dataclass(frozen=True)
class PackageFile:
    """The package the admin gave: its kind (deb | rpm | run), name and version, read before anything runs."""

    path: str
    kind: str
    name: str
    version: str
    wrapped: str = ""       # deb | rpm: what a vendor .run installer wraps

    @property
    def remote(self) -> str:
        return f"{REMOTE_PKG_DIR}/{Path(self.path).name}"

    @property
    def extract_dir(self) -> str:
        return f"{REMOTE_PKG_DIR}/{Path(self.path).name}.d"


def read_package(path: str, expected_name: str) -> PackageFile:
    """What kind of package `path` is and which version it carries (InputError for anything else)."""
    path = check_package_file(path)
    name = Path(path).name
    if name.endswith(".run"):
        m = RUN_NAME.fullmatch(name)
        if not m:
            raise InputError(f"{path}: a vendor installer is named axigen-<version>.<arch>.deb.run or .rpm.run",
                             remedy="Pass the installer under its original name, or the .deb/.rpm inside it.")
        return PackageFile(path, "run", expected_name, m.group("version"), m.group("kind"))
    if name.endswith(".rpm"):
        return PackageFile(path, "rpm", rpm_field(path, "NAME"),
                           f"{rpm_field(path, 'VERSION')}-{rpm_field(path, 'RELEASE')}")
    return PackageFile(path, "deb", deb_field(path, "Package"), deb_field(path, "Version"))


def installed_version_argv(package: str) -> tuple[str, ...]:
    return axigen_versions.package_version_argv(package)


def service_status_argv(service: str) -> tuple[str, ...]:
    return (f"/etc/init.d/{service}", "status")


def service_stop_argv(service: str) -> tuple[str, ...]:
    return (f"/etc/init.d/{service}", "stop")


def running_argv() -> tuple[str, ...]:
    """Is an Axigen process running on the node (started by an installer, whatever the init system says)?"""
    return ("pgrep", "-f", RUNNING_PATTERN)


def old_layout_argv(workdir: str) -> tuple[str, ...]:
    """The pre-10.4 directories found in the working directory (one per line)."""
    return ("sh", "-c", 'for d in "$@"; do [ -d "$0/$d" ] && echo "$d"; done; exit 0', workdir, *axigen.PRE_10_4_DIRS)


class UpgradeStage(Step):
    """One stage of the rolling upgrade as an engine step. A stage the journal calls done is skipped only while
    the cluster agrees (Upgrade.still_done); the gates and the verifications only read and judge (their work is
    in check()), the others show their commands per node (plan), ask (Upgrade.confirmation) and run (apply)."""

    READS_ONLY = ("gates", "verify-new", "final")

    def __init__(self, up: "Upgrade", stage: str, target: str):
        self.up, self.stage, self.target = up, stage, target
        self.id, self.title = stage, stage.replace("-", " ").capitalize()
        self.skip, self.ran = False, False

    def _method(self):
        return getattr(self.up, "stage_" + self.stage.replace("-", "_"))

    def check(self, ctx) -> list[Finding]:
        journal = self.up.journal
        if journal.state(self.stage) == "done":
            if self.up.still_done(self.stage, self.target):
                self.skip = True
                self.outcome = f"done earlier: {journal.entry(self.stage).get('message', '')}"
                return []
            self.up.say(self.stage, "-", f"the journal says '{self.stage}' is done, but the cluster says otherwise: "
                        "redoing it")
            journal.mark(self.stage, "pending", "re-checked: not done")
        if self.stage in self.READS_ONLY and (self.stage == "gates" or not ctx.options.get("plan")):
            self.outcome = self._method()(self.target, bool(ctx.options.get("plan")))
            self.ran = True
        return []

    def plan(self, ctx) -> list[Action]:
        if self.skip or self.stage in self.READS_ONLY:
            return []
        if self.stage == "upload" and self.up.pkg is None:
            self.outcome, self.ran = f"version {self.target} comes from the nodes' repositories", True
            return []
        return self.up.stage_plan(self.stage, self.target)

    def confirmation(self, ctx, plan: list[Action]):
        return self.up.confirmation(self.stage, self.target)

    def apply(self, ctx, plan: list[Action], emit) -> None:
        self.outcome = self._method()(self.target, False)

    def finished_status(self) -> str:
        return "done" if self.ran else "skipped"


class Upgrade:
    """Stages in STAGES order; each checks the real state first, so a re-run after a crash finishes the job.

    What the upgrade never does: start Axigen on a node that does not hold the data (the installers get
    AXIGEN_INSTALL_DONT_START_SERVICE=yes, and an Axigen an installer started anyway is stopped at once), or write
    into the shared working directory: what a new version must refresh there is unknown (AXIGEN.md), so Axigen's
    own first start on the upgraded node does whatever it does, and a pre-10.4 layout is refused."""

    def __init__(self, ctx, *, package: str | None = None, version: str | None = None, switch_back: bool = False,
                 emit: Callable = _noop, local_backup_dir: str | Path | None = None, accept_license: bool = False):
        if not package and not version:
            raise InputError("give --package PATH or --version VERSION")
        if package:
            package = check_package_file(package)
        if version is not None and not VERSION_TEXT.fullmatch(version):
            raise InputError(f"--version {version!r}: expected a package version such as 10.5.1 or 10.5.1-1")
        self.ctx, self.package, self.version, self.switch_back, self.emit = ctx, package, version, switch_back, emit
        self.accept_license = accept_license
        self.spec = ctx.spec
        self.pkg_name = ctx.spec.axigen.package
        if not PACKAGE_NAME.fullmatch(self.pkg_name):
            raise InputError(f"axigen.package {self.pkg_name!r} is not a package name (letters, digits, + . -)")
        self.service = ctx.spec.axigen.service
        self.local_backup_dir = local_backup_dir
        self.pkg: PackageFile | None = None
        self.journal = ctx.journal
        if self.journal is None:
            from axha.steps.session import open_journal
            self.journal = open_journal(ctx.spec, "upgrade")

    # ------------------------------------------------------------ journal helpers

    def data(self) -> dict:
        return self.journal.entry("gates").get("data", {})

    def say(self, stage: str, node: str, line: str) -> None:
        self.emit(OutputLine(stage, node, line))

    def installed(self, node: str) -> str | None:
        """The package database's version of Axigen on `node` (dpkg or rpm)."""
        result = self.ctx.runner(node).run(installed_version_argv(self.pkg_name), timeout=30)
        return axigen_versions.parse_package_version(result.rc, result.stdout)

    def binary(self, node: str) -> str | None:
        result = self.ctx.runner(node).run(axigen_versions.binary_version_argv(), timeout=30)
        return axigen_versions.parse_binary_version(result.stdout + result.stderr) if result.rc == 0 else None

    def running_version(self, node: str) -> str | None:
        result = self.ctx.runner(node).run(axigen_versions.cli_version_argv(), timeout=15)
        return axigen_versions.parse_cli_version(result.stdout) if result.rc == 0 else None

    # ------------------------------------------------------------ the run

    def target(self) -> str:
        if not self.package:
            return self.version or ""
        self.pkg = read_package(self.package, self.pkg_name)
        if self.pkg.name != self.pkg_name:
            raise InputError(f"{self.package} is the {self.pkg.name} package, not {self.pkg_name}")
        if self.pkg.kind == "run" and not self.accept_license:
            raise InputError(f"{Path(self.package).name} is Axigen's own installer: it asks you to accept Axigen's "
                             "licence", remedy="Read the licence (run the installer by hand once, or see axigen.com) "
                             "and pass --accept-license; axha then extracts the installer on the nodes "
                             "(--noexec --target) and installs the package inside it.")
        return self.pkg.version

    def run(self, *, plan_only: bool = False, restart: bool = False) -> UpgradeReport:
        """The stages as steps of the one engine (UpgradeStage through run_steps, in the upgrade's own journal,
        bound to the cluster instance first): each re-checks the real state, shows its commands, asks, runs."""
        target = self.target()
        if plan_only:
            import tempfile
            from axha.steps.journal import Journal
            self.journal = Journal(Path(tempfile.mkdtemp(prefix="axha-plan-")) / "upgrade.json", self.spec.name)
        else:
            self.bind_journal(restart)
        unfinished = any(self.journal.state(s) != "pending" for s in STAGES)
        if unfinished and self.data().get("target") not in (None, target):
            raise InputError(f"an unfinished upgrade to {self.data().get('target')} is in the journal",
                             remedy="Finish it with the same package, or pass --restart to start over.")
        if not plan_only and any(self.journal.state(s) in ("running", "failed") for s in ("switchover",
                                                                                        "switch-back")):
            self._clear_our_move(read_state(self.ctx, with_service=False))
        stages = [UpgradeStage(self, s, target) for s in STAGES if s != "switch-back" or self.switch_back]
        outer, self.ctx.journal = self.ctx.journal, self.journal
        try:
            run = run_steps(self.ctx, stages, self.emit, plan_only=plan_only, bound=True)
        finally:
            self.ctx.journal = outer
        done = tuple((f.step_id, f.status, f.message) for f in run.finished)
        if plan_only:
            gates = run.finished[0] if run.finished else None
            if not run.ok:
                return UpgradeReport(False, f"plan: the gates refuse: {run.finished[-1].message}", done,
                                     self.versions())
            return UpgradeReport(True, f"plan: {stages[0].outcome or (gates.message if gates else '')}", done,
                                 self.versions(), tuple(self.plan_lines(target)))
        if run.ok:
            return UpgradeReport(True, f"both nodes run {target}; " + done[-1][2], done, self.versions())
        stage, _, text = done[-1]
        if text.startswith("not confirmed"):
            return UpgradeReport(False, f"cancelled before '{stage}'; nothing was changed by this stage. Run the "
                                 "same command again to continue.", done, self.versions())
        return UpgradeReport(False, f"upgrade stopped at '{stage}': {text}\n{self.rollback_hint(stage)}", done,
                             self.versions())

    def bind_journal(self, restart: bool) -> None:
        """Obey the journal only when it belongs to this cluster instance and an unfinished upgrade: a journal of
        another installation is set aside (a re-installed pair gets the same cluster id), so is a finished one
        (kept as history), and --restart sets the current one aside."""
        from axha.steps.session import bind_opened_journal

        for note in bind_opened_journal(self.ctx, self.journal, "upgrade", final_steps=("final",),
                                        restart=restart):
            self.say("gates", "-", note)

    def still_done(self, stage: str, target: str) -> bool:
        """A stage the journal calls done is skipped only while the cluster agrees (a journal is a hint)."""
        d = self.data()
        try:
            if stage in ("upgrade-first", "upgrade-second"):
                node = d.get("first" if stage == "upgrade-first" else "second")
                return bool(node) and axigen_versions.same_version(self.installed(node), target)
            if stage == "switchover":
                return read_state(self.ctx, with_service=False).active_node == d.get("first")
        except AxhaError:
            return True   # unreachable now: the stage itself would fail the same way; keep the journal's word
        return True

    def stage_plan(self, stage: str, target: str) -> list[Action]:
        """The commands of a changing stage, per node, as the plan shows them (the stage's own method runs them,
        re-checking as it goes). Reads nothing that changes a node: a vendor installer is not extracted for it."""
        d = self.data()
        if stage == "backup":
            return [Action(n, backup_argv(self.spec, "<time>", n), f"archive the CIB and the configuration on {n}, "
                           "then copy it to this machine") for n in self.spec.node_names]
        if stage == "upload":
            if self.pkg is None:
                return []
            name = Path(self.pkg.path).name
            out = []
            for n in self.spec.node_names:
                out += [Action(n, ("mkdir", "-p", "-m", "0700", REMOTE_PKG_DIR), "a private directory for the package"),
                        Action(n, ("sha256sum", self.pkg.remote), f"upload {name} over SFTP unless it is there "
                               "already, then check its sha256")]
                if self.pkg.kind == "run":
                    out.append(Action(n, ("sh", self.pkg.remote, "--noexec", "--target", self.pkg.extract_dir),
                                      "extract the vendor installer only (you accepted the licence)"))
            return out
        if stage in ("upgrade-first", "upgrade-second"):
            node = d.get("first" if stage == "upgrade-first" else "second")
            if self.pkg is None:
                argv = self.install_argv(node)
            else:
                inside = f"{self.pkg.extract_dir}/<the .{self.pkg.wrapped} inside>" if self.pkg.kind == "run" else None
                argv = self.install_argv(node, inside or self.pkg.remote)
            return [Action(node, argv, f"install {self.pkg_name} {target} on {node} (passive; Axigen kept from "
                           "starting there, stopped if an installer starts it anyway)", timeout=DPKG_TIMEOUT),
                    Action(node, ("crm_resource", "--cleanup", "-r", names.SERVICE, "-N", node),
                           f"let Pacemaker re-probe {names.SERVICE} on {node}")]
        if stage in ("switchover", "switch-back"):
            to = d.get("first") if stage == "switchover" else d.get("original_active")
            return [Action(to, move_argv(to), f"switch the service over to {to} (gates, follow, the VIP answers)"),
                    Action(to, clear_argv(), "clear the move constraint")]
        return []

    def plan_lines(self, target: str) -> list[str]:
        d = self.data()
        first, second = d.get("first", "the passive node"), d.get("second", "the active node")
        install = " ".join(self.install_argv(first, "<remote>")) if self.pkg or not self.package else ""
        lines = [f"then: backup of both nodes' configuration (and {axigen.config_path()}) to this machine"]
        if self.pkg is not None:
            lines.append(f"then: upload {Path(self.pkg.path).name} to {REMOTE_PKG_DIR}/ on both nodes (sha256 checked)")
            if self.pkg.kind == "run":
                lines.append(f"then: on each node `sh {self.pkg.remote} --noexec --target {self.pkg.extract_dir}` "
                             "(extract only; you accepted the licence with --accept-license)")
        lines += [f"then: on {first} (passive): {install}",
                  f"then: on {first}: stop any Axigen the installer started (the data is not there); check "
                  f"the package database and `{axigen.BINARY} --version` say {target}",
                  f"then: switch the service over to {first}; GET VERSION on {first}'s CLI "
                  f"({axigen.CLI_HOST}:{axigen.CLI_PORT}) must answer {axigen_versions.upstream_version(target)}; "
                  "SMTP on the VIP must answer",
                  "then: nothing is written into the shared working directory by axha: Axigen's own first start "
                  "of the new version does what it needs (a pre-10.4 working directory is refused)",
                  f"then: on {second} (now passive): the same install and checks"]
        if self.switch_back:
            lines.append(f"then: switch the service back to {d.get('original_active', second)}")
        lines.append("then: final check: both nodes installed and running versions, VIP, no failed actions")
        return lines

    def confirmation(self, stage: str, target: str):
        """The question before each stage that changes a node or moves the service (None: no question)."""
        from axha.steps.framework import Confirmation
        d = self.data()
        texts = {
            "upgrade-first": (f"Install {self.pkg_name} {target} on {d.get('first')} (passive)?",
                              "The service keeps running on the other node."),
            "switchover": (f"Switch the service over to {d.get('first')} (now on {target})?",
                           "Mail pauses for the move (a few seconds)."),
            "upgrade-second": (f"Install {self.pkg_name} {target} on {d.get('second')} (now passive)?",
                               "The service keeps running on the upgraded node."),
            "switch-back": (f"Switch the service back to {d.get('original_active')}?",
                            "Mail pauses for the move (a few seconds)."),
        }
        if stage not in texts:
            return None
        title, details = texts[stage]
        return Confirmation(f"upgrade-{stage}", title, details)

    def versions(self) -> tuple[tuple[str, str | None], ...]:
        try:
            return tuple((n, self.installed(n)) for n in self.spec.node_names)
        except AxhaError:
            return ()

    def rollback_hint(self, stage: str) -> str:
        d = self.data()
        first, second, old = d.get("first", "?"), d.get("second", "?"), d.get("old_versions", {})
        backup = self.journal.entry("backup").get("data", {}).get("local", "the backup directory")
        return ("The cluster keeps serving mail from the node where it runs now (axha status). To continue: fix "
                "the cause and run the same `axha upgrade` again. To roll back instead: while the service runs "
                f"on {second}, reinstall the previous package ({old.get(first, 'the old version')}) on {first} "
                f"(with `axha upgrade --package <old package>`, or dpkg -i / rpm -U --oldpackage by hand with "
                f"{DONT_START}); configuration backup: {backup}.")

    # ------------------------------------------------------------ stages

    def stage_gates(self, target: str, plan_only: bool) -> str:
        d = self.data()
        state = read_state(self.ctx)
        versions = {n.name: n.axigen_version for n in state.nodes}
        for n in state.nodes:
            running = f", running {n.axigen_running}" if n.axigen_running else ""
            self.say("gates", n.name, f"{self.pkg_name} {n.axigen_version or 'not installed'}{running} "
                     f"(target {target})")
        if d.get("first"):
            return f"resuming: {d['first']} first, then {d['second']}"
        source, passive, findings = switchover_gates(state)
        failed = [f for f in findings if f.status == FAIL]
        for f in failed:
            self.say("gates", f.node or "-", f"{f.code}: {f.summary} -> {f.remedy}")
        if failed:
            raise AxhaError("the cluster is not ready for a rolling upgrade: " + "; ".join(f.summary for f in failed),
                            remedy="Fix the gates above, then run again.")
        old = self.ctx.runner(source).run(old_layout_argv(self.spec.storage.mount_point), timeout=30)
        found = [line.strip() for line in old.stdout.splitlines() if line.strip()] if old.rc == 0 else []
        if found:
            raise AxhaError(f"the working directory {self.spec.storage.mount_point} on {source} has the pre-10.4 "
                            f"layout ({', '.join(found)}/): what an upgrade must refresh there is not known, so "
                            "axha does not guess with the mail data", node=source,
                            remedy="Upgrade this installation by Axigen's own instructions for pre-10.4 working "
                                   "directories; axha's rolling upgrade works once the layout is 10.4 or newer.")
        self.journal.set_data("gates", first=passive, second=source, original_active=source, target=target,
                              old_versions=versions)
        if all(axigen_versions.same_version(v, target) for v in versions.values()):
            return f"both nodes already have {target} installed"
        now = ", ".join(f"{n} {v or 'none'}" for n, v in versions.items())
        return f"upgrade {passive} (passive) first, then {source} (active now): {now} -> {target}"

    def _clear_our_move(self, state) -> None:
        """A switchover interrupted by a crash leaves its cli-prefer behind: ours to clear when resuming."""
        ours = [c for c in state.leftover_constraints if c.kind in ("cli-prefer", "cli-ban")
                and c.resource == names.GROUP]
        if ours:
            node = state.active_node or state.node_names[0]
            self.say("gates", node, f"clearing the move constraint an interrupted switchover left: {ours[0].id}")
            self.ctx.runner(node).run(clear_argv(), timeout=30, mutating=True).check("crm_resource --clear")
            self.settle("gates")

    def stage_backup(self, target: str, plan_only: bool) -> str:
        local = self.local_backup_dir
        if local is None:
            from axha.steps.session import state_dir
            local = state_dir(self.spec) / "backups"
        made = make_backup(self.ctx, local, emit=lambda e: self.emit(e))
        self.journal.set_data("backup", **made)
        return f"backup {made['stamp']} on both nodes and in {made['local']}"

    def stage_upload(self, target: str, plan_only: bool) -> str:
        if not self.pkg:
            return f"version {target} comes from the nodes' repositories"
        data = read_package_bytes(self.pkg.path)
        digest = hashlib.sha256(data).hexdigest()
        remote = self.pkg.remote
        for node in self.spec.node_names:
            runner = self.ctx.runner(node)
            runner.run(("mkdir", "-p", "-m", "0700", REMOTE_PKG_DIR), timeout=30, mutating=True).check()
            have = runner.run(("sha256sum", remote), timeout=60)
            if have.rc == 0 and have.stdout.split()[:1] == [digest]:
                self.say("upload", node, f"{remote} already there")
            else:
                runner.put(remote, data, 0o600)
                check = runner.run(("sha256sum", remote), timeout=60)
                if check.stdout.split()[:1] != [digest]:
                    raise AxhaError(f"the uploaded package on {node} does not match (sha256)", node=node,
                                    remedy="Retry; check free space in /var/cache on the node.")
                self.say("upload", node, f"{remote} uploaded ({len(data)} bytes, sha256 {digest[:12]}...)")
            if self.pkg.kind == "run":
                self.wrapped_package(node)
        return f"package on both nodes ({digest[:12]})"

    def wrapped_package(self, node: str) -> str:
        """The vendor installer extracted on `node` (makeself's --noexec --target): the one package inside."""
        pkg = self.pkg
        runner = self.ctx.runner(node)
        runner.run(("rm", "-rf", pkg.extract_dir), timeout=60, mutating=True).check()
        result = runner.run(("sh", pkg.remote, "--noexec", "--target", pkg.extract_dir), timeout=DPKG_TIMEOUT,
                            mutating=True)
        if result.rc != 0:
            raise AxhaError(f"extracting {Path(pkg.path).name} on {node} failed (exit {result.rc}): "
                            f"{(result.stderr or result.stdout).strip()[-300:]}", node=node,
                            remedy="Pass the .deb or .rpm inside the installer instead.")
        found = runner.run(("find", pkg.extract_dir, "-maxdepth", "3", "-type", "f", "-name", f"*.{pkg.wrapped}"),
                           timeout=60)
        files = [line for line in found.stdout.splitlines() if line.strip()]
        if len(files) != 1:
            raise AxhaError(f"{Path(pkg.path).name} holds {len(files)} .{pkg.wrapped} packages, not one", node=node,
                            remedy="Pass the .deb or .rpm inside the installer instead.")
        query = (("dpkg-deb", "-f", files[0], "Package", "Version") if pkg.wrapped == "deb" else
                 ("rpm", "-qp", "--qf", "Package: %{NAME}\nVersion: %{VERSION}-%{RELEASE}\n", files[0]))
        fields = dict(line.split(": ", 1) for line in runner.run(query, timeout=60).stdout.splitlines()
                      if ": " in line)
        if fields.get("Package") != self.pkg_name or not axigen_versions.same_version(fields.get("Version"),
                                                                                       pkg.version):
            raise AxhaError(f"{files[0]} on {node} is {fields.get('Package')} {fields.get('Version')}, not "
                            f"{self.pkg_name} {pkg.version} as the installer's name says", node=node)
        self.say("upload", node, f"extracted: {files[0]}")
        return files[0]

    def package_manager(self, node: str) -> str:
        runner = self.ctx.runner(node)
        for tool, name in (("dpkg-query", "deb"), ("rpm", "rpm")):
            if runner.run(("sh", "-c", 'command -v "$0"', tool), timeout=30).rc == 0:
                return name
        raise AxhaError(f"{node} has neither dpkg nor rpm", node=node)

    def install_argv(self, node: str, remote: str | None = None) -> tuple[str, ...]:
        env = ("env", DONT_START)
        if self.pkg is None:
            if remote is not None:
                return (*env, "apt-get|dnf", "install", "-y", "--", f"{self.pkg_name}={self.version}")
            if self.package_manager(node) == "deb":
                return (*env, "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--allow-downgrades",
                        "--", f"{self.pkg_name}={self.version}")
            return (*env, "dnf", "install", "-y", "--allowerasing", "--", f"{self.pkg_name}-{self.version}")
        kind = self.pkg.wrapped if self.pkg.kind == "run" else self.pkg.kind
        path = remote or (self.wrapped_package(node) if self.pkg.kind == "run" else self.pkg.remote)
        if kind == "rpm":
            return (*env, "rpm", "-U", "--oldpackage", "--replacepkgs", "--", path)
        return (*env, "dpkg", "-i", "--", path)

    def stop_stray(self, node: str, stage: str) -> None:
        """Axigen must not run on a node without the data: an installer may have started it anyway."""
        runner = self.ctx.runner(node)
        status = runner.run(service_status_argv(self.service), timeout=30)
        procs = runner.run(running_argv(), timeout=30)
        if status.rc != 0 and procs.rc != 0:
            return
        self.say(stage, node, f"the installer started {self.service} on the passive node (no data there): "
                 "stopping it")
        runner.run(service_stop_argv(self.service), timeout=120, mutating=True)
        if runner.run(running_argv(), timeout=30).rc == 0:
            runner.run(("pkill", "-TERM", "-f", RUNNING_PATTERN), timeout=30, mutating=True)
            from axha.steps.framework import wait_for
            try:
                wait_for(f"Axigen stopped on {node}", lambda: runner.run(running_argv(), timeout=30).rc != 0,
                         60, self.ctx, node=node)
            except AxhaError:
                raise AxhaError(f"Axigen keeps running on {node}, which does not hold the data", node=node,
                                remedy=f"Stop it by hand (/etc/init.d/{self.service} stop) and run again.") from None
        # Pacemaker must learn that it is stopped there (a probe), or it would see it active twice later
        runner.run(("crm_resource", "--cleanup", "-r", names.SERVICE, "-N", node), timeout=60, mutating=True)

    def install_on(self, node: str, target: str, stage: str) -> str:
        """Install the package on `node`, which must be passive; Axigen must not be left running there."""
        state = read_state(self.ctx, with_service=False)
        if state.active_node == node:
            raise AxhaError(f"{node} runs the service now; only the passive node is upgraded", node=node,
                            remedy="Run `axha upgrade` again: it switches over first.")
        runner = self.ctx.runner(node)
        if (axigen_versions.same_version(self.installed(node), target)
                and axigen_versions.same_version(self.binary(node), target)):
            self.say(stage, node, f"{self.pkg_name} {target} already installed")
        else:
            argv = self.install_argv(node)
            self.say(stage, node, "$ " + " ".join(argv))
            result = runner.run(argv, timeout=DPKG_TIMEOUT, mutating=True)
            for line in (result.stdout + result.stderr).strip().splitlines()[-6:]:
                self.say(stage, node, line)
            if result.rc != 0:
                self.stop_stray(node, stage)
                raise AxhaError(f"installing {self.pkg_name} {target} on {node} failed (exit {result.rc})", node=node,
                                remedy=f"Read the output above; `dpkg --audit` (or `rpm -V {self.pkg_name}`) on "
                                       f"{node} shows a half-installed package.")
        self.stop_stray(node, stage)
        now, binary = self.installed(node), self.binary(node)
        if not axigen_versions.same_version(now, target):
            raise AxhaError(f"{node}'s package database says {self.pkg_name} {now} after the install, not {target}",
                            node=node)
        if not axigen_versions.same_version(binary, target):
            raise AxhaError(f"{axigen.BINARY} --version on {node} says {binary}, not {target}", node=node,
                            remedy="The package did not replace the binary: reinstall it, then run again.")
        return f"{node} has {self.pkg_name} {now} ({axigen.BINARY} {binary}); Axigen not running there"

    def stage_upgrade_first(self, target: str, plan_only: bool) -> str:
        return self.install_on(self.data()["first"], target, "upgrade-first")

    def settle(self, stage: str) -> None:
        """Wait until Pacemaker has nothing left to do (a resumed run may find a transition still going)."""
        from axha.steps.maint.actions import settle_argv
        for node in self.spec.node_names:
            try:
                result = self.ctx.runner(node).run(settle_argv(), timeout=150)
            except AxhaError:
                continue
            if result.rc == 0:
                return
            self.say(stage, node, f"cluster did not settle: {(result.stderr or result.stdout).strip()[-200:]}")

    def _switch(self, to: str, stage: str) -> str:
        self.settle(stage)
        state = read_state(self.ctx)
        if state.active_node == to:
            return f"the service already runs on {to}"
        report = Switchover(self.ctx, to, self.emit, state=state).run(confirm=False, journaled=False)
        if not report.ok:
            raise AxhaError(report.message, node=to)
        gap = f", service gap {report.gap.longest_gap:.1f} s" if report.gap else ""
        return f"service moved to {to}{gap}"

    def stage_switchover(self, target: str, plan_only: bool) -> str:
        return self._switch(self.data()["first"], "switchover")

    def wait_running(self, node: str, target: str) -> str | None:
        """The CLI's GET VERSION on `node` until it answers the target (Axigen may still be starting)."""
        from axha.steps.framework import wait_for
        seen: list[str | None] = [None]

        def probe():
            seen[0] = self.running_version(node)
            return axigen_versions.same_version(seen[0], target)
        try:
            wait_for(f"Axigen {target} answering on {node}'s CLI", probe, CLI_WAIT, self.ctx, interval=1.0, node=node)
        except AxhaError:
            pass
        return seen[0]

    def stage_verify_new(self, target: str, plan_only: bool) -> str:
        first = self.data()["first"]
        running = self.wait_running(first, target)
        if not axigen_versions.same_version(running, target):
            raise AxhaError(f"Axigen's CLI on {first} answers GET VERSION with {running or 'nothing'}, not {target}",
                            node=first, remedy=f"Look at {self.spec.storage.mount_point}/log/ on {first}; the "
                            "service still runs there (axha status).")
        answers = service_answers(self.spec.vip.address)
        down = [a for a in answers if not a.ok]
        if down:
            raise AxhaError("the VIP does not answer after the switchover: " +
                            "; ".join(f"{a.protocol}: {a.banner or a.error}" for a in down), node=first)
        for a in answers:
            self.say("verify-new", first, f"{a.protocol.upper()} on the VIP: {a.banner}")
        return f"{first} runs Axigen {running} (CLI GET VERSION); the VIP answers"

    def stage_upgrade_second(self, target: str, plan_only: bool) -> str:
        return self.install_on(self.data()["second"], target, "upgrade-second")

    def stage_switch_back(self, target: str, plan_only: bool) -> str:
        return self._switch(self.data()["original_active"], "switch-back")

    def stage_final(self, target: str, plan_only: bool) -> str:
        state = read_state(self.ctx)
        problems = []
        for n in state.nodes:
            if not axigen_versions.same_version(n.axigen_version, target):
                problems.append(f"{n.name} has {self.pkg_name} {n.axigen_version} installed")
            if not axigen_versions.same_version(n.axigen_binary, target):
                problems.append(f"{axigen.BINARY} --version on {n.name} says {n.axigen_binary}")
        active = state.node(state.active_node) if state.active_node else None
        running = self.wait_running(active.name, target) if active else None
        if not axigen_versions.same_version(running, target):
            problems.append(f"the running Axigen answers {running or 'nothing'} (CLI GET VERSION)")
        for a in state.service_answers:
            if not a.ok:
                problems.append(f"{a.protocol} on the VIP: {a.error}")
        if state.failed_actions:
            problems.append(f"{len(state.failed_actions)} failed action(s)")
        if state.leftover_constraints:
            problems.append("leftover constraints: " + ", ".join(c.id for c in state.leftover_constraints))
        if problems:
            raise AxhaError("final verification: " + "; ".join(problems))
        return f"service on {state.active_node} running {running}; {target} installed on both nodes; VIP answers"
