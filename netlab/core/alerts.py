"""Alerts and the detector protocol: what a detector returns, and running detectors over a frame.

A detector takes batches of rows (`update(batch)`) and returns the alerts they complete, from
the packets' own timestamps (no threads, no clocks), so a capture file replayed as fast as
possible alerts exactly as it would have live.
"""

from __future__ import annotations

import math
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
    # the statistics a rate detector compares with (NaN for detectors that count)
    mean: float = field(default=math.nan, kw_only=True)
    std: float = field(default=math.nan, kw_only=True)
    z: float = field(default=math.nan, kw_only=True)
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


def timestamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")


def ts_ns(batch: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The rows' times as int64 nanoseconds (NaT as int64's minimum)."""
    return np.asarray(batch["ts"].array.asi8, dtype=np.int64)


def ts_seconds(batch: pd.DataFrame) -> npt.NDArray[np.int64]:
    ts = ts_ns(batch)
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
