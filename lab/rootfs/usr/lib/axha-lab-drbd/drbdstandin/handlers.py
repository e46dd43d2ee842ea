"""The resource's usermode helpers (fence-peer, unfence-peer, split-brain): `drbdadm <helper> <res>` run as the
kernel runs them."""

from __future__ import annotations

import os
import subprocess
import threading

from . import meta
from .objects import Peer, parse_addr

FENCE_CODES = {3: "peer is inconsistent", 4: "peer was outdated", 5: "peer is unreachable",
               6: "peer is primary", 7: "peer was stonithed"}


class HandlersMixin:
    """ResourceDaemon's helper calls."""

    # ------------------------------------------------------------------ handlers
    def fence_peer(self, peer: Peer, vol: int | None, minor: int | None) -> int:
        """What the kernel does with the helper's exit code (drbd 9.2.12 drbd_nl.c conn_try_outdate_peer(),
        lines 782-904): 3, 4, 7, and 5 when the local disk is UpToDate, outdate the peer, and then a suspended IO
        resumes with a new data generation (drbd_state.c check_may_resume_io_after_fencing()); 5 otherwise
        changes nothing; 6 outdates this node's own disk; any other code is "fence-peer helper broken" and
        leaves IO frozen (crm-fence-peer.9.sh exits 1 when its partition has no quorum). A connection back
        meanwhile: the exit code is ignored (the connection resumes IO itself)."""
        rc = self.run_helper("fence-peer", peer, vol, minor)
        with self.lock:
            local_up_to_date = all(d["disk"] == "UpToDate" for d in self.devices.values() if d["md"] is not None)
            outdated = rc in (3, 4, 7) or (rc == 5 and local_up_to_date)
            if peer.cstate == "Connected":
                self.log(f"fence-peer helper returned {rc}: the connection is back, ignored")
            elif outdated:
                for dev in self.devices.values():
                    if dev["md"] is not None:
                        dev["md"]["peer_outdated"] = True
                        if dev.pop("new_cur_uuid", False) and not dev["md"]["bitmap"]:
                            meta.rotate_current(dev["md"], keep_bitmap=True)
                            dev["writes_mark"] = self.write_sectors()
                        self.save_md(dev)
                peer.peer_disk = "Inconsistent" if rc == 3 else "Outdated"
                if self.susp_fen:
                    self.susp_fen = False
                    self.thaw_writers()
                self.log(f"fence-peer helper returned {rc} ({FENCE_CODES[rc]})")
            elif rc == 6:
                for dev in self.devices.values():
                    if dev["md"] is not None:
                        dev["disk"] = "Outdated"
                self.log("fence-peer helper returned 6 (peer is active): outdating myself; IO stays suspended")
            else:
                self.log(f"fence-peer helper broken, returned {rc}" + (": IO stays suspended" if self.susp_fen
                                                                      else ""))
        self.changed()
        return rc

    # ------------------------------------------------------------------ suspended IO
    def freeze_writers(self) -> None:
        """Suspended IO: the processes of this node using the data device (a mount of it: open files or working
        directory below it, or the device itself open) are stopped (SIGSTOP), the way DRBD's frozen IO blocks
        them; the stand-in has no block layer of its own to hold their requests in."""
        import signal
        pids = self.device_users()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        self.frozen = sorted(set(getattr(self, "frozen", [])) | set(pids))
        if pids:
            self.log(f"IO suspended: {len(pids)} process(es) using the device stopped")

    def thaw_writers(self) -> None:
        import signal
        for pid in getattr(self, "frozen", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        if getattr(self, "frozen", []):
            self.log(f"IO resumed: {len(self.frozen)} process(es) continued")
        self.frozen = []

    def device_users(self) -> list[int]:
        if os.environ.get("AXHA_DRBD_STANDIN_NO_DEVNODES"):
            return []   # the unit tests' pairs: no device of their own, and their processes are the host's
        mounts = self.data_device_mounts()
        devices = {self.cfg.get("data_device")} | {self.node_path(d["minor"]) for d in self.devices.values()
                                                    if d.get("minor") is not None}

        def uses(target: str) -> bool:
            return target in devices or any(target == m or target.startswith(m.rstrip("/") + "/") for m in mounts)

        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) in (os.getpid(), 1):
                continue
            try:
                links = [os.readlink(f"/proc/{pid}/cwd")]
                links += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            if any(uses(t) for t in links):
                out.append(int(pid))
        return out

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
