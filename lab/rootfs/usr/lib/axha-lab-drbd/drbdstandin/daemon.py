"""The per-resource DRBD stand-in daemon: plays the kernel's part (state, peer connection over TCP paths, resync)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import traceback

from . import meta
from .device import DeviceMixin
from .handlers import HandlersMixin
from .objects import NeedFence, Path, Peer, StateError, failure, parse_addr, state_fail
from .show import ShowMixin

PING_INTERVAL = 0.5
PING_TIMEOUT = 2.0
RECONNECT_INTERVAL = 1.0
PROGRESS_INTERVAL = 1.0
# Resync data really crosses the link: the SyncSource sends the out-of-sync blocks over ONE established path (the
# first of the configuration's paths that is up, as DRBD's TCP transport carries a connection over one path at a
# time) and counts a block as synced when the SyncTarget acknowledges it. The rate is the configured resync rate at
# most, and whatever the link allows when it is slower (`axha lab fault NODE rate link0 ...`, a lossy link): a
# netem/tbf fault on that path slows the resync as it slows DRBD's. Both nodes see one data device (that models
# what is replicated), so the bytes carried are filler of the right size, not the blocks themselves.
RS_CHUNK = 64 * 1024            # bytes per data message (DRBD's resync requests are up to 128 KiB... 1 MiB)
RS_WINDOW = 4                   # chunks in flight: bounds what waits in the socket, so a send never stalls long
RS_BURST_S = 0.25               # the rate limiter's bucket: a quarter second of the resync rate
RS_FILLER = bytes(RS_CHUNK)


class ResourceDaemon(HandlersMixin, DeviceMixin, ShowMixin):
    """All kernel-side state of one DRBD resource on this node."""

    def __init__(self, name: str, node_id: int, cfg: dict) -> None:
        self.name = name
        self.node_id = node_id
        self.cfg = cfg
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.version = 0
        self.role = "Secondary"
        self.susp_fen = False
        self.devices: dict[int, dict] = {}  # volume -> device
        self.peers: dict[int, Peer] = {}
        self.events: list[tuple[int, str]] = []  # helper call/response lines (version, line)
        self.stopping = False
        self.primary_lock_fd: int | None = None
        self.run_dir = cfg["run_dir"]
        self.sock_path = os.path.join(self.run_dir, f"{name}.sock")
        self.log_fh = sys.stderr

    # ------------------------------------------------------------------ helpers
    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} drbd {self.name}: {text}", file=self.log_fh, flush=True)

    def changed(self) -> None:
        with self.cond:
            self.version += 1
            self.cond.notify_all()

    def device(self, volume: int = 0) -> dict | None:
        return self.devices.get(volume)

    def only_peer(self) -> Peer | None:
        return next(iter(self.peers.values()), None)

    def data_size(self) -> int:
        path = self.cfg.get("data_device", "")
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                return os.lseek(fd, 0, os.SEEK_END) // 512
            finally:
                os.close(fd)
        except OSError:
            return 0

    def write_sectors(self) -> int:
        """Sectors written to the data device so far (kernel block stats), for out-of-sync tracking."""
        try:
            st = os.stat(self.cfg["data_device"])
            with open(f"/sys/dev/block/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}/stat") as fh:
                return int(fh.read().split()[6])
        except (OSError, KeyError, IndexError, ValueError):
            return 0

    # ------------------------------------------------------------------ control requests
    def request(self, req: dict) -> dict:
        cmd = req.get("cmd")
        handler = getattr(self, "cmd_" + str(cmd).replace("-", "_"), None)
        if handler is None:
            return {"rc": 20, "stderr": f"unknown request {cmd}\n"}
        fenced = False
        while True:
            try:
                with self.lock:
                    if fenced:
                        req = dict(req, _fenced=True)
                    out = handler(req) or ""
                self.changed()
                return {"rc": 0, "stdout": out}
            except StateError as exc:
                return {"rc": exc.rc, "stderr": exc.message + "\n"}
            except NeedFence as need:
                if fenced:
                    return {"rc": 11, "stderr": f"{self.name}: State change failed: (-7) Refusing to be Primary "
                                               "while peer is not outdated\n"}
                vol = self.first_vol()
                minor = self.devices[vol]["minor"] if vol is not None else None
                rc = self.fence_peer(need.peer, vol, minor)
                if rc not in (3, 4, 5, 7):
                    return {"rc": 11, "stderr": f"{self.name}: State change failed: (-7) Refusing to be Primary "
                                               "while peer is not outdated\n"}
                fenced = True

    def cmd_ping(self, req: dict) -> str:
        return ""

    def cmd_snapshot(self, req: dict) -> str:
        return json.dumps(self.snapshot())

    def cmd_dump(self, req: dict) -> str:
        state = {"snapshot": self.snapshot(), "metadata": {str(d["minor"]): d["md"] for d in self.devices.values()}}
        return json.dumps(state, indent=1, sort_keys=True) + "\n"

    def cmd_new_minor(self, req: dict) -> None:
        vol, minor = int(req["volume"]), int(req["minor"])
        if vol in self.devices or any(d["minor"] == minor for d in self.devices.values()):
            raise failure(self.name, 161, "Minor or volume exists already (delete it first)")
        self.devices[vol] = {"minor": minor, "disk": "Diskless", "backing_dev": "", "md": None, "size": 0}
        self.make_node(minor)
        self.write_minor_map()

    def cmd_del_minor(self, req: dict) -> None:
        vol, dev = self.by_minor(int(req["minor"]))
        if dev["disk"] != "Diskless":
            raise failure(self.name, 124, "Device is attached to a disk (use detach first)")
        del self.devices[vol]
        self.remove_node(dev["minor"])
        self.write_minor_map()

    def by_minor(self, minor: int) -> tuple[int, dict]:
        for vol, dev in self.devices.items():
            if dev["minor"] == minor:
                return vol, dev
        raise StateError(10, f"minor {minor}: Failure: (127) Device minor not allocated")

    def cmd_new_peer(self, req: dict) -> None:
        node_id = int(req["peer_node_id"])
        if node_id in self.peers:
            self.peers[node_id].opts.update(req.get("opts", {}))
            return
        self.peers[node_id] = Peer(node_id, req.get("opts", {}).get("_name", str(node_id)), req.get("opts", {}))

    def cmd_net_options(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        peer.opts.update(req.get("opts", {}))

    def peer_or_fail(self, req: dict) -> Peer:
        peer = self.peers.get(int(req["peer_node_id"]))
        if peer is None:
            raise failure(self.name, 158, "Unknown connection")
        return peer

    def cmd_new_path(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        if not any(p.local == req["local"] and p.peer == req["peer"] for p in peer.paths):
            path = Path(req["local"], req["peer"])
            peer.paths.append(path)
            if peer.want_connect:
                self.start_path(peer, path)

    def cmd_del_path(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        for path in list(peer.paths):
            if path.local == req["local"] and path.peer == req["peer"]:
                self.close_path(peer, path, "path deleted")
                if path.listener:
                    path.listener.close()
                peer.paths.remove(path)

    def cmd_del_peer(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        self.disconnect(peer)
        del self.peers[peer.node_id]

    def cmd_attach(self, req: dict) -> None:
        vol, dev = self.by_minor(int(req["minor"]))
        if dev["disk"] != "Diskless":
            raise failure(self.name, 124, "Device is attached to a disk (use detach first)")
        md = meta.read_md(self.cfg, dev["minor"])
        if md is None:
            raise StateError(10, f"{dev['minor']}: Failure: (119) No valid meta-data signature found.\n\n"
                                 "\t==> Use 'drbdadm create-md res' to initialize meta-data area. <==\n")
        dev["backing_dev"] = req.get("backing_dev", "")
        dev["size"] = self.data_size()
        dev["md"] = md
        md["node_id"] = self.node_id
        if md.get("primary_ind"):
            md["crashed_primary"] = True
            md["primary_ind"] = False
        if not md["consistent"]:
            dev["disk"] = "Inconsistent"
        elif md["outdated"]:
            dev["disk"] = "Outdated"
        else:
            dev["disk"] = "UpToDate"
        dev["writes_mark"] = self.write_sectors()
        self.save_md(dev)
        self.log(f"attached minor {dev['minor']}: disk {dev['disk']}")
        peer = self.only_peer()
        if peer and peer.cstate == "Connected":
            self.send_state(peer, handshake=True)

    def cmd_detach(self, req: dict) -> None:
        vol, dev = self.by_minor(int(req["minor"]))
        if self.role == "Primary" and not self.peer_up_to_date():
            raise state_fail(self.name, -2, "Need access to UpToDate data")
        if self.held_open(dev["minor"]):
            raise state_fail(self.name, -12, "Device is held open by someone")
        self.save_md(dev)
        dev.update(disk="Diskless", md=None, backing_dev="", size=0)
        for peer in self.peers.values():
            peer.sync = None
            if peer.cstate == "Connected":
                peer.repl = "Established"
                self.send_state(peer)

    def peer_up_to_date(self) -> bool:
        return any(p.cstate == "Connected" and p.peer_disk == "UpToDate" for p in self.peers.values())

    def cmd_connect(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        if peer.want_connect and peer.cstate != "StandAlone":
            raise failure(self.name, 125, "Device has a net-config (use disconnect first)")
        peer.discard_my_data = bool(req.get("discard_my_data"))
        peer.want_connect = True
        peer.cstate = "Connecting"
        for path in peer.paths:
            self.start_path(peer, path)

    def cmd_disconnect(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        self.disconnect(peer)

    def disconnect(self, peer: Peer) -> None:
        peer.want_connect = False
        for path in peer.paths:
            self.close_path(peer, path, "disconnect")
            if path.listener:
                try:
                    path.listener.close()
                except OSError:
                    pass
                path.listener = None
        self.connection_lost(peer, "StandAlone")

    def cmd_primary(self, req: dict) -> None:
        force = bool(req.get("force"))
        if self.role == "Primary":
            return
        if not self.devices:
            raise state_fail(self.name, -2, "Need access to UpToDate data")
        for peer in self.peers.values():
            if peer.cstate == "Connected" and peer.role == "Primary" and \
                    peer.opts.get("allow-two-primaries") not in ("yes",):
                raise state_fail(self.name, -1, "Multiple primaries not allowed by config")
        for dev in self.devices.values():
            if dev["disk"] != "UpToDate" and not (force and dev["disk"] in ("Inconsistent", "Outdated", "Consistent")):
                raise state_fail(self.name, -2, "Need access to UpToDate data")
        for peer in self.peers.values():
            if peer.cstate != "Connected" and not force and not req.get("_fenced") and \
                    peer.opts.get("fencing") in ("resource-only", "resource-and-stonith") and \
                    not any(d["md"] and d["md"].get("peer_outdated") for d in self.devices.values()):
                raise NeedFence(peer)
        if not any(p.cstate == "Connected" for p in self.peers.values()) and self.data_claimed_elsewhere():
            raise state_fail(self.name, -1, "Multiple primaries not allowed by config")
        if not self.take_primary_lock():
            raise state_fail(self.name, -1, "Multiple primaries not allowed by config")
        for dev in self.devices.values():
            md = dev["md"]
            if dev["disk"] != "UpToDate":
                dev["disk"] = "UpToDate"
                md.update(consistent=True, was_up_to_date=True, outdated=False)
                meta.rotate_current(md, keep_bitmap=False)
                md["out_of_sync"] = dev["size"]
            elif md["current"] == meta.UUID_JUST_CREATED:
                meta.rotate_current(md, keep_bitmap=False)
            if not any(p.cstate == "Connected" for p in self.peers.values()) and not md["bitmap"]:
                # Primary without a peer: new data generation starts (peer will need a resync).
                meta.rotate_current(md, keep_bitmap=True)
            md["primary_ind"] = True
            self.save_md(dev)
            self.point_node(dev["minor"], primary=True)
        self.role = "Primary"
        self.log(f"role Secondary -> Primary{' (forced)' if force else ''}")
        for peer in self.peers.values():
            if peer.cstate == "Connected":
                self.send_state(peer, handshake=force)
                if force and peer.peer_state.get("vols") is not None:
                    self.handshake(peer, peer.peer_state)

    def cmd_secondary(self, req: dict) -> None:
        if self.role != "Primary":
            return
        for dev in self.devices.values():
            if self.held_open(dev["minor"]):
                raise state_fail(self.name, -12, "Device is held open by someone")
        for dev in self.devices.values():
            self.point_node(dev["minor"], primary=False)
            if dev["md"]:
                dev["md"]["primary_ind"] = False
                self.save_md(dev)
        self.role = "Secondary"
        self.release_primary_lock()
        self.log("role Primary -> Secondary")
        for peer in self.peers.values():
            if peer.cstate == "Connected":
                self.send_state(peer)

    def cmd_new_current_uuid(self, req: dict) -> None:
        vol, dev = self.by_minor(int(req["minor"]))
        if dev["disk"] == "Diskless":
            raise state_fail(self.name, -11, "Device is diskless, the requested operation requires a disk")
        md = dev["md"]
        if req.get("clear_bitmap"):
            md["current"] = meta.new_uuid()
            md["bitmap"] = 0
            md["history"] = []
            md.update(consistent=True, was_up_to_date=True, outdated=False, out_of_sync=0)
            dev["disk"] = "UpToDate"
            self.save_md(dev)
            for peer in self.peers.values():
                if peer.cstate == "Connected":
                    self.send(peer, {"t": "clear-bitmap", "volume": vol, "current": md["current"]})
                    peer.peer_disk = "UpToDate"
                    peer.repl = "Established"
        else:
            meta.rotate_current(md)
            self.save_md(dev)
            for peer in self.peers.values():
                if peer.cstate == "Connected":
                    self.send_state(peer)

    def cmd_outdate(self, req: dict) -> None:
        vol, dev = self.by_minor(int(req["minor"]))
        if dev["disk"] in ("Inconsistent", "Diskless"):
            raise state_fail(self.name, -16, "Disk state is lower than outdated")
        if self.role == "Primary":
            raise state_fail(self.name, -2, "Need access to UpToDate data")
        if any(p.cstate == "Connected" for p in self.peers.values()):
            raise state_fail(self.name, -6, "Refusing to be Outdated while Connected")
        dev["disk"] = "Outdated"
        dev["md"]["outdated"] = True
        self.save_md(dev)

    def cmd_invalidate(self, req: dict) -> None:
        vol, dev = self.by_minor(int(req["minor"]))
        if dev["disk"] == "Diskless":
            raise state_fail(self.name, -4, "Can not resync without local disk")
        peer = self.only_peer()
        if self.role == "Primary":
            raise state_fail(self.name, -2, "Need access to UpToDate data")
        dev["disk"] = "Inconsistent"
        dev["md"].update(consistent=False, out_of_sync=dev["size"])
        self.save_md(dev)
        if peer and peer.cstate == "Connected":
            self.send(peer, {"t": "invalidate-me", "volume": vol, "amount": dev["size"]})

    def cmd_invalidate_remote(self, req: dict) -> None:
        peer = self.peer_or_fail(req)
        if peer.cstate != "Connected":
            raise state_fail(self.name, -15, "Need a connection to start verify or resync")
        self.start_forced_resync(peer, None)

    def cmd_ctl(self, req: dict) -> str:
        """Test hooks (drbd-standin-ctl)."""
        action = req["action"]
        dev = self.device(int(req.get("volume", 0)))
        peer = self.only_peer()
        if action in ("Outdated", "Inconsistent", "UpToDate", "Consistent"):
            if dev is None or dev["disk"] == "Diskless":
                raise StateError(10, f"{self.name}: no local disk attached")
            dev["disk"] = action
            dev["md"].update(consistent=action != "Inconsistent", outdated=action == "Outdated",
                             was_up_to_date=action == "UpToDate")
            if action == "Inconsistent":
                dev["md"]["out_of_sync"] = dev["size"]
            self.save_md(dev)
            if peer and peer.cstate == "Connected":
                self.send_state(peer)
            return f"{self.name}: local disk set to {action}\n"
        if action == "resync":
            if not peer or peer.cstate != "Connected":
                raise StateError(10, f"{self.name}: resync needs a Connected peer")
            amount = int(req.get("sectors") or 0) or (dev["size"] if dev else 0)
            self.start_forced_resync(peer, amount)
            return f"{self.name}: resync started, {amount // 2} KiB, this node SyncSource\n"
        if action == "split-brain":
            if not peer or peer.cstate != "Connected":
                raise StateError(10, f"{self.name}: split-brain simulation needs a Connected peer")
            self.send(peer, {"t": "diverge"})
            self.diverge()
            return f"{self.name}: both nodes diverged; split brain will be detected on reconnect\n"
        raise StateError(20, f"unknown test action {action}")

    def cmd_show(self, req: dict) -> str:
        return self.show_text()

    def cmd_down(self, req: dict) -> None:
        for dev in self.devices.values():
            if self.held_open(dev["minor"]):
                raise state_fail(self.name, -12, "Device is held open by someone")
        if self.role == "Primary":
            self.cmd_secondary({})
        for peer in list(self.peers.values()):
            self.disconnect(peer)
        for dev in self.devices.values():
            if dev["md"]:
                self.save_md(dev)
            self.remove_node(dev["minor"])
        self.devices.clear()
        self.peers.clear()
        self.stopping = True

    # ------------------------------------------------------------------ networking
    def start_path(self, peer: Peer, path: Path) -> None:
        threading.Thread(target=self.listen_loop, args=(peer, path), daemon=True).start()
        if self.node_id < peer.node_id:
            threading.Thread(target=self.dial_loop, args=(peer, path), daemon=True).start()

    def listen_loop(self, peer: Peer, path: Path) -> None:
        host, port = parse_addr(path.local)
        while peer.want_connect and path in peer.paths and not self.stopping:
            try:
                lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                lsock.bind((host, port))
                lsock.listen(4)
                lsock.settimeout(0.5)
                path.listener = lsock
                break
            except OSError:
                time.sleep(RECONNECT_INTERVAL)
        while peer.want_connect and path.listener and not self.stopping:
            try:
                conn, addr = path.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[0] != parse_addr(path.peer)[0] or path.established:
                conn.close()
                continue
            self.adopt(peer, path, conn)

    def dial_loop(self, peer: Peer, path: Path) -> None:
        host, port = parse_addr(path.peer)
        lhost, _ = parse_addr(path.local)
        while peer.want_connect and path in peer.paths and not self.stopping:
            if path.established:
                time.sleep(0.2)
                continue
            try:
                conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                conn.settimeout(RECONNECT_INTERVAL)
                conn.bind((lhost, 0))
                conn.connect((host, port))
            except OSError:
                try:
                    conn.close()
                except OSError:
                    pass
                time.sleep(RECONNECT_INTERVAL)
                continue
            self.adopt(peer, path, conn)

    def adopt(self, peer: Peer, path: Path, conn: socket.socket) -> None:
        conn.settimeout(None)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # room for the resync window in the send buffer (the kernel caps it at net.core.wmem_max, doubled: 416 KiB
        # by default, more than RS_WINDOW chunks), so a send returns at once and pings never wait behind data
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        with self.lock:
            if path.established or not peer.want_connect:
                conn.close()
                return
            path.sock = conn
            path.last_rx = time.monotonic()
        self.send_on(path, {"t": "hello", "res": self.name, "node_id": self.node_id})
        threading.Thread(target=self.read_loop, args=(peer, path, conn), daemon=True).start()
        self.changed()

    def read_loop(self, peer: Peer, path: Path, conn: socket.socket) -> None:
        buf = bytearray()
        data_msg: dict | None = None   # an rs-data header whose payload is still arriving
        try:
            while True:
                data = conn.recv(262144)
                if not data:
                    break
                buf += data
                with self.lock:
                    if path.sock is not conn:
                        return
                    path.last_rx = time.monotonic()   # any byte from the peer shows the path is alive
                while True:
                    if data_msg is not None:
                        if len(buf) < data_msg["n"]:
                            break
                        del buf[:data_msg["n"]]
                        msg, data_msg = data_msg, None
                    else:
                        end = buf.find(b"\n")
                        if end < 0:
                            if len(buf) > 1 << 20:
                                raise ValueError("a protocol line of more than 1 MiB")
                            break
                        msg = json.loads(bytes(buf[:end]))
                        del buf[:end + 1]
                        if msg.get("t") == "rs-data":
                            if not 0 < int(msg.get("n", 0)) <= RS_CHUNK:
                                raise ValueError("a resync data message of a wrong size")
                            data_msg = msg
                            continue
                    with self.lock:
                        if path.sock is not conn:
                            return
                        quiet = msg.get("t") in ("ping", "rs-data", "rs-ack")
                        self.on_message(peer, path, msg)
                    if not quiet:
                        self.changed()
        except (OSError, ValueError):
            pass
        with self.lock:
            if path.sock is conn:
                self.close_path(peer, path, "connection closed by peer")
        self.changed()

    def send_on(self, path: Path, msg: dict) -> bool:
        sock = path.sock
        if sock is None:
            return False
        data = (json.dumps(msg) + "\n").encode()
        try:
            with path.wlock:
                sock.settimeout(PING_TIMEOUT)
                sock.sendall(data)
            return True
        except OSError:
            return False

    def send_data(self, path: Path, header: dict, payload: bytes) -> bool:
        """One resync data message: its JSON header line and `len(payload)` raw bytes, written as one unit."""
        sock = path.sock
        if sock is None:
            return False
        try:
            with path.wlock:
                sock.settimeout(PING_TIMEOUT)
                sock.sendall((json.dumps(header) + "\n").encode() + payload)
            return True
        except OSError:
            return False

    def data_path(self, peer: Peer) -> Path | None:
        """The path the connection's data goes over: the first configured path that is established."""
        return next((p for p in peer.paths if p.established), None)

    def send(self, peer: Peer, msg: dict) -> None:
        """Send on every established path (the receiver de-duplicates by sequence)."""
        msg = dict(msg, seq=self.next_seq())
        for path in peer.paths:
            if path.established:
                self.send_on(path, msg)

    _seq = 0
    _session = os.urandom(4).hex()

    def next_seq(self) -> str:
        ResourceDaemon._seq += 1
        return f"{self._session}-{ResourceDaemon._seq}"

    def close_path(self, peer: Peer, path: Path, why: str) -> None:
        sock = path.sock
        if sock is None:
            return
        path.sock = None
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        self.log(f"path {path.local} -> {path.peer} down: {why}")
        if not any(p.established for p in peer.paths) and peer.cstate == "Connected":
            self.connection_lost(peer, "Connecting" if peer.want_connect else "StandAlone")
        elif not any(p.established for p in peer.paths) and peer.cstate != "StandAlone":
            peer.cstate = "Connecting" if peer.want_connect else "StandAlone"
            peer.handshake_sent = False

    # ------------------------------------------------------------------ protocol
    def send_state(self, peer: Peer, handshake: bool = False) -> None:
        self.send(peer, {"t": "state", "role": self.role, "vols": self.md_summary(), "handshake": handshake,
                         "discard_my_data": peer.discard_my_data, "node_id": self.node_id})

    def on_message(self, peer: Peer, path: Path, msg: dict) -> None:
        kind = msg.get("t")
        seq = msg.get("seq")
        if seq is not None:
            if seq in peer.peer_state.setdefault("_seen", set()):
                return
            seen = peer.peer_state["_seen"]
            seen.add(seq)
            if len(seen) > 2000:
                peer.peer_state["_seen"] = set(sorted(seen)[-500:])
        if kind == "hello":
            if msg.get("res") != self.name or msg.get("node_id") != peer.node_id:
                self.close_path(peer, path, "peer is not the expected node/resource")
                return
            if peer.cstate != "Connected" and not peer.handshake_sent:
                peer.handshake_sent = True
                self.send_state(peer, handshake=True)
        elif kind == "ping":
            pass
        elif kind == "state":
            self.on_peer_state(peer, msg)
        elif kind == "clear-bitmap":
            dev = self.device(int(msg["volume"]))
            if dev and dev["md"]:
                dev["md"].update(current=msg["current"], bitmap=0, history=[], consistent=True,
                                 was_up_to_date=True, outdated=False, out_of_sync=0)
                dev["disk"] = "UpToDate"
                self.save_md(dev)
                peer.peer_disk = "UpToDate"
                peer.repl = "Established"
        elif kind == "sync-start":
            self.on_sync_start(peer, msg)
        elif kind == "progress":
            if peer.sync and peer.repl == "SyncTarget":
                peer.received += int(peer.sync["left"]) - int(msg["left"])
                peer.sync.update(left=msg["left"], dt1_ms=msg["dt1_ms"], db1=msg["db1"],
                                 dt0_ms=msg["dt0_ms"], db0=msg["db0"], dt_start_ms=msg["dt_start_ms"])
                dev = self.device(peer.sync["volume"])
                if dev and dev["md"]:
                    dev["md"]["out_of_sync"] = int(msg["left"])
                    self.save_md(dev)
        elif kind == "rs-data":
            # the SyncTarget acknowledges every block it received, on the path it came by
            if peer.sync and peer.repl == "SyncTarget":
                self.send_on(path, {"t": "rs-ack", "sid": msg.get("sid"), "n": int(msg["n"])})
        elif kind == "rs-ack":
            sync = peer.sync
            if sync and peer.repl == "SyncSource" and msg.get("sid") == sync["sid"]:
                sync["acked"] = min(sync["acked"] + int(msg["n"]), sync["bytes"])
        elif kind == "sync-done":
            self.finish_sync_target(peer, msg)
        elif kind == "invalidate-me":
            self.start_forced_resync(peer, int(msg["amount"]))
        elif kind == "diverge":
            self.diverge()
        elif kind == "split-brain":
            self.split_brain(peer, notify=False)

    def on_peer_state(self, peer: Peer, msg: dict) -> None:
        first = peer.cstate != "Connected"
        peer.peer_state.update(msg)
        peer.role = msg["role"]
        if first:
            if not msg.get("handshake"):
                return
            if not peer.handshake_sent:
                peer.handshake_sent = True
                self.send_state(peer, handshake=True)
            peer.cstate = "Connected"
            self.log(f"connection to {peer.name} established")
            self.handshake(peer, msg)
            return
        vol = self.first_vol()
        pv = (msg["vols"].get(str(vol)) if vol is not None else None)
        if pv is None:
            peer.peer_disk = "Diskless"
            peer.repl = "Established"
            peer.sync = None
        elif peer.repl not in ("SyncSource", "SyncTarget"):
            peer.peer_disk = pv["disk"]
            if msg.get("handshake"):
                self.handshake(peer, msg)
        if peer.role == "Primary" and self.role == "Primary" and peer.opts.get("allow-two-primaries") != "yes":
            self.log("both nodes Primary: dropping connection")

    def first_vol(self) -> int | None:
        return min(self.devices) if self.devices else None

    def handshake(self, peer: Peer, msg: dict) -> None:
        """Decide the resync direction from the generation UUIDs, like the kernel's sync handshake."""
        vol = self.first_vol()
        dev = self.device(vol) if vol is not None else None
        pv = msg["vols"].get(str(vol)) if vol is not None else None
        peer.sync = None
        if dev is None or dev["md"] is None or pv is None:
            peer.peer_disk = pv["disk"] if pv else "Diskless"
            peer.repl = "Established"
            return
        md = dev["md"]
        verdict, why = meta.uuid_compare(md, pv)
        self.log(f"handshake with {peer.name}: {verdict} ({why})")
        if verdict == 100:
            mine, theirs = peer.discard_my_data, bool(msg.get("discard_my_data"))
            if mine and not theirs:
                verdict = -1
            elif theirs and not mine:
                verdict = 1
            else:
                self.split_brain(peer, notify=True)
                return
        if verdict == -1000:
            self.log("Unrelated data, aborting!")
            self.disconnect(peer)
            return
        peer.discard_my_data = False
        if md.get("peer_outdated"):
            md["peer_outdated"] = False
            self.save_md(dev)
        peer.peer_disk = pv["disk"]
        peer.repl = "Established"
        if verdict == 0:
            if dev["disk"] in ("Outdated", "Consistent") and pv["disk"] == "UpToDate":
                dev["disk"] = "UpToDate"
                md.update(outdated=False, consistent=True, was_up_to_date=True)
                self.save_md(dev)
            if dev["disk"] == "Inconsistent" and pv["disk"] == "UpToDate":
                verdict = -2
            elif dev["disk"] == "UpToDate" and pv["disk"] == "Inconsistent":
                verdict = 2
            else:
                md["out_of_sync"] = 0
                self.save_md(dev)
        if verdict > 0 and dev["disk"] == "UpToDate":
            if verdict == 2:
                amount = dev["size"]
            elif why.startswith("the peer resumes"):
                # both sides only overestimate what is left (saved at progress events): the smaller is safe
                amount = min(md["out_of_sync"] or dev["size"], pv.get("out_of_sync") or dev["size"])
            else:
                amount = max(md["out_of_sync"], pv.get("out_of_sync", 0))
            self.begin_source(peer, vol, amount)
        elif verdict < 0 and pv["disk"] == "UpToDate":
            dev["disk"] = "Inconsistent"
            md["consistent"] = False
            self.save_md(dev)
            peer.repl = "SyncTarget"

    def split_brain(self, peer: Peer, notify: bool) -> None:
        self.log("Split-Brain detected but unresolved, dropping connection!")
        vol = self.first_vol()
        dev = self.device(vol) if vol is not None else None
        self.helper("split-brain", peer, vol, dev["minor"] if dev else None)
        if notify:
            self.send(peer, {"t": "split-brain"})
        self.disconnect(peer)

    def diverge(self) -> None:
        """Test hook: both nodes write on their own (as two Primaries would) and then lose the link."""
        for dev in self.devices.values():
            md = dev["md"]
            if md is None:
                continue
            if not md["bitmap"]:
                md["bitmap"] = md["current"]
            md["current"] = meta.new_uuid()
            md["out_of_sync"] = max(md["out_of_sync"], max(8, dev["size"] // 100))
            self.save_md(dev)
        for peer in self.peers.values():
            for path in peer.paths:
                self.close_path(peer, path, "split-brain simulation")

    def begin_source(self, peer: Peer, vol: int, amount: int) -> None:
        dev = self.devices[vol]
        amount = min(max(amount, 0), dev["size"]) if dev["size"] else amount
        if amount <= 0:
            self.finish_source(peer, vol)
            return
        now = time.monotonic()
        peer.repl = "SyncSource"
        peer.peer_disk = "Inconsistent"
        dev["md"]["out_of_sync"] = amount
        sid = os.urandom(6).hex()
        peer.sync = {"volume": vol, "total": amount, "left": float(amount), "start": now, "now": now,
                     "last_tick": now, "last_event": now, "dt1_ms": 0, "db1": 0, "dt0_ms": 0, "db0": 0,
                     "mark_left": float(amount), "sid": sid, "bytes": amount * 512, "sent": 0, "acked": 0,
                     "path": None}
        self.save_md(dev)
        self.log(f"resync to {peer.name} started: {amount // 2} KiB")
        self.send(peer, {"t": "sync-start", "volume": vol, "total": amount, "current": dev["md"]["current"]})
        threading.Thread(target=self.resync_sender, args=(peer, sid), daemon=True).start()

    def resync_sender(self, peer: Peer, sid: str) -> None:
        """Send the out-of-sync blocks of the resync `sid` over the data path, at the resync rate at most, with at
        most RS_WINDOW chunks unacknowledged. When the data path changes, what was in flight is sent again."""
        rate = max(1, int(self.cfg["sync_rate_kib"])) * 1024   # bytes per second
        tokens, last = float(RS_CHUNK), time.monotonic()
        while not self.stopping:
            with self.lock:
                sync = peer.sync
                if sync is None or sync["sid"] != sid or peer.repl != "SyncSource":
                    return
                path = self.data_path(peer)
                if path is not sync["path"]:
                    sync["path"], sync["sent"] = path, sync["acked"]
                now = time.monotonic()
                tokens = min(tokens + rate * (now - last), max(rate * RS_BURST_S, RS_CHUNK))
                last = now
                size = min(RS_CHUNK, sync["bytes"] - sync["sent"])
                ready = path is not None and size > 0 and tokens >= size and \
                    sync["sent"] - sync["acked"] < RS_WINDOW * RS_CHUNK
                if ready:
                    sync["sent"] += size
                    tokens -= size
            if not ready:
                time.sleep(0.005)
                continue
            if not self.send_data(path, {"t": "rs-data", "sid": sid, "n": size}, RS_FILLER[:size]):
                with self.lock:
                    # a stream cut in the middle of a message cannot be resumed: drop the path (it reconnects)
                    if path.sock is not None:
                        self.close_path(peer, path, "resync data could not be sent")
                self.changed()

    def on_sync_start(self, peer: Peer, msg: dict) -> None:
        vol = int(msg["volume"])
        dev = self.device(vol)
        if dev is None or dev["md"] is None:
            return
        now = time.monotonic()
        dev["disk"] = "Inconsistent"
        dev["md"].update(consistent=False, out_of_sync=int(msg["total"]), resync_from=int(msg.get("current", 0)))
        self.save_md(dev)
        peer.repl = "SyncTarget"
        peer.peer_disk = "UpToDate"
        peer.sync = {"volume": vol, "total": int(msg["total"]), "left": float(msg["total"]), "start": now,
                     "now": now, "dt1_ms": 0, "db1": 0, "dt0_ms": 0, "db0": 0}

    def start_forced_resync(self, peer: Peer, amount: int | None) -> None:
        vol = self.first_vol()
        if vol is None:
            return
        dev = self.devices[vol]
        if dev["disk"] != "UpToDate":
            raise state_fail(self.name, -2, "Need access to UpToDate data")
        self.begin_source(peer, vol, amount if amount is not None else dev["size"])

    def finish_source(self, peer: Peer, vol: int) -> None:
        dev = self.devices[vol]
        md = dev["md"]
        if peer.sync:
            peer.sent += int(peer.sync["mark_left"])
        md["out_of_sync"] = 0
        md["bitmap"] = 0
        md["peer_outdated"] = False
        self.save_md(dev)
        peer.sync = None
        peer.repl = "Established"
        peer.peer_disk = "UpToDate"
        self.log(f"resync to {peer.name} finished")
        self.send(peer, {"t": "sync-done", "volume": vol, "current": md["current"], "history": md["history"]})
        if peer.opts.get("fencing") in ("resource-only", "resource-and-stonith"):
            threading.Thread(target=self.run_helper, args=("unfence-peer", peer, vol, dev["minor"]),
                             daemon=True).start()

    def finish_sync_target(self, peer: Peer, msg: dict) -> None:
        dev = self.device(int(msg["volume"]))
        if peer.sync:
            peer.received += int(peer.sync["left"])
        peer.sync = None
        peer.repl = "Established"
        peer.peer_disk = "UpToDate"
        if dev and dev["md"]:
            dev["md"].update(current=msg["current"], bitmap=0, history=msg.get("history", []), consistent=True,
                             was_up_to_date=True, outdated=False, out_of_sync=0, resync_from=0)
            dev["disk"] = "UpToDate"
            self.save_md(dev)
        self.log(f"resync from {peer.name} finished")

    def connection_lost(self, peer: Peer, new_cstate: str) -> None:
        was = peer.cstate
        peer.cstate = new_cstate
        peer.handshake_sent = False
        peer.peer_state = {}
        if was != "Connected":
            return
        self.log(f"connection to {peer.name} lost ({new_cstate})")
        if peer.sync:
            vol = peer.sync["volume"]
            dev = self.device(vol)
            if dev and dev["md"]:
                dev["md"]["out_of_sync"] = int(peer.sync["left"])
                self.save_md(dev)
        peer.sync = None
        peer.role = "Unknown"
        peer.peer_disk = "DUnknown"
        peer.repl = "Off"
        if self.role == "Primary":
            for dev in self.devices.values():
                md = dev["md"]
                if md is not None and not md["bitmap"]:
                    meta.rotate_current(md, keep_bitmap=True)
                    dev["writes_mark"] = self.write_sectors()
                    self.save_md(dev)
            if peer.opts.get("fencing") in ("resource-only", "resource-and-stonith") and new_cstate != "StandAlone":
                if peer.opts.get("fencing") == "resource-and-stonith":
                    self.susp_fen = True
                vol = self.first_vol()
                minor = self.devices[vol]["minor"] if vol is not None else None
                threading.Thread(target=self.fence_peer, args=(peer, vol, minor), daemon=True).start()

    # ------------------------------------------------------------------ timers
    def tick_loop(self) -> None:
        while not self.stopping:
            time.sleep(0.2)
            emit = False
            with self.lock:
                now = time.monotonic()
                for peer in self.peers.values():
                    for path in peer.paths:
                        if path.established:
                            if now - path.last_rx > PING_TIMEOUT:
                                self.close_path(peer, path, "ping timeout")
                                emit = True
                            else:
                                self.send_on(path, {"t": "ping"})
                    if peer.sync and peer.repl == "SyncSource":
                        emit |= self.advance_sync(peer, now)
                if self.role == "Primary":
                    self.track_writes()
            if emit:
                self.changed()

    def track_writes(self) -> None:
        if any(p.cstate == "Connected" for p in self.peers.values()):
            return
        for dev in self.devices.values():
            md = dev.get("md")
            if md is None:
                continue
            cur = self.write_sectors()
            delta = cur - dev.get("writes_mark", cur)
            dev["writes_mark"] = cur
            if delta > 0:
                md["out_of_sync"] = min(dev["size"] or delta, md["out_of_sync"] + delta)
                self.save_md(dev)

    def advance_sync(self, peer: Peer, now: float) -> bool:
        sync = peer.sync
        sync["last_tick"] = now
        sync["now"] = now
        sync["left"] = max(0.0, (sync["bytes"] - sync["acked"]) / 512)
        dev = self.devices[sync["volume"]]
        dev["md"]["out_of_sync"] = int(sync["left"])
        if sync["left"] <= 0:
            self.finish_source(peer, sync["volume"])
            return True
        if now - sync["last_event"] >= PROGRESS_INTERVAL:
            sync["dt1_ms"] = int((now - sync["last_event"]) * 1000)
            sync["db1"] = int(sync["mark_left"] - sync["left"])
            sync["dt0_ms"] = int((now - sync["start"]) * 1000)
            sync["db0"] = int(sync["total"] - sync["left"])
            sync["dt_start_ms"] = sync["dt0_ms"]
            peer.sent += int(sync["mark_left"]) - int(sync["left"])
            sync["last_event"] = now
            sync["mark_left"] = sync["left"]
            self.save_md(dev)
            self.send(peer, {"t": "progress", "left": int(sync["left"]), "dt1_ms": sync["dt1_ms"],
                             "db1": sync["db1"], "dt0_ms": sync["dt0_ms"], "db0": sync["db0"],
                             "dt_start_ms": sync["dt_start_ms"]})
            return True
        return False

    # ------------------------------------------------------------------ control socket
    def serve(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.sock_path)
        srv.listen(16)
        srv.settimeout(0.5)
        threading.Thread(target=self.tick_loop, daemon=True).start()
        self.log(f"daemon up (pid {os.getpid()}, node-id {self.node_id})")
        while not self.stopping:
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()
        time.sleep(0.3)  # let subscribers see the final state
        srv.close()
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass
        self.write_minor_map()
        self.log("daemon down")

    def client(self, conn: socket.socket) -> None:
        try:
            fh = conn.makefile("rwb")
            line = fh.readline()
            if not line:
                return
            req = json.loads(line)
            if req.get("cmd") == "subscribe":
                self.subscribe(fh)
                return
            reply = self.request(req)
            fh.write((json.dumps(reply) + "\n").encode())
            fh.flush()
        except (OSError, ValueError):
            pass
        except Exception:  # keep the daemon alive; log the bug
            self.log(traceback.format_exc())
        finally:
            conn.close()

    def subscribe(self, fh) -> None:
        """Stream snapshots (and helper events) as JSON lines on every state change."""
        seen_events = len(self.events)
        last = -1
        while True:
            with self.cond:
                while self.version == last and not self.stopping:
                    self.cond.wait(1.0)
                    if self.version == last:
                        fh.write(b"{}\n")  # keepalive; lets the reader notice a dead daemon
                        fh.flush()
                last = self.version
                snap = self.snapshot() if not self.stopping else None
                events = [e for _, e in self.events[seen_events:]]
                seen_events = len(self.events)
            for ev in events:
                fh.write((json.dumps({"helper": ev}) + "\n").encode())
            fh.write((json.dumps({"snapshot": snap}) + "\n").encode())
            fh.flush()
            if snap is None:
                return


def main(argv: list[str]) -> int:
    name, node_id = argv[0], int(argv[1])
    cfg = meta.load_config()
    daemon = ResourceDaemon(name, node_id, cfg)
    daemon.serve()
    return 0
