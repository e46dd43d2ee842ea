"""Measures the service gap: polls SMTP on the VIP every ~100 ms in a thread and records when it did not answer."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from axha.steps.maint.service import service_answer


@dataclass(frozen=True)
class GapReport:
    polls: int
    failures: int
    longest_gap: float          # seconds of the longest run of failed polls (first failure -> next success)
    total_gap: float
    last_banner: str
    answering_at_end: bool

    def to_dict(self) -> dict:
        return {"polls": self.polls, "failures": self.failures, "longest_gap_s": round(self.longest_gap, 3),
                "total_gap_s": round(self.total_gap, 3), "last_banner": self.last_banner,
                "answering_at_end": self.answering_at_end}


class ServiceGapMonitor:
    """start(); ... the move ...; stop() -> GapReport. A gap runs from the first failed poll to the next success."""

    def __init__(self, address: str, port: int = 25, interval: float = 0.1, timeout: float = 0.5,
                 probe=None):
        self.address, self.port, self.interval, self.timeout = address, port, interval, timeout
        self._probe = probe or (lambda: service_answer(address, "smtp", port, timeout))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._polls = self._failures = 0
        self._gaps: list[float] = []
        self._down_since: float | None = None
        self._banner = ""
        self._ok = False

    def start(self) -> "ServiceGapMonitor":
        self._thread = threading.Thread(target=self._loop, name="service-gap", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            answer = self._probe()
            now = time.monotonic()
            with self._lock:
                self._polls += 1
                self._ok = answer.ok
                if answer.ok:
                    self._banner = answer.banner
                    if self._down_since is not None:
                        self._gaps.append(now - self._down_since)
                        self._down_since = None
                else:
                    self._failures += 1
                    if self._down_since is None:
                        self._down_since = started
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def wait_answering(self, timeout: float) -> bool:
        """Block until the last poll succeeded (True) or timeout (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._ok and self._down_since is None and self._polls:
                    return True
            time.sleep(self.interval / 2)
        return False

    def stop(self) -> GapReport:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)
        with self._lock:
            gaps = list(self._gaps)
            if self._down_since is not None:
                gaps.append(time.monotonic() - self._down_since)
            return GapReport(self._polls, self._failures, max(gaps, default=0.0), sum(gaps), self._banner,
                             self._ok)
