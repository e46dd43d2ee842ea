"""The quorum device (cluster file `quorum_device`): corosync-qnetd on a third host (the arbiter, runner
names.ARBITER), the TLS certificates the way corosync-qdevice-net-certutil makes them, corosync-qdevice on both
nodes; used by the install and by `axha quorum-device add|remove` (quorum_device_steps).

The certificates follow corosync-qdevice-net-certutil(8)'s "Typical usage" and its -Q quick start
(qdevices/corosync-qdevice-net-certutil.sh, corosync-qdevice v3.0.3 quick_start()), with axha moving the files
over its own SSH instead of scp: the arbiter's CA (`corosync-qnetd-certutil -i`, which Debian's postinst also
runs) -> each node's database (`-i -c qnetd-cacert.crt`); the first node's request (`-r -n CLUSTER`) -> signed on
the arbiter (`corosync-qnetd-certutil -s -c CRQ -n CLUSTER`, giving nssdb/cluster-CLUSTER.crt) -> imported on
the first node (`-M -c`, which also exports qdevice-net-node.p12) -> the p12 to the other node (`-m -c`). The
state is read with NSS's certutil (libnss3-tools, a dependency of both packages): the CA in each database, and
the "Cluster Cert" valid as an SSL client under it (`certutil -V -u C`); a database with another CA is removed
and made again, as the script asks ("Certificate database already exists. Delete it to continue").

Removal (the cluster file without `quorum_device`): the fence delay back, corosync-qdevice stopped and disabled,
corosync.conf with two_node again (reloaded), the nodes' qdevice databases removed; the arbiter is left alone (its
qnetd may serve other clusters)."""
from __future__ import annotations

import re

from axha.steps.errors import AxhaError
from axha.steps.framework import FAIL, PASS, WARN, Action, Context, Emit, Finding, Step, wait_for
from axha.steps.install.common import finding, read, service_actions, service_state, stdin_action
from axha.steps.names import ARBITER
from axha.steps.quorum_status import (QDEVICE_TOOL_ARGV, QNETD_STATUS_ARGV, QUORUMTOOL_ARGV, QuorumStatusError,
                                      parse_qdevice_status, parse_qnetd_status, parse_quorumtool_status)

QNETD_DB = "/etc/corosync/qnetd/nssdb"
QNETD_CA_FILE = f"{QNETD_DB}/qnetd-cacert.crt"
NODE_DB = "/etc/corosync/qdevice/net/nssdb"
NODE_CA_STAGED = "/etc/corosync/qdevice/net/axha-qnetd-cacert.crt"
CRQ = f"{NODE_DB}/qdevice-net-node.crq"
P12 = f"{NODE_DB}/qdevice-net-node.p12"
CA_NICKNAME = "QNet CA"
CLUSTER_NICKNAME = "Cluster Cert"
QNETD_SERVICE = "corosync-qnetd"
QNETD_GROUP = "coroqnetd"      # the packages' service user and group (Debian's postinst, Fedora's spec)
QDEVICE_SERVICE = "corosync-qdevice"
QDEVICE_BINARY = "/usr/sbin/corosync-qdevice"
QNETD_VERSION_ARGV = ("corosync-qnetd", "-v")
CONNECT_TIMEOUT = 90.0
MIN_QNETD = (3, 0)
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]{1,16384}?)\s*-----END CERTIFICATE-----")
_QNETD_VERSION = re.compile(r"Corosync Qdevice Network Daemon, version '(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?[^']{0,40}'")


def qnetd_crq(cluster: str) -> str:
    """Where the first node's certificate request is put on the arbiter (root's, beside qnetd's database)."""
    return f"{QNETD_DB}/axha-{cluster}.crq"


def qnetd_crt(cluster: str) -> str:
    """What `corosync-qnetd-certutil -s -n CLUSTER` writes (CRT_FILE, corosync-qnetd-certutil.sh v3.0.3)."""
    return f"{QNETD_DB}/cluster-{cluster}.crt"


def node_crt(cluster: str) -> str:
    return f"{NODE_DB}/cluster-{cluster}.crt"


def pem_body(text: str) -> str | None:
    """The base64 of the first PEM certificate in `text`, whitespace removed (None without one): how two `certutil
    -L -a` answers are compared."""
    m = _PEM.search(text[:65536])
    return re.sub(r"\s", "", m.group(1)) if m else None


def parse_qnetd_version(text: str) -> tuple[int, ...] | None:
    """`corosync-qnetd -v`: "Corosync Qdevice Network Daemon, version '3.0.3'" (qdevices/corosync-qnetd.c v3.0.3
    line 191; the same from v3.0.0 to HEAD)."""
    m = _QNETD_VERSION.search(text[:4096])
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


def qnetd_version(ctx: Context) -> tuple[int, ...] | None:
    """The arbiter's corosync-qnetd version (None: not installed; `-v` exits 1 after printing it)."""
    got = read(ctx, ARBITER, QNETD_VERSION_ARGV)
    return parse_qnetd_version(got.stdout + got.stderr)


def ca_of(ctx: Context, host: str, db: str) -> str | None:
    """The "QNet CA" certificate in an NSS database, as base64 (None: no database, or no CA in it)."""
    got = read(ctx, host, ["certutil", "-L", "-d", db, "-n", CA_NICKNAME, "-a"])
    return pem_body(got.stdout) if got.rc == 0 else None


def cluster_cert_valid(ctx: Context, node: str) -> bool:
    """The node's "Cluster Cert" is there and valid as an SSL client certificate under its database's CA."""
    return read(ctx, node, ["certutil", "-V", "-d", NODE_DB, "-n", CLUSTER_NICKNAME, "-u", "C"]).rc == 0


def quorum_status(ctx: Context, node: str):
    try:
        return parse_quorumtool_status(read(ctx, node, QUORUMTOOL_ARGV).stdout)
    except QuorumStatusError:
        return None


def qdevice_status(ctx: Context, node: str):
    try:
        return parse_qdevice_status(read(ctx, node, QDEVICE_TOOL_ARGV).stdout)
    except QuorumStatusError:
        return None


# ---------------------------------------------------------------- the arbiter


class QnetdStep(Step):
    """corosync-qnetd on the arbiter: its database and CA (`corosync-qnetd-certutil -i`, as the package's own
    postinst does on Debian), running and enabled at boot, answering corosync-qnetd-tool."""

    id = "qnetd"
    title = "Quorum device: corosync-qnetd on the arbiter, its CA, running"

    def check(self, ctx: Context) -> list[Finding]:
        version = qnetd_version(ctx)
        if version is None:
            return [Finding("QNETD_INSTALLED", ARBITER, FAIL, "corosync-qnetd is not installed on the arbiter",
                            "Install it there (apt-get install corosync-qnetd, dnf install corosync-qnetd) or run "
                            "with --install-packages.")]
        ok = version[:2] >= MIN_QNETD
        return [finding(ok, "QNETD_INSTALLED", ARBITER, f"corosync-qnetd {'.'.join(map(str, version))}",
                        remedy="corosync-qnetd 3.0 or newer is needed (the corosync 3 generation): upgrade it.")]

    def plan(self, ctx: Context) -> list[Action]:
        actions = []
        if ca_of(ctx, ARBITER, QNETD_DB) is None:
            if read(ctx, ARBITER, ["test", "-e", QNETD_DB]).rc == 0:
                actions.append(Action(ARBITER, ("rm", "-rf", QNETD_DB), "remove qnetd's certificate database "
                                      "without a CA (an interrupted set-up; no cluster can use it)"))
            actions.append(Action(ARBITER, ("corosync-qnetd-certutil", "-i", "-G"),
                                  "make qnetd's certificate database and CA (corosync-qnetd-certutil, as Debian's "
                                  "postinst does: no group write)"))
            if read(ctx, ARBITER, ["getent", "group", QNETD_GROUP]).rc == 0:
                # the script gives the files /etc/corosync/qnetd's group (root on Debian): qnetd runs as coroqnetd
                actions.append(Action(ARBITER, ("chgrp", QNETD_GROUP, QNETD_DB, f"{QNETD_DB}/cert9.db",
                                                f"{QNETD_DB}/key4.db"),
                                      f"let corosync-qnetd (group {QNETD_GROUP}) read its database"))
            if service_state(ctx, ARBITER, QNETD_SERVICE)[0]:
                actions.append(Action(ARBITER, ("systemctl", "restart", QNETD_SERVICE),
                                      "restart corosync-qnetd with its new database"))
        return actions + service_actions(ctx, ARBITER, QNETD_SERVICE, "the quorum device's daemon")

    def verify(self, ctx: Context) -> list[Finding]:
        def answers():
            got = read(ctx, ARBITER, QNETD_STATUS_ARGV)
            try:
                return parse_qnetd_status(got.stdout) if got.rc == 0 else None
            except QuorumStatusError:
                return None
        try:
            status = wait_for("corosync-qnetd answering on the arbiter", answers, 30.0, ctx, node=ARBITER)
        except AxhaError as exc:
            return [Finding("QNETD_RUNNING", ARBITER, FAIL, str(exc),
                            "Look at `journalctl -u corosync-qnetd` on the arbiter.")]
        return [finding(True, "QNETD_RUNNING", ARBITER, f"corosync-qnetd answers, TLS {status.tls}"),
                finding(ca_of(ctx, ARBITER, QNETD_DB) is not None, "QNETD_CA", ARBITER, "qnetd has its CA",
                        remedy="Run again: the database is made anew.")]


# ---------------------------------------------------------------- the certificates


class QdeviceCertsStep(Step):
    """Each node's qdevice database holds the arbiter's CA and the cluster's client certificate."""

    id = "qdevice-certs"
    title = "Quorum device: the arbiter's CA and the cluster's certificate on both nodes (TLS)"

    def __init__(self):
        self._sources: dict[tuple[str, str], tuple[str, str]] = {}

    def check(self, ctx: Context) -> list[Finding]:
        out = [finding(read(ctx, n, ["test", "-x", QDEVICE_BINARY]).rc == 0, "QDEVICE_INSTALLED", n,
                       "corosync-qdevice is installed", remedy="Install corosync-qdevice on the node (or run with "
                       "--install-packages).")
               for n in ctx.spec.node_names]
        out.append(finding(ca_of(ctx, ARBITER, QNETD_DB) is not None, "QNETD_CA", ARBITER, "qnetd has its CA",
                           remedy="The qnetd step makes it: run again."))
        return out

    def _state(self, ctx: Context, node: str, ca: str | None) -> str:
        """ok (the arbiter's CA and a valid cluster certificate), ca (the CA only), wrong (another CA or a broken
        database: made anew), none (no database)."""
        mine = ca_of(ctx, node, NODE_DB)
        if mine is None:
            return "wrong" if read(ctx, node, ["test", "-e", NODE_DB]).rc == 0 else "none"
        if mine != ca:
            return "wrong"
        if cluster_cert_valid(ctx, node):
            return "ok"
        exists = read(ctx, node, ["certutil", "-L", "-d", NODE_DB, "-n", CLUSTER_NICKNAME]).rc == 0
        return "wrong" if exists else "ca"

    def plan(self, ctx: Context) -> list[Action]:
        self._sources = {}
        cluster = ctx.spec.name
        ca = ca_of(ctx, ARBITER, QNETD_DB)
        states = {n: self._state(ctx, n, ca) for n in ctx.spec.node_names}
        actions: list[Action] = []
        for node, state in states.items():
            if state == "wrong":
                actions.append(Action(node, ("rm", "-rf", NODE_DB), "remove the qdevice certificate database: it "
                                      "holds another CA or a broken certificate (certificates only, no data)"))
            if state in ("wrong", "none"):
                self._sources[(node, NODE_CA_STAGED)] = (ARBITER, QNETD_CA_FILE)
                actions += [
                    Action(node, ("install", "-D", "-m", "0644", "/dev/stdin", NODE_CA_STAGED),
                           f"the arbiter's CA certificate ({QNETD_CA_FILE} there)"),
                    Action(node, ("corosync-qdevice-net-certutil", "-i", "-c", NODE_CA_STAGED),
                           "make the qdevice database with that CA"),
                    Action(node, ("rm", "-f", NODE_CA_STAGED), "remove the copied CA file"),
                ]
        source = next((n for n, s in states.items() if s == "ok"), None)
        if source is None:
            source = ctx.spec.node_names[0]
            self._sources[(ARBITER, qnetd_crq(cluster))] = (source, CRQ)
            self._sources[(source, node_crt(cluster))] = (ARBITER, qnetd_crt(cluster))
            actions += [
                Action(source, ("corosync-qdevice-net-certutil", "-r", "-n", cluster),
                       f"a certificate request for cluster {cluster} (a new key, kept in the node's database)"),
                Action(ARBITER, ("install", "-m", "0600", "/dev/stdin", qnetd_crq(cluster)),
                       f"{source}'s certificate request"),
                Action(ARBITER, ("corosync-qnetd-certutil", "-s", "-c", qnetd_crq(cluster), "-n", cluster),
                       f"sign it with qnetd's CA (writes {qnetd_crt(cluster)})"),
                Action(ARBITER, ("rm", "-f", qnetd_crq(cluster)), "remove the request"),
                Action(source, ("install", "-m", "0600", "/dev/stdin", node_crt(cluster)),
                       "the signed cluster certificate from the arbiter"),
                Action(source, ("corosync-qdevice-net-certutil", "-M", "-c", node_crt(cluster)),
                       f"import it (and export it with its key to {P12})"),
            ]
        elif read(ctx, source, ["test", "-s", P12]).rc != 0 and any(s != "ok" for s in states.values()):
            actions.append(Action(source, ("pk12util", "-d", NODE_DB, "-o", P12, "-W", "", "-n", CLUSTER_NICKNAME),
                                  "export the cluster certificate with its key (as -M does)"))
        for node, state in states.items():
            if node != source and state != "ok":
                self._sources[(node, P12)] = (source, P12)
                actions += [
                    Action(node, ("install", "-m", "0600", "/dev/stdin", P12),
                           f"the cluster certificate and key from {source} (over stdin, never logged)"),
                    Action(node, ("corosync-qdevice-net-certutil", "-m", "-c", P12), "import them"),
                ]
        return actions

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        for action in plan:
            if action.argv[:1] == ("install",) and action.argv[-2] == "/dev/stdin":
                src = self._sources.get((action.node, action.argv[-1]))
                if src is not None:
                    action = stdin_action(action, ctx.runner(src[0]).get(src[1]))
            ctx.execute(action, emit, self.id)

    def verify(self, ctx: Context) -> list[Finding]:
        ca = ca_of(ctx, ARBITER, QNETD_DB)
        out = []
        for node in ctx.spec.node_names:
            state = self._state(ctx, node, ca)
            out.append(finding(state == "ok", "QDEVICE_CERTS", node, "the arbiter's CA and a valid cluster "
                               "certificate" if state == "ok" else f"certificate database: {state}",
                               remedy="Run again: the database is made anew."))
        return out


# ---------------------------------------------------------------- the daemon on the nodes


def device_vote(ctx: Context, node: str):
    """None, or (the quorumtool status, the qdevice tool's) when `node` sees the device voting for it."""
    quorum, device = quorum_status(ctx, node), qdevice_status(ctx, node)
    if quorum is None or device is None or not device.connected or not quorum.has_qdevice:
        return None
    return (quorum, device) if quorum.device_votes_here and quorum.quorate else None


class QdeviceServiceStep(Step):
    """corosync-qdevice running on both nodes and connected to the arbiter, its vote counted (add); or stopped
    and disabled (remove)."""

    def __init__(self, remove: bool = False):
        self.remove = remove
        self.id = "qdevice-stop" if remove else "qdevice"
        self.title = ("Quorum device: corosync-qdevice stopped and disabled on both nodes" if remove else
                      "Quorum device: corosync-qdevice on both nodes, connected, its vote counted")

    def plan(self, ctx: Context) -> list[Action]:
        actions = []
        for node in ctx.spec.node_names:
            active, enabled = service_state(ctx, node, QDEVICE_SERVICE)
            if self.remove:
                if active:
                    actions.append(Action(node, ("systemctl", "stop", QDEVICE_SERVICE), "stop corosync-qdevice "
                                          "(corosync keeps quorum: two of the three votes)", timeout=120.0))
                if enabled:
                    actions.append(Action(node, ("systemctl", "disable", QDEVICE_SERVICE),
                                          "do not start it at boot"))
                continue
            if active and device_vote(ctx, node) is None:
                status = qdevice_status(ctx, node)
                if status is None or not status.connected:
                    actions.append(Action(node, ("systemctl", "restart", QDEVICE_SERVICE),
                                          "restart corosync-qdevice: it runs but is not connected", timeout=120.0))
            actions += service_actions(ctx, node, QDEVICE_SERVICE, "the quorum device's client")
        return actions

    def verify(self, ctx: Context) -> list[Finding]:
        out = []
        for node in ctx.spec.node_names:
            if self.remove:
                active = service_state(ctx, node, QDEVICE_SERVICE)[0]
                out.append(finding(not active, "QDEVICE_STOPPED", node, "corosync-qdevice stopped",
                                   remedy=f"systemctl stop {QDEVICE_SERVICE} on {node}."))
                continue
            try:
                quorum, device = wait_for(f"the quorum device's vote on {node}", lambda n=node: device_vote(ctx, n),
                                          CONNECT_TIMEOUT, ctx, node=node)
                out.append(finding(True, "QDEVICE_VOTE", node,
                                   f"connected to {device.host}:{device.port} ({device.algorithm}), the device's "
                                   f"vote counted: {quorum.total_votes} of {quorum.expected_votes} votes"))
            except AxhaError:
                device = qdevice_status(ctx, node)
                state = device.state if device else "corosync-qdevice does not answer"
                out.append(Finding("QDEVICE_VOTE", node, FAIL, f"the quorum device does not vote here ({state})",
                                   "Check that the node reaches the arbiter (TCP port of quorum_device), that "
                                   "corosync-qnetd runs there, and `journalctl -u corosync-qdevice` on the node."))
        return out


class QdeviceCertsRemove(Step):
    id = "qdevice-certs-remove"
    title = "Quorum device: the nodes' qdevice certificate databases removed"

    def plan(self, ctx: Context) -> list[Action]:
        return [Action(n, ("rm", "-rf", NODE_DB), "remove the qdevice certificate database (the cluster's client "
                       "key for the arbiter)") for n in ctx.spec.node_names
                if read(ctx, n, ["test", "-e", NODE_DB]).rc == 0]

    def verify(self, ctx: Context) -> list[Finding]:
        return [finding(read(ctx, n, ["test", "-e", NODE_DB]).rc != 0, "QDEVICE_CERTS_REMOVED", n,
                        f"no {NODE_DB}", remedy="Run again.") for n in ctx.spec.node_names]


class TwoNodeQuorum(Step):
    """After removal: corosync counts two votes with two_node on, no device."""

    id = "two-node-quorum"
    title = "Quorum: two_node again, no quorum device"

    def verify(self, ctx: Context) -> list[Finding]:
        out = []
        for node in ctx.spec.node_names:
            def probe(n=node):
                q = quorum_status(ctx, n)
                return q if q is not None and q.quorate and q.two_node and not q.has_qdevice else None
            try:
                q = wait_for(f"two-node quorum on {node}", probe, 60.0, ctx, node=node)
                out.append(finding(True, "TWO_NODE_QUORUM", node, f"quorate, flags {' '.join(q.flag_words)}"))
            except AxhaError:
                q = quorum_status(ctx, node)
                seen = f"flags {' '.join(q.flag_words)}, device {q.qdevice_name}" if q else "no answer"
                out.append(Finding("TWO_NODE_QUORUM", node, FAIL, f"not the two-node quorum ({seen})",
                                   "Check /etc/corosync/corosync.conf on the node and `corosync-cfgtool -R`."))
        return out


# ---------------------------------------------------------------- the preflight of the arbiter


def reach_argv(host: str, port: int) -> tuple[str, ...]:
    """A TCP connection from a node to host:port with bash's /dev/tcp (host and port are bash's positional
    arguments, never part of the script text)."""
    return ("timeout", "5", "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2"', "axha-reach", host, str(port))


class QuorumDevicePreflight(Step):
    """The arbiter before anything is changed: reachable over SSH, corosync-qnetd 3 (or installable), its clock
    synchronised, its qnetd port reachable from both nodes (and over which interface)."""

    id = "qdevice-preflight"
    title = "Quorum device: the arbiter reachable from both nodes, its qnetd and clock"

    def __init__(self, install_packages: bool = False):
        self.install_packages = install_packages

    def check(self, ctx: Context) -> list[Finding]:
        from axha.checks.system import parse_chrony_tracking, parse_timedatectl_show

        qd = ctx.spec.quorum_device
        out: list[Finding] = []
        got = read(ctx, ARBITER, ["hostname"])
        out.append(finding(got.rc == 0, "ARBITER_SSH", ARBITER, f"SSH to {qd.ssh_host}:{qd.ssh_port} "
                           f"({got.stdout.strip()[:64]})", remedy="Give axha SSH access to the arbiter."))
        version = qnetd_version(ctx)
        if version is None:
            out.append(Finding("QNETD_VERSION", ARBITER, WARN if self.install_packages else FAIL,
                               "corosync-qnetd is not installed" + (" (it will be)" if self.install_packages else ""),
                               "" if self.install_packages else "apt-get install corosync-qnetd on the arbiter, or "
                               "run with --install-packages."))
        else:
            out.append(finding(version[:2] >= MIN_QNETD, "QNETD_VERSION", ARBITER,
                               f"corosync-qnetd {'.'.join(map(str, version))}",
                               remedy="corosync-qnetd 3.0 or newer is needed: upgrade it on the arbiter."))
        chrony = read(ctx, ARBITER, ["chronyc", "tracking"])
        timed = read(ctx, ARBITER, ["timedatectl", "show"])
        syncs = [s for s in (parse_chrony_tracking(chrony.stdout, chrony.rc) if chrony.rc != 127 else None,
                             parse_timedatectl_show(timed.stdout, timed.rc)) if s is not None and s.synced is not None]
        synced = next((s for s in syncs if s.synced), None)
        out.append(Finding("ARBITER_TIME", ARBITER, PASS if synced else WARN,
                           f"clock synchronised ({synced.source}: {synced.detail})" if synced else
                           "the arbiter's clock is not known to be synchronised",
                           "" if synced else "Synchronise it with the nodes' NTP servers (chrony): the TLS "
                           "certificates and the logs need agreeing clocks."))
        for node in ctx.spec.nodes:
            reach = read(ctx, node.name, reach_argv(qd.host, qd.port), timeout=15)
            route = read(ctx, node.name, ["ip", "-o", "route", "get", qd.host]).stdout
            m = re.search(r"\bdev (\S+)", route)
            dev = m.group(1) if m else "?"
            if reach.rc != 0:
                out.append(Finding("ARBITER_REACHABLE", node.name, FAIL,
                                   f"{node.name} cannot open TCP {qd.host}:{qd.port} (route via {dev})",
                                   "Start corosync-qnetd on the arbiter and open the port in its firewall and "
                                   "between; the nodes' corosync-qdevice connects there."
                                   if version is not None else
                                   "Install corosync-qnetd on the arbiter first (its port is closed until then)."))
                if version is None:
                    out[-1] = Finding("ARBITER_REACHABLE", node.name, WARN, out[-1].summary, out[-1].remedy)
                continue
            shared = [f"link{i}" for i, link in enumerate(node.links) if link.interface == dev]
            if shared:
                out.append(Finding("ARBITER_REACHABLE", node.name, WARN,
                                   f"{node.name} reaches {qd.host}:{qd.port} over {dev}, its cluster {shared[0]}",
                                   "Best reached over a third network (the management LAN): a cut of that link "
                                   "then cannot also cut the node from the arbiter."))
            else:
                out.append(finding(True, "ARBITER_REACHABLE", node.name,
                                   f"{node.name} reaches {qd.host}:{qd.port} over {dev}, apart from its cluster "
                                   "links"))
        # the verdicts in the step's line (a check's PASS and WARN findings are not printed on their own)
        self.outcome = "; ".join(f.summary if f.status == PASS else f"{f.status} {f.summary} ({f.remedy})"
                                 for f in out)
        return out


class QuorumPackages(Step):
    """--install-packages: corosync-qnetd on the arbiter, corosync-qdevice on both nodes (apt or dnf)."""

    id = "qdevice-packages"
    title = "Quorum device packages: corosync-qnetd on the arbiter, corosync-qdevice on the nodes"

    @staticmethod
    def wanted(ctx: Context) -> list[tuple[str, str]]:
        return [(ARBITER, "corosync-qnetd")] + [(n, "corosync-qdevice") for n in ctx.spec.node_names]

    def plan(self, ctx: Context) -> list[Action]:
        from axha.steps.install.packages import install_actions, installed, manager

        actions = []
        for host, package in self.wanted(ctx):
            kind = manager(ctx, host)
            if kind is None:
                raise AxhaError(f"neither apt nor dnf on {host}", node=host,
                                remedy=f"Install {package} there by hand.")
            if package not in installed(ctx, host, kind, (package,)):
                actions += install_actions(host, kind, (package,))
        return actions

    def verify(self, ctx: Context) -> list[Finding]:
        from axha.steps.install.packages import installed, manager

        out = []
        for host, package in self.wanted(ctx):
            kind = manager(ctx, host)
            ok = kind is not None and package in installed(ctx, host, kind, (package,))
            out.append(finding(ok, "QDEVICE_PACKAGE", host, f"{package} installed", remedy=f"Install {package}."))
        return out


# ---------------------------------------------------------------- the operations


def add_steps(spec, options: dict | None = None) -> list[Step]:
    """The quorum device's part of the install, and `axha quorum-device add`: preflight, [packages], qnetd, the
    certificates, corosync.conf with the device (two_node off, reloaded), corosync-qdevice, the fence delay
    removed."""
    from axha.steps.install.corosync import CorosyncStep
    from axha.steps.install.fencing import FencingStep

    options = options or {}
    steps: list[Step] = [QuorumDevicePreflight(bool(options.get("install_packages")))]
    if options.get("install_packages"):
        steps.append(QuorumPackages())
    return steps + [QnetdStep(), QdeviceCertsStep(), CorosyncStep(), QdeviceServiceStep(), FencingStep()]


def remove_steps(spec) -> list[Step]:
    """`axha quorum-device remove` (the cluster file without quorum_device): the fence delay back, qdevice
    stopped, corosync.conf with two_node (reloaded), the nodes' certificates removed, two-node quorum verified."""
    from axha.steps.install.corosync import CorosyncStep
    from axha.steps.install.fencing import FencingStep

    return [FencingStep(), QdeviceServiceStep(remove=True), CorosyncStep(), QdeviceCertsRemove(), TwoNodeQuorum()]
