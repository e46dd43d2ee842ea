"""Verdicts: facts (parsed sections) in, Findings with stable codes and remedies out. Pure functions."""
from __future__ import annotations

from axha.checks import parsers as p
from axha.checks.view import NodeView, _f
from axha.steps.disk import DISK_SECTIONS, DiskFacts, facts_from_sections
from axha.steps.framework import FAIL, PASS, WARN, Finding


MAX_SKEW = 1.0
SUPPORTED_OS = {"debian": ("11", "12"), "ubuntu": ("20.04", "22.04", "24.04"),
                "rhel": ("8", "9"), "rocky": ("8", "9"), "almalinux": ("8", "9")}


# ---------------------------------------------------------------- storage


ZERO_1M_SHA256 = "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58"


def disk_facts(view: NodeView) -> DiskFacts:
    device = view.spec.storage.device if view.spec.storage.mode == "shared" else view.node.backing_disk
    return facts_from_sections(device, {name: sec for name in DISK_SECTIONS if (sec := view.section(name))})


def storage(view: NodeView) -> list[Finding]:
    """The disk rule of steps.disk, in preflight's words: in use -> FAIL (axha never writes to it), holds data ->
    FAIL naming what (the install erases it only after the disk path is typed), blank -> PASS."""
    d = disk_facts(view)
    role = "shared array device" if view.spec.storage.mode == "shared" else "DRBD backing disk"
    if d.lsblk is None:
        return [_f("DISK_MISSING", view.name, FAIL, f"{role} {d.device} not found: {d.error}",
                   f"Check backing_disk of {view.name} in the cluster file (lsblk lists the disks).")]
    out = []
    size = f"{d.lsblk.size / 2**30:.1f} GiB"
    if d.mounts:
        out.append(_f("DISK_MOUNTED", view.name, FAIL, f"{d.device} is mounted on {', '.join(d.mounts)}",
                      "Pick an unused disk, or unmount it and remove it from /etc/fstab if its data is not needed."))
    used = d.uses()
    if used:
        out.append(_f("DISK_IN_USE", view.name, FAIL, f"{d.device} is in use: {'; '.join(used)}",
                      "Pick a disk nothing uses (not in an md array, LVM, dm-crypt or swap): axha never writes to "
                      "a disk in use."))
    code = d.content_code()
    if code:
        out.append(_f(code, view.name, FAIL, f"{d.device} is not empty: {', '.join(d.content())}",
                      f"If the data on {d.device} is not needed, the install erases it only after you type the "
                      f"disk path (headless: --wipe-disk {view.name}:{d.device}; --yes alone never erases), or "
                      f"wipe it yourself (wipefs -a {d.device}) and re-run preflight; otherwise pick another disk.",
                      detail="; ".join(d.lsblk.children)))
    if not out:
        out.append(_f("DISK_OK", view.name, PASS, f"{d.device}: {size}, empty, not mounted, not in use"))
    return out


def _identity(d: DiskFacts) -> tuple[str, str] | None:
    for key in ("wwid", "loop_backing_file", "serial"):
        if d.ids.get(key):
            return key, d.ids[key]
    if d.lsblk and d.lsblk.wwn:
        return "wwn", d.lsblk.wwn
    if d.lsblk and d.lsblk.serial:
        return "serial", d.lsblk.serial
    return None


def storage_pair(a: NodeView, b: NodeView) -> list[Finding]:
    x, y = disk_facts(a), disk_facts(b)
    if x.lsblk is None or y.lsblk is None:
        return []
    out = []
    if a.spec.storage.mode == "shared":
        ix, iy = _identity(x), _identity(y)
        if ix and iy and ix[0] == iy[0]:
            same = ix[1] == iy[1]
            out.append(_f("SHARED_DEVICE_SAME" if same else "SHARED_DEVICE_DIFFERENT", None, PASS if same else FAIL,
                          f"{x.device}: {ix[0]} {ix[1]} on {a.name}, {iy[1]} on {b.name}",
                          "" if same else "Both nodes must see the same external array LUN: fix the device path "
                                          "or the array's host mapping."))
        elif x.head and y.head and x.head != ZERO_1M_SHA256:
            same = x.head == y.head
            out.append(_f("SHARED_DEVICE_SAME" if same else "SHARED_DEVICE_DIFFERENT", None, PASS if same else FAIL,
                          f"{x.device}: the first MiB reads {'the same' if same else 'differently'} on both nodes",
                          "" if same else "Both nodes must see the same LUN: fix the device path or mapping."))
        else:
            out.append(_f("SHARED_DEVICE_UNPROVEN", None, WARN,
                          f"{x.device}: no WWN/serial to compare and the first MiB is blank on both nodes",
                          "Check in the array's management that both hosts map the same LUN."))
        return out
    small, large = sorted((x.lsblk.size, y.lsblk.size))
    if small != large:
        status = FAIL if small < 0.9 * large else WARN
        out.append(_f("DISK_SIZE_MISMATCH", None, status,
                      f"backing disks differ: {a.name} {x.lsblk.size / 2**30:.1f} GiB, "
                      f"{b.name} {y.lsblk.size / 2**30:.1f} GiB",
                      "DRBD uses the smaller size; give both nodes disks of the same size."))
    else:
        out.append(_f("DISK_SIZE_SAME", None, PASS, f"backing disks: {small / 2**30:.1f} GiB on both nodes"))
    return out


# ---------------------------------------------------------------- software


def _os(view: NodeView) -> dict[str, str]:
    s = view.section("os_release")
    return p.parse_os_release(s.text) if s and s.ok else {}


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
    installed = p.parse_dpkg_query(pk.text) if pk else {}
    ap = view.section("apt_policy")
    policy = p.parse_apt_policy(ap.text) if ap and ap.ok else {}
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
    drbd = p.parse_drbd_module(module.text, module.rc) if module else None
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
    opts = p.parse_proc_mount(s.text) if s and s.ok else None
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
    pkg = p.parse_dpkg_query(pk.text).get(view.spec.axigen.package) if pk else None
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
        enabled = p.parse_is_enabled(s.text, s.rc)
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


# ---------------------------------------------------------------- time


def time_sync(view: NodeView) -> list[Finding]:
    results = []
    s = view.section("timesync")
    if s is not None and s.rc != 127:
        results.append(p.parse_ntpq(s.text) if "remote" in s.text and "refid" in s.text
                       else p.parse_chrony_tracking(s.text, s.rc))
    t = view.section("timedatectl")
    if t is not None:
        results.append(p.parse_timedatectl_show(t.text, t.rc))
    known = [r for r in results if r.synced is not None]
    if any(r.synced for r in known):
        r = next(r for r in known if r.synced)
        return [_f("TIME_SYNCED", view.name, PASS, f"clock synchronised ({r.source}: {r.detail})")]
    if known:
        r = known[0]
        return [_f("TIME_NOT_SYNCED", view.name, WARN, f"clock not synchronised ({r.source}: {r.detail})",
                   "Configure NTP (chrony) against the same servers on both nodes and wait for it to sync.")]
    return [_f("TIME_SYNC_UNKNOWN", view.name, WARN,
               "no time synchronisation service answers (no chronyc, ntpq or timedatectl)",
               "Install and enable chrony on both nodes, pointing at the same NTP servers.")]


def time_pair(a: NodeView, b: NodeView) -> list[Finding]:
    if a.clock_offset is None or b.clock_offset is None:
        return []
    skew = abs(a.clock_offset - b.clock_offset)
    if skew >= MAX_SKEW:
        return [_f("CLOCK_SKEW", None, FAIL, f"the clocks differ by {skew:.2f} s (limit {MAX_SKEW:g} s)",
                   "Synchronise both nodes with NTP (chrony) before installing: corosync, DRBD and Axigen logs "
                   "and certificates need agreeing clocks.")]
    return [_f("CLOCK_OK", None, PASS, f"clock difference between the nodes: {skew * 1000:.0f} ms")]


# ---------------------------------------------------------------- names


def names(view: NodeView) -> list[Finding]:
    out = []
    s = view.section("hostname")
    hostname = s.text.strip() if s and s.ok else ""
    if hostname and hostname.split(".")[0] != view.name:
        out.append(_f("HOSTNAME_MISMATCH", view.name, FAIL,
                      f"the node calls itself {hostname!r}, the cluster file names it {view.name!r}",
                      f"Pacemaker and DRBD use the node's own name: set it (hostnamectl set-hostname {view.name}) "
                      "or correct nodes[].name in the cluster file."))
    g = view.section("getent")
    resolved = p.parse_getent_hosts(g.text) if g else {}
    missing = [n.name for n in view.spec.nodes if n.name not in resolved]
    if missing:
        out.append(_f("NAME_NOT_RESOLVED", view.name, FAIL, f"cannot resolve {', '.join(missing)}",
                      "Add both nodes to /etc/hosts on both nodes (same addresses everywhere), so the cluster "
                      "does not depend on DNS."))
    if not out:
        out.append(_f("NAMES_OK", view.name, PASS, "; ".join(f"{n} -> {a}" for n, a in sorted(resolved.items())
                                                          if n in view.spec.node_names)))
    return out


def names_pair(a: NodeView, b: NodeView) -> list[Finding]:
    ga, gb = a.section("getent"), b.section("getent")
    if not ga or not gb:
        return []
    ra, rb = p.parse_getent_hosts(ga.text), p.parse_getent_hosts(gb.text)
    diff = [n for n in a.spec.node_names if n in ra and n in rb and ra[n] != rb[n]]
    if diff:
        return [_f("NAMES_DIFFER", None, FAIL, "; ".join(f"{n}: {ra[n]} on {a.name}, {rb[n]} on {b.name}"
                                                           for n in diff),
                   "Make /etc/hosts (or DNS) give the same address for each node on both nodes.")]
    return [_f("NAMES_SAME", None, PASS, "both nodes resolve the node names the same way")]
