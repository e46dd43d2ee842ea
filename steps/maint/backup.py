"""Backups of the whole configuration: the live CIB and the cluster's and Axigen's files, archived on both nodes
(kept there) and copied here. Used by `axha backup` (steps.maint.actions.BackupStep) and by the upgrade."""
from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path
from typing import Callable

from axha.steps import names
from axha.steps.drbd_resource_file import resource_path
from axha.steps.errors import AxhaError, InputError
from axha.steps.framework import OutputLine


def _noop(_event) -> None:
    pass


REMOTE_BACKUP_DIR = "/var/backups/axha"


def backup_paths(spec) -> tuple[str, ...]:
    """Configuration files worth keeping (those absent on a node are skipped there): the cluster's, the init
    script's settings (/etc/sysconfig/axigen on RHEL per Axigen's HA guide; /etc/default/axigen where a Debian
    package keeps them), and Axigen's own configuration and licence key on the mail store (where it is mounted)."""
    return (names.COROSYNC_CONF, resource_path(spec.storage.drbd.resource), "/etc/drbd.conf",
            "/etc/drbd.d/global_common.conf", "/etc/sysconfig/axigen", "/etc/default/axigen",
            f"{spec.storage.mount_point}/run/axigen.cfg", f"{spec.storage.mount_point}/axigen_lk.bin")


def backup_argv(spec, stamp: str, node: str) -> tuple[str, ...]:
    """On the node: the live CIB plus the files into REMOTE_BACKUP_DIR/<stamp>-<node>.tar.gz; prints the path."""
    script = ('set -e; umask 077; dir="$1"; out="$dir/$2"; shift 2; mkdir -p "$dir"; tmp=$(mktemp -d); '
              'trap \'rm -rf "$tmp"\' EXIT; cibadmin --query > "$tmp/cib.xml" 2>/dev/null || true; '
              'list=""; for p in "$@"; do [ -e "$p" ] && list="$list ${p#/}"; done; '
              'tar -czf "$out" -C "$tmp" cib.xml $( [ -n "$list" ] && echo "-C / $list" ); echo "$out"')
    return ("sh", "-c", script, "sh", REMOTE_BACKUP_DIR, f"{stamp}-{node}.tar.gz") + backup_paths(spec)


def make_backup(ctx, local_dir: str | Path, stamp: str | None = None, emit: Callable = _noop) -> dict:
    """Back up on both nodes (kept there) and copy both archives to local_dir/<stamp>/. Returns what was made."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = Path(local_dir) / stamp
    try:
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o700)
    except OSError as exc:
        raise InputError(f"cannot create the backup directory {target}: {exc.strerror or exc}",
                         remedy="Pass --output with a directory you may write.") from None
    files = []
    for node in ctx.spec.node_names:
        runner = ctx.runner(node)
        result = runner.run(backup_argv(ctx.spec, stamp, node), timeout=120, mutating=True)
        if result.rc != 0:
            raise AxhaError(f"backup on {node} failed: {(result.stderr or result.stdout).strip()[-300:]}", node=node,
                            remedy="Check free space in /var/backups on the node, then retry.")
        remote = result.stdout.strip().splitlines()[-1]
        data = runner.get(remote)
        local = target / f"{node}.tar.gz"
        local.write_bytes(data)
        os.chmod(local, 0o600)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getnames()
        emit(OutputLine("backup", node, f"{remote} ({len(data)} bytes, {len(members)} entries) -> {local}"))
        files.append(f"{node}:{remote}")
        files.append(str(local))
    return {"stamp": stamp, "local": str(target), "files": files}
