"""The Pacemaker/Corosync resource names shared by install and maintenance: one source of truth."""
from __future__ import annotations

FS = "fs-axigen"                 # ocf:heartbeat:Filesystem
VIP = "vip"                      # ocf:heartbeat:IPaddr2
SERVICE = "axigen"               # lsb:axigen or systemd:axigen, whichever the node has
GROUP = "axigen-group"           # FS, VIP, SERVICE in this order
GROUP_MEMBERS = (FS, VIP, SERVICE)

FENCE_PREFIX = "fence-"
COROSYNC_CONF = "/etc/corosync/corosync.conf"
COROSYNC_AUTHKEY = "/etc/corosync/authkey"
# fence_ipmilan's password_script reads the BMC password from this root-only file (never in the CIB)
FENCE_PASSWORD_DIR = "/etc/axha/fence"
# the quorum device's host (cluster file quorum_device): its SSH runner's name, so no node may be called so
ARBITER = "arbiter"

# constraint ids
COL_GROUP_WITH_PROMOTED = "col-axigen-group-with-promoted"
ORD_PROMOTE_THEN_GROUP = "ord-promote-then-axigen-group"


def drbd_primitive(resource: str) -> str:
    """The ocf:linbit:drbd primitive of DRBD resource `resource`: drbd-<res>."""
    return f"drbd-{resource}"


def drbd_clone(resource: str) -> str:
    """The promotable clone around drbd_primitive(resource): drbd-<res>-clone."""
    return f"drbd-{resource}-clone"


def fence_device(node: str) -> str:
    """The stonith:fence_ipmilan device that fences `node`: fence-<node>."""
    return f"{FENCE_PREFIX}{node}"


def fence_location(node: str) -> str:
    """The location constraint keeping fence_device(node) off `node` itself."""
    return f"loc-{fence_device(node)}-avoid-{node}"


def fence_password_file(node: str) -> str:
    """The 0600 root-only file (on both nodes) holding the BMC password of `node` for fence_ipmilan."""
    return f"{FENCE_PASSWORD_DIR}/{node}.pw"
