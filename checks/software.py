"""Preflight on the software: the OS release, the cluster packages (dpkg-query, apt-cache policy), the DRBD
kernel module, /proc's hidepid, and Axigen (its package version, not enabled at boot); parsers (text in, frozen facts
out) and verdicts (facts in, Findings out). Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass

from axha.checks.view import NodeView, _f
from axha.steps.framework import FAIL, PASS, WARN, Finding


SUPPORTED_OS = {"debian": ("11", "12"), "ubuntu": ("20.04", "22.04", "24.04"),
                "rhel": ("8", "9"), "rocky": ("8", "9"), "almalinux": ("8", "9")}


# ---------------------------------------------------------------- software


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    installed: bool


def parse_dpkg_query(text: str) -> dict[str, Package]:
    """`dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' ...` (ii = installed)."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            out[parts[0]] = Package(parts[0], parts[1], parts[2].strip().startswith("ii"))
    return out


def parse_apt_policy(text: str) -> dict[str, tuple[str | None, str | None]]:
    """`apt-cache policy PKG...` -> {pkg: (installed or None, candidate or None)}."""
    out: dict[str, tuple[str | None, str | None]] = {}
    current = None
    installed = candidate = None
    for line in text.splitlines():
        head = re.match(r"^(\S+):\s*$", line)
        if head:
            if current:
                out[current] = (installed, candidate)
            current, installed, candidate = head.group(1), None, None
            continue
        m = re.match(r"^\s+(Installed|Candidate):\s*(\S+)", line)
        if m and current:
            value = None if m.group(2) == "(none)" else m.group(2)
            if m.group(1) == "Installed":
                installed = value
            else:
                candidate = value
    if current:
        out[current] = (installed, candidate)
    return out


def parse_drbd_module(text: str, rc: int) -> str | None:
    """/proc/drbd's `version: 9.2.2 (api:2/proto:86-121)` or modinfo's bare version; None without a module."""
    match = re.search(r"version:\s*(\S+)", text) or re.match(r"^\s*(\d+\.\d+[\w.-]*)\s*$", text)
    return match.group(1) if rc == 0 and match else None


def parse_is_enabled(text: str, rc: int) -> bool | None:
    """`systemctl is-enabled SVC`: True enabled, False disabled/masked, None when the unit does not exist."""
    word = text.strip().splitlines()[-1].strip() if text.strip() else ""
    if word in ("enabled", "enabled-runtime", "alias", "static", "indirect", "generated"):
        return True
    if word in ("disabled", "masked", "masked-runtime"):
        return False
    return None if rc != 0 else True


def parse_proc_mount(text: str) -> dict[str, str] | None:
    """Our proc_mount section: the mount options of each procfs mounted on /proc, one line each, oldest first.
    The last one is in effect (a later mount hides the earlier). -> {option: value or ""}, None if there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    return {k: v for k, _, v in (opt.partition("=") for opt in lines[-1].split(","))}


def _os(view: NodeView) -> dict[str, str]:
    s = view.section("os_release")
    return parse_os_release(s.text) if s and s.ok else {}


def software(view: NodeView) -> list[Finding]:
    out = []
    osr = _os(view)
    name = osr.get("PRETTY_NAME", "unknown OS")
    os_id, version = osr.get("ID", ""), osr.get("VERSION_ID", "")
    if version in SUPPORTED_OS.get(os_id, ()):
        out.append(_f("OS_SUPPORTED", view.name, PASS, name))
    else:
        out.append(_f("OS_UNSUPPORTED", view.name, WARN, f"{name} is not a release axha was tested on",
                      "Supported: Debian 11/12, Ubuntu 20.04-24.04, RHEL/Rocky/Alma 8-9."))
    pk = view.section("packages")
    installed = parse_dpkg_query(pk.text) if pk else {}
    ap = view.section("apt_policy")
    policy = parse_apt_policy(ap.text) if ap and ap.ok else {}
    can_tell = ap is not None and ap.ok  # without apt (rpm systems) installability is not checked here
    missing, not_installable = [], []
    from axha.checks.script import PACKAGES
    for pkg in PACKAGES:
        if pkg in installed and installed[pkg].installed:
            continue
        (not_installable if can_tell and not (policy.get(pkg) or (None, None))[1] else missing).append(pkg)
    if not_installable:
        out.append(_f("PACKAGE_UNAVAILABLE", view.name, FAIL,
                      f"not installed and not installable from the configured repositories: "
                      f"{', '.join(not_installable)}",
                      "Enable the repository that carries them (Debian main / RHEL HighAvailability), apt-get "
                      "update, then re-run."))
    if missing:
        out.append(_f("PACKAGE_MISSING", view.name, WARN, f"not installed yet (installable): {', '.join(missing)}",
                      "Let `axha install` install them (packages step), or apt-get install them."))
    have = [f"{x} {installed[x].version}" for x in PACKAGES if x in installed and installed[x].installed]
    module = view.section("drbd_module")
    drbd = parse_drbd_module(module.text, module.rc) if module else None
    if drbd:
        have.append(f"DRBD module {drbd}")
        if not drbd.startswith("9."):
            out.append(_f("DRBD_MODULE_OLD", view.name, WARN, f"DRBD kernel module {drbd} (axha targets DRBD 9)",
                          "Install the DRBD 9 kernel module (drbd-dkms from LINBIT) matching drbd-utils."))
    elif module is not None:
        out.append(_f("DRBD_MODULE_MISSING", view.name, WARN if view.spec.storage.mode == "drbd" else PASS,
                      "no DRBD kernel module found (neither /proc/drbd nor modinfo drbd)",
                      "Install the DRBD 9 kernel module (drbd-dkms) for this kernel."))
    if not [f for f in out if f.status != PASS]:
        out.append(_f("SOFTWARE_OK", view.name, PASS, "; ".join(have)))
    return out + _proc_hidepid(view)


# hidepid values that keep other users' /proc/PID/cmdline unreadable (proc(5)): 1/noaccess, 2/invisible,
# 4/ptraceable (only processes the user may ptrace: never root's)
HIDEPID_PROTECTS = frozenset({"1", "2", "4", "noaccess", "invisible", "ptraceable"})


def _proc_hidepid(view: NodeView) -> list[Finding]:
    s = view.section("proc_mount")
    opts = parse_proc_mount(s.text) if s and s.ok else None
    if opts is None:
        return []
    hide = opts.get("hidepid")
    if hide in HIDEPID_PROTECTS:
        return [_f("PROC_HIDEPID", view.name, PASS, f"/proc hides other users' processes (hidepid={hide})")]
    return [_f("PROC_CMDLINES_VISIBLE", view.name, WARN,
               "no hidepid on /proc: any local user can read fence_ipmilan's `ipmitool -P <BMC password>` in ps "
               "while Pacemaker monitors or fences",
               "Mount /proc with hidepid=invisible on both nodes: /etc/fstab `proc /proc proc "
               "defaults,hidepid=invisible,gid=<group of monitoring tools> 0 0`, then `mount -o remount /proc`.")]


def software_pair(a: NodeView, b: NodeView) -> list[Finding]:
    x, y = _os(a), _os(b)
    if not x or not y:
        return []
    if (x.get("ID"), x.get("VERSION_ID")) != (y.get("ID"), y.get("VERSION_ID")):
        return [_f("OS_MISMATCH", None, WARN, f"{a.name} runs {x.get('PRETTY_NAME')}, {b.name} "
                   f"{y.get('PRETTY_NAME')}", "Run the same OS release on both nodes.")]
    return [_f("OS_SAME", None, PASS, f"both nodes run {x.get('PRETTY_NAME')}")]


def _axigen_version(view: NodeView) -> str | None:
    pk = view.section("packages")
    pkg = parse_dpkg_query(pk.text).get(view.spec.axigen.package) if pk else None
    return pkg.version if pkg and pkg.installed else None


def axigen(view: NodeView) -> list[Finding]:
    out = []
    version = _axigen_version(view)
    if version is None:
        out.append(_f("AXIGEN_NOT_INSTALLED", view.name, FAIL,
                      f"the Axigen package ({view.spec.axigen.package}) is not installed",
                      "Install the same Axigen .deb/.rpm on both nodes (dpkg -i axigen-*.deb), leave it stopped "
                      "and disabled at boot, then re-run."))
    s = view.section("axigen_enabled")
    if s is not None:
        enabled = parse_is_enabled(s.text, s.rc)
        if enabled:
            out.append(_f("AXIGEN_ENABLED_AT_BOOT", view.name, FAIL,
                          f"service {view.spec.axigen.service} is enabled at boot",
                          f"The cluster must be the only one starting Axigen: systemctl disable "
                          f"{view.spec.axigen.service} on {view.name}."))
    if not out:
        out.append(_f("AXIGEN_OK", view.name, PASS, f"Axigen {version} installed, not enabled at boot"))
    return out


def axigen_pair(a: NodeView, b: NodeView) -> list[Finding]:
    x, y = _axigen_version(a), _axigen_version(b)
    if x is None or y is None:
        return []
    if x != y:
        return [_f("AXIGEN_VERSION_MISMATCH", None, FAIL, f"Axigen {x} on {a.name}, {y} on {b.name}",
                   "Install the same Axigen version on both nodes before installing the cluster.")]
    return [_f("AXIGEN_SAME_VERSION", None, PASS, f"Axigen {x} on both nodes")]
