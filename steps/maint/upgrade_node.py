"""What the upgrade does on one node: the installed, binary and running versions of Axigen, the package manager's
install command, extracting a vendor installer, and keeping Axigen from running where the data is not
(UpgradeNode, a part of steps.maint.upgrade.Upgrade)."""
from __future__ import annotations

from pathlib import Path

from axha.steps import axigen, names
from axha.steps.errors import AxhaError
from axha.steps.maint.status import read_state
from axha.steps import axigen_versions

DPKG_TIMEOUT = 300
# Axigen's rpm installer honours this (AXIGEN.md "Package and processes"); passed to every installer axha runs.
# Whether a .deb honours it is unknown, so the passive node is checked afterwards and Axigen stopped there.
DONT_START = "AXIGEN_INSTALL_DONT_START_SERVICE=yes"
RUNNING_PATTERN = "/opt/axigen/bin/[a]xigen"   # [a]: the pattern never matches the command line that holds it
CLI_WAIT = 60.0


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


class UpgradeNode:
    """The node-side work of an upgrade (needs self.ctx, self.spec, self.pkg, self.pkg_name, self.version,
    self.service and self.say from Upgrade)."""

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
        if fields.get("Package") != self.pkg_name or not axigen_versions.same_version(fields.get("Version"), pkg.version):
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
        if axigen_versions.same_version(self.installed(node), target) and axigen_versions.same_version(self.binary(node), target):
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
