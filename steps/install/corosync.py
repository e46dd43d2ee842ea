"""Install step 4: corosync.conf (knet, two links, crypto, two_node), one authkey on both nodes, corosync running."""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, Action, Context, Emit, Finding, Step, wait_for
from axha.steps.install.common import finding, read, service_actions, service_state, stdin_action
from axha.steps.names import COROSYNC_AUTHKEY, COROSYNC_CONF
from axha.steps.render import conf_word

STAGED = COROSYNC_CONF + ".axha-new"
BACKUP = COROSYNC_CONF + ".axha-orig"
KEYGEN_ARGV = ("corosync-keygen", "-k", COROSYNC_AUTHKEY)
KEY_INSTALL_ARGV = ("install", "-m", "0400", "-o", "root", "-g", "root", "/dev/stdin", COROSYNC_AUTHKEY)
JOIN_TIMEOUT = 60.0


def nodeids(spec) -> tuple[int, ...]:
    """The corosync node ids render_conf() gives the nodes: 1, 2 in the cluster file's order."""
    return tuple(range(1, len(spec.nodes) + 1))


def render_conf(spec) -> str:
    """The corosync.conf text for the cluster (pure): template from assets/corosync/. Every value goes in as one
    word (steps.render.conf_word): a newline or a brace in it is refused, never written."""
    template = Template(resources.files("axha.assets.corosync").joinpath("corosync.conf.tmpl").read_text())
    nodes = "".join(
        f"    node {{\n        name: {conf_word(node.name, 'the node name')}\n        nodeid: {int(i)}\n"
        f"        ring0_addr: {conf_word(node.link0.address, 'the link0 address')}\n"
        f"        ring1_addr: {conf_word(node.link1.address, 'the link1 address')}\n    }}\n"
        for i, node in zip(nodeids(spec), spec.nodes))
    return template.substitute(cluster=conf_word(spec.name, "the cluster name"), nodes=nodes,
                               quorum=quorum_section(spec.quorum_device))


TWO_NODE = ("    # two nodes: the survivor keeps quorum; wait_for_all (implied) keeps a lone booting node from acting alone\n"
            "    two_node: 1\n")


def quorum_section(qd) -> str:
    """The votequorum options inside quorum {}: two_node without a quorum device; with one, its device {} and no
    two_node (votequorum refuses the two together: exec/votequorum.c v3.1.7 lines 1295-1309, "two_node and quorum
    device cannot be configured at the same time", and two_node may change on a reload, lines 1364-1369). The
    device's layout is corosync-qdevice(8)'s: votes 1 (a two-node
    cluster: nodes - 1), model net, net { tls: on (client certificates, as corosync-qdevice-net-certutil sets
    them up), host, port, algorithm }."""
    if qd is None:
        return TWO_NODE
    return ("    # a third host's corosync-qnetd gives its vote to one side of a split: no fence race, no delay\n"
            "    device {\n"
            "        votes: 1\n"
            "        model: net\n"
            "        net {\n"
            "            tls: on\n"
            f"            host: {conf_word(qd.host, 'the quorum device host')}\n"
            f"            port: {int(qd.port)}\n"
            f"            algorithm: {conf_word(qd.algorithm, 'the quorum device algorithm')}\n"
            "        }\n"
            "    }\n")


# ---------------------------------------------------------------- parsers (pure)


def parse_sha256sum(text: str) -> str | None:
    m = re.match(r"^([0-9a-f]{64})\s", text)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Quorum:
    quorate: bool
    nodes: int
    flags: tuple[str, ...]
    members: tuple[str, ...]
    qdevice: str | None = None


def parse_quorumtool(text: str) -> Quorum:
    """`corosync-quorumtool -s`: quorate, node count, flags (in printed order), member names and the quorum
    device's name. A thin wrapper over steps.quorum_status.parse_quorumtool_status(), where the format is read
    (corosync 3.0.0 to HEAD); an output that parser refuses (empty: corosync not running, cut, not the tool's)
    gives the empty Quorum(False, 0, (), (), None), as an empty output always did here."""
    from axha.steps.quorum_status import QuorumStatusError, parse_quorumtool_status
    try:
        status = parse_quorumtool_status(text)
    except QuorumStatusError:
        return Quorum(False, 0, (), (), None)
    return Quorum(status.quorate, status.nodes, status.flag_words, status.member_names, status.qdevice_name)


def links_up(text: str, ids: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Ids of the knet links on which every peer is connected (from `corosync-cfgtool -s`); `ids`: the cluster's
    node ids (corosync 3.0.0-3.0.1 number the nodes by position)."""
    from axha.steps.corosync_status import parse_cfgtool
    return tuple(link.link_id for link in parse_cfgtool(text, ids).links if link.up)


# ---------------------------------------------------------------- the step


class CorosyncStep(Step):
    id = "corosync"
    title = "Corosync: knet on two links, crypto, two-node quorum"

    def __init__(self):
        self._key_source: str | None = None

    def check(self, ctx: Context) -> list[Finding]:
        return [finding(read(ctx, node, ["corosync", "-v"]).rc == 0, "COROSYNC_INSTALLED", node,
                        "corosync is installed", remedy="Install corosync (or run with --install-packages).")
                for node in ctx.spec.node_names]

    def _key_hashes(self, ctx: Context) -> dict[str, str | None]:
        # only a hash of the key leaves the node, never the key (the key itself moves by get/stdin in apply)
        return {node: parse_sha256sum(read(ctx, node, ["sha256sum", COROSYNC_AUTHKEY]).stdout)
                for node in ctx.spec.node_names}

    def plan(self, ctx: Context) -> list[Action]:
        names = ctx.spec.node_names
        actions: list[Action] = []
        hashes = self._key_hashes(ctx)
        source = next((n for n in names if hashes[n]), None)
        if source is None:
            source = names[0]
            actions.append(Action(source, KEYGEN_ARGV, "generate the corosync authkey (random, mode 0400)"))
        self._key_source = source
        for node in names:
            if node != source and (hashes[node] is None or hashes[node] != hashes[source]):
                actions.append(Action(node, KEY_INSTALL_ARGV,
                                      f"copy the authkey from {source}, mode 0400 (content over stdin, never logged)"))
        wanted = render_conf(ctx.spec)
        reloads: list[Action] = []
        for node in names:
            current = read(ctx, node, ["cat", COROSYNC_CONF])
            if current.rc == 0 and current.stdout == wanted:
                continue
            if current.rc == 0 and read(ctx, node, ["test", "-e", BACKUP]).rc != 0:
                actions.append(Action(node, ("cp", "-p", COROSYNC_CONF, BACKUP), "keep the original corosync.conf"))
            actions += [
                Action(node, ("install", "-m", "0644", "/dev/stdin", STAGED), "stage the new corosync.conf",
                       stdin=wanted),
                Action(node, ("corosync", "-t", "-c", STAGED), "check it with corosync itself before using it"),
                Action(node, ("mv", "-f", STAGED, COROSYNC_CONF), "put the checked corosync.conf in place"),
            ]
            if service_state(ctx, node, "corosync")[0] and not reloads:
                # -R: "Tell all instances of corosync in this cluster to reload corosync.conf" (corosync-cfgtool(8),
                # v3.1.7): once, after both files are in place
                reloads.append(Action(node, ("corosync-cfgtool", "-R"), "make the running corosync reload it "
                                      "(on every node: both files are in place)"))
        actions += reloads
        for node in names:
            actions += service_actions(ctx, node, "corosync", "the cluster membership layer")
        return actions

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        key: bytes | None = None
        for action in plan:
            if tuple(action.argv) == KEY_INSTALL_ARGV:
                if key is None:
                    key = ctx.runner(self._key_source).get(COROSYNC_AUTHKEY)
                    if len(key) < 128:
                        raise AxhaError(f"the authkey on {self._key_source} is only {len(key)} bytes",
                                        node=self._key_source, remedy=f"Remove {COROSYNC_AUTHKEY} there and run again.")
                action = stdin_action(action, key)
            ctx.execute(action, emit, self.id)

    def verify(self, ctx: Context) -> list[Finding]:
        findings = []
        hashes = self._key_hashes(ctx)
        same = len(set(hashes.values())) == 1 and None not in hashes.values()
        findings.append(finding(same, "COROSYNC_AUTHKEY_SAME", None, "the same authkey on both nodes" if same
                                else "the authkey differs or is missing", remedy="Run the install again."))
        for node in ctx.spec.node_names:
            try:
                up = wait_for(f"both corosync links up on {node}",
                              lambda n=node: (lambda ids: ids if set(ids) >= {0, 1} else None)(
                                  links_up(read(ctx, n, ["corosync-cfgtool", "-s"]).stdout, nodeids(ctx.spec))),
                              JOIN_TIMEOUT, ctx, node=node)
                findings.append(finding(True, "COROSYNC_LINKS_UP", node, f"links {', '.join(map(str, up))} up"))
            except AxhaError as exc:
                out = read(ctx, node, ["corosync-cfgtool", "-s"])
                findings.append(Finding("COROSYNC_LINKS_UP", node, FAIL, str(exc),
                                        "Check both link interfaces and addresses, and the firewall (UDP 5405).",
                                        (out.stdout + out.stderr).strip()))
            findings.append(membership_finding(ctx, node))
        return findings


def membership_finding(ctx: Context, node: str) -> Finding:
    """Both nodes members and quorate as `node` sees it, waited for: the links are up some time before the
    membership forms (the token and consensus timeouts), longer on a busy machine."""
    last = [Quorum(False, 0, (), ())]

    def probe() -> Quorum | None:
        last[0] = parse_quorumtool(read(ctx, node, ["corosync-quorumtool", "-s"]).stdout)
        return last[0] if last[0].quorate and last[0].nodes == 2 else None

    try:
        quorum = wait_for(f"both nodes quorate members on {node}", probe, JOIN_TIMEOUT, ctx, node=node)
        return finding(True, "COROSYNC_MEMBERSHIP", node, f"quorate, members {', '.join(quorum.members)}")
    except AxhaError:
        return Finding("COROSYNC_MEMBERSHIP", node, FAIL,
                       f"quorate={last[0].quorate}, {last[0].nodes} node(s) after {JOIN_TIMEOUT:g} s",
                       "Check that corosync runs on both nodes and the links connect.")
