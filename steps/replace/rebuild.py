"""The rebuild of a replaced node, step by step, none of which touches the survivor's running service:

- CleanSlate: a new server that is not in the cluster yet (its corosync authkey is not the survivor's) may run a
  cluster stack of its own (a distribution's default corosync) and hold a CIB of its own, which Pacemaker could
  offer the cluster when it joins: both stopped, the stale CIB files removed (what `pcs cluster node add` does
  with `pcs cluster destroy` on the new node).
- AxigenPackage: the Axigen package at the survivor's installed version (`--package FILE`, else the nodes'
  repositories), never started there, off at boot: the package must be on the node, the data is not.
- CorosyncFromSurvivor: the survivor's corosync.conf and authkey copied to the new node (never regenerated: the
  running cluster keeps its key), checked by the new node's corosync, corosync started; both links up.
"""
from __future__ import annotations

import re

from axha.steps import axigen_versions, names
from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, Action, Context, Emit, Finding, OutputLine, Step, wait_for
from axha.steps.install.common import finding, read, service_actions, service_state, stdin_action
from axha.steps.install.corosync import (JOIN_TIMEOUT, KEY_INSTALL_ARGV, STAGED, links_up, membership_finding,
                                         nodeids)
from axha.steps.install.fencing import FencingStep, status_argv
from axha.steps.install.role import FILTERS
from axha.steps.maint.upgrade_node import DPKG_TIMEOUT, RUNNING_PATTERN, UpgradeNode, running_argv
from axha.steps.names import COROSYNC_AUTHKEY, COROSYNC_CONF
from axha.steps.replace.common import authkey_hash, has_cluster_key, survivor_of

CIB_DIR = "/var/lib/pacemaker/cib"
CONF_LIMIT = 1 << 20


# ---------------------------------------------------------------- a clean slate on the new server


class CleanSlate(Step):
    id = "clean-slate"
    title = "The new server's own cluster stack stopped, its stale CIB removed"
    destructive = True

    def __init__(self, node: str):
        self.node = node

    def plan(self, ctx: Context) -> list[Action]:
        if has_cluster_key(ctx, self.node):
            return []
        actions = []
        for service in ("pacemaker", "corosync"):
            if service_state(ctx, self.node, service)[0]:
                actions.append(Action(self.node, ("systemctl", "stop", service),
                                      f"stop the {service} the new server runs on its own (not this cluster's)",
                                      timeout=180.0))
        files = read(ctx, self.node, ["find", CIB_DIR, "-mindepth", "1", "-maxdepth", "1", "-type", "f"])
        if files.rc == 0 and files.stdout.strip():
            actions.append(Action(self.node, ("find", CIB_DIR, "-mindepth", "1", "-maxdepth", "1", "-type", "f",
                                              "-delete"),
                                  f"remove the new server's own CIB ({len(files.stdout.split())} file(s)): it must "
                                  "take the cluster's from the survivor, never offer its own", destructive=True))
        return actions

    def confirmation(self, ctx, plan):
        return None   # the new server's CIB is not data: the cluster's lives on the survivor

    def verify(self, ctx: Context) -> list[Finding]:
        if has_cluster_key(ctx, self.node):
            return []
        running = [s for s in ("pacemaker", "corosync") if service_state(ctx, self.node, s)[0]]
        return [finding(not running, "NEW_NODE_STACK_STOPPED", self.node,
                        f"{', '.join(running)} still running" if running else "no cluster stack of its own runs",
                        remedy=f"Stop them by hand on {self.node} (systemctl stop pacemaker corosync).")]


# ---------------------------------------------------------------- Axigen at the survivor's version


class _Installer(UpgradeNode):
    """The upgrade's node-side helpers (versions, install command, vendor installer extraction) for one node."""

    def __init__(self, ctx: Context, version: str, pkg, emit: Emit, step_id: str):
        self.ctx, self.spec, self.pkg, self.version = ctx, ctx.spec, pkg, version
        self.pkg_name, self.service = ctx.spec.axigen.package, ctx.spec.axigen.service
        self._emit, self._step = emit, step_id

    def say(self, stage: str, node: str, line: str) -> None:
        self._emit(OutputLine(self._step, node, line))


def package_findings(ctx: Context, node: str, package: str | None) -> tuple[str | None, object, list[Finding]]:
    """The version the new node must run (the survivor's installed one) and, with --package FILE, that the file
    holds exactly it: (wanted version, the package read, refusals). Read-only: the gate asks it before anything
    changes, the package step again when it runs."""
    survivor = survivor_of(ctx, node)
    want = _Installer(ctx, "", None, lambda e: None, AxigenPackage.id).installed(survivor)
    if want is None:
        return None, None, [Finding("SURVIVOR_AXIGEN_UNKNOWN", survivor, FAIL, f"no {ctx.spec.axigen.package} "
                                    f"package installed on {survivor}", "The survivor must have Axigen installed.")]
    if not package:
        return want, None, []
    from axha.steps.maint.package_file import read_package
    pkg = read_package(package, ctx.spec.axigen.package)
    if not axigen_versions.same_version(pkg.version, want):
        return want, pkg, [Finding("PACKAGE_NOT_SURVIVORS", None, FAIL, f"{package} is version {pkg.version}, "
                                   f"{survivor} runs {want}", f"Give the package of version {want}: the new node "
                                   "must run what the survivor runs (upgrade both later).")]
    return want, pkg, []


class AxigenPackage(Step):
    id = "axigen-package"
    title = "Axigen on the new server at the survivor's version, off at boot, not running"

    def __init__(self, node: str, package: str | None = None):
        self.node, self.package = node, package
        self.pkg = None
        self.want: str | None = None

    def _installer(self, ctx: Context, emit: Emit = lambda e: None) -> _Installer:
        return _Installer(ctx, self.want or "", self.pkg, emit, self.id)

    def check(self, ctx: Context) -> list[Finding]:
        self.want, self.pkg, findings = package_findings(ctx, self.node, self.package)
        return findings

    def _has_target(self, ctx: Context) -> bool:
        inst = self._installer(ctx)
        return axigen_versions.same_version(inst.installed(self.node), self.want) and \
            axigen_versions.same_version(inst.binary(self.node), self.want)

    def plan(self, ctx: Context) -> list[Action]:
        node, service = self.node, ctx.spec.axigen.service
        actions = []
        if not self._has_target(ctx):
            inst = self._installer(ctx)
            how = f"from {self.package}" if self.pkg is not None else "from the node's repositories"
            if self.pkg is None:
                argv = inst.install_argv(node)
            elif self.pkg.kind == "run":   # the package inside is known once the installer is extracted there
                argv = inst.install_argv(node, f"{self.pkg.extract_dir}/<the .{self.pkg.wrapped} inside>")
            else:
                argv = inst.install_argv(node, self.pkg.remote)
            actions.append(Action(node, tuple(argv), f"install {ctx.spec.axigen.package} {self.want} {how}, "
                                  "without starting it", timeout=DPKG_TIMEOUT))
        for svc in (service, FILTERS):
            if svc == FILTERS and read(ctx, node, ["test", "-x", f"/etc/init.d/{FILTERS}"]).rc != 0:
                continue
            active, enabled = service_state(ctx, node, svc)
            if enabled:
                actions.append(Action(node, ("systemctl", "disable", svc),
                                      f"{svc} must not start at boot: the cluster starts it where the data is"))
            if active:
                actions.append(Action(node, ("systemctl", "stop", svc), f"{svc} must not run on {node} before "
                                      "it joins: the cluster would see the service active twice", timeout=180.0))
        return actions

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        inst = self._installer(ctx, emit)
        for action in plan:
            if action.why.startswith(f"install {ctx.spec.axigen.package} "):
                if self.pkg is not None:
                    from axha.steps.maint.package_file import read_package_bytes, upload_package
                    upload_package(ctx.runner(self.node), self.pkg, read_package_bytes(self.pkg.path),
                                   lambda line: emit(OutputLine(self.id, self.node, line)))
                    action = Action(self.node, tuple(inst.install_argv(self.node)), action.why,
                                    timeout=DPKG_TIMEOUT)
                ctx.execute(action, emit, self.id)
                # an installer may start Axigen anyway (AXIGEN.md): stopped again by the actions after this one,
                # planned now that the package is there
                for more in self.plan(ctx):
                    if more.argv[:2] == ("systemctl", "stop") or more.argv[:2] == ("systemctl", "disable"):
                        ctx.execute(more, emit, self.id)
                continue
            ctx.execute(action, emit, self.id)
        if read(ctx, self.node, running_argv()).rc == 0:
            ctx.execute(Action(self.node, ("pkill", "-TERM", "-f", RUNNING_PATTERN),
                               "an Axigen process outside the init script still runs: stop it"), emit, self.id)
            wait_for(f"Axigen stopped on {self.node}", lambda: read(ctx, self.node, running_argv()).rc != 0, 60, ctx,
                     node=self.node)

    def verify(self, ctx: Context) -> list[Finding]:
        node, service = self.node, ctx.spec.axigen.service
        inst = self._installer(ctx)
        have = inst.installed(node)
        out = [finding(axigen_versions.same_version(have, self.want), "NEW_NODE_AXIGEN_VERSION", node,
                       f"{ctx.spec.axigen.package} {have} (the survivor has {self.want})",
                       remedy=f"Install {ctx.spec.axigen.package} {self.want} on {node} (--package FILE).")]
        active, enabled = service_state(ctx, node, service)
        running = read(ctx, node, running_argv()).rc == 0
        out.append(finding(not enabled, "NEW_NODE_AXIGEN_NOT_AT_BOOT", node, f"{service} is off at boot"
                           if not enabled else f"{service} starts at boot", remedy=f"systemctl disable {service}"))
        out.append(finding(not active and not running, "NEW_NODE_AXIGEN_STOPPED", node, "Axigen does not run there"
                           if not (active or running) else "Axigen runs there", remedy=f"systemctl stop {service}"))
        return out


# ---------------------------------------------------------------- corosync from the survivor


def node_addresses(text: str) -> dict[str, dict[str, str]]:
    """{node name: {key: value}} of corosync.conf's nodelist (corosync.conf(5): `nodelist { node { name: ..
    ring0_addr: .. } }`, `#` comments, one `key: value` per line). Bounded: the first 1 MiB, 64 nodes."""
    nodes: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    current: dict[str, str] | None = None
    for raw in text[:CONF_LIMIT].splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*\{", line)
        if m:
            stack.append(m.group(1))
            if stack[-2:] == ["nodelist", "node"]:
                current = {}
            continue
        if line == "}":
            if stack[-2:] == ["nodelist", "node"] and current is not None and "name" in current \
                    and len(nodes) < 64:
                nodes[current["name"]] = current
            current = None if stack[-2:] == ["nodelist", "node"] else current
            if stack:
                stack.pop()
            continue
        key, sep, value = line.partition(":")
        if sep and current is not None and stack[-2:] == ["nodelist", "node"]:
            current[key.strip()] = value.strip()
    return nodes


class CorosyncFromSurvivor(Step):
    id = "corosync-join"
    title = "Corosync: the survivor's corosync.conf and authkey, the new node joins on both links"

    def __init__(self, node: str):
        self.node = node
        self.conf = ""

    def check(self, ctx: Context) -> list[Finding]:
        survivor = survivor_of(ctx, self.node)
        got = read(ctx, survivor, ["cat", COROSYNC_CONF])
        if got.rc != 0:
            return [Finding("SURVIVOR_COROSYNC_CONF", survivor, FAIL, f"cannot read {COROSYNC_CONF} on {survivor}",
                            "The survivor runs the cluster: its corosync.conf must be there.")]
        self.conf = got.stdout
        entry = node_addresses(self.conf).get(self.node)
        spec_node = ctx.spec.node(self.node)
        wanted = {"ring0_addr": spec_node.link0.address, "ring1_addr": spec_node.link1.address}
        if entry is None or any(entry.get(k) != v for k, v in wanted.items()):
            seen = {k: (entry or {}).get(k) for k in wanted}
            return [Finding("NODE_ADDRESSES_CHANGED", self.node, FAIL,
                            f"the running cluster's corosync.conf on {survivor} has {self.node} at {seen}, the "
                            f"cluster file at {wanted}",
                            "replace-node keeps the node's cluster link addresses (the survivor's configuration "
                            "is not rewritten): give the new server the same link0/link1 addresses.")]
        return [finding(read(ctx, self.node, ["corosync", "-v"]).rc == 0, "COROSYNC_INSTALLED", self.node,
                        "corosync is installed", remedy="Install corosync (or run with --install-packages).")]

    def plan(self, ctx: Context) -> list[Action]:
        node, survivor = self.node, survivor_of(ctx, self.node)
        actions = []
        if authkey_hash(ctx, node) != authkey_hash(ctx, survivor):
            actions.append(Action(node, KEY_INSTALL_ARGV, f"copy the cluster's authkey from {survivor}, mode 0400 "
                                  "(over stdin, never logged)"))
        current = read(ctx, node, ["cat", COROSYNC_CONF])
        if current.rc != 0 or current.stdout != self.conf:
            actions += [
                Action(node, ("install", "-m", "0644", "/dev/stdin", STAGED), f"stage {survivor}'s corosync.conf",
                       stdin=self.conf),
                Action(node, ("corosync", "-t", "-c", STAGED), "check it with the new node's corosync"),
                Action(node, ("mv", "-f", STAGED, COROSYNC_CONF), "put it in place"),
            ]
            if service_state(ctx, node, "corosync")[0]:
                actions.append(Action(node, ("systemctl", "restart", "corosync"), "restart corosync with it",
                                      timeout=180.0))
        return actions + service_actions(ctx, node, "corosync", "the cluster membership layer")

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        survivor = survivor_of(ctx, self.node)
        for action in plan:
            if tuple(action.argv) == KEY_INSTALL_ARGV:
                key = ctx.runner(survivor).get(COROSYNC_AUTHKEY)
                if len(key) < 128:
                    raise AxhaError(f"the authkey on {survivor} is only {len(key)} bytes", node=survivor)
                action = stdin_action(action, key)
            ctx.execute(action, emit, self.id)

    def verify(self, ctx: Context) -> list[Finding]:
        node = self.node
        same = has_cluster_key(ctx, node)
        out = [finding(same, "COROSYNC_AUTHKEY_SAME", node, "the cluster's authkey" if same else
                       "the authkey differs from the survivor's", remedy="Run replace-node again.")]
        for n in ctx.spec.node_names:
            try:
                up = wait_for(f"both corosync links up on {n}",
                              lambda n=n: (lambda ids: ids if set(ids) >= {0, 1} else None)(
                                  links_up(read(ctx, n, ["corosync-cfgtool", "-s"]).stdout, nodeids(ctx.spec))),
                              JOIN_TIMEOUT, ctx, node=n)
                out.append(finding(True, "COROSYNC_LINKS_UP", n, f"links {', '.join(map(str, up))} up"))
            except AxhaError as exc:
                out.append(Finding("COROSYNC_LINKS_UP", n, FAIL, str(exc),
                                   "Check both link interfaces and addresses, and the firewall (UDP 5405)."))
        out.append(membership_finding(ctx, node))
        return out


# ---------------------------------------------------------------- fencing before the join


class ReplacementFencing(FencingStep):
    """The install's fencing step (both nodes' BMC password files, the devices in the CIB: a new BMC address of
    the replaced node goes in here), verified before the new node joins: the device that fences it runs on the
    survivor, its BMC answers fence_ipmilan from the survivor, and the survivor's BMC answers from it."""

    id = "fencing-update"
    title = "Fencing: the new node's BMC in its fence device, both BMCs answer across"

    def __init__(self, node: str):
        super().__init__()
        self.node = node

    def verify(self, ctx: Context) -> list[Finding]:
        node, survivor = self.node, survivor_of(ctx, self.node)
        device = names.fence_device(node)

        try:
            where = wait_for(f"{device} started", lambda: devices_started_one(ctx, node), 90.0, ctx)
            out = [finding(where == survivor, "FENCE_DEVICE_STARTED", node, f"{device} runs on {where}",
                           remedy="The location constraint keeping a device off its own node is missing.")]
        except AxhaError as exc:
            out = [Finding("FENCE_DEVICE_STARTED", node, FAIL, str(exc),
                           f"Look at `crm_mon -1 --inactive` and the failed actions of {device} (BMC address, user, "
                           "password).")]
        for target, holder in ((node, survivor), (survivor, node)):
            result = read(ctx, holder, status_argv(ctx.spec.node(target)), timeout=60)
            ok = result.rc == 0 and "Status: ON" in result.stdout
            out.append(finding(ok, "FENCE_DEVICE_ANSWERS", target,
                               f"{target}'s BMC answers fence_ipmilan from {holder}: "
                               f"{result.stdout.strip() or result.stderr.strip()[-200:]}",
                               remedy=f"Check {target}'s BMC address, user and password, and IPMI over LAN "
                                      f"(lanplus) from {holder}.", detail=result.stderr.strip()[-500:]))
        return out


def devices_started_one(ctx: Context, node: str) -> str | None:
    """Where the device fencing `node` runs (None: not started)."""
    from axha.steps.install.common import any_status
    status = any_status(ctx)
    if status is None:
        return None
    running = [r for r in status.resource(names.fence_device(node)) if r.active and r.nodes]
    return running[0].nodes[0] if running else None

