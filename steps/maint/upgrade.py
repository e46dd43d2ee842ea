"""Guided rolling upgrade of Axigen: passive node first, switchover, verify, other node; journaled and resumable."""
from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from steps import names
from steps.errors import AxhaError, InputError
from steps.framework import FAIL, OutputLine, StepFinished, StepStarted
from steps.maint.actions import make_backup
from steps.maint.status import banner_version, read_state, service_answers
from steps.maint.switchover import Switchover, clear_argv, switchover_gates

REMOTE_PKG_DIR = "/var/cache/axha"
STAGES = ("gates", "backup", "upload", "upgrade-first", "switchover", "verify-new", "upgrade-second",
          "switch-back", "final")
DPKG_TIMEOUT = 300


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


def deb_field(path: str, field: str) -> str:
    """A control field of a local .deb (dpkg-deb -f)."""
    try:
        out = subprocess.run(["dpkg-deb", "-f", path, field], capture_output=True, text=True, timeout=30,
                             env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    except FileNotFoundError:
        raise InputError("dpkg-deb is needed on this machine to read the package's version",
                         remedy="apt-get install dpkg, or pass --version instead of --package") from None
    if out.returncode != 0 or not out.stdout.strip():
        raise InputError(f"{path} is not a readable .deb package: {out.stderr.strip()[:200]}",
                         remedy="Pass the Axigen .deb file (e.g. axigen_10.5.1_all.deb).")
    return out.stdout.strip()


def installed_version_argv(package: str) -> tuple[str, ...]:
    return ("dpkg-query", "-W", "-f", "${Version}", package)


def service_status_argv(service: str) -> tuple[str, ...]:
    return (f"/etc/init.d/{service}", "status")


def service_stop_argv(service: str) -> tuple[str, ...]:
    return (f"/etc/init.d/{service}", "stop")


def datadir_version_argv(mount_point: str) -> tuple[str, ...]:
    return ("cat", f"{mount_point}/run/version")


def refresh_datadir_argv(mount_point: str) -> tuple[str, ...]:
    """The package's own data-dir refresh (what its postinst runs), pointed at the shared data."""
    return ("/opt/axigen/bin/axigen", "--configfile", "/etc/opt/axigen/axigen.cfg", "--datadir", mount_point,
            "--sharedir", "/opt/axigen/share", "--refresh-datadir")


class Upgrade:
    """Stages in STAGES order; each checks the real state first, so a re-run after a crash finishes the job."""

    def __init__(self, ctx, *, package: str | None = None, version: str | None = None, switch_back: bool = False,
                 emit: Callable = _noop, local_backup_dir: str | Path | None = None):
        if not package and not version:
            raise InputError("give --package PATH or --version VERSION")
        if package and not Path(package).is_file():
            raise InputError(f"{package}: no such package file", remedy="Pass the path of the Axigen .deb.")
        self.ctx, self.package, self.version, self.switch_back, self.emit = ctx, package, version, switch_back, emit
        self.spec = ctx.spec
        self.pkg_name = ctx.spec.axigen.package
        self.service = ctx.spec.axigen.service
        self.local_backup_dir = local_backup_dir
        self.journal = ctx.journal
        if self.journal is None:
            from steps.session import open_journal
            self.journal = open_journal(ctx.spec, "upgrade")

    # ------------------------------------------------------------ journal helpers

    def data(self) -> dict:
        return self.journal.entry("gates").get("data", {})

    def say(self, stage: str, node: str, line: str) -> None:
        self.emit(OutputLine(f"upgrade.{stage}", node, line))

    def installed(self, node: str) -> str | None:
        result = self.ctx.runner(node).run(installed_version_argv(self.pkg_name), timeout=30)
        return result.stdout.strip() if result.rc == 0 and result.stdout.strip() else None

    # ------------------------------------------------------------ the run

    def run(self, *, plan_only: bool = False, restart: bool = False) -> UpgradeReport:
        if restart:
            self.journal.reset()
        if plan_only:
            import tempfile
            from steps.journal import Journal
            self.journal = Journal(Path(tempfile.mkdtemp(prefix="axha-plan-")) / "upgrade.json", self.spec.name)
        target = deb_field(self.package, "Version") if self.package else self.version
        if self.package and deb_field(self.package, "Package") != self.pkg_name:
            raise InputError(f"{self.package} is not the {self.pkg_name} package")
        unfinished = self.journal.state("final") != "done" and any(self.journal.state(s) != "pending"
                                                                  for s in STAGES)
        if self.journal.state("final") == "done" and self.data().get("target") != target:
            self.journal.reset()
        elif unfinished and self.data().get("target") not in (None, target):
            raise InputError(f"an unfinished upgrade to {self.data().get('target')} is in the journal",
                             remedy="Finish it with the same package, or pass --restart to start over.")
        stages = [s for s in STAGES if s != "switch-back" or self.switch_back]
        if not plan_only and any(self.journal.state(s) in ("running", "failed") for s in ("switchover",
                                                                                        "switch-back")):
            self._clear_our_move(read_state(self.ctx, with_service=False))
        done: list[tuple[str, str, str]] = []
        for stage in stages:
            if self.journal.state(stage) == "done" and stage not in ("final",):
                done.append((stage, "done", self.journal.entry(stage).get("message", "")))
                continue
            self.emit(StepStarted(f"upgrade.{stage}", stage.replace("-", " ").capitalize()))
            question = None if plan_only else self.confirmation(stage, target)
            if question is not None and not self.ctx.confirm(question):
                done.append((stage, "pending", "not confirmed"))
                return UpgradeReport(False, f"stopped before '{stage}' (not confirmed); run again to continue",
                                     tuple(done), self.versions())
            self.journal.mark(stage, "running")
            try:
                message = getattr(self, "stage_" + stage.replace("-", "_"))(target, plan_only)
            except AxhaError as exc:
                text = exc.explain()
                self.journal.mark(stage, "failed", str(exc))
                self.emit(StepFinished(f"upgrade.{stage}", "failed", text))
                done.append((stage, "failed", text))
                return UpgradeReport(False, f"upgrade stopped at '{stage}': {text}\n{self.rollback_hint(stage)}",
                                     tuple(done), self.versions())
            self.journal.mark(stage, "done", message)
            self.emit(StepFinished(f"upgrade.{stage}", "done", message))
            done.append((stage, "done", message))
            if plan_only:
                return UpgradeReport(True, f"plan: {message}", tuple(done), self.versions(),
                                     tuple(f"then: {s}" for s in stages[1:]))
        versions = self.versions()
        return UpgradeReport(True, f"both nodes run {target}; " + done[-1][2], tuple(done), versions)

    def confirmation(self, stage: str, target: str):
        """The question before each stage that changes a node or moves the service (None: no question)."""
        from steps.framework import Confirmation
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
                f"(dpkg -i the old .deb, or apt-get install {self.pkg_name}=OLD), then `axha upgrade --restart` "
                f"is not needed; configuration backup: {backup}.")

    # ------------------------------------------------------------ stages

    def stage_gates(self, target: str, plan_only: bool) -> str:
        d = self.data()
        state = read_state(self.ctx)
        versions = {n.name: n.axigen_version for n in state.nodes}
        for name, ver in versions.items():
            self.say("gates", name, f"{self.pkg_name} {ver or 'not installed'} (target {target})")
        if d.get("first"):
            return f"resuming: {d['first']} first, then {d['second']}"
        source, passive, findings = switchover_gates(state)
        failed = [f for f in findings if f.status == FAIL]
        for f in failed:
            self.say("gates", f.node or "-", f"{f.code}: {f.summary} -> {f.remedy}")
        if failed:
            raise AxhaError("the cluster is not ready for a rolling upgrade: " + "; ".join(f.summary for f in failed),
                            remedy="Fix the gates above, then run again.")
        if all(v == target for v in versions.values()):
            self.journal.set_data("gates", first=passive, second=source, original_active=source, target=target,
                                  old_versions=versions)
            return f"both nodes already run {target}"
        self.journal.set_data("gates", first=passive, second=source, original_active=source, target=target,
                              old_versions=versions)
        return f"upgrade {passive} (passive) first, then {source} (active now); {versions} -> {target}"

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
            from steps.session import state_dir
            local = state_dir(self.spec) / "backups"
        made = make_backup(self.ctx, local, emit=lambda e: self.emit(e))
        self.journal.set_data("backup", **made)
        return f"backup {made['stamp']} on both nodes and in {made['local']}"

    def remote_package(self, target: str) -> str:
        return f"{REMOTE_PKG_DIR}/{Path(self.package).name}" if self.package else ""

    def stage_upload(self, target: str, plan_only: bool) -> str:
        if not self.package:
            return f"version {target} comes from the nodes' repositories"
        data = Path(self.package).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        remote = self.remote_package(target)
        for node in self.spec.node_names:
            runner = self.ctx.runner(node)
            runner.run(("mkdir", "-p", "-m", "0700", REMOTE_PKG_DIR), timeout=30, mutating=True).check()
            have = runner.run(("sha256sum", remote), timeout=60)
            if have.rc == 0 and have.stdout.split()[:1] == [digest]:
                self.say("upload", node, f"{remote} already there")
                continue
            runner.put(remote, data, 0o600)
            check = runner.run(("sha256sum", remote), timeout=60)
            if check.stdout.split()[:1] != [digest]:
                raise AxhaError(f"the uploaded package on {node} does not match (sha256)", node=node,
                                remedy="Retry; check free space in /var/cache on the node.")
            self.say("upload", node, f"{remote} uploaded ({len(data)} bytes, sha256 {digest[:12]}...)")
        return f"package on both nodes ({digest[:12]})"

    def install_on(self, node: str, target: str, stage: str) -> str:
        """Install the package on `node`, which must be passive; the package must not leave the service running."""
        state = read_state(self.ctx, with_service=False)
        if state.active_node == node:
            raise AxhaError(f"{node} runs the service now; only the passive node is upgraded", node=node,
                            remedy="Run `axha upgrade` again: it switches over first.")
        runner = self.ctx.runner(node)
        if self.installed(node) == target:
            self.say(stage, node, f"{self.pkg_name} {target} already installed")
        else:
            argv = (("dpkg", "-i", self.remote_package(target)) if self.package else
                    ("apt-get", "install", "-y", "--allow-downgrades", f"{self.pkg_name}={target}"))
            self.say(stage, node, "$ " + " ".join(argv))
            result = runner.run(argv, timeout=DPKG_TIMEOUT, mutating=True)
            for line in (result.stdout + result.stderr).strip().splitlines()[-6:]:
                self.say(stage, node, line)
            if result.rc != 0:
                raise AxhaError(f"installing {self.pkg_name} {target} on {node} failed (exit {result.rc})", node=node,
                                remedy=f"Read the output above; `dpkg --audit` on {node} shows a half-installed "
                                       "package.")
        now = self.installed(node)
        if now != target:
            raise AxhaError(f"{node} reports {self.pkg_name} {now} after the install, not {target}", node=node)
        running = runner.run(service_status_argv(self.service), timeout=30)
        if running.rc == 0:
            self.say(stage, node, f"the package left {self.service} running on the passive node: stopping it")
            runner.run(service_stop_argv(self.service), timeout=60, mutating=True).check(f"stop {self.service}")
            runner.run(("crm_resource", "--cleanup", "-r", names.SERVICE, "-N", node), timeout=60, mutating=True)
        return f"{node} runs {self.pkg_name} {target} (service not running there)"

    def stage_upgrade_first(self, target: str, plan_only: bool) -> str:
        return self.install_on(self.data()["first"], target, "upgrade-first")

    def settle(self, stage: str) -> None:
        """Wait until Pacemaker has nothing left to do (a resumed run may find a transition still going)."""
        from steps.maint.actions import settle_argv
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
        report = Switchover(self.ctx, to, self.emit, state=state).run(confirm=False)
        if not report.ok:
            raise AxhaError(report.message, node=to)
        gap = f", service gap {report.gap.longest_gap:.1f} s" if report.gap else ""
        return f"service moved to {to}{gap}"

    def stage_switchover(self, target: str, plan_only: bool) -> str:
        return self._switch(self.data()["first"], "switchover")

    def stage_verify_new(self, target: str, plan_only: bool) -> str:
        first = self.data()["first"]
        answers = service_answers(self.spec.vip.address)
        old = [a for a in answers if not a.ok or banner_version(a.banner) != target]
        if old:
            raise AxhaError("the VIP does not answer with the new version: " +
                            "; ".join(f"{a.protocol}: {a.banner or a.error}" for a in old), node=first)
        runner = self.ctx.runner(first)
        mount = self.spec.storage.mount_point
        have = runner.run(datadir_version_argv(mount), timeout=30).stdout.strip()
        if have != target:
            self.say("verify-new", first, f"data dir on the shared data is at {have or 'unknown'}: refreshing")
            runner.run(refresh_datadir_argv(mount), timeout=120, mutating=True).check("refresh the data dir")
            have = runner.run(datadir_version_argv(mount), timeout=30).stdout.strip()
        if have != target:
            raise AxhaError(f"the shared data dir stays at {have} after the refresh", node=first)
        for a in answers:
            self.say("verify-new", first, f"{a.protocol.upper()}: {a.banner}")
        return f"{target} answers on the VIP from {first}; shared data dir at {have}"

    def stage_upgrade_second(self, target: str, plan_only: bool) -> str:
        return self.install_on(self.data()["second"], target, "upgrade-second")

    def stage_switch_back(self, target: str, plan_only: bool) -> str:
        return self._switch(self.data()["original_active"], "switch-back")

    def stage_final(self, target: str, plan_only: bool) -> str:
        state = read_state(self.ctx)
        problems = []
        for n in state.nodes:
            if n.axigen_version != target:
                problems.append(f"{n.name} runs {n.axigen_version}")
        for a in state.service_answers:
            if not a.ok or banner_version(a.banner) != target:
                problems.append(f"{a.protocol} on the VIP: {a.banner or a.error}")
        if state.failed_actions:
            problems.append(f"{len(state.failed_actions)} failed action(s)")
        if state.leftover_constraints:
            problems.append("leftover constraints: " + ", ".join(c.id for c in state.leftover_constraints))
        if problems:
            raise AxhaError("final verification: " + "; ".join(problems))
        return f"service on {state.active_node}, {target} on both nodes, VIP answers"
