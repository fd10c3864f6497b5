"""One thread that feeds every widget a few times a second from the capture's new rows.

The capture's threads never touch widgets: this refresher takes the rows added since its last
tick (`frame.snapshot(since=...)`), keeps per-second rates, and hands one Update to each widget.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..capture import Capture, CaptureStats
from ..core.alerts import Alert
from ..lifecycle import Lifecycle

RATE_SECONDS = 300  # seconds of per-second rates kept for the sparkline


@dataclass
class Update:
    """What changed since the previous tick."""

    rows: pd.DataFrame  # new rows (at most `max_rows` of the newest)
    stats: CaptureStats | None  # None for a DataFrame shown as it is
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
        self._life = Lifecycle("refresher")
        self._version = 0
        self._seconds: OrderedDict[int, list[int]] = OrderedDict()
        self.paused = False

    def start(self) -> Refresher:
        """Start ticking (a second call returns at once; after close(), ClosedError)."""
        if self._life.begin():
            self._thread = threading.Thread(target=self._run, name="netlab-refresher", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop ticking; idempotent."""
        self._life.end()
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        # ticks keep to a schedule: waiting a whole period after a tick that took 100 ms
        # gave 1.7 ticks a second for 2 Hz. A tick that overran is followed by a short rest,
        # not by a burst of catching up: the kernel's other threads need the GIL too.
        period = 1.0 / self.hz
        due = time.monotonic() + period
        while not self._done.wait(max(0.0, due - time.monotonic())):
            if not self.paused:
                self.tick()
            due = max(due + period, time.monotonic() + period / 4)

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
        add_seconds(self._seconds, rows)

    def rates(self) -> pd.DataFrame:
        """Packets and bytes per second, with empty seconds as zeros."""
        return _rates(self._seconds)


def add_seconds(slots: OrderedDict[int, list[int]], rows: pd.DataFrame) -> None:
    """Count `rows` into per-second [packets, bytes] slots (the newest RATE_SECONDS kept)."""
    if rows.empty:
        return
    stamps = rows["ts"].array.asi8
    known = stamps != np.iinfo(np.int64).min  # NaT: a record without a time
    seconds = stamps[known] // 1_000_000_000
    if not len(seconds):
        return
    lengths = rows["length"].to_numpy(dtype=np.int64)[known]
    uniq, inverse = np.unique(seconds, return_inverse=True)
    packets = np.bincount(inverse)
    volume = np.bincount(inverse, weights=lengths)
    for sec, p, b in zip(uniq.tolist(), packets.tolist(), volume.tolist(), strict=True):
        slot = slots.setdefault(sec, [0, 0])
        slot[0] += p
        slot[1] += int(b)
    if len(slots) > 1 and list(slots) != sorted(slots):  # rows out of time order
        ordered = sorted(slots.items())
        slots.clear()
        slots.update(ordered)
    newest = max(slots)
    while slots and next(iter(slots)) < newest - RATE_SECONDS:
        slots.popitem(last=False)


def _rates(slots: OrderedDict[int, list[int]]) -> pd.DataFrame:
    if not slots:
        return pd.DataFrame({"time": pd.to_datetime([], utc=True), "packets": [], "bytes": []})
    first, last = min(slots), max(slots)
    seconds = np.arange(first, last + 1)
    packets = np.array([slots.get(s, (0, 0))[0] for s in seconds.tolist()])
    volume = np.array([slots.get(s, (0, 0))[1] for s in seconds.tolist()])
    times = pd.to_datetime(seconds, unit="s", utc=True)
    return pd.DataFrame({"time": times, "packets": packets, "bytes": volume})


def frame_update(rows: pd.DataFrame) -> Update:
    """The one Update a widget shown on a DataFrame gets (rows, per-second rates, no stats)."""
    slots: OrderedDict[int, list[int]] = OrderedDict()
    add_seconds(slots, rows)
    return Update(rows=rows, stats=None, alerts=[], rates=_rates(slots), version=len(rows))


class SelfFed:
    """For a widget that may keep itself live: `close()` also stops its own refresher."""

    refresher: Refresher | None = None

    def close(self) -> None:
        """Stop its own refresher, if it has one, then close the widget; idempotent."""
        refresher = self.refresher
        if refresher is not None:
            refresher.close()
        super().close()  # type: ignore[misc]


def feed(
    refresh: Callable[[Update], Any], source: Capture | pd.DataFrame | None, hz: float | None
) -> Refresher | None:
    """Keep a widget live on its own: a Capture (local or remote) gets a refresher of the
    widget's own; a DataFrame is shown once. None: a Dashboard feeds the widget."""
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        refresh(frame_update(source))
        return None
    refresher = Refresher(source, hz=hz or source.settings.refresh_hz)
    refresher.targets.append(refresh)
    if source.stats.started is None:  # never started (a finished or closed one keeps its rows)
        source.start()
    return refresher.start()
