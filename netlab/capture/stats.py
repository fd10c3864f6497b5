"""A capture's counters: what arrived, what was kept, what was dropped where, and the rate."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from ..sources.base import Source


@dataclass(frozen=True)
class CaptureStats:
    """Counters of a capture. decoded + dropped_netlab + dropped_kernel == arrived."""

    source: str
    filter: str
    started: datetime | None
    running: bool
    received: int  # packets netlab read from the source
    decoded: int  # rows added to the frame
    dropped_kernel: int  # packets the kernel (or the remote server) could not keep
    dropped_netlab: int  # packets read but dropped because the decoder's backlog was full
    packets_per_second: float
    bytes_per_second: float
    subscriber_drops: int  # batches a slow subscriber did not get (rows are still in the frame)
    problems: tuple[str, ...] = ()

    @property
    def arrived(self) -> int:
        """Every packet accounted for: kept or dropped somewhere."""
        return self.received + self.dropped_kernel


class Counters:
    """Thread-safe counts kept by the pipeline, across sources replaced by a restart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = self.decoded = self.dropped_netlab = 0
        self._kernel_base = 0  # drops reported by sources replaced by restart()
        self._received_at_swap = 0
        self._bytes = 0
        self._rate: deque[tuple[float, int, int]] = deque(maxlen=64)
        self.errors: list[str] = []  # the last 20 problems

    def add_received(self, n: int) -> None:
        with self._lock:
            self.received += n

    def add_dropped(self, n: int) -> None:
        with self._lock:
            self.dropped_netlab += n

    def add_decoded(self, n: int, nbytes: int) -> None:
        with self._lock:
            self.decoded += n
            self._bytes += nbytes
            self._rate.append((time.monotonic(), self.decoded, self._bytes))

    def replaced(self, old: Source) -> None:
        """`old` is being replaced: keep counting the drops it reported."""
        with self._lock:
            self._kernel_base += old.counters(self.received - self._received_at_swap).dropped
            self._received_at_swap = self.received

    def error(self, message: str) -> None:
        with self._lock:
            self.errors = [*self.errors[-19:], message]

    def snapshot(
        self,
        source: Source,
        *,
        started: datetime | None,
        running: bool,
        subscriber_drops: int,
    ) -> CaptureStats:
        """The counters now, with `source`'s own drop counts."""
        with self._lock:
            received = self.received
            counters = source.counters(received - self._received_at_swap)
            pps = bps = 0.0
            rate = list(self._rate)
            if len(rate) >= 2 and time.monotonic() - rate[-1][0] < 2.0:
                window = [r for r in rate if r[0] >= rate[-1][0] - 2.0]
                t0, n0, b0 = window[0]
                t1, n1, b1 = window[-1]
                if t1 > t0:
                    pps, bps = (n1 - n0) / (t1 - t0), (b1 - b0) / (t1 - t0)
            return CaptureStats(
                source=source.description,
                filter=source.bpf,
                started=started,
                running=running,
                received=received,
                decoded=self.decoded,
                dropped_kernel=self._kernel_base + counters.dropped,
                dropped_netlab=self.dropped_netlab,
                packets_per_second=pps,
                bytes_per_second=bps,
                subscriber_drops=subscriber_drops,
                problems=tuple(self.errors) + tuple(source.problems),
            )
