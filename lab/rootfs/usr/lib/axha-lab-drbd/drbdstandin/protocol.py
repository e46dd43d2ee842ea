"""The peer protocol: the messages the two nodes exchange, the handshake on connect (generation UUIDs: resync
direction, split brain, unrelated data) and the split-brain test hook."""

from __future__ import annotations

from . import meta
from .objects import Path, Peer


class ProtocolMixin:
    """ResourceDaemon's side of the peer protocol."""

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
                # what is left is what this side has not received yet (it counts the blocks as they arrive, as
                # the kernel clears a SyncTarget's bitmap bits as it writes them); the source's figure is older
                left = min(float(peer.sync["left"]), float(msg["left"]))
                peer.sync.update(left=left, dt1_ms=msg["dt1_ms"], db1=msg["db1"],
                                 dt0_ms=msg["dt0_ms"], db0=msg["db0"], dt_start_ms=msg["dt_start_ms"])
                dev = self.device(peer.sync["volume"])
                if dev and dev["md"]:
                    dev["md"]["out_of_sync"] = int(left)
                    self.save_md(dev)
        elif kind == "rs-data":
            # the SyncTarget counts every block it received and acknowledges it on the path it came by; always
            # acknowledged: the sync-start may still be in another path's handler (the receiver takes a message
            # from whichever path brings it first), and an unacknowledged window would stall the resync for good
            if peer.sync and peer.repl == "SyncTarget" and msg.get("sid") == peer.sync.get("sid"):
                sectors = int(msg["n"]) / 512
                peer.received += int(min(sectors, peer.sync["left"]))
                peer.sync["left"] = max(0.0, float(peer.sync["left"]) - sectors)
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
            if self.susp_fen:   # the connection back resumes a suspended IO (check_may_resume_io_after_fencing)
                self.susp_fen = False
                for dev in self.devices.values():
                    dev.pop("new_cur_uuid", None)
                self.thaw_writers()
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
