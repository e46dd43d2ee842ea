"""What the node-replacement steps share: the survivor, the replacement's place in the cluster (a member yet or not),
and the corosync authkey compared by hash (the key itself never leaves a node except over stdin)."""
from __future__ import annotations

from axha.steps.errors import AxhaError
from axha.steps.framework import Context
from axha.steps.install.common import crm_status, read
from axha.steps.install.corosync import parse_sha256sum
from axha.steps.names import COROSYNC_AUTHKEY


def survivor_of(ctx: Context, node: str) -> str:
    return ctx.spec.peer(node).name


def authkey_hash(ctx: Context, node: str) -> str | None:
    """sha256 of the node's corosync authkey (None: no key, or the node does not answer)."""
    try:
        return parse_sha256sum(read(ctx, node, ["sha256sum", COROSYNC_AUTHKEY]).stdout)
    except AxhaError:
        return None


def has_cluster_key(ctx: Context, node: str) -> bool:
    """The node holds this cluster's authkey (the survivor's): the rebuild has copied it (or the node is the old
    one, still configured)."""
    mine, theirs = authkey_hash(ctx, node), authkey_hash(ctx, survivor_of(ctx, node))
    return mine is not None and mine == theirs


def member_online(ctx: Context, node: str) -> bool:
    """Pacemaker on the survivor sees `node` online (a member of the cluster, not pending, not unclean)."""
    status = crm_status(ctx, survivor_of(ctx, node))
    info = status.node(node) if status is not None else None
    return bool(info is not None and info.online and not info.pending and not info.unclean)


def corosync_active(ctx: Context, node: str) -> bool:
    return read(ctx, node, ["systemctl", "is-active", "--quiet", "corosync"]).rc == 0
