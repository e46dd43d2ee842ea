"""Names, addresses and paths of one lab instance (pure; see CONTRACTS.md "The lab")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_ROOT = Path("/var/lib/axha-lab")
LAB_DIR = Path(__file__).resolve().parent
REPO_DIR = LAB_DIR.parent
ROOTFS_DIR = LAB_DIR / "rootfs"
PROFILES_DIR = LAB_DIR / "profiles"
BOOT_SCRIPT = LAB_DIR / "boot.sh"
MAX_INSTANCE = 9  # lead allocation: 0..9 (8 = E, 9 = overflow)
BMC_PORT = 623
BMC_USER = "admin"
BACKING_DISK_MIB = 1024
SHARED_DISK_MIB = 1024
SYNC_SECONDS = 20
ARBITER = "arbiter"   # `lab up --arbiter`: a third host on the management net running corosync-qnetd
QNETD_PORT = 5403


class LabError(Exception):
    """A lab operation failed; the message says what happened and what to do next."""


@dataclass(frozen=True)
class NodeLayout:
    """Where one node of an instance lives: namespace, addresses, state paths."""

    instance: int
    name: str
    index: int  # 1 or 2

    @property
    def netns(self) -> str:
        return f"axlab{self.instance}-{self.name}"

    @property
    def host_veth(self) -> str:
        return f"axl{self.instance}n{self.index}m"

    def address(self, net: str) -> str:
        base = 77 + 3 * self.instance + {"mgmt0": 0, "link0": 1, "link1": 2}[net]
        return f"192.168.{base}.{10 + self.index}"

    @property
    def ssh_address(self) -> str:
        return self.address("mgmt0")

    @property
    def bmc_address(self) -> str:
        """The BMC's address: .201/.202 on the instance's mgmt net, or the one `lab reinstall --new-bmc` gave a
        node's new board (kept in its state dir, so status, power and the cluster file all use it)."""
        override = self.state_dir / "bmc.address"
        if override.exists():
            return override.read_text().strip()
        return self.first_bmc_address

    @property
    def first_bmc_address(self) -> str:
        return f"192.168.{77 + 3 * self.instance}.{200 + self.index}"

    @property
    def new_bmc_address(self) -> str:
        """The address a replacement board's BMC gets (`lab reinstall --new-bmc`)."""
        return f"192.168.{77 + 3 * self.instance}.{210 + self.index}"

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / str(self.instance) / self.name

    @property
    def upper_dir(self) -> Path:
        return self.state_dir / "upper"

    @property
    def work_dir(self) -> Path:
        return self.state_dir / "work"

    @property
    def backing_image(self) -> Path:
        return self.state_dir / "vdb.img"

    @property
    def console_log(self) -> Path:
        return self.state_dir / "console.log"

    @property
    def boot_env(self) -> Path:
        return self.state_dir / "boot.env"

    @property
    def bmc_password_file(self) -> Path:
        return self.state_dir / "bmc.password"

    @property
    def bmc_log(self) -> Path:
        return self.state_dir / "bmc.log"


@dataclass(frozen=True)
class Layout:
    """One lab instance: its bridge, subnets, nodes and state directory."""

    instance: int

    def __post_init__(self) -> None:
        if not 0 <= self.instance <= MAX_INSTANCE:
            raise LabError(f"lab instance must be 0..{MAX_INSTANCE}, got {self.instance}")

    @property
    def bridge(self) -> str:
        return f"axlab{self.instance}br"

    @property
    def mgmt_prefix(self) -> str:
        return f"192.168.{77 + 3 * self.instance}"

    @property
    def bridge_address(self) -> str:
        return f"{self.mgmt_prefix}.1"

    @property
    def vip(self) -> str:
        return f"{self.mgmt_prefix}.100"

    @property
    def nodes(self) -> tuple[NodeLayout, NodeLayout]:
        return (NodeLayout(self.instance, "node1", 1), NodeLayout(self.instance, "node2", 2))

    def node(self, name: str) -> NodeLayout:
        for node in self.nodes:
            if node.name == name:
                return node
        raise LabError(f"no lab node named {name!r}; the lab nodes are node1 and node2")

    @property
    def arbiter(self) -> NodeLayout:
        """The quorum device's host (only its management NIC, no disks, no BMC): .13 on the management net,
        which both nodes reach whatever happens to their cluster links."""
        return NodeLayout(self.instance, ARBITER, 3)

    @property
    def has_arbiter(self) -> bool:
        """`lab up --arbiter` gave this instance an arbiter (its disk exists; `lab down` removes it)."""
        return self.arbiter.state_dir.is_dir()

    @property
    def machines(self) -> tuple[NodeLayout, ...]:
        """Every host of the instance: the two nodes, and the arbiter when it has one."""
        return self.nodes + ((self.arbiter,) if self.has_arbiter else ())

    def machine(self, name: str) -> NodeLayout:
        """A node or, by its name, the arbiter (power, exec)."""
        if name == ARBITER:
            if not self.has_arbiter:
                raise LabError(f"lab instance {self.instance} has no arbiter: `axha lab up --arbiter`")
            return self.arbiter
        return self.node(name)

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / str(self.instance)

    @property
    def shared_image(self) -> Path:
        return self.state_dir / "vdc.img"

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def lab_json(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def packages_dir(self) -> Path:
        return self.state_dir / "packages"


def instance_from_env(value: int | None) -> int:
    """The instance number: explicit value, else AXHA_LAB_INSTANCE, else 0."""
    if value is not None:
        return value
    raw = os.environ.get("AXHA_LAB_INSTANCE", "0").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise LabError(f"AXHA_LAB_INSTANCE must be a number 0..{MAX_INSTANCE}, got {raw!r}") from None
