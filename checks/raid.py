"""The preflight RAID check: hardware RAID controllers (parsers of storcli64/perccli64, ssacli and megacli, and
their findings) and the verdict `raid` over the controllers and the md arrays (checks.mdraid). Pure functions, no
I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass

from axha.checks.mdraid import (MdArray, MdDetail, _md_detail_finding, _md_detail_only, _md_findings, _md_name,
                                parse_mdadm_detail, parse_mdstat)
from axha.checks.view import NodeView, _f
from axha.steps.sections import extract_json
from axha.steps.framework import FAIL, PASS, WARN, Finding


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


# ---------------------------------------------------------------- RAID

VD_OK = {"optl", "optimal", "ok"}
VD_REBUILD = {"rec", "rbld", "recovering", "rebuilding", "ready for rebuild", "transforming"}
PD_OK = {"onln", "online", "online, spun up", "ok", "ghs", "dhs", "ugood", "jbod", "hotspare, spun up",
         "unconfigured(good), spun up", "unconfigured(good)"}
PD_REBUILD = {"rbld", "rebuild", "rebuilding", "copyback", "cpybck"}
BATTERY_OK = {"", "optimal", "ok", "na", "not present"}


def _controller_findings(view: NodeView, c: Controller) -> list[Finding]:
    out: list[Finding] = []
    where = f"{c.tool} {c.id} ({c.model})"
    for vd in c.virtual_drives:
        state = vd.state.lower()
        if state in VD_OK:
            continue
        if any(state.startswith(s) for s in VD_REBUILD):
            out.append(_f("RAID_REBUILDING", view.name, WARN, f"{where}: virtual drive {vd.id} {vd.kind} is "
                          f"rebuilding ({vd.state})", "Let the rebuild finish before installing, then re-run "
                          "preflight."))
        elif state in ("ofln", "offline", "failed"):
            out.append(_f("RAID_FAILED", view.name, FAIL, f"{where}: virtual drive {vd.id} {vd.kind} is "
                          f"{vd.state}", "The array has lost data redundancy completely: replace the failed "
                          "drives and restore the array before using this server."))
        else:
            out.append(_f("RAID_DEGRADED", view.name, FAIL, f"{where}: virtual drive {vd.id} {vd.kind} is "
                          f"{vd.state}", "Replace the failed drive and let the controller rebuild the array, "
                          "then re-run preflight."))
    for pd in c.physical_drives:
        state = pd.state.lower()
        if state in PD_OK or state.startswith("online"):
            continue
        code, status = ("RAID_REBUILDING", WARN) if state in PD_REBUILD or state.startswith("rebuild") \
            else ("RAID_DRIVE_FAILED", FAIL)
        out.append(_f(code, view.name, status, f"{where}: drive {pd.id} is {pd.state}",
                      "Replace this drive (or let its rebuild finish) and re-run preflight."))
    if c.battery.lower() not in BATTERY_OK:
        out.append(_f("RAID_BATTERY", view.name, WARN, f"{where}: battery/cache backup is {c.battery}",
                      "A failed cache battery turns write-back off or risks the cache's content on power loss: "
                      "replace it."))
    if c.cache and c.cache.lower() not in ("ok", "not configured"):
        out.append(_f("RAID_CACHE", view.name, WARN, f"{where}: cache status {c.cache}",
                      "Check the controller's cache module and battery."))
    if not out and c.status.lower() not in ("optimal", "ok", "?", ""):
        out.append(_f("RAID_CONTROLLER_ATTENTION", view.name, WARN, f"{where}: controller status {c.status}",
                      "Read the controller's event log (storcli64 /c0 show events) and fix what it reports."))
    return out


def raid_controllers(view: NodeView) -> tuple[list[Controller], list[Finding]]:
    controllers: list[Controller] = []
    problems: list[Finding] = []
    for name, parse in (("storcli", lambda t: parse_storcli(t, "storcli64")),
                        ("perccli", lambda t: parse_storcli(t, "perccli64")),
                        ("ssacli", parse_ssacli), ("megacli", parse_megacli)):
        s = view.section(name)
        if not s or s.rc == 127:
            continue
        try:
            controllers.extend(parse(s.text))
        except (ValueError, KeyError) as exc:
            problems.append(_f("RAID_TOOL_ERROR", view.name, WARN, f"{name} answered but could not be read: {exc}",
                               f"Run the {name} command by hand on {view.name} and check the controller."))
    return controllers, problems


def raid(view: NodeView) -> list[Finding]:
    controllers, out = raid_controllers(view)
    arrays: list[MdArray] = []
    details: list[MdDetail] = []
    md = view.section("mdstat")
    if md and md.ok:
        arrays = parse_mdstat(md.text)
    mdadm = view.section("mdadm")
    if mdadm and mdadm.ok and mdadm.text.strip():
        details = parse_mdadm_detail(mdadm.text)
    only_mdadm = _md_detail_only(arrays, details)
    out += _md_findings(view, arrays, details)
    out += [f for f in (_md_detail_finding(view, d) for d in only_mdadm) if f is not None]
    for c in controllers:
        out += _controller_findings(view, c)
    levels = [a.level for a in arrays] + [d.level for d in only_mdadm]
    redundant = [level for level in levels if level not in ("raid0", "linear", "")]
    found = [f"md {a.name} {a.level}" for a in arrays] + [
        f"md {_md_name(d.device)} {d.level} (mdadm --detail)" for d in only_mdadm] + [
        f"{c.tool} {c.id} {c.model}: " + ", ".join(f"VD {v.id} {v.kind} {v.state}" for v in c.virtual_drives)
        for c in controllers]
    if not levels and not any(c.virtual_drives for c in controllers):
        out.append(_f("RAID_NOT_FOUND", view.name, WARN,
                      "no RAID found: no md array in /proc/mdstat or mdadm --detail --scan and no controller answered "
                      "(storcli64, perccli64, ssacli, megacli)",
                      "The Axigen HA baseline wants a RAID array (1, 1+0 or 5) under the mail store. If the "
                      "disks sit behind a controller whose CLI is not installed, install it (storcli64/perccli64/"
                      "ssacli) and re-run; if there is truly no RAID, a single disk failure stops this node."))
    elif levels and not redundant and not controllers:
        out.append(_f("RAID_NO_REDUNDANCY", view.name, WARN, "only non-redundant md arrays (raid0/linear): "
                      + ", ".join(found), "Use RAID 1, 1+0 or 5 so one disk failure does not stop the node."))
    if not [f for f in out if f.status in (FAIL, WARN)]:
        out.append(_f("RAID_OK", view.name, PASS, "healthy: " + "; ".join(found)))
    return out
