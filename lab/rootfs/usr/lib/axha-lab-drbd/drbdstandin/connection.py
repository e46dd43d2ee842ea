"""The connection to the peer: its TCP paths (listen, dial, read, send, close; daemon.py's timer pings them) and what
a lost connection does (what is left of a resync saved, a Primary's new data generation, the fence-peer call)."""

from __future__ import annotations

import json
import socket
import threading
import time

from . import meta
from .objects import Path, Peer, parse_addr
from .resync import RS_CHUNK

PING_INTERVAL = 0.5
PING_TIMEOUT = 2.0
RECONNECT_INTERVAL = 1.0


class ConnectionMixin:
    """ResourceDaemon's paths and connection state."""

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
            # fencing resource-and-stonith: IO is suspended while the fence-peer handler runs, and the new data
            # generation waits until IO resumes after a successful fencing (drbd 9.2.12 drbd_state.c lines
            # 2141-2148 susp_fen, 3534-3574 check_may_resume_io_after_fencing() and its NEW_CUR_UUID): a
            # Primary whose handler fails stays frozen with the old generation, as the real one does
            stonith = peer.opts.get("fencing") == "resource-and-stonith" and new_cstate != "StandAlone"
            for dev in self.devices.values():
                md = dev["md"]
                if md is not None and not md["bitmap"]:
                    if stonith:
                        dev["new_cur_uuid"] = True
                        continue
                    meta.rotate_current(md, keep_bitmap=True)
                    dev["writes_mark"] = self.write_sectors()
                    self.save_md(dev)
            if peer.opts.get("fencing") in ("resource-only", "resource-and-stonith") and new_cstate != "StandAlone":
                if stonith:
                    self.susp_fen = True
                    self.freeze_writers()
                vol = self.first_vol()
                minor = self.devices[vol]["minor"] if vol is not None else None
                threading.Thread(target=self.fence_peer, args=(peer, vol, minor), daemon=True).start()
