"""One thread that feeds every widget a few times a second from the capture's new rows.

The capture's threads never touch widgets: this refresher takes the rows added since its last
tick (`frame.snapshot(since=...)`), keeps per-second rates, and hands one Update to each widget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..capture import Capture, CaptureStats
from ..core.anomaly import Alert

RATE_SECONDS = 300  # seconds of per-second rates kept for the sparkline


@dataclass
class Update:
    """What changed since the previous tick."""

    rows: pd.DataFrame  # new rows (at most `max_rows` of the newest)
    stats: CaptureStats
    alerts: list[Alert]  # every alert so far, oldest first
    rates: pd.DataFrame  # per second: time, packets, bytes (last RATE_SECONDS)
    version: int


@dataclass
class Refresher:
    """Ticks at `hz`, calling every target's refresh(update) in its own thread."""

    capture: Capture
    hz: float = 2.0
    max_rows: int = 2000
    targets: list[Callable[[Update], Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ticks: int = 0

    def __post_init__(self) -> None:
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._version = 0
        self._seconds: OrderedDict[int, list[int]] = OrderedDict()
        self.paused = False

    def start(self) -> Refresher:
        """Start ticking (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="netlab-refresher", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop ticking; idempotent."""
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._done.wait(1.0 / self.hz):
            if not self.paused:
                self.tick()

    def tick(self) -> Update:
        """Build one update and give it to every target (also callable directly, e.g. in tests)."""
        new = self.capture.frame.snapshot(since=self._version)
        self._version = self.capture.frame.version
        self._count(new)
        update = Update(
            rows=new.iloc[-self.max_rows :],
            stats=self.capture.stats,
            alerts=list(self.capture.alerts),
            rates=self.rates(),
            version=self._version,
        )
        for target in list(self.targets):
            try:
                target(update)
            except Exception as exc:  # noqa: BLE001 - one broken widget must not stop the rest
                self.errors = [*self.errors[-19:], f"{type(exc).__name__}: {exc}"]
        self.ticks += 1
        return update

    def _count(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        seconds = rows["ts"].array.asi8 // 1_000_000_000
        lengths = rows["length"].to_numpy(dtype=np.int64)
        uniq, inverse = np.unique(seconds, return_inverse=True)
        packets = np.bincount(inverse)
        volume = np.bincount(inverse, weights=lengths)
        for sec, p, b in zip(uniq.tolist(), packets.tolist(), volume.tolist(), strict=True):
            slot = self._seconds.setdefault(sec, [0, 0])
            slot[0] += p
            slot[1] += int(b)
        newest = max(self._seconds)
        while self._seconds and next(iter(self._seconds)) < newest - RATE_SECONDS:
            self._seconds.popitem(last=False)

    def rates(self) -> pd.DataFrame:
        """Packets and bytes per second, with empty seconds as zeros."""
        if not self._seconds:
            return pd.DataFrame({"time": pd.to_datetime([], utc=True), "packets": [], "bytes": []})
        first, last = min(self._seconds), max(self._seconds)
        seconds = np.arange(first, last + 1)
        packets = np.array([self._seconds.get(s, (0, 0))[0] for s in seconds.tolist()])
        volume = np.array([self._seconds.get(s, (0, 0))[1] for s in seconds.tolist()])
        times = pd.to_datetime(seconds, unit="s", utc=True)
        return pd.DataFrame({"time": times, "packets": packets, "bytes": volume})
