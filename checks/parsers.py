"""Pure parsers: one function per command output, text in, frozen facts out. No I/O, no verdicts here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from axha.steps.sections import extract_json, key_values


# ---------------------------------------------------------------- CPU and memory


@dataclass(frozen=True)
class CpuInfo:
    model: str
    sockets: int
    cores: int
    threads: int
    rated_mhz: float | None  # the "@ 2.40GHz" in the model name (the base clock), when the vendor prints one
    max_mhz_seen: float | None  # the highest "cpu MHz" of any processor

    @property
    def mhz(self) -> float | None:
        """The frequency to judge: the rated base clock when known, else the highest one seen."""
        return self.rated_mhz if self.rated_mhz else self.max_mhz_seen


def parse_cpuinfo(text: str) -> CpuInfo:
    blocks = [b for b in re.split(r"\n\s*\n", text) if "processor" in b]
    models, mhz, cores_by_socket, packages = set(), [], {}, set()
    for block in blocks:
        kv = key_values(block)
        models.add(kv.get("model name", kv.get("cpu model", "")))
        if "cpu MHz" in kv:
            mhz.append(float(kv["cpu MHz"]))
        socket = kv.get("physical id", "0")
        packages.add(socket)
        core = kv.get("core id")
        cores_by_socket.setdefault(socket, set()).add(core if core is not None else kv.get("processor"))
    model = sorted(m for m in models if m)[0] if any(models) else "unknown"
    rated = None
    match = re.search(r"@\s*([\d.]+)\s*GHz", model)
    if match:
        rated = float(match.group(1)) * 1000
    return CpuInfo(model=model, sockets=len(packages) or 1,
                   cores=sum(len(c) for c in cores_by_socket.values()), threads=len(blocks),
                   rated_mhz=rated, max_mhz_seen=max(mhz) if mhz else None)


def parse_lscpu_json(text: str) -> dict[str, str]:
    """`lscpu -J` -> {"Model name": ..., "CPU max MHz": ...} (field names without the trailing colon)."""
    data = extract_json(text)
    out: dict[str, str] = {}

    def walk(items: list) -> None:
        for item in items:
            out.setdefault(item["field"].rstrip(":"), item.get("data") or "")
            walk(item.get("children", []))

    walk(data.get("lscpu", []))
    return out


def parse_cpufreq(text: str) -> float | None:
    """cpuinfo_max_freq values (kHz, one per CPU) -> the highest in MHz, None when the kernel exposes none."""
    values = [int(v) for v in text.split() if v.isdigit()]
    return max(values) / 1000 if values else None


def parse_meminfo(text: str) -> int:
    """MemTotal in kB."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    if not match:
        raise ValueError("no MemTotal line")
    return int(match.group(1))


# ---------------------------------------------------------------- Linux md RAID


@dataclass(frozen=True)
class MdMember:
    name: str
    role: int
    flags: tuple[str, ...] = ()  # F faulty, S spare, W write-mostly, R replacement


@dataclass(frozen=True)
class MdArray:
    name: str
    active: bool
    level: str
    members: tuple[MdMember, ...]
    raid_disks: int | None = None
    working_disks: int | None = None
    status: str = ""  # "UU_"
    action: str = ""  # recovery, resync, reshape, check, repair (or resync=DELAYED/PENDING)
    percent: float | None = None
    finish: str = ""

    @property
    def degraded(self) -> bool:
        return "_" in self.status or (self.raid_disks is not None and self.working_disks is not None
                                      and self.working_disks < self.raid_disks)

    @property
    def failed_members(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if "F" in m.flags)


_MD_HEAD = re.compile(r"^(md[\w/-]*)\s*:\s*(active|inactive)(?:\s+\([\w-]+\))?\s*(.*)$")
_MD_MEMBER = re.compile(r"^(\S+)\[(\d+)\]((?:\([A-Z]\))*)$")
_MD_STATUS = re.compile(r"\[(\d+)/(\d+)\]\s+\[([U_]+)\]")
_MD_ACTION = re.compile(r"(recovery|resync|reshape|check|repair)\s*=\s*([\d.]+)%.*?(?:finish=(\S+))?")
_MD_PENDING = re.compile(r"(resync|recovery|reshape)\s*=\s*(DELAYED|PENDING)")


def parse_mdstat(text: str) -> list[MdArray]:
    arrays: list[dict] = []
    for line in text.splitlines():
        head = _MD_HEAD.match(line.strip()) if not line.startswith((" ", "\t")) else None
        if head:
            words = head.group(3).split()
            level = words[0] if words and not _MD_MEMBER.match(words[0]) else ""
            members = []
            for word in words[1:] if level else words:
                m = _MD_MEMBER.match(word)
                if m:
                    members.append(MdMember(m.group(1), int(m.group(2)), tuple(re.findall(r"\(([A-Z])\)", m.group(3)))))
            arrays.append({"name": head.group(1), "active": head.group(2) == "active", "level": level,
                           "members": tuple(members)})
            continue
        if not arrays or not line.startswith((" ", "\t")):
            continue
        current = arrays[-1]
        status = _MD_STATUS.search(line)
        if status:
            current.update(raid_disks=int(status.group(1)), working_disks=int(status.group(2)),
                           status=status.group(3))
        action = _MD_ACTION.search(line)
        if action:
            finish = re.search(r"finish=(\S+)", line)
            current.update(action=action.group(1), percent=float(action.group(2)),
                           finish=finish.group(1) if finish else "")
        pending = _MD_PENDING.search(line)
        if pending:
            current.update(action=f"{pending.group(1)}={pending.group(2)}")
    return [MdArray(**a) for a in arrays]


@dataclass(frozen=True)
class MdDetail:
    device: str
    state: str
    level: str
    raid_devices: int | None
    active_devices: int | None
    failed_devices: int | None
    rebuild_status: str
    member_states: tuple[tuple[str, str], ...]  # (device or "-", state text)

    @property
    def state_words(self) -> tuple[str, ...]:
        return tuple(w.strip() for w in self.state.split(",") if w.strip())


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def parse_mdadm_detail(text: str) -> list[MdDetail]:
    """`mdadm --detail` of one or more arrays (our script separates them with `@@md /dev/mdX` lines)."""
    chunks = re.split(r"^@@md (\S+)\s*$", text, flags=re.M)
    pairs = list(zip(chunks[1::2], chunks[2::2])) if len(chunks) > 1 else [("", text)]
    details = []
    for device, body in pairs:
        kv = key_values(body)
        if not device:
            first = re.search(r"^(/dev/\S+):\s*$", body, re.M)
            device = first.group(1) if first else "?"
        members = []
        table = re.split(r"^\s*Number\s+Major\s+Minor\s+RaidDevice\s+State\s*$", body, maxsplit=1, flags=re.M)
        if len(table) == 2:
            for line in table[1].splitlines():
                m = re.match(r"^\s*(-|\d+)\s+(\d+)\s+(\d+)\s+(-|\d+)\s+(.*?)\s*$", line)
                if m:
                    words = m.group(5).split()
                    dev = words[-1] if words and words[-1].startswith("/dev/") else "-"
                    state = " ".join(w for w in words if not w.startswith("/dev/"))
                    members.append((dev, state))
        details.append(MdDetail(device=device, state=kv.get("State", ""), level=kv.get("Raid Level", ""),
                                raid_devices=_int_or_none(kv.get("Raid Devices")),
                                active_devices=_int_or_none(kv.get("Active Devices")),
                                failed_devices=_int_or_none(kv.get("Failed Devices")),
                                rebuild_status=kv.get("Rebuild Status", ""), member_states=tuple(members)))
    return details


# ---------------------------------------------------------------- hardware RAID controllers


@dataclass(frozen=True)
class Drive:
    id: str
    state: str
    kind: str = ""  # RAID level for virtual drives, media for physical ones


@dataclass(frozen=True)
class Controller:
    tool: str
    id: str
    model: str
    status: str
    virtual_drives: tuple[Drive, ...]
    physical_drives: tuple[Drive, ...]
    battery: str = ""  # battery / cache-vault state, "" when the controller has none
    cache: str = ""


def parse_storcli(text: str, tool: str = "storcli64") -> list[Controller]:
    """`storcli64 /call show all J` (perccli64 prints the same JSON)."""
    data = extract_json(text)
    controllers = []
    for entry in data.get("Controllers", []):
        status = entry.get("Command Status", {})
        if status.get("Status") != "Success":
            raise ValueError(f"{tool}: {status.get('Description', 'failed')}")
        rd = entry.get("Response Data", {})
        basics = rd.get("Basics", {})
        ctrl_status = rd.get("Status", {})
        vds = tuple(Drive(v.get("DG/VD", "?"), v.get("State", "?"), v.get("TYPE", ""))
                    for v in rd.get("VD LIST", []))
        pds = tuple(Drive(p.get("EID:Slt", "?"), p.get("State", "?"), p.get("Med", ""))
                    for p in rd.get("PD LIST", []))
        battery = ""
        for key in ("BBU_Info", "Cachevault_Info"):
            for item in rd.get(key, []) or []:
                battery = str(item.get("State", battery))
        bbu_status = ctrl_status.get("BBU Status")
        if not battery and bbu_status not in (None, "NA"):
            battery = "Optimal" if str(bbu_status) == "0" else str(bbu_status)
        controllers.append(Controller(tool=tool, id=f"c{basics.get('Controller', status.get('Controller', '?'))}",
                                      model=basics.get("Model", "?"),
                                      status=ctrl_status.get("Controller Status", "?"), virtual_drives=vds,
                                      physical_drives=pds, battery=battery))
    return controllers


_SSA_CTRL = re.compile(r"^(\S.*?) in Slot (\S+)")
_SSA_LD = re.compile(r"logicaldrive\s+(\S+)\s+\(([^,]+),\s*(RAID [^,]+),\s*(.+?)\)\s*$")
_SSA_PD = re.compile(r"physicaldrive\s+(\S+)\s+\((.+)\)\s*$")


def parse_ssacli(text: str) -> list[Controller]:
    """`ssacli ctrl all show config detail` (or `show config` / `show status`; hpssacli and hpacucli alike)."""
    controllers: list[dict] = []
    for line in text.splitlines():
        ctrl = _SSA_CTRL.match(line)
        if ctrl:
            controllers.append({"id": f"slot {ctrl.group(2)}", "model": ctrl.group(1).strip(), "status": "",
                                "lds": [], "pds": [], "battery": "", "cache": ""})
            continue
        stripped = line.strip()
        if not controllers:
            if not stripped.startswith(("logicaldrive", "physicaldrive")):
                continue
            controllers.append({"id": "?", "model": "Smart Array", "status": "", "lds": [], "pds": [],
                                "battery": "", "cache": ""})
        c = controllers[-1]
        ld, pd = _SSA_LD.search(stripped), _SSA_PD.search(stripped)
        if ld:
            c["lds"].append(Drive(ld.group(1), ld.group(4).strip(), ld.group(3)))
        elif pd:
            parts = [p.strip() for p in pd.group(2).split(",")]
            state = parts[-1]
            if state.lower() == "spare" or state.lower().startswith("active spare") and len(parts) > 1:
                state = parts[-2]
            c["pds"].append(Drive(pd.group(1), state, parts[1] if len(parts) > 1 else ""))
        elif stripped.startswith("Controller Status:"):
            c["status"] = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("Battery/Capacitor Status:"):
            c["battery"] = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("Cache Status:"):
            c["cache"] = stripped.split(":", 1)[1].strip()
    return [Controller("ssacli", c["id"], c["model"], c["status"] or "?", tuple(c["lds"]), tuple(c["pds"]),
                       c["battery"], c["cache"]) for c in controllers]


def parse_megacli(text: str) -> list[Controller]:
    """`megacli -LDPDInfo -aALL` (and `-LDInfo` / `-PDList`): adapters with VD `State` and PD `Firmware state`."""
    adapters: list[dict] = []
    vd_id = None
    for line in text.splitlines():
        stripped = line.strip()
        adapter = re.match(r"^Adapter\s*#?\s*(\d+)", stripped)
        if adapter:
            adapters.append({"id": f"a{adapter.group(1)}", "vds": [], "pds": []})
            continue
        if not adapters:
            adapters.append({"id": "a0", "vds": [], "pds": []})
        a = adapters[-1]
        vd = re.match(r"^Virtual (?:Drive|Disk)\s*:\s*(\d+)", stripped)
        if vd:
            vd_id = vd.group(1)
            continue
        state = re.match(r"^State\s*:\s*(.+)$", stripped)
        if state:
            a["vds"].append(Drive(vd_id if vd_id is not None else str(len(a["vds"])), state.group(1).strip()))
            continue
        fw = re.match(r"^Firmware state\s*:\s*(.+)$", stripped)
        if fw:
            a["pds"].append(Drive(str(len(a["pds"])), fw.group(1).strip()))
    return [Controller("megacli", a["id"], "MegaRAID", "?", tuple(a["vds"]), tuple(a["pds"])) for a in adapters
            if a["vds"] or a["pds"]]


# ---------------------------------------------------------------- network


@dataclass(frozen=True)
class Nic:
    name: str
    carrier: bool | None
    speed: int | None  # Mb/s, None when the driver does not say
    mtu: int | None
    operstate: str
    physical: bool
    kind: str = ""  # ip -d link's info_kind: veth, bridge, bond, vlan ... ("" for a plain NIC)
    master: str = ""
    addresses: tuple[tuple[str, int], ...] = ()  # (address, prefix length)
    admin_up: bool | None = None  # the UP flag (ip link set X up)


def parse_nics(text: str) -> dict[str, Nic]:
    """Our `nics` section: `<name> carrier=1 speed=1000 mtu=1500 operstate=up physical=1` per interface."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if not words or "=" not in line:
            continue
        kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        speed = kv.get("speed", "-")
        out[words[0]] = Nic(name=words[0], carrier={"1": True, "0": False}.get(kv.get("carrier", "-")),
                            speed=int(speed) if speed.lstrip("-").isdigit() and int(speed) > 0 else None,
                            mtu=int(kv["mtu"]) if kv.get("mtu", "").isdigit() else None,
                            operstate=kv.get("operstate", ""), physical=kv.get("physical") == "1")
    return out


def parse_ip_link(text: str) -> dict[str, dict]:
    """`ip -j -d link show` -> {ifname: {"kind", "master", "mtu", "operstate", "flags"}}."""
    out = {}
    for link in extract_json(text):
        out[link["ifname"]] = {"kind": (link.get("linkinfo") or {}).get("info_kind", ""),
                               "parent": link.get("link", "") if "link_netnsid" not in link else "",
                               "master": link.get("master", ""), "mtu": link.get("mtu"),
                               "operstate": link.get("operstate", ""), "flags": tuple(link.get("flags", ()))}
    return out


def parse_ip_addr(text: str) -> dict[str, tuple[tuple[str, int], ...]]:
    """`ip -j addr show` -> {ifname: ((address, prefixlen), ...)} (global and link addresses, both families)."""
    out = {}
    for link in extract_json(text):
        out[link["ifname"]] = tuple((a["local"], int(a["prefixlen"])) for a in link.get("addr_info", [])
                                    if "local" in a)
    return out


def merge_nics(nics: dict[str, Nic], links: dict[str, dict], addrs: dict[str, tuple]) -> dict[str, Nic]:
    """The sysfs view enriched with ip's link kind, master and addresses."""
    merged = {}
    for name, nic in nics.items():
        info = links.get(name, {})
        merged[name] = Nic(nic.name, nic.carrier, nic.speed, nic.mtu if nic.mtu is not None else info.get("mtu"),
                           nic.operstate, nic.physical, info.get("kind", ""), info.get("master", ""),
                           addrs.get(name, ()), ("UP" in info["flags"]) if "flags" in info else None)
    return merged


@dataclass(frozen=True)
class Ping:
    transmitted: int
    received: int
    rtt_avg_ms: float | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.received > 0


def parse_ping(text: str) -> Ping:
    stats = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", text)
    rtt = re.search(r"= [\d.]+/([\d.]+)/", text)
    if not stats:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        return Ping(0, 0, None, lines[-1] if lines else "no output")
    return Ping(int(stats.group(1)), int(stats.group(2)), float(rtt.group(1)) if rtt else None)


# ---------------------------------------------------------------- fencing


@dataclass(frozen=True)
class FenceStatus:
    """fence_ipmilan -o status from the peer: power state, or why it failed (auth, timeout, missing, failed)."""

    power: str | None
    problem: str = ""  # "", "auth", "timeout", "unreachable", "missing", "failed"
    message: str = ""


def parse_fence_status(text: str, rc: int) -> FenceStatus:
    status = re.search(r"^Status:\s*(ON|OFF)\s*$", text, re.M)
    errors = [ln.split("ERROR:", 1)[1].strip() for ln in text.splitlines() if "ERROR:" in ln]
    details = [ln.split("DEBUG:", 1)[1].strip() for ln in text.splitlines() if "Error:" in ln and "DEBUG:" in ln]
    message = "; ".join(details + errors) or text.strip().splitlines()[-1:][0] if text.strip() else ""
    if status and rc == 0:
        return FenceStatus(status.group(1).lower())
    low = text.lower()
    if rc == 127 or "not installed" in low:
        return FenceStatus(None, "missing", message)
    if "unable to establish ipmi v2 / rmcp+ session" in low or "rakp" in low or "unauthorized name" in low \
            or "invalid user name" in low or "password" in low:
        return FenceStatus(None, "auth", message)
    if "timed out" in low or "timeout" in low or rc == 124:
        return FenceStatus(None, "timeout", message)
    if "unreachable" in low or "no route" in low or "name or service not known" in low:
        return FenceStatus(None, "unreachable", message)
    return FenceStatus(None, "failed", message)


# ---------------------------------------------------------------- storage (the disk's facts: steps.disk)


def parse_proc_mount(text: str) -> dict[str, str] | None:
    """Our proc_mount section: the mount options of each procfs mounted on /proc, one line each, oldest first.
    The last one is in effect (a later mount hides the earlier). -> {option: value or ""}, None if there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    return {k: v for k, _, v in (opt.partition("=") for opt in lines[-1].split(","))}


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


@dataclass(frozen=True)
class TimeSync:
    source: str  # chronyc, ntpq, timedatectl, or "" when nothing answers
    synced: bool | None
    detail: str = ""


def parse_chrony_tracking(text: str, rc: int) -> TimeSync:
    if rc != 0:
        return TimeSync("", None, text.strip())
    kv = key_values(text)
    leap = kv.get("Leap status", "")
    offset = kv.get("System time", "")
    return TimeSync("chronyc", leap == "Normal", f"leap status {leap or '?'}, system time {offset or '?'}")


def parse_ntpq(text: str) -> TimeSync:
    synced = any(line.startswith("*") for line in text.splitlines())
    return TimeSync("ntpq", synced, "a peer is selected (*)" if synced else "no selected peer")


def parse_timedatectl_show(text: str, rc: int) -> TimeSync:
    kv = key_values(text, "=")
    if rc != 0 or "NTPSynchronized" not in kv:
        return TimeSync("", None, text.strip().splitlines()[0] if text.strip() else "")
    return TimeSync("timedatectl", kv["NTPSynchronized"] == "yes", f"NTPSynchronized={kv['NTPSynchronized']}")


def parse_getent_hosts(text: str) -> dict[str, str]:
    """`getent hosts NAME...` -> {name or alias: first address}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2:
            for name in words[1:]:
                out.setdefault(name, words[0])
    return out


# ---------------------------------------------------------------- firewall


@dataclass(frozen=True)
class Firewall:
    """What an input filter does: `filtering` False means nothing drops incoming traffic by default."""

    tool: str
    filtering: bool
    allowed: tuple[tuple[str, int, int], ...] = ()  # (proto "tcp"/"udp"/"any", first port, last port)
    accept_all_from: tuple[str, ...] = ()  # interfaces accepted wholesale (iifname "link0" accept)

    def allows(self, proto: str, port: int, interface: str | None = None) -> bool:
        if not self.filtering or (interface and interface in self.accept_all_from):
            return True
        return any(p in (proto, "any") and lo <= port <= hi for p, lo, hi in self.allowed)


def _nft_ports(right: Any) -> list[tuple[int, int]]:
    if isinstance(right, int):
        return [(right, right)]
    if isinstance(right, dict):
        if "range" in right:
            return [(int(right["range"][0]), int(right["range"][1]))]
        if "set" in right:
            return [p for item in right["set"] for p in _nft_ports(item)]
    if isinstance(right, list):
        return [p for item in right for p in _nft_ports(item)]
    return []


def parse_nft_json(text: str) -> Firewall:
    """`nft -j list ruleset`: input-hook chains with a drop policy (or a final bare drop/reject), and the
    port ranges their accept rules open (rules matching only tcp/udp dport; state matches are ignored)."""
    items = extract_json(text).get("nftables", [])
    input_chains = {(c["chain"]["family"], c["chain"]["table"], c["chain"]["name"]): c["chain"]
                    for c in items if "chain" in c and c["chain"].get("hook") == "input"}
    filtering = any(c.get("policy") == "drop" for c in input_chains.values())
    allowed: list[tuple[str, int, int]] = []
    accept_if: list[str] = []
    for item in items:
        rule = item.get("rule")
        if not rule or (rule["family"], rule["table"], rule["chain"]) not in input_chains:
            continue
        exprs = rule.get("expr", [])
        verdicts = [k for e in exprs for k in e if k in ("accept", "drop", "reject")]
        matches = [e["match"] for e in exprs if "match" in e]
        if verdicts == ["drop"] or verdicts == ["reject"]:
            if not matches:
                filtering = True
            continue
        if verdicts != ["accept"]:
            continue
        for m in matches:
            left = m.get("left", {})
            payload = left.get("payload", {}) if isinstance(left, dict) else {}
            meta = left.get("meta", {}) if isinstance(left, dict) else {}
            if payload.get("field") == "dport":
                proto = payload.get("protocol", "any")
                proto = "any" if proto == "th" else proto
                allowed.extend((proto, lo, hi) for lo, hi in _nft_ports(m.get("right")))
            elif meta.get("key") == "iifname" and len(matches) == 1 and isinstance(m.get("right"), str):
                accept_if.append(m["right"])
    return Firewall("nft", filtering, tuple(allowed), tuple(accept_if))


def parse_iptables_save(text: str) -> Firewall:
    """`iptables-save`: the filter table's INPUT policy and its ACCEPT rules with --dport/--dports."""
    filtering = bool(re.search(r"^:INPUT (DROP|REJECT)", text, re.M))
    allowed: list[tuple[str, int, int]] = []
    accept_if: list[str] = []
    for line in text.splitlines():
        if not line.startswith("-A INPUT "):
            continue
        words = line.split()
        target = words[words.index("-j") + 1] if "-j" in words else ""
        if target in ("DROP", "REJECT") and len(words) == 4:
            filtering = True
        if target != "ACCEPT":
            continue
        proto = words[words.index("-p") + 1] if "-p" in words else "any"
        for flag in ("--dport", "--dports", "--destination-port", "--destination-ports"):
            if flag in words:
                for part in words[words.index(flag) + 1].split(","):
                    lo, _, hi = part.partition(":")
                    allowed.append((proto, int(lo), int(hi or lo)))
        if "-i" in words and len(words) == 6:
            accept_if.append(words[words.index("-i") + 1])
    return Firewall("iptables", filtering, tuple(allowed), tuple(accept_if))
