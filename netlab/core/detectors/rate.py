"""RateDetector: a rolling z-score of packets, bytes or a protocol's share per second."""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import numpy as np
import pandas as pd

from ..alerts import NS, Alert, Direction, severity_for, timestamp, ts_seconds


class RateDetector:
    """Rolling z-score of per-second packet (or byte) counts.

    The newest second is compared with the mean and standard deviation of the previous
    `window` seconds (empty seconds count as 0). The deviation is floored at sqrt(mean), the
    noise of a Poisson process (at least 1), so a perfectly flat line does not make every small
    wobble infinite, yet a flat line followed by a jump still alerts. A second is judged once
    it is complete (a packet of a later second came, or `advance` was called), so an alert
    states the second's true count, the same however the rows were batched (file, replay,
    live), within about a second of the burst's start.
    """

    def __init__(
        self,
        window: int = 60,
        threshold: float = 4.0,
        min_samples: int = 10,
        cooldown: float = 10.0,
        direction: Direction = "up",
        metric: Literal["packets", "bytes"] = "packets",
        name: str = "rate",
    ) -> None:
        if window < 2 or min_samples < 2 or threshold <= 0 or cooldown < 0:
            raise ValueError("window and min_samples must be >= 2, threshold > 0, cooldown >= 0")
        self.name = name
        self.window, self.threshold, self.min_samples = window, threshold, min_samples
        self.cooldown_ns = int(cooldown * NS)
        self.direction, self.metric = direction, metric
        self._history: deque[float] = deque(maxlen=window)  # completed seconds, oldest first
        self._second: int | None = None  # the second being filled
        self._count = 0.0
        self._fired_for: int | None = None  # a second already alerted on while filling
        self._last_alert_ns: int | None = None

    def stats(self) -> tuple[float, float, int]:
        """(mean, floored std, samples) of the history."""
        n = len(self._history)
        if n == 0:
            return 0.0, 1.0, 0
        values = np.fromiter(self._history, dtype=float, count=n)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else 0.0
        return mean, max(std, math.sqrt(max(mean, 1.0))), n

    def zscore(self, value: float) -> float:
        """The z-score of `value` against the current history."""
        mean, std, _ = self.stats()
        return (value - mean) / std

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Count the batch into per-second buckets; return alerts."""
        seconds = ts_seconds(batch)
        if not len(seconds):
            return []
        weights = (
            batch["length"].to_numpy(dtype=float)[: len(seconds)]
            if self.metric == "bytes"
            else None
        )
        alerts: list[Alert] = []
        uniq, starts = np.unique(seconds, return_index=True)
        sums = (
            np.add.reduceat(weights, starts)
            if weights is not None
            else np.diff(np.append(starts, len(seconds))).astype(float)
        )
        for sec, amount in zip(uniq.tolist(), sums.tolist(), strict=True):
            alerts += self.observe(sec, amount)
        return alerts

    def observe(self, second: int, amount: float) -> list[Alert]:
        """Add `amount` to second `second` (seconds since the epoch); return alerts."""
        alerts: list[Alert] = []
        if self._second is None:
            self._second = second
        if second < self._second:
            second = self._second  # a late packet counts in the current second
        if second > self._second:
            alerts += self._close(self._second, self._count)
            # seconds with no packets at all are zeros, not gaps
            for empty in range(self._second + 1, min(second, self._second + 1 + self.window)):
                alerts += self._close(empty, 0.0)
            self._second, self._count = second, 0.0
        self._count += amount
        return alerts

    def advance(self, second: int) -> list[Alert]:
        """Close every second before `second` (for silence, when no packet comes to do it)."""
        if self._second is None or second <= self._second:
            return []
        return self.observe(second, 0.0)

    def _close(self, second: int, value: float) -> list[Alert]:
        alerts = []
        if self._fired_for != second:
            alert = self._judge(second, value, final=True)
            if alert:
                alerts.append(alert)
        self._history.append(value)
        return alerts

    def _judge(self, second: int, value: float, final: bool) -> Alert | None:
        mean, std, n = self.stats()
        if n < self.min_samples:
            return None
        z = (value - mean) / std
        up = z >= self.threshold and self.direction in ("up", "both")
        down = final and z <= -self.threshold and self.direction in ("down", "both")
        if not (up or down):
            return None
        t_ns = second * NS
        if self._last_alert_ns is not None and t_ns - self._last_alert_ns < self.cooldown_ns:
            return None
        self._last_alert_ns = t_ns
        unit = "packets/s" if self.metric == "packets" else "bytes/s"
        what = "spike" if up else "drop"
        message = (
            f"{self.metric.capitalize()} rate {what}: {value:,.0f} {unit} against a "
            f"{n}-second baseline of {mean:,.1f} ± {std:,.1f} (z = {z:+.1f})"
        )
        return Alert(
            time=timestamp(t_ns),
            detector=self.name,
            metric=f"{self.metric}_per_second",
            value=value,
            mean=mean,
            std=std,
            z=z,
            severity=severity_for(z, self.threshold),
            message=message,
            window_start=timestamp(t_ns),
            window_end=timestamp(t_ns + NS),
        )
