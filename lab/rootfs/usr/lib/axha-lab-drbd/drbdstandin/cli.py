"""Command lines of the DRBD stand-in: drbdsetup, drbdmeta, modprobe/modinfo (drbd only), drbd-standin-ctl."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

from . import formats, meta

MODULE_VERSION = "9.2.2"
DRBDSETUP_COMMANDS = frozenset((
    "new-resource", "new-minor", "new-peer", "net-options", "new-path", "del-path", "connect", "disconnect",
    "del-peer", "primary", "secondary", "down", "attach", "detach", "new-current-uuid", "outdate", "invalidate",
    "del-minor", "disk-options", "check-resize", "resize", "dstate", "get-gi", "show-gi", "invalidate-remote",
    "del-resource", "resource-options", "peer-device-options", "pause-sync", "resume-sync", "verify", "suspend-io",
    "resume-io", "forget-peer", "status", "events2", "show", "role", "cstate", "wait-connect-resource",
    "wait-connect-volume", "wait-connect-connection", "wait-sync-resource", "wait-sync-volume",
    "wait-sync-connection"))
DRBDMETA_COMMANDS = frozenset((
    "create-md", "apply-al", "check-resize", "outdate", "invalidate", "wipe-md", "set-gi", "get-gi", "show-gi",
    "dstate", "dump-md", "read-dev-uuid", "write-dev-uuid"))


class Fail(Exception):
    def __init__(self, rc: int, message: str = "") -> None:
        super().__init__(message)
        self.rc = rc
        self.message = message


def cfg() -> dict:
    return meta.load_config()


def sock_path(c: dict, res: str) -> str:
    return os.path.join(c["run_dir"], f"{res}.sock")


def call(c: dict, res: str, req: dict, timeout: float = 30.0) -> dict:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path(c, res))
    except OSError:
        s.close()
        raise Fail(10, f"{res}: Failure: (158) Unknown resource") from None
    with s:
        s.sendall((json.dumps(req) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise Fail(10, f"{res}: Failure: (158) Unknown resource")
    return json.loads(data)


def running(c: dict) -> list[str]:
    try:
        names = sorted(n[:-5] for n in os.listdir(c["run_dir"]) if n.endswith(".sock"))
    except FileNotFoundError:
        return []
    alive = []
    for name in names:
        try:
            call(c, name, {"cmd": "ping"}, timeout=3)
            alive.append(name)
        except (Fail, OSError, ValueError):
            pass
    return alive


def snapshot(c: dict, res: str) -> dict | None:
    try:
        reply = call(c, res, {"cmd": "snapshot"})
    except (Fail, OSError, ValueError):
        return None
    return json.loads(reply["stdout"])


def res_of_minor(c: dict, minor: str) -> tuple[str, int]:
    try:
        with open(os.path.join(c["run_dir"], f"minor-{int(minor)}")) as fh:
            name, vol = fh.read().split()
        return name, int(vol)
    except (OSError, ValueError):
        raise Fail(10, f"minor {minor}: Failure: (127) Device minor not allocated") from None


def split_opts(args: list[str]) -> tuple[list[str], dict]:
    """Positional args and --key=value / --flag options (flags become 'yes')."""
    pos, opts = [], {}
    for arg in args:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            opts[key] = value if _ else "yes"
        else:
            pos.append(arg)
    return pos, opts


def need(pos: list[str], n: int, usage: str) -> None:
    if len(pos) < n:
        raise Fail(20, f"USAGE:\n {usage}\n")


def forward(c: dict, res: str, req: dict) -> int:
    reply = call(c, res, req)
    sys.stdout.write(reply.get("stdout", ""))
    sys.stderr.write(reply.get("stderr", ""))
    return int(reply["rc"])


def start_daemon(c: dict, res: str, node_id: str) -> None:
    os.makedirs(c["run_dir"], exist_ok=True)
    log = open(os.path.join(c["run_dir"], f"{res}.log"), "ab")
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=pkg_parent)
    subprocess.Popen([sys.executable, "-m", "drbdstandin", "daemon", res, node_id], stdin=subprocess.DEVNULL,
                     stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env, cwd="/")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            call(c, res, {"cmd": "ping"}, timeout=2)
            return
        except (Fail, OSError, ValueError):
            time.sleep(0.05)
    raise Fail(10, f"{res}: Failure: the DRBD stand-in daemon did not start (see {c['run_dir']}/{res}.log)")


# ---------------------------------------------------------------------------- drbdsetup

def drbdsetup(argv: list[str]) -> int:
    c = cfg()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("USAGE: drbdsetup command {arguments} [options]  (axha lab DRBD stand-in)")
        return 20
    if argv[0] in ("--version", "-V"):
        print("DRBDADM_BUILDTAG=axha-lab-standin\nDRBD_KERNEL_VERSION_CODE=0x090202\n"
              f"DRBD_KERNEL_VERSION={MODULE_VERSION}")
        return 0
    cmd, rest = argv[0], argv[1:]
    pos, opts = split_opts(rest)
    try:
        return _drbdsetup(c, cmd, pos, opts)
    except Fail as exc:
        if exc.message:
            sys.stderr.write(exc.message if exc.message.endswith("\n") else exc.message + "\n")
        return exc.rc


def _drbdsetup(c: dict, cmd: str, pos: list[str], opts: dict) -> int:
    if cmd not in DRBDSETUP_COMMANDS:
        raise Fail(20, f"{cmd}: unknown command (not implemented by the axha lab DRBD stand-in)")
    if cmd == "new-resource":
        need(pos, 2, "drbdsetup new-resource {resource} {node_id}")
        load_module(c)
        if pos[0] in running(c):
            return 0
        start_daemon(c, pos[0], pos[1])
        return 0
    if cmd == "new-minor":
        need(pos, 3, "drbdsetup new-minor {resource} {minor} {volume}")
        return forward(c, pos[0], {"cmd": "new-minor", "minor": pos[1], "volume": pos[2]})
    if cmd in ("new-peer", "net-options"):
        need(pos, 2, f"drbdsetup {cmd} {{resource}} {{peer_node_id}}")
        return forward(c, pos[0], {"cmd": cmd, "peer_node_id": pos[1], "opts": opts})
    if cmd in ("new-path", "del-path"):
        need(pos, 4, f"drbdsetup {cmd} {{resource}} {{peer_node_id}} {{local_addr}} {{remote_addr}}")
        return forward(c, pos[0], {"cmd": cmd, "peer_node_id": pos[1], "local": pos[2], "peer": pos[3]})
    if cmd in ("connect", "disconnect", "del-peer"):
        need(pos, 2, f"drbdsetup {cmd} {{resource}} {{peer_node_id}}")
        return forward(c, pos[0], {"cmd": cmd, "peer_node_id": pos[1],
                                   "discard_my_data": "discard-my-data" in opts})
    if cmd in ("primary", "secondary"):
        need(pos, 1, f"drbdsetup {cmd} {{resource}}")
        return forward(c, pos[0], {"cmd": cmd, "force": "force" in opts or "overwrite-data-of-peer" in opts})
    if cmd == "down":
        need(pos, 1, "drbdsetup down {resource}")
        names = running(c) if pos[0] == "all" else [pos[0]]
        for name in names:
            if name not in running(c):
                continue
            rc = forward(c, name, {"cmd": "down"})
            if rc:
                return rc
            deadline = time.monotonic() + 10
            while os.path.exists(sock_path(c, name)) and time.monotonic() < deadline:
                time.sleep(0.05)
        return 0
    if cmd in ("attach", "detach", "new-current-uuid", "outdate", "invalidate", "del-minor", "disk-options",
               "check-resize", "resize", "dstate"):
        need(pos, 1, f"drbdsetup {cmd} {{minor}}")
        if not pos[0].isdigit() and len(pos) > 1:  # drbdadm passes "outdate RES VOL"
            minor = _minor_of(c, pos[0], int(pos[1]))
        else:
            minor = pos[0]
        res, _ = res_of_minor(c, minor)
        if cmd in ("check-resize", "resize", "disk-options"):
            return 0
        if cmd == "dstate":
            snap = snapshot(c, res)
            dev = next(d for d in snap["devices"] if d["minor"] == int(minor))
            print(dev["disk"])
            return 0
        return forward(c, res, {"cmd": cmd, "minor": minor, "backing_dev": pos[1] if len(pos) > 1 else "",
                                "clear_bitmap": "clear-bitmap" in opts})
    if cmd in ("get-gi", "show-gi"):
        need(pos, 3, f"drbdsetup {cmd} {{resource}} {{peer_node_id}} {{volume}}")
        md = meta.read_md(c, int(_minor_of(c, pos[0], int(pos[2]))))
        if md is None:
            raise Fail(10, f"{pos[0]}: Failure: (138) Device does not have a disk-config")
        print(meta.gi_string(md))
        return 0
    if cmd == "invalidate-remote":
        need(pos, 2, "drbdsetup invalidate-remote {resource} {peer_node_id} {volume}")
        return forward(c, pos[0], {"cmd": cmd, "peer_node_id": pos[1]})
    if cmd == "del-resource":
        need(pos, 1, "drbdsetup del-resource {resource}")
        return _drbdsetup(c, "down", pos, opts)
    if cmd in ("resource-options", "peer-device-options", "pause-sync", "resume-sync", "verify",
               "suspend-io", "resume-io", "forget-peer"):
        need(pos, 1, f"drbdsetup {cmd} {{resource}}")
        if pos[0].isdigit():
            res_of_minor(c, pos[0])
        elif pos[0] not in running(c):
            raise Fail(10, f"{pos[0]}: Failure: (158) Unknown resource")
        return 0
    if cmd == "status":
        return cmd_status(c, pos, opts)
    if cmd == "events2":
        return cmd_events2(c, pos, opts)
    if cmd == "show":
        names = running(c) if not pos or pos[0] == "all" else [pos[0]]
        for name in names:
            if name in running(c):
                sys.stdout.write(call(c, name, {"cmd": "show"})["stdout"])
        return 0
    if cmd == "role":
        need(pos, 1, "drbdsetup role {resource}")
        snap = snapshot(c, pos[0])
        if snap is None:
            raise Fail(10, f"{pos[0]}: Unknown resource")
        print(snap["role"])
        return 0
    if cmd == "cstate":
        need(pos, 2, "drbdsetup cstate {resource} {peer_node_id}")
        snap = snapshot(c, pos[0])
        if snap is None:
            raise Fail(10, f"{pos[0]}: Unknown resource")
        for conn in snap["connections"]:
            if str(conn["peer_node_id"]) == pos[1]:
                print(conn["cstate"])
                return 0
        raise Fail(10, f"{pos[0]}: Failure: (158) Unknown connection")
    if cmd.startswith("wait-connect") or cmd.startswith("wait-sync"):
        return cmd_wait(c, cmd, pos, opts)
    raise Fail(20, f"{cmd}: unknown command")


def _minor_of(c: dict, res: str, vol: int) -> str:
    snap = snapshot(c, res)
    if snap is None:
        raise Fail(10, f"{res}: Failure: (158) Unknown resource")
    for dev in snap["devices"]:
        if dev["volume"] == vol:
            return str(dev["minor"])
    raise Fail(10, f"{res}/{vol}: Failure: (127) Device minor not allocated")


def status_opts(opts: dict, events: bool = False) -> formats.Opts:
    """Option parsing as drbdsetup.c: for events2, --statistics and --full also raise the verbosity."""
    verbose = 1 if "verbose" in opts else 0
    statistics = "statistics" in opts
    fullch = "full" in opts
    if events and statistics:
        verbose += 1
    if events and fullch:
        verbose += 1
        statistics = True
    return formats.Opts(verbose=verbose, statistics=statistics, fullch=fullch,
                        tty=sys.stdout.isatty(), timestamps="timestamps" in opts)


def cmd_status(c: dict, pos: list[str], opts: dict) -> int:
    target = pos[0] if pos else "all"
    snaps = [s for s in (snapshot(c, n) for n in running(c)) if s]
    chosen = [s for s in snaps if target == "all" or s["name"] == target]
    if "json" in opts:
        sys.stdout.write(formats.status_json(chosen))
    elif snaps or target == "all":
        sys.stdout.write(formats.status_text(chosen, status_opts(opts)) if chosen or not snaps else "")
    if not chosen and target != "all":
        sys.stderr.write(f"{target}: No such resource\n")
        return 10
    return 0


def stamp(o: formats.Opts) -> str:
    if not o.timestamps:
        return ""
    now = time.time()
    tm = time.localtime(now)
    off = tm.tm_gmtoff
    return (time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{int((now % 1) * 1e6):06d}"
            + f"{'+' if off >= 0 else '-'}{abs(off) // 3600:02d}:{(abs(off) // 60) % 60:02d} ")


def cmd_events2(c: dict, pos: list[str], opts: dict) -> int:
    target = pos[0] if pos else "all"
    o = status_opts(opts, events=True)
    out = sys.stdout
    names = [n for n in running(c) if target == "all" or n == target]
    if "now" in opts:
        for name in names:
            snap = snapshot(c, name)
            if snap:
                out.write(formats.print_changes(None, snap, o, action="exists", prefix=stamp(o)))
        out.write(f"{stamp(o)}exists -\n")
        out.flush()
        return 0
    q: queue.Queue = queue.Queue()
    watched: set[str] = set()

    def subscribe(name: str):
        """A subscription to the daemon of `name` (its file), or None: subscribed BEFORE the initial state is read,
        as drbdsetup joins the netlink multicast group before it dumps the current state, so no change between
        the two is lost (a fence-peer helper call in that gap went missing)."""
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock_path(c, name))
            s.sendall(b'{"cmd": "subscribe"}\n')
            return s.makefile("rb")
        except OSError:
            return None

    def first_snapshot(fh) -> dict | None:
        """The subscription's first message: the state when it began (the daemon sends it at once)."""
        try:
            for line in fh:
                msg = json.loads(line)
                if msg and "snapshot" in msg:
                    return msg["snapshot"]
        except (OSError, ValueError):
            pass
        return None

    def follow(name: str, fh=None) -> None:
        try:
            fh = fh or subscribe(name)
            if fh is None:
                raise OSError("no daemon")
            for line in fh:
                msg = json.loads(line)
                if msg:
                    q.put((name, msg))
                    if "snapshot" in msg and msg["snapshot"] is None:
                        break
        except (OSError, ValueError):
            pass
        q.put((name, {"snapshot": None}))

    def watch() -> None:
        for name in [n for n in running(c) if target == "all" or n == target]:
            if name not in watched:
                watched.add(name)
                threading.Thread(target=follow, args=(name,), daemon=True).start()

    state: dict[str, dict] = {}
    subscriptions = {}
    for name in names:
        fh = subscribe(name)
        snap = first_snapshot(fh) if fh is not None else None
        if snap:
            state[name], subscriptions[name] = snap, fh
            out.write(formats.print_changes(None, snap, o, action="exists", prefix=stamp(o)))
    out.write(f"{stamp(o)}exists -\n")
    out.flush()
    for name in state:
        watched.add(name)
        threading.Thread(target=follow, args=(name, subscriptions[name]), daemon=True).start()
    last_scan = time.monotonic()
    try:
        while True:
            try:
                name, msg = q.get(timeout=0.5)
            except queue.Empty:
                msg = None
            if time.monotonic() - last_scan > 1.0:
                watch()
                last_scan = time.monotonic()
            if msg is None:
                continue
            if "helper" in msg:
                kind, helper, peer_id, conn_name, vol, minor, status = msg["helper"]
                out.write(formats.helper_line(stamp(o), kind == "response", name, helper, peer_id, conn_name,
                                              vol, minor, status))
            elif "snapshot" in msg:
                snap = msg["snapshot"]
                old = state.get(name)
                out.write(formats.print_changes(old, snap, o, action="create", prefix=stamp(o)))
                if snap is None:
                    state.pop(name, None)
                    watched.discard(name)
                else:
                    state[name] = snap
            out.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


def cmd_wait(c: dict, cmd: str, pos: list[str], opts: dict) -> int:
    res = pos[0] if pos else ""
    if res.isdigit():
        res, _ = res_of_minor(c, res)
    timeout = float(opts.get("wfc-timeout", "0") or 0)
    deadline = time.monotonic() + timeout if timeout > 0 else None
    while True:
        snap = snapshot(c, res)
        if snap is None:
            raise Fail(10, f"{res}: Unknown resource")
        conns = snap["connections"]
        if "sync" in cmd:
            ok = all(pd["repl"] == "Established" for cn in conns for pd in cn["peer_devices"]) and \
                all(cn["cstate"] == "Connected" for cn in conns)
        else:
            ok = all(cn["cstate"] == "Connected" for cn in conns)
        if ok:
            return 0
        if deadline is not None and time.monotonic() > deadline:
            return 5
        time.sleep(0.2)


# ---------------------------------------------------------------------------- drbdmeta

def drbdmeta(argv: list[str]) -> int:
    c = cfg()
    args = [a for a in argv if not a.startswith("-")]
    flags = [a for a in argv if a.startswith("-")]
    force = "--force" in flags or "-f" in flags
    if len(args) < 5:
        sys.stderr.write("USAGE: drbdmeta [--force] {minor} v09 {device} {internal} {command} [args]\n")
        return 20
    minor, version, device, _idx, command = args[:5]
    if not minor.isdigit():
        sys.stderr.write(f"{minor}: minor must be a number in the DRBD stand-in\n")
        return 20
    if command not in DRBDMETA_COMMANDS:
        sys.stderr.write(f"{command}: not supported by the DRBD stand-in\n")
        return 20
    m = int(minor)
    md = meta.read_md(c, m, device)
    attached = os.path.exists(os.path.join(c["run_dir"], f"minor-{m}")) and _minor_attached(c, m)
    if command == "create-md":
        if attached:
            sys.stderr.write(f"Device '{m}' is configured!\n")
            return 20
        if md is not None and not force:
            sys.stdout.write(f"You want me to create a {version} style flexible-size internal meta data block.\n"
                             "There appears to be a v09 flexible-size internal meta data block\n"
                             f"already in place on {device} at byte offset 0\n\n"
                             "Do you really want to overwrite the existing meta-data?\n"
                             "[need to type 'yes' to confirm] ")
            sys.stdout.flush()
            answer = sys.stdin.readline().strip()
            if answer != "yes":
                sys.stdout.write("\nOperation canceled.\n")
                return 10
        node_id = int(args[5]) if len(args) > 5 and args[5].isdigit() else 0
        fresh = meta.fresh_md(node_id)
        fresh["device_uuid_on_disk"] = meta.write_signature(device, fresh["current"])
        meta.write_md(c, m, fresh)
        sys.stdout.write("initializing activity log\ninitializing bitmap (32 KB) to all zero\n"
                         "Writing meta data...\nNew drbd meta data block successfully created.\n")
        return 0
    if command == "write-dev-uuid" and md is not None and len(args) > 5:
        md["dev_uuid"] = args[5]
        meta.write_md(c, m, md)
        return 0
    if command == "read-dev-uuid" and md is not None:
        if md.get("dev_uuid"):
            sys.stdout.write(md["dev_uuid"] + "\n")
        return 0
    if command == "read-dev-uuid" and md is None:
        return 0
    if md is None:
        sys.stderr.write("No valid meta data found\n")
        return 255 if command != "check-resize" else 0
    if command in ("apply-al", "check-resize"):
        return 0
    if command in ("outdate", "invalidate", "wipe-md", "set-gi"):
        if attached:
            sys.stderr.write(f"Device '{m}' is configured!\n")
            return 20
        if command == "outdate":
            if md["consistent"]:
                md["outdated"] = True
        elif command == "invalidate":
            md.update(consistent=False, was_up_to_date=False)
        elif command == "wipe-md":
            os.unlink(meta.md_path(c, m))
            meta.wipe_signature(device)
            sys.stdout.write("Wiping meta data...\nDRBD meta data block successfully wiped out.\n")
            return 0
        meta.write_md(c, m, md)
        return 0
    if command in ("get-gi", "show-gi"):
        sys.stdout.write(meta.gi_string(md) + "\n")
        return 0
    if command == "dstate":
        disk = "Inconsistent" if not md["consistent"] else "Outdated" if md["outdated"] else "Consistent"
        sys.stdout.write(disk + "\n")
        return 0
    if command == "dump-md":
        sys.stdout.write(json.dumps(md, indent=1, sort_keys=True) + "\n")
        return 0
    sys.stderr.write(f"{command}: not supported by the DRBD stand-in\n")
    return 20


def _minor_attached(c: dict, minor: int) -> bool:
    try:
        res, _ = res_of_minor(c, str(minor))
    except Fail:
        return False
    snap = snapshot(c, res)
    return bool(snap) and any(d["minor"] == minor and d["disk"] != "Diskless" for d in snap["devices"])


# ---------------------------------------------------------------------------- modprobe / modinfo

PROC_DRBD = ("version: " + MODULE_VERSION + " (api:2/proto:86-121)\n"
             "GIT-hash: axha-lab-drbd-standin build by axha-lab\n"
             "Transports (api:18): tcp (" + MODULE_VERSION + ")\n")


def load_module(c: dict) -> None:
    """'Load the module': the stand-in's /proc/drbd lives in /run (gone at the next boot, like the module)."""
    os.makedirs(c["run_dir"], exist_ok=True)
    path = os.path.join(c["run_dir"], "proc-drbd")
    if not os.path.exists(path):
        with open(path, "w") as fh:
            fh.write(PROC_DRBD)


def modprobe(argv: list[str]) -> int:
    mods = [a for a in argv if not a.startswith("-") and "=" not in a]
    if mods and (mods[0] == "drbd" or mods[0].startswith("drbd_transport")):
        if "-r" not in argv:
            load_module(cfg())
        return 0
    if "-s" not in argv and mods:
        sys.stderr.write(f"modprobe: FATAL: Module {mods[0]} not found in directory "
                         f"/lib/modules/{os.uname().release}\n")
    return 1


def modinfo(argv: list[str]) -> int:
    mods = [a for a in argv if not a.startswith("-") and a not in ("version",)]
    field = argv[argv.index("-F") + 1] if "-F" in argv[:-1] else None
    if field and field in mods:
        mods.remove(field)
    if mods == ["drbd"]:
        if field == "version":
            print(MODULE_VERSION)
        elif field is None:
            print(f"filename:       (builtin: axha lab DRBD stand-in)\nversion:        {MODULE_VERSION}\n"
                  "license:        GPL\ndescription:    drbd - Distributed Replicated Block Device v" + MODULE_VERSION)
        return 0
    for mod in mods:
        sys.stderr.write(f"modinfo: ERROR: Module {mod} not found.\n")
    return 1


# ---------------------------------------------------------------------------- test hooks

CTL_USAGE = """usage: drbd-standin-ctl RESOURCE ACTION
  disk Outdated|Inconsistent|UpToDate|Consistent   set this node's disk state (persisted in the metadata)
  resync [KiB]            start a resync now: this node SyncSource, the peer SyncTarget (default: whole disk)
  split-brain             both nodes diverge (new current UUIDs) and drop the link; the reconnect detects
                          the split brain: both StandAlone, helper split-brain in events2
  state                   print the stand-in's state and metadata as JSON
"""


def ctl(argv: list[str]) -> int:
    c = cfg()
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        sys.stderr.write(CTL_USAGE)
        return 2
    res, action, rest = argv[0], argv[1], argv[2:]
    try:
        if action == "disk" and rest:
            return forward(c, res, {"cmd": "ctl", "action": rest[0]})
        if action == "resync":
            sectors = int(rest[0]) * 2 if rest else 0
            return forward(c, res, {"cmd": "ctl", "action": "resync", "sectors": sectors})
        if action == "split-brain":
            return forward(c, res, {"cmd": "ctl", "action": "split-brain"})
        if action == "state":
            return forward(c, res, {"cmd": "dump"})
    except Fail as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.rc
    sys.stderr.write(CTL_USAGE)
    return 2
