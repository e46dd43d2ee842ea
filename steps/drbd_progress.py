"""DRBD resync progress: SyncTracker turns successive Resource snapshots into SyncProgress (percent, rate, ETA)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from axha.steps.drbd_status import Device, PeerDevice, Resource


@dataclass(frozen=True)
class SyncProgress:
    """Progress of one node's resync towards its peer: percent, rate (KiB/s) and ETA (s), None when unknown."""

    node: str
    peer: str
    replication: str
    disk: str
    peer_disk: str
    percent: float
    out_of_sync_kib: int | None
    rate_kib: float | None
    eta: float | None
    finished: bool


@dataclass
class SyncTracker:
    """Turns successive Resource snapshots into SyncProgress. The rate comes from the out-of-sync countdown over at
    least `window` seconds (events arrive in bursts), falling back to DRBD's own dbdt figure."""

    window: float = 2.0
    clock: object = time.monotonic
    _history: dict = field(default_factory=dict)

    def update(self, node: str, res: Resource, now: float | None = None) -> SyncProgress | None:
        conn = res.connection()
        pd = conn.peer_device(0) if conn else None
        if conn is None or pd is None:
            return None
        now = self.clock() if now is None else now
        rate = self._measure((node, conn.name), pd.out_of_sync_kib, now)
        if rate is None and pd.rate_mib:
            rate = pd.rate_mib * 1024.0
        finished = res.in_sync
        percent = 100.0 if finished else _percent(pd, res.device(0))
        oos = pd.out_of_sync_kib
        eta = 0.0 if finished else (oos / rate if oos is not None and rate else pd.eta)
        return SyncProgress(node=node, peer=conn.name, replication=pd.replication, disk=res.disk,
                            peer_disk=pd.peer_disk, percent=round(percent, 2), out_of_sync_kib=oos,
                            rate_kib=rate, eta=eta, finished=finished)

    def _measure(self, key, oos: int | None, now: float) -> float | None:
        history = self._history.setdefault(key, [])
        if oos is None:
            return None
        if history and oos > history[-1][1]:
            history.clear()  # a new resync started: old samples say nothing about it
        history.append((now, oos))
        old = [sample for sample in history if now - sample[0] >= self.window]
        if not old:
            return None
        start = old[-1]
        del history[:history.index(start)]
        return max(0.0, (start[1] - oos) / (now - start[0]))


def human_kib(kib: float) -> str:
    """1536 -> '1.5 MiB'; sizes as an admin reads them."""
    value, unit = float(kib), "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} {unit}" if unit == "KiB" else f"{value:.1f} {unit}"


def _percent(pd: PeerDevice, dev: Device | None) -> float:
    if pd.done is not None:
        return pd.done
    if pd.out_of_sync_kib is not None and dev is not None and dev.size_kib:
        return max(0.0, 100.0 * (1 - pd.out_of_sync_kib / dev.size_kib))
    if pd.percent_in_sync is not None:
        return pd.percent_in_sync
    return 0.0
