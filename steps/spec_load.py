"""Reading the cluster file: YAML read into steps.spec's validated frozen dataclasses, with errors that name file,
line and key."""
from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

from axha.steps.bounded import YamlProblem, decode_utf8, load_yaml
from axha.steps.files import FileProblem, read_regular
from axha.steps.errors import InputError
from axha.steps.spec import (AxigenSpec, BmcSpec, ClusterSpec, DrbdSpec, Link, NodeSpec, QuorumDeviceSpec, SshSpec,
                             StorageSpec, VipSpec)

# every pattern is used with fullmatch (a `$` would also match before a trailing newline)
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
HOST_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
NODE_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# a Linux interface name (the kernel's dev_valid_name: < 16 bytes, no '/', ':' or space, not . or ..), here also
# not starting with '-' or '.' (it is an argument of ip and ping)
IFACE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
BMC_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,15}")
DEV_RE = re.compile(r"/dev/[A-Za-z0-9_.:+-][A-Za-z0-9_./:+-]*")
# mount points and device paths that are not a data disk or a data directory
NOT_A_DISK = ("/dev/shm/", "/dev/mqueue/", "/dev/pts/", "/dev/hugepages/", "/dev/fd/", "/dev/stdin", "/dev/stdout",
              "/dev/stderr", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
               "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/lib", "/var/log",
               "/var/opt")
MOUNT_RE = re.compile(r"/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
RESOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# a package name both package managers accept: dpkg's rule ([a-z0-9][a-z0-9+.-]+, policy 5.6.1) and rpm's
# (letters, digits, - . _ +), so not ending in '-' (apt reads a trailing - or + as "remove"/"install")
PACKAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,98}[A-Za-z0-9+]")
IFACE_WHAT = "interface name (at most 15 letters, digits and _ . -, not starting with . or -)"
SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "private_key")
STORAGE_MODES = ("drbd", "shared")
FILESYSTEMS = ("ext4", "xfs")
QDEVICE_ALGORITHMS = ("ffsplit", "lms")   # corosync-qdevice(8): the net model's algorithms for a two-node cluster


class SpecError(InputError):
    """A cluster file problem, located by file, line and key."""

    def __init__(self, path: str, line: int | None, key: str, message: str):
        self.path, self.line, self.key, self.message = path, line, key, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}", remedy="Correct the cluster file and run again.")


class _Reader:
    """Reads typed values out of the parsed YAML, raising SpecError with file, line and dotted key."""

    def __init__(self, path: str, lines: dict[tuple, int]):
        self.path, self.lines = path, lines

    def fail(self, keypath: tuple, message: str) -> SpecError:
        line = None
        for cut in range(len(keypath), -1, -1):
            line = self.lines.get(keypath[:cut])
            if line:
                break
        return SpecError(self.path, line, _dotted(keypath) or "(top)", message)

    def mapping(self, value: Any, keypath: tuple, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(keypath, f"expected a mapping with keys {', '.join(allowed)}, got {_kind(value)}")
        for key in value:
            if key != "secrets_file" and any(word in str(key).lower() for word in SECRET_WORDS):
                raise self.fail(keypath + (key,), "secrets never belong in the cluster file: put it in the "
                                "0600 secrets file or an AXHA_* environment variable")
            if key not in allowed:
                raise self.fail(keypath + (key,), f"unknown key; expected one of: {', '.join(allowed)}")
        return value

    def get(self, data: dict, key: str, keypath: tuple, kind: type, default: Any = ...) -> Any:
        if key not in data or data[key] is None:
            if default is ...:
                raise self.fail(keypath + (key,), f"missing required key '{key}'")
            return default
        value = data[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(keypath + (key,), f"expected a whole number, got {_kind(value)} {_show(value)}")
        if kind is str and not isinstance(value, str):
            raise self.fail(keypath + (key,), f"expected text, got {_kind(value)} {_show(value)}"
                            + (" (put it in quotes)" if isinstance(value, (int, float, bool)) else ""))
        if kind is dict and not isinstance(value, dict):
            raise self.fail(keypath + (key,), f"expected a mapping, got {_kind(value)}")
        return value

    def string(self, data: dict, key: str, keypath: tuple, pattern: re.Pattern | None, what: str,
               default: Any = ...) -> Any:
        value = self.get(data, key, keypath, str, default)
        if value is default and default is not ...:
            return value
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(keypath + (key,), f"{_show(value)} is not a valid {what}")
        return value

    def number(self, data: dict, key: str, keypath: tuple, low: int, high: int, default: Any = ...) -> int:
        value = self.get(data, key, keypath, int, default)
        if not low <= value <= high:
            raise self.fail(keypath + (key,), f"{value} is out of range {low}..{high}")
        return value

    def ip(self, data: dict, key: str, keypath: tuple, zone: bool = False) -> str:
        value = self.get(data, key, keypath, str)
        try:
            return canonical_ip(value, zone)
        except ValueError as exc:
            raise self.fail(keypath + (key,), f"{_show(value)} is not an IP address {exc}") from None

    def host(self, data: dict, key: str, keypath: tuple) -> str:
        """An IP address (canonical form, a zone id allowed) or a DNS host name (lower case)."""
        value = self.get(data, key, keypath, str)
        try:
            return canonical_ip(value, True)
        except ValueError as exc:
            if ":" in value or "%" in value or value.replace(".", "").isdigit():
                raise self.fail(keypath + (key,), f"{_show(value)} is not an IP address {exc}") from None
        name = value.lower()
        if HOST_RE.fullmatch(name):
            return name
        raise self.fail(keypath + (key,), f"{_show(value)} is neither an IP address nor a host name")

    def device(self, data: dict, key: str, keypath: tuple, default: Any = ...) -> Any:
        value = self.get(data, key, keypath, str, default)
        if value is default and default is not ...:
            return value
        problem = device_problem(value)
        if problem:
            raise self.fail(keypath + (key,), problem)
        return value


def canonical_ip(text: str, zone: bool = False) -> str:
    """An IP address in canonical form: parsed by ipaddress and written out again, an IPv4-mapped IPv6 address
    as the IPv4 address it is; an IPv6 zone id (fe80::1%eth0) only when `zone`, and then an interface name.
    ValueError (its text says what is expected) otherwise."""
    address, sep, scope = text.partition("%")
    if sep and not zone:
        raise ValueError("(a zone id such as %eth0 is not used here; give a global or unique local address)")
    if sep and not IFACE_RE.fullmatch(scope):
        raise ValueError("(its zone id after % must be an interface name such as eth0)")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError("(expected e.g. 192.168.1.10 or fd00::10)") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        if sep:
            raise ValueError("(an IPv4-mapped address has no zone id)")
        ip = ip.ipv4_mapped
    if sep and ip.version == 4:
        raise ValueError("(an IPv4 address has no zone id)")
    return f"{ip}%{scope}" if sep else str(ip)


def device_problem(value: str) -> str | None:
    """Why `value` is not a block device path axha may use (None when it is): normalised, under /dev."""
    import posixpath

    if not DEV_RE.fullmatch(value):
        return f"{_show(value)} is not a device path (expected /dev/... with letters, digits and _ . : + - /)"
    if posixpath.normpath(value) != value:
        return (f"{_show(value)} is not a normalised path (no //, /./, /../ or trailing /): it would be "
                f"{posixpath.normpath(value)}")
    if any(value == bad.rstrip("/") or value.startswith(bad) for bad in NOT_A_DISK):
        return f"{_show(value)} is not a disk device"
    return None


def _show(value: Any) -> str:
    """A value for an error message: repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number",
            bool: "true/false", type(None): "nothing"}.get(type(value), type(value).__name__)


def parse_cluster(text: str, path: str = "<cluster file>") -> ClusterSpec:
    """Parse and validate cluster file text; raise SpecError on the first problem."""
    try:
        data, lines = load_yaml(text)
    except YamlProblem as exc:
        raise SpecError(path, exc.line, _dotted(exc.keypath) or "(syntax)", exc.message) from None
    r = _Reader(path, lines)
    top = r.mapping(data, (), ("cluster", "ssh", "nodes", "storage", "vip", "axigen", "quorum_device", "secrets_file"))
    name = r.string(top, "cluster", (), NAME_RE, "cluster name (letters, digits, - and _, at most 32)")
    ssh = _parse_ssh(r, r.get(top, "ssh", (), dict, {}), ("ssh",), path)
    nodes_raw = r.get(top, "nodes", (), list)
    if not isinstance(nodes_raw, list) or len(nodes_raw) != 2:
        count = len(nodes_raw) if isinstance(nodes_raw, list) else _kind(nodes_raw)
        raise r.fail(("nodes",), f"expected a list of exactly two nodes, got {count}")
    nodes = tuple(_parse_node(r, raw, ("nodes", i)) for i, raw in enumerate(nodes_raw))
    storage = _parse_storage(r, r.get(top, "storage", (), dict, {}), ("storage",))
    vip = _parse_vip(r, r.get(top, "vip", (), dict), ("vip",))
    axigen_raw = r.mapping(r.get(top, "axigen", (), dict, {}), ("axigen",), ("service", "package"))
    axigen = AxigenSpec(
        service=r.string(axigen_raw, "service", ("axigen",), SERVICE_RE,
                         "service name (letters, digits and _ . @ -)", "axigen"),
        package=r.string(axigen_raw, "package", ("axigen",), PACKAGE_RE,
                         "package name (letters, digits and + . _ -, as dpkg and rpm name packages)", "axigen"),
    )
    qdevice_raw = r.get(top, "quorum_device", (), dict, None)
    quorum_device = _parse_quorum_device(r, qdevice_raw, ("quorum_device",)) if qdevice_raw is not None else None
    secrets_file = r.get(top, "secrets_file", (), str, None)
    if secrets_file is not None:
        secrets_file = _relative_to(path, secrets_file)
    spec = ClusterSpec(name=name, nodes=nodes, storage=storage, vip=vip, axigen=axigen, ssh=ssh,
                       quorum_device=quorum_device, secrets_file=secrets_file, path=path)
    _cross_check(r, spec)
    return spec


def _relative_to(cluster_path: str, value: str) -> str:
    if os.path.isabs(value) or cluster_path.startswith("<"):
        return value
    return str(Path(cluster_path).resolve().parent / value)


def _parse_ssh(r: _Reader, raw: Any, kp: tuple, path: str) -> SshSpec:
    raw = r.mapping(raw, kp, ("key_file", "known_hosts"))
    key_file = r.get(raw, "key_file", kp, str, None)
    known_hosts = r.get(raw, "known_hosts", kp, str, None)
    return SshSpec(key_file=_relative_to(path, os.path.expanduser(key_file)) if key_file else None,
                   known_hosts=_relative_to(path, os.path.expanduser(known_hosts)) if known_hosts else None)


def _parse_node(r: _Reader, raw: Any, kp: tuple) -> NodeSpec:
    raw = r.mapping(raw, kp, ("name", "ssh_address", "ssh_port", "ssh_user", "link0", "link1", "bmc",
                              "backing_disk"))
    links = []
    for which in ("link0", "link1"):
        link = r.mapping(r.get(raw, which, kp, dict), kp + (which,), ("address", "interface"))
        links.append(Link(address=r.ip(link, "address", kp + (which,)),
                          interface=r.string(link, "interface", kp + (which,), IFACE_RE, IFACE_WHAT)))
    bmc = r.mapping(r.get(raw, "bmc", kp, dict), kp + ("bmc",), ("address", "port", "user"))
    return NodeSpec(
        name=r.string(raw, "name", kp, NODE_NAME_RE, "node name (the node's short hostname, lower case)"),
        ssh_address=r.host(raw, "ssh_address", kp),
        ssh_port=r.number(raw, "ssh_port", kp, 1, 65535, 22),
        ssh_user=r.string(raw, "ssh_user", kp, USER_RE, "user name (lower case letters, digits, _ and -)", "root"),
        link0=links[0],
        link1=links[1],
        bmc=BmcSpec(address=r.host(bmc, "address", kp + ("bmc",)),
                    port=r.number(bmc, "port", kp + ("bmc",), 1, 65535, 623),
                    user=r.string(bmc, "user", kp + ("bmc",), BMC_USER_RE,
                                  "BMC user (at most 16 letters, digits and _ . @ + -)")),
        backing_disk=r.device(raw, "backing_disk", kp),
    )


def _parse_storage(r: _Reader, raw: Any, kp: tuple) -> StorageSpec:
    raw = r.mapping(raw, kp, ("mode", "device", "drbd", "filesystem", "mount_point"))
    mode = r.get(raw, "mode", kp, str, "drbd")
    if mode not in STORAGE_MODES:
        raise r.fail(kp + ("mode",), f"unknown storage mode {_show(mode)}; expected one of: {', '.join(STORAGE_MODES)}")
    device = r.device(raw, "device", kp, None)
    if mode == "shared" and device is None:
        raise r.fail(kp + ("device",), "storage mode 'shared' needs 'device': the external array's device path")
    drbd_raw = r.mapping(r.get(raw, "drbd", kp, dict, {}), kp + ("drbd",), ("resource", "minor", "port"))
    drbd = DrbdSpec(
        resource=r.string(drbd_raw, "resource", kp + ("drbd",), RESOURCE_RE, "DRBD resource name", "axigen"),
        minor=r.number(drbd_raw, "minor", kp + ("drbd",), 0, 1048575, 0),
        port=r.number(drbd_raw, "port", kp + ("drbd",), 1024, 65535, 7789),
    )
    fs = r.get(raw, "filesystem", kp, str, "ext4")
    if fs not in FILESYSTEMS:
        raise r.fail(kp + ("filesystem",), f"unsupported filesystem {_show(fs)}; expected one of: "
                                           f"{', '.join(FILESYSTEMS)}")
    mount_point = r.get(raw, "mount_point", kp, str, "/var/opt/axigen")
    problem = mount_point_problem(mount_point)
    if problem:
        raise r.fail(kp + ("mount_point",), problem)
    return StorageSpec(mode=mode, device=device, drbd=drbd, filesystem=fs, mount_point=mount_point.rstrip("/"))


def mount_point_problem(value: str) -> str | None:
    """Why `value` is not a directory axha may mount the mail store on (None when it is)."""
    import posixpath

    clean = value.rstrip("/") if value != "/" else value
    if not MOUNT_RE.fullmatch(clean):
        return f"{_show(value)} is not an absolute directory path other than / (letters, digits and _ . - /)"
    if posixpath.normpath(clean) != clean:
        return f"{_show(value)} is not a normalised path (no //, /./ or /../)"
    if clean in SYSTEM_DIRS or clean.startswith(("/proc/", "/sys/", "/dev/", "/run/")):
        return f"{_show(value)} is a system directory; mount the mail store on a directory of its own"
    return None


def _parse_quorum_device(r: _Reader, raw: Any, kp: tuple) -> QuorumDeviceSpec:
    raw = r.mapping(raw, kp, ("host", "port", "algorithm", "ssh_address", "ssh_port", "ssh_user"))
    algorithm = r.get(raw, "algorithm", kp, str, "ffsplit")
    if algorithm not in QDEVICE_ALGORITHMS:
        raise r.fail(kp + ("algorithm",), f"unknown algorithm {_show(algorithm)}; expected one of: "
                                          f"{', '.join(QDEVICE_ALGORITHMS)}")
    return QuorumDeviceSpec(
        host=r.host(raw, "host", kp),
        port=r.number(raw, "port", kp, 1, 65535, 5403),
        algorithm=algorithm,
        ssh_address=r.host(raw, "ssh_address", kp) if raw.get("ssh_address") is not None else None,
        ssh_port=r.number(raw, "ssh_port", kp, 1, 65535, 22),
        ssh_user=r.string(raw, "ssh_user", kp, USER_RE, "user name (lower case letters, digits, _ and -)", "root"),
    )


def _parse_vip(r: _Reader, raw: Any, kp: tuple) -> VipSpec:
    raw = r.mapping(raw, kp, ("address", "cidr", "interface"))
    address = r.ip(raw, "address", kp)
    limit = 32 if ipaddress.ip_address(address).version == 4 else 128
    return VipSpec(address=address, cidr=r.number(raw, "cidr", kp, 1, limit),
                   interface=r.string(raw, "interface", kp, IFACE_RE, IFACE_WHAT))


def _cross_check(r: _Reader, spec: ClusterSpec) -> None:
    a, b = spec.nodes
    if a.name == b.name:  # lower case by NODE_NAME_RE, so no two names differ only in case
        raise r.fail(("nodes", 1, "name"), f"both nodes are named {a.name!r}; node names must differ")
    seen: dict[str, tuple] = {}
    for i, node in enumerate(spec.nodes):
        if node.link0.interface == node.link1.interface:
            raise r.fail(("nodes", i, "link1", "interface"),
                         f"link0 and link1 both use interface {node.link0.interface!r}; the two cluster links "
                         "must be on different NICs or they are not redundant")
        for key, value in (("ssh_address", node.ssh_address), ("link0", node.link0.address),
                           ("link1", node.link1.address), ("bmc", node.bmc.address)):
            if key == "ssh_address" and value in (node.link0.address, node.link1.address):
                continue  # managing a node over one of its cluster links is allowed
            here = ("nodes", i, key) if key == "ssh_address" else ("nodes", i, key, "address")
            if value in seen:
                raise r.fail(here, f"address {value} is already used at {_dotted(seen[value])}; "
                                   "every node, link and BMC address must be unique")
            seen[value] = here
    qd = spec.quorum_device
    if qd is not None:
        from axha.steps.names import ARBITER
        for i, node in enumerate(spec.nodes):
            if node.name == ARBITER:
                raise r.fail(("nodes", i, "name"), f"a node named {ARBITER!r} beside a quorum_device: axha calls "
                             "the quorum device's host so; give the node another name")
        for key, value in (("host", qd.host), ("ssh_address", qd.ssh_host)):
            if value in seen or value == spec.vip.address or value in spec.node_names:
                raise r.fail(("quorum_device", key), f"{value} is a node's, a link's, a BMC's or the virtual IP's "
                             "address: the quorum device must be a third host, outside the two nodes")
    if spec.vip.address in seen:
        raise r.fail(("vip", "address"), f"the virtual IP {spec.vip.address} is already a node address "
                                         f"({_dotted(seen[spec.vip.address])}); pick a free address")
    for which in ("link0", "link1"):
        x, y = getattr(a, which).address, getattr(b, which).address
        if ipaddress.ip_address(x.partition("%")[0]).version != ipaddress.ip_address(y.partition("%")[0]).version:
            raise r.fail(("nodes", 1, which, "address"), f"{which} mixes IPv4 and IPv6 between the nodes")
    if a.link0.address == b.link1.address:
        raise r.fail(("nodes", 1, "link1", "address"), "link addresses must be unique")


def _dotted(keypath: tuple) -> str:
    return ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in keypath).replace(".[", "[")


def load_cluster(path: str | os.PathLike) -> ClusterSpec:
    """Read and validate a cluster file; raise SpecError (never a traceback) on any problem. Only a regular file
    of at most steps.bounded.MAX_BYTES is read (a FIFO or a link to a device is refused, never waited on)."""
    path = str(path)
    try:
        data, _ = read_regular(path)
        text = decode_utf8(data)
    except FileProblem as exc:
        if exc.missing:
            raise SpecError(path, None, "(file)", "no such file; create one with `axha` (inventory screen) "
                                                  "or `axha lab up`") from None
        raise SpecError(path, exc.line, "(file)", str(exc)) from None
    return parse_cluster(text, path)


__all__ = ["SpecError", "load_cluster", "parse_cluster"]
