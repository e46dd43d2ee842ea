"""The per-resource DRBD stand-in daemon: plays the kernel's part (state, peer connection over TCP paths, resync).

ResourceDaemon holds the state, runs the timers and serves the control socket; the rest of it is in one mixin per
topic: commands.py (control requests), connection.py (paths), protocol.py (peer messages, handshake), resync.py,
handlers.py (usermode helpers), device.py (/dev/drbdN, locks, metadata), show.py (snapshot, drbdsetup show)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import traceback

from . import meta
from .commands import CommandsMixin
from .connection import PING_TIMEOUT, ConnectionMixin
from .device import DeviceMixin
from .handlers import HandlersMixin
from .objects import Peer
from .protocol import ProtocolMixin
from .resync import ResyncMixin
from .show import ShowMixin


class ResourceDaemon(CommandsMixin, ConnectionMixin, ProtocolMixin, ResyncMixin, HandlersMixin, DeviceMixin, ShowMixin):
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

    # ------------------------------------------------------------------ message sequence numbers (for send)
    _seq = 0
    _session = os.urandom(4).hex()

    def next_seq(self) -> str:
        ResourceDaemon._seq += 1
        return f"{self._session}-{ResourceDaemon._seq}"

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
