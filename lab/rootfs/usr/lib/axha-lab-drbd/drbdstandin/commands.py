"""The control requests drbdsetup sends to the daemon (cmd_*: new-minor, attach, connect, primary, ..., and the test
hooks of drbd-standin-ctl), each run under the resource lock; a refused one raises StateError with drbdsetup's exit
code and message."""

from __future__ import annotations

import json

from . import meta
from .objects import NeedFence, Path, Peer, StateError, failure, state_fail


class CommandsMixin:
    """ResourceDaemon's control requests."""

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
        md = meta.read_md(self.cfg, dev["minor"], req.get("backing_dev") or None)
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
