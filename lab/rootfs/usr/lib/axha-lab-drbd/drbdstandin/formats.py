"""Pure printers for drbdsetup status, status --json and events2, ported from drbd-utils 9.22 C sources.

Sources: drbdsetup.c (status, JSON), drbdsetup_events2.c (print_changes), shared/wrap_printf.c.

Input is a resource snapshot (a dict, see snapshot() in show.py). Sizes and counters are in 512-byte sectors,
like the kernel's netlink attributes; the printers divide by two exactly where drbdsetup does.
"""

from __future__ import annotations

import math

SUSP_STRS = ["no", "user", "no-data", "user,no-data", "fencing", "user,fencing", "no-data,fencing",
             "user,no-data,fencing", "quorum", "user,quorum", "no-data,quorum", "user,no-data,quorum",
             "fencing,quorum", "user,fencing,quorum", "no-data,fencing,quorum", "user,no-data,fencing,quorum"]
RESYNC_SUSP_STRS = ["no", "user", "peer", "user,peer", "dependency", "user,dependency", "peer,dependency",
                    "user,peer,dependency"]
SYNC_STATES = ("SyncSource", "SyncTarget", "VerifyS", "VerifyT", "PausedSyncS", "PausedSyncT")
REPL_ORDER = ("Off", "Established", "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID",
              "SyncSource", "SyncTarget", "VerifyS", "VerifyT", "PausedSyncS", "PausedSyncT", "Ahead", "Behind")


def susp_str(res: dict) -> str:
    index = ((1 if res.get("susp_user") else 0) | (2 if res.get("susp_nod") else 0)
             | (4 if res.get("susp_fen") else 0) | (8 if res.get("susp_quorum") else 0))
    return SUSP_STRS[index]


def resync_susp_str(pd: dict) -> str:
    index = ((1 if pd.get("susp_user") else 0) | (2 if pd.get("susp_peer") else 0)
             | (4 if pd.get("susp_dependency") else 0))
    return RESYNC_SUSP_STRS[index]


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def cfmt(fmt: str, value: float) -> str:
    """C printf of one double: %.2f / %.0f, with C's spelling of NaN."""
    if isinstance(value, float) and math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return fmt % value


class Wrapper:
    """drbd-utils shared/wrap_printf.c: wrap at the terminal width (80 when stdout is not a tty)."""

    def __init__(self, columns: int = 80) -> None:
        self.columns = columns
        self.col = 0
        self.out: list[str] = []

    def __call__(self, indent: int, text: str) -> None:
        if self.col + len(text) > self.columns:
            self.out.append("\n")
            if text.startswith("\n"):
                text = text[1:]
            self.col = 0
        if self.col == 0:
            text = text.lstrip(" ")
            self.col += indent
            self.out.append(" " * indent)
        self.out.append(text)
        self.col += len(text)
        if text.endswith("\n"):
            self.col = 0

    def text(self) -> str:
        return "".join(self.out)


def nowrap(parts: list[str]):
    def _printf(indent: int, text: str) -> None:
        parts.append(text)
    return _printf


def sync_details(s: dict) -> bool:
    total = s.get("rs_total", 0)
    return total != 0 and total != -1


def in_resync_without_details(pd: dict) -> bool:
    return pd.get("rs_total", 0) == -1 and pd["repl"] in ("SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT")


def sectors_to_go(s: dict) -> int:
    return s.get("ov_left", 0) or (s["out_of_sync"] - s.get("rs_failed", 0))


def done_percent(s: dict) -> float:
    return 100.0 * (s["rs_total"] - sectors_to_go(s)) / s["rs_total"]


# ---------------------------------------------------------------- statistics printers (drbdsetup.c)

def print_resource_statistics(w, indent: int, old: dict | None, new: dict, fullch: bool = False) -> None:
    wo = new.get("write_ordering")
    if (old is None or old.get("write_ordering") != wo or fullch) and wo:
        w(indent, f" write-ordering:{wo}")


def print_device_statistics(w, indent: int, old: dict | None, new: dict, opts: "Opts") -> None:
    if opts.statistics:
        if opts.verbose:
            w(indent, f" size:{new['size'] // 2}")
        w(indent, f" read:{new.get('read', 0) // 2}")
        w(indent, f" written:{new.get('written', 0) // 2}")
        if opts.verbose:
            w(indent, f" al-writes:{new.get('al_writes', 0)}")
            w(indent, f" bm-writes:{new.get('bm_writes', 0)}")
            w(indent, f" upper-pending:{new.get('upper_pending', 0)}")
            w(indent, f" lower-pending:{new.get('lower_pending', 0)}")
            if old is None or old.get("al_suspended") != new.get("al_suspended") or opts.fullch:
                w(indent, f" al-suspended:{yes_no(new.get('al_suspended', False))}")
    ub, lb = new.get("upper_blocked", False), new.get("lower_blocked", False)
    if ((old is None or old.get("upper_blocked", False) != ub or old.get("lower_blocked", False) != lb)
            and new.get("size", -1) != -1 and (opts.verbose or ub or lb)):
        names = [n for n, flag in (("upper", ub), ("lower", lb)) if flag]
        w(indent, f" blocked:{','.join(names) if names else 'no'}")


def print_connection_statistics(w, indent: int, old: dict | None, new: dict, fullch: bool = False) -> None:
    if old is None or old.get("congested") != new.get("congested") or fullch:
        w(indent, f" congested:{yes_no(new.get('congested', False))}")
    if new.get("ap_in_flight", -1) != -1:
        w(indent, f" ap-in-flight:{new['ap_in_flight']}")
        w(indent, f" rs-in-flight:{new['rs_in_flight']}")


def print_peer_device_statistics(w, indent: int, s: dict, opts: "Opts") -> None:
    details = sync_details(s)
    to_go = sectors_to_go(s) if details else 0
    if indent == 0:
        if details:
            w(indent, " done:" + cfmt("%.2f", 100.0 * (s["rs_total"] - to_go) / s["rs_total"]))
        if not opts.statistics:
            return
    w(indent, f" received:{s.get('received', 0) // 2}")
    w(indent, f" sent:{s.get('sent', 0) // 2}")
    if opts.verbose or s.get("out_of_sync", 0):
        w(indent, f" out-of-sync:{s.get('out_of_sync', 0) // 2}")
    if not opts.verbose:
        return
    w(indent, f" pending:{s.get('pending', 0)}")
    w(indent, f" unacked:{s.get('unacked', 0)}")
    if not details:
        return
    if opts.verbose > 1:
        for key, name in (("rs_total", "rs-total"), ("rs_dt_start_ms", "rs-dt-start-ms"),
                          ("rs_paused_ms", "rs-paused-ms"), ("rs_dt0_ms", "rs-dt0-ms"),
                          ("rs_db0_sectors", "rs-db0-sectors"), ("rs_dt1_ms", "rs-dt1-ms"),
                          ("rs_db1_sectors", "rs-db1-sectors"), ("rs_failed", "rs-failed"),
                          ("rs_same_csum", "rs-same-csum")):
            w(indent, f" {name}:{s.get(key, 0)}")
        if s.get("c_sync_rate"):
            w(indent, " want:" + cfmt("%.2f", s["c_sync_rate"] / 1024.0))
        db = s["rs_total"] - to_go
        dt = s.get("rs_dt_start_ms", 0) - s.get("rs_paused_ms", 0)
        w(indent, " dbdt:" + cfmt("%.2f", db / (dt or 1) * 1000.0 / 2048.0))
        db = s.get("rs_db0_sectors", 0)
        dt = s.get("rs_dt0_ms", 0) or 1
        w(indent, " dbdt0:" + cfmt("%.2f", db / dt * 1000.0 / 2048.0))
    db = s.get("rs_db1_sectors", 0)
    dt = s.get("rs_dt1_ms", 0) or 1
    w(indent, " dbdt1:" + cfmt("%.2f", db / dt * 1000.0 / 2048.0))
    w(indent, " eta:" + cfmt("%.0f", dt * 1e-3 * to_go / db if db > 0 else float("nan")))


class Opts:
    """The drbdsetup options that change what status/events2 print."""

    def __init__(self, verbose: int = 0, statistics: bool = False, fullch: bool = False,
                 tty: bool = False, timestamps: bool = False) -> None:
        self.verbose = verbose
        self.statistics = statistics
        self.fullch = fullch
        self.tty = tty
        self.timestamps = timestamps


# ---------------------------------------------------------------- drbdsetup status (text)

def status_text(resources: list[dict], opts: Opts, columns: int = 80) -> str:
    """What `drbdsetup status [RES]` prints for these resources (already filtered)."""
    if not resources:
        return "# No currently configured DRBD found.\n"
    w = Wrapper(columns)
    for res in sorted(resources, key=lambda r: r["name"]):
        _resource_status(w, res, opts)
        devices = sorted(res["devices"], key=lambda d: d["volume"])
        single = len(devices) == 1
        for dev in devices:
            _device_status(w, dev, single, opts)
        conns = sorted(res["connections"], key=lambda c: c["name"])
        for conn in conns:
            _connection_status(w, conn, devices, single, opts)
        w(0, "\n")
    return w.text()


def _resource_status(w, res: dict, opts: Opts) -> None:
    w(0, res["name"])
    if opts.verbose:
        w(4, f" node-id:{res['node_id']}")
    w(4, f" role:{res['role']}")
    if opts.verbose or res.get("susp_user") or res.get("susp_nod") or res.get("susp_fen") or res.get("susp_quorum"):
        w(4, f" suspended:{susp_str(res)}")
    if opts.verbose or res.get("fail_io"):
        w(4, f" force-io-failures:{yes_no(res.get('fail_io', False))}")
    if opts.statistics and opts.verbose:
        w(4, "\n")
        print_resource_statistics(w, 4, None, res)
    w(0, "\n")


def _device_status(w, dev: dict, single: bool, opts: Opts) -> None:
    indent = 2
    if opts.verbose or not (single and dev["volume"] == 0):
        w(indent, f"volume:{dev['volume']}")
        indent = 6
        if opts.verbose:
            w(indent, f" minor:{dev['minor']}")
    w(indent, f" disk:{dev['disk']}")
    if dev["disk"] == "Diskless" and (opts.verbose or not opts.tty):
        w(indent, f" client:{yes_no(dev.get('client', False))}")
    if opts.verbose:
        w(indent, f" backing_dev:{dev.get('backing_dev') or 'none'}")
    if opts.verbose or not dev.get("quorum", True):
        w(indent, f" quorum:{yes_no(dev.get('quorum', True))}")
    indent = 6
    if dev.get("size", -1) != -1:
        if opts.statistics:
            w(indent, "\n")
        print_device_statistics(w, indent, None, dev, opts)
    w(indent, "\n")


def _peer_device_status(w, pd: dict, dev: dict | None, single: bool, opts: Opts) -> None:
    indent = 4
    if opts.verbose or not (single and pd["volume"] == 0):
        w(indent, f"volume:{pd['volume']}")
        indent = 8
    repl = pd["repl"]
    if opts.verbose or REPL_ORDER.index(repl) > REPL_ORDER.index("Established"):
        w(indent, f" replication:{repl}")
        indent = 8
    if opts.verbose or opts.statistics or repl != "Off" or pd["peer_disk"] != "DUnknown":
        w(indent, f" peer-disk:{pd['peer_disk']}")
        if pd["peer_disk"] == "Diskless" and (opts.verbose or not opts.tty):
            w(indent, f" peer-client:{yes_no(pd.get('peer_client', False))}")
        indent = 8
        if in_resync_without_details(pd) and dev:
            w(indent, " done:" + cfmt("%.2f", 100 * (1 - pd["out_of_sync"] / dev["size"])))
        elif sync_details(pd):
            w(indent, " done:" + cfmt("%.2f", done_percent(pd)))
        if opts.verbose or pd.get("susp_user") or pd.get("susp_peer") or pd.get("susp_dependency"):
            w(indent, f" resync-suspended:{resync_susp_str(pd)}")
        if opts.statistics and pd.get("received", 0) != -1:
            w(indent, "\n")
            print_peer_device_statistics(w, indent, pd, opts)
    w(0, "\n")


def _connection_status(w, conn: dict, devices: list[dict], single: bool, opts: Opts) -> None:
    if conn["name"]:
        w(2, conn["name"])
    if opts.verbose or not conn["name"]:
        w(6 if conn["name"] else 2, f" node-id:{conn['peer_node_id']}")
    if opts.verbose or conn["cstate"] != "Connected":
        w(6, f" connection:{conn['cstate']}")
    if opts.verbose or conn["cstate"] == "Connected":
        w(6, f" role:{conn['role']}")
    if opts.verbose or conn.get("congested"):
        print_connection_statistics(w, 6, None, conn)
    w(0, "\n")
    if opts.verbose or opts.statistics or conn["cstate"] == "Connected":
        by_vol = {d["volume"]: d for d in devices}
        for pd in conn["peer_devices"]:
            _peer_device_status(w, pd, by_vol.get(pd["volume"]), single, opts)


# ---------------------------------------------------------------- drbdsetup status --json

def _b(value: bool) -> str:
    return "true" if value else "false"


def status_json(resources: list[dict]) -> str:
    """What `drbdsetup status --json [RES]` prints (byte-for-byte layout of drbdsetup.c)."""
    out = ["[\n"]
    first = True
    for res in sorted(resources, key=lambda r: r["name"]):
        if not first:
            out.append(",\n")
        first = False
        suspended = any(res.get(k) for k in ("susp_user", "susp_nod", "susp_fen", "susp_quorum"))
        out.append("{\n"
                   f"  \"name\": \"{res['name']}\",\n"
                   f"  \"node-id\": {res['node_id']},\n"
                   f"  \"role\": \"{res['role']}\",\n"
                   f"  \"suspended\": {_b(suspended)},\n"
                   f"  \"suspended-user\": {_b(res.get('susp_user', False))},\n"
                   f"  \"suspended-no-data\": {_b(res.get('susp_nod', False))},\n"
                   f"  \"suspended-fencing\": {_b(res.get('susp_fen', False))},\n"
                   f"  \"suspended-quorum\": {_b(res.get('susp_quorum', False))},\n"
                   f"  \"force-io-failures\": {_b(res.get('fail_io', False))},\n"
                   f"  \"write-ordering\": \"{res.get('write_ordering', 'flush')}\",\n"
                   "  \"devices\": [\n")
        devices = sorted(res["devices"], key=lambda d: d["volume"])
        for i, dev in enumerate(devices):
            out.append(_device_json(dev))
            if i + 1 < len(devices):
                out.append(",\n")
        out.append(" ],\n  \"connections\": [\n")
        conns = sorted(res["connections"], key=lambda c: c["name"])
        by_vol = {d["volume"]: d for d in devices}
        for i, conn in enumerate(conns):
            out.append(_connection_json(conn, by_vol))
            if i + 1 < len(conns):
                out.append(",\n")
        out.append(" ]\n}\n")
    out.append("]\n\n")
    return "".join(out)


def _device_json(dev: dict) -> str:
    stats = dev.get("size", -1) != -1
    text = ("    {\n"
            f"      \"volume\": {dev['volume']},\n"
            f"      \"minor\": {dev['minor']},\n"
            f"      \"disk-state\": \"{dev['disk']}\",\n"
            f"      \"client\": {_b(dev.get('client', False))},\n"
            f"      \"quorum\": {_b(dev.get('quorum', True))}{',' if stats else ''}\n")
    if stats:
        text += (f"      \"size\": {dev['size'] // 2},\n"
                 f"      \"read\": {dev.get('read', 0) // 2},\n"
                 f"      \"written\": {dev.get('written', 0) // 2},\n"
                 f"      \"al-writes\": {dev.get('al_writes', 0)},\n"
                 f"      \"bm-writes\": {dev.get('bm_writes', 0)},\n"
                 f"      \"upper-pending\": {dev.get('upper_pending', 0)},\n"
                 f"      \"lower-pending\": {dev.get('lower_pending', 0)}\n")
    return text + "    }"


def _connection_json(conn: dict, by_vol: dict) -> str:
    text = ("    {\n"
            f"      \"peer-node-id\": {conn['peer_node_id']},\n"
            f"      \"name\": \"{conn['name']}\",\n"
            f"      \"connection-state\": \"{conn['cstate']}\", \n"
            f"      \"congested\": {_b(conn.get('congested', False))},\n"
            f"      \"peer-role\": \"{conn['role']}\",\n")
    if conn.get("ap_in_flight", -1) != -1:
        text += (f"      \"ap-in-flight\": {conn['ap_in_flight']},\n"
                 f"      \"rs-in-flight\": {conn['rs_in_flight']},\n")
    text += "      \"peer_devices\": [\n"
    parts = [_peer_device_json(pd, by_vol.get(pd["volume"])) for pd in conn["peer_devices"]]
    text += ",\n".join(parts)
    return text + " ]\n    }"


def _peer_device_json(pd: dict, dev: dict | None) -> str:
    details = sync_details(pd)
    without = in_resync_without_details(pd)
    size = dev["size"] if dev else 0
    in_sync = 0 if size == 0 else 100 * (1 - pd.get("out_of_sync", 0) / size)
    text = ("        {\n"
            f"          \"volume\": {pd['volume']},\n"
            f"          \"replication-state\": \"{pd['repl']}\",\n"
            f"          \"peer-disk-state\": \"{pd['peer_disk']}\",\n"
            f"          \"peer-client\": {_b(pd.get('peer_client', False))},\n"
            f"          \"resync-suspended\": \"{resync_susp_str(pd)}\",\n"
            f"          \"received\": {pd.get('received', 0) // 2},\n"
            f"          \"sent\": {pd.get('sent', 0) // 2},\n"
            f"          \"out-of-sync\": {pd.get('out_of_sync', 0) // 2},\n"
            f"          \"pending\": {pd.get('pending', 0)},\n"
            f"          \"unacked\": {pd.get('unacked', 0)},\n"
            f"          \"has-sync-details\": {_b(details)},\n"
            f"          \"has-online-verify-details\": {_b(details and bool(pd.get('ov_left', 0)))},\n"
            f"          \"percent-in-sync\": {cfmt('%.2f', in_sync)}{',' if (details or without) else ''}\n")
    if details:
        s = pd
        text += (f"          \"rs-total\": {s['rs_total']},\n"
                 f"          \"rs-dt-start-ms\": {s.get('rs_dt_start_ms', 0)},\n"
                 f"          \"rs-paused-ms\": {s.get('rs_paused_ms', 0)},\n"
                 f"          \"rs-dt0-ms\": {s.get('rs_dt0_ms', 0)},\n"
                 f"          \"rs-db0-sectors\": {s.get('rs_db0_sectors', 0)},\n"
                 f"          \"rs-dt1-ms\": {s.get('rs_dt1_ms', 0)},\n"
                 f"          \"rs-db1-sectors\": {s.get('rs_db1_sectors', 0)},\n"
                 f"          \"rs-failed\": {s.get('rs_failed', 0)},\n"
                 f"          \"rs-same-csum\": {s.get('rs_same_csum', 0)},\n")
        rate = s.get("c_sync_rate", 0)
        text += f"          \"want\": {cfmt('%.2f', rate / 1024.0 if rate else 0.0)},\n"
        db = s.get("rs_db0_sectors", 0)
        dt = s.get("rs_dt0_ms", 0) or 1
        text += f"          \"db0/dt0 [MiB/s]\": {cfmt('%.2f', db / dt * 1000.0 / 2048.0)},\n"
        db = s.get("rs_db1_sectors", 0)
        dt = s.get("rs_dt1_ms", 0) or 1
        text += f"          \"db1/dt1 [MiB/s]\": {cfmt('%.2f', db / dt * 1000.0 / 2048.0)},\n"
        to_go = sectors_to_go(s)
        eta = 987654321 if db <= 0 else dt * 1e-3 * to_go / db
        text += f"          \"estimated-seconds-to-finish\": {cfmt('%.0f', eta)},\n"
        db = s["rs_total"] - to_go
        dt = s.get("rs_dt_start_ms", 0) - s.get("rs_paused_ms", 0)
        text += f"          \"db/dt [MiB/s]\": {cfmt('%.2f', db / (dt or 1) * 1000.0 / 2048.0)},\n"
        text += f"          \"percent-resync-done\": {cfmt('%.2f', 100.0 * db / s['rs_total'])}\n"
    elif without:
        text += f"          \"percent-resync-done\": {cfmt('%.2f', in_sync)}\n"
    return text + "        }"


# ---------------------------------------------------------------- events2 (drbdsetup_events2.c print_changes)

def promotion_info(res: dict) -> tuple[bool, int]:
    """compute_promotion_info(): may_promote and promotion_score."""
    devices = res["devices"]
    if not devices:
        return False, 0
    up_to_date_devices = 0
    all_have_disk = True
    min_replicas = -1
    all_stable = True
    for dev in devices:
        replicas = 1 if dev["disk"] == "UpToDate" else 0
        stable = dev["disk"] == "UpToDate"
        for conn in res["connections"]:
            for pd in conn["peer_devices"]:
                if pd["volume"] == dev["volume"] and pd["peer_disk"] == "UpToDate":
                    replicas += 1
                    if pd.get("uuid_stable", True):
                        stable = True
        if not dev.get("quorum", True):
            return False, 0
        if dev["disk"] == "UpToDate":
            up_to_date_devices += 1
        elif dev["disk"] not in ("Consistent", "Inconsistent"):
            all_have_disk = False
        if min_replicas == -1 or replicas < min_replicas:
            min_replicas = replicas
        if not stable:
            all_stable = False
    if min_replicas in (-1, 0):
        return False, 0
    have_primary = res["role"] == "Primary" or any(c["role"] == "Primary" for c in res["connections"])
    may = not have_primary and all_stable
    score = (1 if all_have_disk else 0) * 10000 + min(up_to_date_devices, 99) * 100 + min(min_replicas, 99)
    return may, score


def _stats_of(obj: dict, keys: tuple) -> tuple:
    return tuple(obj.get(k) for k in keys)


RES_STAT_KEYS = ("write_ordering",)
DEV_STAT_KEYS = ("size", "read", "written", "al_writes", "bm_writes", "upper_pending", "lower_pending",
                 "al_suspended", "upper_blocked", "lower_blocked")
CONN_STAT_KEYS = ("congested", "ap_in_flight", "rs_in_flight")
PD_STAT_KEYS = ("received", "sent", "out_of_sync", "pending", "unacked", "rs_total", "rs_dt_start_ms",
                "rs_paused_ms", "rs_dt0_ms", "rs_db0_sectors", "rs_dt1_ms", "rs_db1_sectors", "rs_failed",
                "rs_same_csum", "ov_left", "c_sync_rate", "uuid_stable")


def _resource_changes(out: list[str], prefix: str, action: str, old: dict | None, new: dict, opts: Opts) -> None:
    role_changed = old is None or old["role"] != new["role"]
    info_changed = old is None or susp_str(old) != susp_str(new)
    fail_changed = old is None or old.get("fail_io", False) != new.get("fail_io", False)
    stats_changed = opts.statistics and (old is None or _stats_of(old, RES_STAT_KEYS) != _stats_of(new, RES_STAT_KEYS))
    new_p = promotion_info(new)
    promo_changed = old is None or promotion_info(old) != new_p
    if not (role_changed or info_changed or stats_changed or promo_changed or fail_changed):
        return
    line = [f"{prefix}{action if old is None else 'change'} resource name:{new['name']}"]
    if role_changed or opts.fullch:
        line.append(f" role:{new['role']}")
    if info_changed or opts.fullch:
        line.append(f" suspended:{susp_str(new)}")
    if fail_changed or opts.fullch:
        line.append(f" force-io-failures:{yes_no(new.get('fail_io', False))}")
    if stats_changed or opts.fullch:
        print_resource_statistics(nowrap(line), 0, old, new, opts.fullch)
    if promo_changed or opts.fullch:
        line.append(f" may_promote:{yes_no(new_p[0])} promotion_score:{new_p[1]}")
    out.append("".join(line) + "\n")


def _device_changes(out, prefix, action, name, new: dict, old: dict | None, opts: Opts) -> None:
    info_changed = old is None or old["disk"] != new["disk"] or old.get("quorum") != new.get("quorum")
    stats_changed = opts.statistics and (old is None or _stats_of(old, DEV_STAT_KEYS) != _stats_of(new, DEV_STAT_KEYS))
    if not info_changed and not stats_changed:
        return
    line = [f"{prefix}{action if old is None else 'change'} device name:{name} volume:{new['volume']} "
            f"minor:{new['minor']}"]
    if info_changed or opts.fullch:
        line.append(f" backing_dev:{new.get('backing_dev') or 'none'}")
        line.append(f" disk:{new['disk']}")
        line.append(f" client:{yes_no(new.get('client', False))}")
        line.append(f" quorum:{yes_no(new.get('quorum', True))}")
    if stats_changed or opts.fullch:
        print_device_statistics(nowrap(line), 0, old, new, opts)
    out.append("".join(line) + "\n")


def _peer_device_changes(out, prefix, action, name, conn: dict, new: dict, old: dict | None, opts: Opts) -> None:
    repl_changed = old is None or old["repl"] != new["repl"]
    disk_changed = old is None or old["peer_disk"] != new["peer_disk"]
    intentional_changed = old is not None and old.get("peer_client", False) != new.get("peer_client", False)
    susp_changed = old is None or resync_susp_str(old) != resync_susp_str(new)
    stats_changed = old is None or _stats_of(old, PD_STAT_KEYS) != _stats_of(new, PD_STAT_KEYS)
    if not (repl_changed or disk_changed or susp_changed or stats_changed):
        return
    line = [f"{prefix}{action if old is None else 'change'} peer-device name:{name} "
            f"peer-node-id:{conn['peer_node_id']} conn-name:{conn['name']} volume:{new['volume']}"]
    if repl_changed or opts.fullch:
        line.append(f" replication:{new['repl']}")
    if disk_changed or opts.fullch or intentional_changed:
        line.append(f" peer-disk:{new['peer_disk']}")
        line.append(f" peer-client:{yes_no(new.get('peer_client', False))}")
    if susp_changed or opts.fullch:
        line.append(f" resync-suspended:{resync_susp_str(new)}")
    if stats_changed or opts.fullch:
        print_peer_device_statistics(nowrap(line), 0, new, opts)
    out.append("".join(line) + "\n")


def _path_changes(out, prefix, action, name, conn: dict, new: dict, old: dict | None, opts: Opts) -> None:
    if old is not None and old["established"] == new["established"]:
        return
    out.append(f"{prefix}{action if old is None else 'change'} path name:{name} peer-node-id:{conn['peer_node_id']} "
               f"conn-name:{conn['name']} local:{new['local']} peer:{new['peer']} "
               f"established:{yes_no(new['established'])}\n")


def _connection_changes(out, prefix, action, name, new: dict, old: dict | None, opts: Opts) -> None:
    cs_changed = old is None or old["cstate"] != new["cstate"]
    role_changed = old is None or old["role"] != new["role"]
    stats_changed = opts.statistics and (old is None
                                         or _stats_of(old, CONN_STAT_KEYS) != _stats_of(new, CONN_STAT_KEYS))
    if not (cs_changed or role_changed or stats_changed):
        return
    line = [f"{prefix}{action if old is None else 'change'} connection name:{name} "
            f"peer-node-id:{new['peer_node_id']} conn-name:{new['name']}"]
    if cs_changed or opts.fullch:
        line.append(f" connection:{new['cstate']}")
    if role_changed or opts.fullch:
        line.append(f" role:{new['role']}")
    if stats_changed or opts.fullch:
        print_connection_statistics(nowrap(line), 0, old, new, opts.fullch)
    out.append("".join(line) + "\n")


def _find(items: list[dict], key: str, value):
    for item in items:
        if item[key] == value:
            return item
    return None


def _find_path(paths: list[dict], path: dict):
    for item in paths:
        if item["local"] == path["local"] and item["peer"] == path["peer"]:
            return item
    return None


def print_changes(old: dict | None, new: dict | None, opts: Opts, action: str = "create",
                  prefix: str = "") -> str:
    """The events2 lines for one resource going from `old` to `new` (None = absent / destroyed)."""
    out: list[str] = []
    if new is None:
        if old is None:
            return ""
        new = dict(old, devices=[], connections=[], destroyed=True)
    name = new["name"]
    if not new.get("destroyed"):
        _resource_changes(out, prefix, action, old, new, opts)
    for conn in new["connections"]:
        old_conn = _find(old["connections"], "name", conn["name"]) if old else None
        _connection_changes(out, prefix, action, name, conn, old_conn, opts)
    for dev in new["devices"]:
        old_dev = _find(old["devices"], "volume", dev["volume"]) if old else None
        _device_changes(out, prefix, action, name, dev, old_dev, opts)
    for conn in new["connections"]:
        old_conn = _find(old["connections"], "name", conn["name"]) if old else None
        for pd in conn["peer_devices"]:
            old_pd = _find(old_conn["peer_devices"], "volume", pd["volume"]) if old_conn else None
            _peer_device_changes(out, prefix, action, name, conn, pd, old_pd, opts)
        for path in conn.get("paths", []):
            old_path = _find_path(old_conn.get("paths", []), path) if old_conn else None
            _path_changes(out, prefix, action, name, conn, path, old_path, opts)
        for old_path in (old_conn.get("paths", []) if old_conn else []):
            if _find_path(conn.get("paths", []), old_path) is None:
                out.append(f"{prefix}destroy path name:{name} peer-node-id:{old_conn['peer_node_id']} "
                           f"conn-name:{old_conn['name']} local:{old_path['local']} peer:{old_path['peer']}\n")
        for old_pd in (old_conn["peer_devices"] if old_conn else []):
            if _find(conn["peer_devices"], "volume", old_pd["volume"]) is None:
                out.append(f"{prefix}destroy peer-device name:{name} peer-node-id:{old_conn['peer_node_id']} "
                           f"conn-name:{old_conn['name']} volume:{old_pd['volume']}\n")
    for old_conn in (old["connections"] if old else []):
        if _find(new["connections"], "name", old_conn["name"]) is None:
            for old_path in old_conn.get("paths", []):
                out.append(f"{prefix}destroy path name:{name} peer-node-id:{old_conn['peer_node_id']} "
                           f"conn-name:{old_conn['name']} local:{old_path['local']} peer:{old_path['peer']}\n")
            for old_pd in old_conn["peer_devices"]:
                out.append(f"{prefix}destroy peer-device name:{name} peer-node-id:{old_conn['peer_node_id']} "
                           f"conn-name:{old_conn['name']} volume:{old_pd['volume']}\n")
            out.append(f"{prefix}destroy connection name:{name} peer-node-id:{old_conn['peer_node_id']} "
                       f"conn-name:{old_conn['name']}\n")
    for old_dev in (old["devices"] if old else []):
        if _find(new["devices"], "volume", old_dev["volume"]) is None:
            out.append(f"{prefix}destroy device name:{name} volume:{old_dev['volume']}\n")
    if new.get("destroyed"):
        out.append(f"{prefix}destroy resource name:{name}\n")
    return "".join(out)


def helper_line(prefix: str, response: bool, res: str, helper: str, peer_node_id: int | None = None,
                conn_name: str | None = None, volume: int | None = None, minor: int | None = None,
                status: int | None = None) -> str:
    """print_helper(): a `call helper` / `response helper` events2 line."""
    line = f"{prefix}{'response' if response else 'call'} helper name:{res}"
    if peer_node_id is not None:
        line += f" peer-node-id:{peer_node_id}"
    if conn_name:
        line += f" conn-name:{conn_name}"
    if volume is not None:
        line += f" volume:{volume}"
    if minor is not None:
        line += f" minor:{minor}"
    line += f" helper:{helper}"
    if response:
        line += f" status:{status}"
    return line + "\n"
