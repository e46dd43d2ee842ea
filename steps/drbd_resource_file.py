"""The DRBD resource file /etc/drbd.d/<res>.res for a ClusterSpec (assets/drbd/resource.res.tmpl)."""
from __future__ import annotations

from importlib import resources as _resources
from string import Template

from axha.steps.render import conf_word


FENCE_PEER = "/usr/lib/drbd/crm-fence-peer.9.sh"
UNFENCE_PEER = "/usr/lib/drbd/crm-unfence-peer.9.sh"
VERIFY_ALG = "sha256"
# Dynamic resync controller: plan 2 s ahead, up to 720 MiB/s when idle, never below 20 MiB/s under application I/O.
RESYNC = (("c-plan-ahead", "20"), ("c-max-rate", "720M"), ("c-min-rate", "20M"), ("resync-rate", "100M"))


def render_resource(spec) -> str:
    """/etc/drbd.d/<res>.res for a ClusterSpec: one `on` section per node, two replication paths (link0, link1),
    protocol C, resource-and-stonith fencing with the Pacemaker handlers, auto-promote off (Pacemaker promotes).
    Every value goes in as one word (steps.render.conf_word): a space, `;`, a brace or a quote is refused."""
    drbd = spec.storage.drbd
    hosts = "".join(_on_section(i, node, drbd) for i, node in enumerate(spec.nodes))
    a, b = spec.nodes
    paths = "".join(
        f"    path {{\n"
        f"      host {conf_word(a.name, 'the node name')} address {_addr(a.links[i].address, drbd.port)};\n"
        f"      host {conf_word(b.name, 'the node name')} address {_addr(b.links[i].address, drbd.port)};\n"
        f"    }}\n" for i in (0, 1))
    template = Template(_resources.files("axha.assets").joinpath("drbd/resource.res.tmpl").read_text())
    resync = "".join(f"    {key} {value};\n" for key, value in RESYNC)
    return template.substitute(resource=conf_word(drbd.resource, "the DRBD resource name"), hosts=hosts,
                               paths=paths, resync=resync, verify_alg=VERIFY_ALG, fence_peer=FENCE_PEER,
                               unfence_peer=UNFENCE_PEER, cluster=conf_word(spec.name, "the cluster name"))


def _addr(ip: str, port: int) -> str:
    ip = conf_word(ip, "a link address")
    return f"ipv6 [{ip}]:{int(port)}" if ":" in ip else f"{ip}:{int(port)}"


def _on_section(index: int, node, drbd) -> str:
    return (f"  on {conf_word(node.name, 'the node name')} {{\n"
            f"    node-id {int(index)};\n"
            f"    device {conf_word(drbd.device, 'the DRBD device')} minor {int(drbd.minor)};\n"
            f"    disk {conf_word(node.backing_disk, 'the backing disk')};\n"
            f"    meta-disk internal;\n"
            f"    address {_addr(node.link0.address, drbd.port)};\n"
            f"  }}\n")


def resource_path(resource: str) -> str:
    return f"/etc/drbd.d/{resource}.res"
