"""Install step 1: SSH and root on both nodes, hostnames as in the cluster file, /etc/hosts entries for both."""
from __future__ import annotations

import ipaddress

from axha.steps.framework import FAIL, Action, Context, Finding, Step
from axha.steps.install.common import finding, read

HOSTS = "/etc/hosts"


def block_markers(cluster: str) -> tuple[str, str]:
    return (f"# BEGIN axha cluster {cluster} (managed by axha, do not edit)", f"# END axha cluster {cluster}")


def host_address(node) -> str:
    """The address a node's name resolves to: its management (SSH) address when that is an IP, else link0's."""
    try:
        ipaddress.ip_address(node.ssh_address)
        return node.ssh_address
    except ValueError:
        return node.link0.address


def own_addresses(node) -> set[str]:
    return {node.ssh_address, node.link0.address, node.link1.address}


def hosts_entries(spec) -> list[str]:
    """One line per node: its address and its name."""
    return [f"{host_address(node)}\t{node.name}" for node in spec.nodes]


def hosts_with_block(text: str, spec) -> str:
    """/etc/hosts with our managed block (replaced in place when present, else appended). Pure."""
    begin, end = block_markers(spec.name)
    block = [begin, *hosts_entries(spec), end]
    lines = text.splitlines()
    if begin in lines and end in lines[lines.index(begin):]:
        start = lines.index(begin)
        stop = lines.index(end, start)
        lines[start:stop + 1] = block
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend(block)
    return "\n".join(lines) + "\n"


def conflicting_entries(text: str, spec) -> list[str]:
    """Lines outside our block that map a node name to none of its addresses (loopback lines excluded)."""
    begin, end = block_markers(spec.name)
    wanted = {node.name: own_addresses(node) for node in spec.nodes}
    inside, found = False, []
    for line in text.splitlines():
        if line == begin:
            inside = True
        elif line == end:
            inside = False
        elif not inside:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and not fields[0].startswith("127.") and fields[0] != "::1":
                for name in fields[1:]:
                    if name in wanted and fields[0] not in wanted[name]:
                        found.append(line.strip())
    return found


class AccessStep(Step):
    id = "access"
    title = "SSH, root, hostnames and /etc/hosts on both nodes"

    def check(self, ctx: Context) -> list[Finding]:
        findings = []
        for node in ctx.spec.node_names:
            uid = read(ctx, node, ["id", "-u"])
            findings.append(finding(uid.ok and uid.stdout.strip() == "0", "ROOT_ACCESS", node,
                                    "commands run as root" if uid.stdout.strip() == "0"
                                    else f"commands run as uid {uid.stdout.strip() or '?'}, not root",
                                    remedy="Log in as root, or give the SSH user passwordless sudo (sudo -n)."))
            name = read(ctx, node, ["uname", "-n"]).stdout.strip()
            findings.append(finding(name == node, "HOSTNAME_MATCHES", node,
                                    f"hostname is {name!r}" + ("" if name == node else f", the cluster file says "
                                                                                       f"{node!r}"),
                                    remedy=f"Set the hostname (hostnamectl set-hostname {node}) or correct the "
                                           "node name in the cluster file."))
            hosts = read(ctx, node, ["cat", HOSTS])
            for line in conflicting_entries(hosts.stdout, ctx.spec):
                findings.append(Finding("HOSTS_CONFLICT", node, FAIL,
                                        f"{HOSTS} maps a cluster node elsewhere: {line!r}",
                                        f"Remove or correct that line in {HOSTS} on {node}."))
        return findings

    def plan(self, ctx: Context) -> list[Action]:
        actions = []
        for node in ctx.spec.node_names:
            current = read(ctx, node, ["cat", HOSTS]).stdout
            wanted = hosts_with_block(current, ctx.spec)
            if wanted != current:
                entries = ", ".join(e.replace("\t", " ") for e in hosts_entries(ctx.spec))
                actions.append(Action(node, ("dd", f"of={HOSTS}", "status=none"),
                                      f"write the axha block into {HOSTS} ({entries})", stdin=wanted, timeout=30))
        return actions

    def verify(self, ctx: Context) -> list[Finding]:
        findings = []
        for node in ctx.spec.node_names:
            current = read(ctx, node, ["cat", HOSTS]).stdout
            ok = hosts_with_block(current, ctx.spec) == current
            findings.append(finding(ok, "HOSTS_ENTRIES", node, f"{HOSTS} has both nodes" if ok else
                                    f"{HOSTS} lacks the cluster entries", remedy=f"Check that {HOSTS} is writable."))
        return findings
