"""Writing the cluster file: a spec as the cluster file's YAML, saved only when it reads back (no secrets)."""
from __future__ import annotations

import os
from typing import Any

from axha.steps.bounded import dump_yaml
from axha.steps.files import atomic_write
from axha.steps.spec import ClusterSpec
from axha.steps.spec_load import parse_cluster


def spec_to_dict(spec: ClusterSpec) -> dict:
    """The cluster file's YAML structure for a spec (no secrets: the spec has none)."""
    out: dict[str, Any] = {"cluster": spec.name}
    ssh = {k: v for k, v in (("key_file", spec.ssh.key_file), ("known_hosts", spec.ssh.known_hosts)) if v}
    if ssh:
        out["ssh"] = ssh
    out["nodes"] = [
        {"name": n.name, "ssh_address": n.ssh_address, "ssh_port": n.ssh_port, "ssh_user": n.ssh_user,
         "link0": {"address": n.link0.address, "interface": n.link0.interface},
         "link1": {"address": n.link1.address, "interface": n.link1.interface},
         "bmc": {"address": n.bmc.address, "port": n.bmc.port, "user": n.bmc.user},
         "backing_disk": n.backing_disk}
        for n in spec.nodes
    ]
    storage: dict[str, Any] = {"mode": spec.storage.mode}
    if spec.storage.device:
        storage["device"] = spec.storage.device
    storage["drbd"] = {"resource": spec.storage.drbd.resource, "minor": spec.storage.drbd.minor,
                       "port": spec.storage.drbd.port}
    storage["filesystem"] = spec.storage.filesystem
    storage["mount_point"] = spec.storage.mount_point
    out["storage"] = storage
    out["vip"] = {"address": spec.vip.address, "cidr": spec.vip.cidr, "interface": spec.vip.interface}
    out["axigen"] = {"service": spec.axigen.service, "package": spec.axigen.package}
    qd = spec.quorum_device
    if qd is not None:
        out["quorum_device"] = {"host": qd.host, "port": qd.port, "algorithm": qd.algorithm,
                                **({"ssh_address": qd.ssh_address} if qd.ssh_address else {}),
                                "ssh_port": qd.ssh_port, "ssh_user": qd.ssh_user}
    if spec.secrets_file:
        out["secrets_file"] = spec.secrets_file
    return out


def dump_cluster(spec: ClusterSpec) -> str:
    return "# axha cluster file: no secrets here (see the secrets file)\n" + dump_yaml(spec_to_dict(spec))


def save_cluster(spec: ClusterSpec, path: str | os.PathLike) -> None:
    text = dump_cluster(spec)
    parse_cluster(text, str(path))  # never write a file we could not read back
    atomic_write(path, text, 0o644)


__all__ = ["save_cluster", "dump_cluster", "spec_to_dict"]
