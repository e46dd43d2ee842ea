"""Resync: the SyncSource sends the out-of-sync amount over the link to the SyncTarget, which acknowledges it, with
progress events; the end makes the target UpToDate with the source's UUIDs."""

from __future__ import annotations

import os
import threading
import time

from .objects import Peer, state_fail

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


class ResyncMixin:
    """ResourceDaemon's resync, both sides."""

    # ------------------------------------------------------------------ resync
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
        self.send(peer, {"t": "sync-start", "volume": vol, "total": amount, "current": dev["md"]["current"],
                         "sid": sid})
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
                     "now": now, "dt1_ms": 0, "db1": 0, "dt0_ms": 0, "db0": 0, "sid": msg.get("sid")}

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
