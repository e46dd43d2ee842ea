"""The resource's devices on this node: /dev/drbdN, whether it is held open, the primary lock, the metadata on disk."""

from __future__ import annotations

import os
import stat

from . import meta

DRBD_MAJOR = 147


class DeviceMixin:
    """ResourceDaemon's device nodes, locks and metadata."""

    # ------------------------------------------------------------------ device node / locks
    def node_path(self, minor: int) -> str:
        return f"/dev/drbd{minor}"

    def make_node(self, minor: int) -> None:
        self.point_node(minor, primary=False)

    def point_node(self, minor: int, primary: bool) -> None:
        """/dev/drbdN: the shared data device while Primary, an unbacked block node otherwise."""
        if os.environ.get("AXHA_DRBD_STANDIN_NO_DEVNODES"):
            return
        if primary:
            st = os.stat(self.cfg["data_device"])
            rdev = st.st_rdev
        else:
            rdev = os.makedev(DRBD_MAJOR, minor)
        path = self.node_path(minor)
        tmp = path + ".standin-tmp"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.mknod(tmp, 0o660 | stat.S_IFBLK, rdev)
            os.chmod(tmp, 0o660)
            try:
                import grp
                os.chown(tmp, 0, grp.getgrnam("disk").gr_gid)
            except (KeyError, OSError):
                pass
            os.replace(tmp, path)
        except OSError as exc:
            self.log(f"cannot create {path}: {exc}")

    def remove_node(self, minor: int) -> None:
        if os.environ.get("AXHA_DRBD_STANDIN_NO_DEVNODES"):
            return
        try:
            os.unlink(self.node_path(minor))
        except OSError:
            pass

    def data_device_mounts(self) -> list[str]:
        """The mount points of the data device in this node's mount namespace (/proc/self/mountinfo)."""
        try:
            rdev = os.stat(self.cfg["data_device"]).st_rdev
        except (OSError, KeyError):
            return []
        want = f"{os.major(rdev)}:{os.minor(rdev)}"
        mounts = []
        try:
            with open("/proc/self/mountinfo") as fh:
                for line in fh:
                    fields = line.split()
                    if len(fields) > 4 and fields[2] == want:
                        mounts.append(fields[4].replace("\\040", " "))
        except OSError:
            pass
        return mounts

    def held_open(self, minor: int) -> bool:
        """Is /dev/drbdN mounted or open in this node (mount namespace / pid namespace)?"""
        if os.environ.get("AXHA_DRBD_STANDIN_NO_DEVNODES"):
            return os.path.exists(os.path.join(self.run_dir, f"held-open-{minor}"))
        if not os.path.exists(self.cfg["data_device"]):
            return False
        if self.data_device_mounts():
            return True
        node = self.node_path(minor)
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target in (node, self.cfg["data_device"]):
                        return True
            except OSError:
                continue
        return False

    def data_claimed_elsewhere(self) -> bool:
        """The shared data device is mounted (exclusively claimed) somewhere, i.e. by the other node."""
        if os.environ.get("AXHA_DRBD_STANDIN_NO_DEVNODES"):
            return False
        try:
            fd = os.open(self.cfg["data_device"], os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
        except OSError as exc:
            import errno
            return exc.errno == errno.EBUSY
        os.close(fd)
        return False

    def lock_path(self) -> str:
        return self.cfg.get("shared_lock", "")

    def take_primary_lock(self) -> bool:
        """Both nodes see the same lock inode (the shared data device node, or cfg shared_lock):
        an flock held while Primary refuses a second Primary even when the nodes cannot talk."""
        import fcntl
        path = self.lock_path()
        if not path or self.primary_lock_fd is not None:
            return True
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.log(f"primary lock {path}: {exc}")
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self.log("primary refused: the other node holds the primary lock")
            return False
        self.primary_lock_fd = fd
        return True

    def release_primary_lock(self) -> None:
        if self.primary_lock_fd is not None:
            os.close(self.primary_lock_fd)
            self.primary_lock_fd = None

    # ------------------------------------------------------------------ metadata
    def save_md(self, dev: dict) -> None:
        if dev.get("md") is not None:
            meta.write_md(self.cfg, dev["minor"], dev["md"])

    def write_minor_map(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        for name in os.listdir(self.run_dir):
            if name.startswith("minor-") and open(os.path.join(self.run_dir, name)).read().split()[0] == self.name:
                os.unlink(os.path.join(self.run_dir, name))
        for vol, dev in self.devices.items():
            with open(os.path.join(self.run_dir, f"minor-{dev['minor']}"), "w") as fh:
                fh.write(f"{self.name} {vol}\n")

    def md_summary(self) -> dict:
        vols = {}
        for vol, dev in self.devices.items():
            md = dev.get("md")
            vols[str(vol)] = None if md is None else {
                "disk": dev["disk"], "current": md["current"], "bitmap": md["bitmap"], "history": md["history"],
                "resync_from": md.get("resync_from", 0),
                "out_of_sync": md["out_of_sync"], "size": dev["size"]}
        return vols
