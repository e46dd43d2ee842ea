"""The inventory form's fields: the cluster-file key each input edits (label, placeholder, kind), and the pure
helpers between a key, its input's id and the parsed file's value."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One cluster-file key edited by an input: `key` is its path in the YAML (node index 0 for node fields)."""

    key: tuple
    label: str
    placeholder: str = ""
    kind: str = "str"  # str | int | select
    options: tuple[str, ...] = ()


CLUSTER_FIELDS = (
    Field(("cluster",), "Cluster name", "axigen"),
    Field(("vip", "address"), "Virtual IP", "e.g. 192.168.1.100"),
    Field(("vip", "cidr"), "VIP prefix length", "24", "int"),
    Field(("vip", "interface"), "VIP interface", "e.g. eth0"),
    Field(("axigen", "service"), "Axigen service", "axigen"),
    Field(("axigen", "package"), "Axigen package", "axigen"),
    Field(("ssh", "key_file"), "SSH key file", "default: agent / ~/.ssh/id_*"),
    Field(("ssh", "known_hosts"), "known_hosts file", "default: ~/.ssh/known_hosts"),
    Field(("secrets_file",), "Secrets file", "default: beside the cluster file (below)"),
)
NODE_FIELDS = (
    Field(("name",), "Hostname", "uname -n"),
    Field(("ssh_address",), "SSH address", "IP or host"),
    Field(("ssh_port",), "SSH port", "22", "int"),
    Field(("ssh_user",), "SSH user", "root"),
    Field(("link0", "address"), "link0 address", "cluster link 1"),
    Field(("link0", "interface"), "link0 NIC", "e.g. eth1"),
    Field(("link1", "address"), "link1 address", "cluster link 2"),
    Field(("link1", "interface"), "link1 NIC", "e.g. eth2"),
    Field(("bmc", "address"), "BMC address", "IPMI LAN"),
    Field(("bmc", "port"), "BMC port", "623", "int"),
    Field(("bmc", "user"), "BMC user", "e.g. admin"),
    Field(("backing_disk",), "DRBD disk", "e.g. /dev/sdb"),
)
STORAGE_FIELDS = (
    Field(("storage", "mode"), "Storage mode", "", "select", ("drbd", "shared")),
    Field(("storage", "device"), "Shared device", "shared mode only"),
    Field(("storage", "drbd", "resource"), "DRBD resource", "axigen"),
    Field(("storage", "drbd", "minor"), "DRBD minor", "0", "int"),
    Field(("storage", "drbd", "port"), "DRBD port", "7789", "int"),
    Field(("storage", "filesystem"), "Filesystem", "", "select", ("ext4", "xfs")),
    Field(("storage", "mount_point"), "Mount point", "/var/opt/axigen"),
)
NUMBER = re.compile(r"^-?\d+$")


def field_id(key: tuple) -> str:
    return "f-" + "-".join(str(k) for k in key)


def node_key(index: int, field: Field) -> tuple:
    return ("nodes", index) + field.key


def all_keys() -> list[tuple[tuple, Field]]:
    keys = [(f.key, f) for f in CLUSTER_FIELDS]
    keys += [(node_key(i, f), f) for f in NODE_FIELDS for i in (0, 1)]
    keys += [(f.key, f) for f in STORAGE_FIELDS]
    return keys


def key_to_id(dotted: str) -> str:
    """SpecError.key ('nodes[0].link0.address') -> the input's id ('f-nodes-0-link0-address')."""
    parts = dotted.replace("[", ".").replace("]", "").split(".")
    return "f-" + "-".join(p for p in parts if p)


def _dig(data: Any, key: tuple) -> Any:
    for part in key:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
            data = data[part]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(part)
    return data


def _put(data: dict, key: tuple, value: Any) -> None:
    here: Any = data
    for part, nxt in zip(key, key[1:]):
        if isinstance(part, int):
            while len(here) <= part:
                here.append({})
            here = here[part]
        else:
            here = here.setdefault(part, [] if isinstance(nxt, int) else {})
    last = key[-1]
    here[last] = value
