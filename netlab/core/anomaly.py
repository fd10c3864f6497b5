"""Anomaly detectors: pure functions of the packets' own timestamps (no threads, no clocks).

A detector takes batches of rows (`update(batch)`) and returns the alerts they complete, so a
capture file replayed as fast as possible alerts exactly as it would have live.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from .summary import protocol_mix, top_talkers

Severity = Literal["info", "warning", "critical"]
Direction = Literal["up", "down", "both"]
NS = 1_000_000_000


@dataclass(frozen=True)
class Alert:
    """Something unusual, with the numbers that made it fire and the traffic around it."""

    time: pd.Timestamp  # start of the interval that fired
    detector: str
    metric: str
    value: float
    mean: float
    std: float
    z: float
    severity: Severity
    message: str
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    context: dict[str, Any] = field(default_factory=dict)  # top talkers, protocols, ports

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("time", "window_start", "window_end"):
            out[key] = out[key].isoformat()
        for key in ("value", "mean", "std", "z"):
            out[key] = None if not math.isfinite(out[key]) else float(out[key])
        return out


@runtime_checkable
class Detector(Protocol):
    """Anything with a name and `update(batch) -> alerts` can watch a capture."""

    name: str

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Feed new rows (in time order); return the alerts they raise."""


def severity_for(z: float, threshold: float) -> Severity:
    """warning past the threshold, critical past twice it."""
    return "critical" if abs(z) >= 2 * threshold else "warning"


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")


def _ns(batch: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The rows' times as int64 nanoseconds (NaT as int64's minimum)."""
    return np.asarray(batch["ts"].array.asi8, dtype=np.int64)


def _seconds(batch: pd.DataFrame) -> npt.NDArray[np.int64]:
    ts = _ns(batch)
    out: npt.NDArray[np.int64] = ts[ts != np.iinfo(np.int64).min] // NS
    return out


def context_of(rows: pd.DataFrame, n: int = 5) -> dict[str, Any]:
    """Top talkers, protocols and destination ports of the rows around an alert."""
    if rows.empty:
        return {"packets": 0}
    ports = rows["dport"].dropna().astype("int64").value_counts().head(n)
    return {
        "packets": int(len(rows)),
        "bytes": int(rows["length"].sum()),
        "top_talkers": top_talkers(rows, n).to_dict("records"),
        "top_protocols": protocol_mix(rows).head(n)[["proto", "packets"]].to_dict("records"),
        "top_ports": [
            {"port": p, "packets": c}
            for p, c in zip(ports.index.tolist(), ports.to_numpy().tolist(), strict=True)
        ],
    }


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
        seconds = _seconds(batch)
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
            time=_ts(t_ns),
            detector=self.name,
            metric=f"{self.metric}_per_second",
            value=value,
            mean=mean,
            std=std,
            z=z,
            severity=severity_for(z, self.threshold),
            message=message,
            window_start=_ts(t_ns),
            window_end=_ts(t_ns + NS),
        )


def make_alert(
    window: pd.DataFrame,
    message: str,
    *,
    value: float = float("nan"),
    severity: Severity = "warning",
    metric: str = "custom",
    detector: str = "",
    **context: Any,
) -> Alert:
    """An Alert for a custom detector, timed by the rows it is about."""
    start = window["ts"].min() if len(window) else pd.Timestamp.now(tz="UTC")
    end = window["ts"].max() if len(window) else start
    return Alert(
        time=start,
        detector=detector,
        metric=metric,
        value=value,
        mean=float("nan"),
        std=float("nan"),
        z=float("nan"),
        severity=severity,
        message=message,
        window_start=start,
        window_end=end,
        context=dict(context),
    )


def detect(
    df: pd.DataFrame, detectors: Iterable[Detector], batch_seconds: float = 0.1
) -> list[Alert]:
    """Run detectors over a whole frame as a live capture would see it, in time slices."""
    detectors = list(detectors)
    if df.empty:
        return []
    ts = df["ts"].array.asi8
    order = np.argsort(ts, kind="stable")
    df = df.iloc[order]
    ts = ts[order]
    step = int(batch_seconds * NS)
    slices = (ts - ts[0]) // step
    bounds = np.flatnonzero(np.diff(slices)) + 1
    alerts: list[Alert] = []
    for part in np.split(np.arange(len(df)), bounds):
        batch = df.iloc[part]
        for d in detectors:
            alerts += d.update(batch)
    return alerts
