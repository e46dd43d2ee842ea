"""The cluster file's model: a validated cluster as frozen dataclasses (steps.spec_load reads and validates the
file into them, with errors that name file, line and key; steps.spec_save writes them back)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Link:
    address: str
    interface: str


@dataclass(frozen=True)
class BmcSpec:
    address: str
    user: str
    port: int = 623


@dataclass(frozen=True)
class NodeSpec:
    name: str
    ssh_address: str
    link0: Link
    link1: Link
    bmc: BmcSpec
    backing_disk: str
    ssh_port: int = 22
    ssh_user: str = "root"

    @property
    def links(self) -> tuple[Link, Link]:
        return (self.link0, self.link1)


@dataclass(frozen=True)
class DrbdSpec:
    resource: str = "axigen"
    minor: int = 0
    port: int = 7789

    @property
    def device(self) -> str:
        return f"/dev/drbd{self.minor}"


@dataclass(frozen=True)
class StorageSpec:
    mode: str = "drbd"
    device: str | None = None
    drbd: DrbdSpec = field(default_factory=DrbdSpec)
    filesystem: str = "ext4"
    mount_point: str = "/var/opt/axigen"

    @property
    def data_device(self) -> str:
        """The block device the filesystem lives on: DRBD's device or the shared array's."""
        return self.drbd.device if self.mode == "drbd" else str(self.device)


@dataclass(frozen=True)
class VipSpec:
    address: str
    cidr: int
    interface: str


@dataclass(frozen=True)
class AxigenSpec:
    service: str = "axigen"
    package: str = "axigen"


@dataclass(frozen=True)
class SshSpec:
    key_file: str | None = None
    known_hosts: str | None = None


@dataclass(frozen=True)
class SshTarget:
    """What an SshRunner needs of a host that is not a node (the quorum device's arbiter)."""

    name: str
    ssh_address: str
    ssh_port: int = 22
    ssh_user: str = "root"


@dataclass(frozen=True)
class QuorumDeviceSpec:
    """A third host running corosync-qnetd that gives its vote to one side of a split (corosync-qdevice's net
    model): `host` is where the nodes' corosync-qdevice connects (TCP `port`), the ssh_* how axha reaches it to
    set it up (its ssh_address defaults to `host`)."""

    host: str
    port: int = 5403
    algorithm: str = "ffsplit"
    ssh_address: str | None = None
    ssh_port: int = 22
    ssh_user: str = "root"

    @property
    def ssh_host(self) -> str:
        return self.ssh_address or self.host

    @property
    def ssh_target(self) -> SshTarget:
        """The arbiter as axha's SSH reaches it, under the runner name names.ARBITER."""
        from axha.steps.names import ARBITER
        return SshTarget(ARBITER, self.ssh_host, self.ssh_port, self.ssh_user)


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    nodes: tuple[NodeSpec, NodeSpec]
    storage: StorageSpec
    vip: VipSpec
    axigen: AxigenSpec = field(default_factory=AxigenSpec)
    ssh: SshSpec = field(default_factory=SshSpec)
    quorum_device: QuorumDeviceSpec | None = None
    secrets_file: str | None = None
    path: str | None = None

    def node(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def peer(self, name: str) -> NodeSpec:
        return self.nodes[1] if self.nodes[0].name == name else self.nodes[0]

    @property
    def node_names(self) -> tuple[str, str]:
        return (self.nodes[0].name, self.nodes[1].name)


__all__ = ["ClusterSpec", "NodeSpec", "Link", "BmcSpec", "StorageSpec", "DrbdSpec", "VipSpec", "AxigenSpec",
           "SshSpec", "QuorumDeviceSpec", "SshTarget", "replace"]
