"""The resource's usermode helpers (fence-peer, unfence-peer, split-brain): `drbdadm <helper> <res>` run as the
kernel runs them."""

from __future__ import annotations

import subprocess
import threading

from .objects import Peer, parse_addr

FENCE_CODES = {3: "peer is inconsistent", 4: "peer was outdated", 5: "peer is unreachable",
               6: "peer is primary", 7: "peer was stonithed"}


class HandlersMixin:
    """ResourceDaemon's helper calls."""

    # ------------------------------------------------------------------ handlers
    def fence_peer(self, peer: Peer, vol: int | None, minor: int | None) -> int:
        rc = self.run_helper("fence-peer", peer, vol, minor)
        with self.lock:
            self.susp_fen = False
            if rc in (3, 4, 5, 7):
                for dev in self.devices.values():
                    if dev["md"] is not None:
                        dev["md"]["peer_outdated"] = True
                        self.save_md(dev)
                if rc != 5 and peer.cstate != "Connected":
                    peer.peer_disk = "Outdated"
            self.log(f"fence-peer helper returned {rc} ({FENCE_CODES.get(rc, 'unexpected')})")
        self.changed()
        return rc

    def helper(self, name: str, peer: Peer, vol: int | None, minor: int | None) -> None:
        threading.Thread(target=self.run_helper, args=(name, peer, vol, minor), daemon=True).start()

    def run_helper(self, name: str, peer: Peer, vol: int | None, minor: int | None) -> int:
        """Call `drbdadm <helper> <res>` the way the kernel's usermode helper does (drbd_khelper)."""
        env = {"HOME": "/", "TERM": "linux", "PATH": "/sbin:/usr/sbin:/bin:/usr/bin",
               "DRBD_RESOURCE": self.name, "DRBD_MY_NODE_ID": str(self.node_id),
               "DRBD_PEER_NODE_ID": str(peer.node_id), "DRBD_CSTATE": peer.cstate}
        if peer.paths:
            host, _ = parse_addr(peer.paths[0].peer)
            env.update(DRBD_PEER_ADDRESS=host, DRBD_PEER_AF="ipv4")
        if minor is not None:
            env["DRBD_MINOR"] = str(minor)
            env["DRBD_VOLUME"] = str(vol)
            env[f"DRBD_MINOR_{vol}"] = str(minor)
        with self.lock:
            self.events.append((self.version, ("call", name, peer.node_id, peer.name, vol, minor, None)))
        self.changed()
        argv = [self.cfg.get("drbdadm", "/usr/sbin/drbdadm"), name, self.name]
        self.log(f"helper: {' '.join(argv)}")
        try:
            rc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log_fh, stderr=self.log_fh,
                                timeout=self.cfg.get("helper_timeout", 90)).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.log(f"helper {name} failed: {exc}")
            rc = 255
        with self.lock:
            self.events.append((self.version, ("response", name, peer.node_id, peer.name, vol, minor, rc & 0xff)))
        self.changed()
        return rc
