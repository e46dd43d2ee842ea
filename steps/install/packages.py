"""Install step 2 (only on request): the cluster stack from the node's package manager, same versions on both."""
from __future__ import annotations

from axha.steps.framework import FAIL, PASS, Action, Context, Finding, Step
from axha.steps.install.common import finding, read

APT_PACKAGES = ("pacemaker", "pacemaker-cli-utils", "corosync", "fence-agents", "resource-agents", "drbd-utils",
                "ipmitool")
DNF_PACKAGES = ("pacemaker", "pacemaker-cli", "corosync", "fence-agents-ipmilan", "resource-agents", "drbd-utils",
                "ipmitool")
# the packages whose versions must match on both nodes (a mixed cluster is a rolling upgrade, not an install)
MATCHED = ("pacemaker", "corosync", "drbd-utils")


def manager(ctx: Context, node: str) -> str | None:
    if read(ctx, node, ["apt-get", "--version"]).rc == 0:
        return "apt"
    if read(ctx, node, ["dnf", "--version"]).rc == 0:
        return "dnf"
    return None


def parse_versions(text: str) -> dict[str, str]:
    """`dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'` or `rpm -q --qf ...` lines -> {pkg: ver}.
    dpkg lines whose status is not 'ii' (removed, config-files only) do not count as installed."""
    versions = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[1] and (len(fields) < 3 or fields[2].strip() == "ii"):
            versions[fields[0]] = fields[1]
    return versions


def installed(ctx: Context, node: str, kind: str, packages: tuple[str, ...]) -> dict[str, str]:
    if kind == "apt":
        argv = ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n", *packages]
    else:
        argv = ["rpm", "-q", "--qf", "%{NAME}\\t%{VERSION}-%{RELEASE}\\n", *packages]
    # both tools print what they find and exit 1 when some package is missing: the output is what counts
    result = read(ctx, node, argv)
    return parse_versions(result.stdout.replace("\\t", "\t"))


def packages_for(kind: str) -> tuple[str, ...]:
    return APT_PACKAGES if kind == "apt" else DNF_PACKAGES


def install_actions(host: str, kind: str, missing) -> list[Action]:
    """The commands that install `missing` on `host` with its package manager (apt: the lists refreshed first)."""
    if kind == "apt":
        return [Action(host, ("apt-get", "update"), "refresh the package lists", timeout=600),
                Action(host, ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                              "--no-install-recommends", *missing), f"install {', '.join(missing)}", timeout=1800)]
    return [Action(host, ("dnf", "install", "-y", *missing), f"install {', '.join(missing)}", timeout=1800)]


class PackagesStep(Step):
    id = "packages"
    title = "Cluster packages (apt or dnf), same versions on both nodes"

    def check(self, ctx: Context) -> list[Finding]:
        return [finding(manager(ctx, node) is not None, "PACKAGE_MANAGER", node, "apt or dnf available",
                        remedy="Install the cluster stack by hand; axha supports apt and dnf.")
                for node in ctx.spec.node_names]

    def plan(self, ctx: Context) -> list[Action]:
        actions = []
        for node in ctx.spec.node_names:
            kind = manager(ctx, node)
            wanted = packages_for(kind)
            missing = [p for p in wanted if p not in installed(ctx, node, kind, wanted)]
            if missing:
                actions += install_actions(node, kind, missing)
        return actions

    def verify(self, ctx: Context) -> list[Finding]:
        seen: dict[str, dict[str, str]] = {}
        findings = []
        for node in ctx.spec.node_names:
            kind = manager(ctx, node)
            seen[node] = installed(ctx, node, kind, packages_for(kind))
            missing = [p for p in packages_for(kind) if p not in seen[node]]
            findings.append(finding(not missing, "PACKAGES_INSTALLED", node, "cluster packages installed" if not
                                    missing else f"missing: {', '.join(missing)}", remedy="Install them and run again."))
        a, b = ctx.spec.node_names
        for pkg in MATCHED:
            va, vb = seen[a].get(pkg), seen[b].get(pkg)
            if va and vb:
                findings.append(Finding("PACKAGE_VERSIONS_MATCH", None, PASS if va == vb else FAIL,
                                        f"{pkg}: {a} {va}, {b} {vb}",
                                        "" if va == vb else f"Install the same {pkg} version on both nodes."))
        return findings
