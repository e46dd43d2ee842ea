"""Guided rolling upgrade of Axigen: passive node first, switchover, verify, other node; journaled and resumable."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from axha.steps import axigen, names
from axha.steps.errors import AxhaError, InputError
from axha.steps.framework import FAIL, Action, OutputLine, run_steps
from axha.steps.maint.backup import make_backup
from axha.steps.maint.package_file import (REMOTE_PKG_DIR, PackageFile, check_package_file, read_package,
                                           read_package_bytes, upload_package)
from axha.steps.maint.upgrade_node import DONT_START, DPKG_TIMEOUT, UpgradeNode, old_layout_argv
from axha.steps.maint.upgrade_stage import UpgradeStage
from axha.steps.maint.status import read_state
from axha.steps.maint.service import service_answers
from axha.steps.maint.backup import backup_argv
from axha.steps.maint.gates import switchover_gates
from axha.steps.maint.switchover import Switchover, clear_argv, move_argv
from axha.steps import axigen_versions

STAGES = ("gates", "backup", "upload", "upgrade-first", "switchover", "verify-new", "upgrade-second",
          "switch-back", "final")
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]{0,63}")
VERSION_TEXT = re.compile(r"[0-9][A-Za-z0-9.+~:-]{0,63}")


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


class Upgrade(UpgradeNode):
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
                  f"({axigen.CLI_HOST}:{axigen.CLI_PORT}) must answer {axigen_versions.upstream_version(target)}; SMTP on "
                  "the VIP must answer",
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
        for node in self.spec.node_names:
            digest = upload_package(self.ctx.runner(node), self.pkg, data, lambda line, n=node: self.say("upload", n,
                                                                                                       line))
            if self.pkg.kind == "run":
                self.wrapped_package(node)
        return f"package on both nodes ({digest[:12]})"

    def stage_upgrade_first(self, target: str, plan_only: bool) -> str:
        return self.install_on(self.data()["first"], target, "upgrade-first")

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
