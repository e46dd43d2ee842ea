"""What the resource shows: its snapshot (the state drbdsetup status/events2 print, see formats.py) and the running
config for `drbdsetup show`."""

from __future__ import annotations

from .objects import Peer


class ShowMixin:
    """ResourceDaemon's snapshot and `drbdsetup show` text."""

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict:
        with self.lock:
            devices = []
            for vol, dev in sorted(self.devices.items()):
                devices.append({"volume": vol, "minor": dev["minor"], "disk": dev["disk"], "client": False,
                                "quorum": True, "backing_dev": dev.get("backing_dev") or "",
                                "size": dev.get("size", 0) if dev["disk"] != "Diskless" else 0,
                                "read": 0, "written": 0, "al_writes": 0, "bm_writes": 0, "upper_pending": 0,
                                "lower_pending": 0, "al_suspended": False, "upper_blocked": False,
                                "lower_blocked": False})
            conns = []
            for peer in self.peers.values():
                pds = []
                for vol, dev in sorted(self.devices.items()):
                    pds.append(self._peer_device_snapshot(peer, vol, dev))
                conns.append({"peer_node_id": peer.node_id, "name": peer.name, "cstate": peer.cstate,
                              "role": peer.role if peer.cstate == "Connected" else "Unknown",
                              "congested": False, "ap_in_flight": 0, "rs_in_flight": 0, "peer_devices": pds,
                              "paths": [{"local": p.local, "peer": p.peer, "established": p.established}
                                        for p in peer.paths]})
            return {"name": self.name, "node_id": self.node_id, "role": self.role, "susp_user": False,
                    "susp_nod": False, "susp_fen": self.susp_fen, "susp_quorum": False, "fail_io": False,
                    "write_ordering": "flush", "devices": devices, "connections": conns,
                    "version": self.version}

    def _peer_device_snapshot(self, peer: Peer, vol: int, dev: dict) -> dict:
        md = dev.get("md") or {}
        pd = {"volume": vol, "repl": peer.repl, "peer_disk": peer.peer_disk, "peer_client": False,
              "susp_user": False, "susp_peer": False, "susp_dependency": False,
              "received": peer.received, "sent": peer.sent, "out_of_sync": md.get("out_of_sync", 0),
              "pending": 0, "unacked": 0, "rs_total": 0, "rs_dt_start_ms": 0, "rs_paused_ms": 0,
              "rs_dt0_ms": 0, "rs_db0_sectors": 0, "rs_dt1_ms": 0, "rs_db1_sectors": 0, "rs_failed": 0,
              "rs_same_csum": 0, "ov_left": 0, "c_sync_rate": 0, "uuid_stable": True}
        sync = peer.sync
        if sync and peer.repl in ("SyncSource", "SyncTarget"):
            pd["out_of_sync"] = int(sync["left"])
            pd["rs_total"] = sync["total"]
            pd["rs_dt_start_ms"] = sync.get("dt_start_ms", 0)
            pd["rs_dt0_ms"] = sync["dt0_ms"]
            pd["rs_db0_sectors"] = sync["db0"]
            pd["rs_dt1_ms"] = sync["dt1_ms"]
            pd["rs_db1_sectors"] = sync["db1"]
            pd["c_sync_rate"] = self.cfg["sync_rate_kib"]
        elif peer.repl == "Off":
            pd["out_of_sync"] = md.get("out_of_sync", 0)
        else:
            in_sync = peer.peer_disk == "UpToDate" and dev["disk"] == "UpToDate"
            pd["out_of_sync"] = 0 if in_sync else md.get("out_of_sync", 0)
        return pd

    # ------------------------------------------------------------------ drbdsetup show
    def show_text(self) -> str:
        lines = [f"resource \"{self.name}\" {{", "    options {", "    }", "    _this_host {",
                 f"        node-id\t\t\t{self.node_id};"]
        for vol, dev in sorted(self.devices.items()):
            lines.append(f"        volume {vol} {{")
            lines.append(f"            device\t\t\tminor {dev['minor']};")
            if dev["disk"] != "Diskless":
                lines.append(f"            disk\t\t\t\"{dev['backing_dev']}\";")
                lines.append(f"            meta-disk\t\t\tinternal;")
            lines.append("        }")
        lines.append("    }")
        for peer in self.peers.values():
            lines.append("    connection {")
            lines.append("        _peer_node_id " + str(peer.node_id) + ";")
            for path in peer.paths:
                lines.append("        path {")
                lines.append(f"            _this_host {path.local.split(':')[0]} {path.local.split(':', 1)[1]};")
                lines.append(f"            _remote_host {path.peer.split(':')[0]} {path.peer.split(':', 1)[1]};")
                lines.append("        }")
            if peer.cstate == "StandAlone":
                lines.append("        _is_standalone;")  # makes `drbdadm adjust` reconnect, as with drbdsetup
            net = {k: v for k, v in peer.opts.items() if k != "_name"}
            lines.append("        net {")
            for key, value in net.items():
                lines.append(f"            {key}\t\t\t{value};")
            lines.append(f"            _name\t\t\t\"{peer.name}\";")
            lines.append("        }")
            lines.append("    }")
        lines.append("}")
        return "\n".join(lines) + "\n\n"
