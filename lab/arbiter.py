"""The lab's arbiter (`axha lab up --arbiter`): a third host on the management net for a quorum device, running
the real corosync-qnetd of Debian's package, with no disks and no BMC (`axha lab power arbiter off|on` is its
power switch). Both nodes reach it over mgmt0, so cutting a node's two cluster links leaves both sides talking to it.

The package is installed on the lab host (packages.PACKAGES), whose /usr and /var/lib/dpkg are the machines'
lower layers: dpkg on the arbiter says corosync-qnetd is installed. What Debian's postinst does on a fresh
install happens on the arbiter itself at its first boot, so it is the arbiter's own and not the host's:
(corosync-qnetd 3.0.3-1 postinst, configure) no cert9.db yet -> `corosync-qnetd-certutil -i -G` (a new NSS
database and CA, empty password file), `chgrp coroqnetd` on the database, `update-rc.d corosync-qnetd defaults`
and a start. The host's own database (made by the host's postinst) is removed from the arbiter's view first.
Nothing of the cluster's (its certificate, corosync-qdevice on the nodes) is done here: that is axha's part."""
from __future__ import annotations

import shutil

from axha_lab import nodes
from axha_lab.host import say
from axha_lab.layout import ARBITER, Layout
from axha_lab.provision import provision_node

CONFIGURED = "/var/lib/axha-lab-node/qnetd-installed"
QNETD_DB = "/etc/corosync/qnetd/nssdb"
POSTINST = (f"set -e; rm -rf {QNETD_DB}; corosync-qnetd-certutil -i -G >/dev/null; "
            f"chgrp coroqnetd {QNETD_DB} {QNETD_DB}/cert9.db {QNETD_DB}/key4.db; "
            "systemctl enable corosync-qnetd >/dev/null; systemctl start corosync-qnetd; "
            f"mkdir -p {CONFIGURED.rsplit('/', 1)[0]}; date -u +%FT%TZ > {CONFIGURED}")


def provision(layout: Layout, pubkey: str) -> None:
    """The arbiter's disk (its state dir: from now on the instance has an arbiter) and its own files."""
    provision_node(layout, layout.arbiter, pubkey, {})


def configure_qnetd(layout: Layout) -> bool:
    """On the booted arbiter: Debian's postinst of corosync-qnetd, once (its own CA; enabled, started); True if
    it ran now."""
    instance = layout.instance
    if nodes.node_run(instance, ARBITER, ["test", "-e", CONFIGURED], check=False).returncode == 0:
        return False
    nodes.node_run(instance, ARBITER, ["sh", "-c", POSTINST], timeout=120)
    say("arbiter: corosync-qnetd installed the Debian way (its own CA), enabled and started")
    return True


def remove(layout: Layout) -> None:
    """`lab up --no-arbiter`: the arbiter powered off, its namespace and disk gone."""
    from axha_lab import net
    from axha_lab.host import run

    arbiter = layout.arbiter
    if not layout.has_arbiter:
        return
    nodes.power_off(layout.instance, ARBITER)
    if arbiter.netns in net.netns_list():
        run(["ip", "netns", "del", arbiter.netns])
    if arbiter.host_veth in net.links_in(None):
        run(["ip", "link", "del", arbiter.host_veth], check=False)
    shutil.rmtree(arbiter.state_dir, ignore_errors=True)
    say("arbiter removed")
