"""Anomaly detectors: pure functions of the packets' own timestamps (no threads, no clocks).

A detector takes batches of rows (`update(batch)`) and returns the alerts they complete, so a
capture file replayed as fast as possible alerts exactly as it would have live.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
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
    wobble infinite, yet a flat line followed by a jump still alerts. Spikes are judged while
    their second is still filling (a count can only grow), so a burst alerts within a second.
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
        if self.direction in ("up", "both") and self._fired_for != self._second:
            alert = self._judge(self._second, self._count, final=False)
            if alert:
                self._fired_for = self._second
                alerts.append(alert)
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


class _Window:
    """The rows of the last `seconds` seconds (by packet time); joined only when asked for."""

    def __init__(self, seconds: float, max_rows: int = 200_000) -> None:
        self.seconds_ns = int(seconds * NS)
        self.max_rows = max_rows
        self.parts: deque[tuple[int, pd.DataFrame]] = deque()  # (newest ts, rows)
        self.rows = 0

    def add(self, rows: pd.DataFrame) -> None:
        if len(rows):
            self.parts.append((int(rows["ts"].array.asi8.max()), rows))
            self.rows += len(rows)
        if not self.parts:
            return
        newest = self.parts[-1][0]
        while self.parts and (
            self.parts[0][0] < newest - self.seconds_ns
            or self.rows - len(self.parts[0][1]) >= self.max_rows
        ):
            self.rows -= len(self.parts.popleft()[1])

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame()
        rows = pd.concat([p for _, p in self.parts], ignore_index=True)
        newest = self.parts[-1][0]
        recent: pd.DataFrame = rows[rows["ts"].array.asi8 >= newest - self.seconds_ns]
        return recent


def _pairs(rows: pd.DataFrame, a: str, b: str) -> list[tuple[str, int, int]]:
    """Distinct (a, b) pairs of the rows with the newest time of each: (a, b, ns).

    `a` is read as text and `b` as an integer column."""
    keys = pd.DataFrame(
        {"a": rows[a].astype(str), "b": rows[b].astype("int64"), "t": rows["ts"].array.asi8}
    )
    last = keys.groupby(["a", "b"], sort=False, as_index=False)["t"].max()
    return list(zip(last["a"].tolist(), last["b"].tolist(), last["t"].tolist(), strict=True))


class PortScanDetector:
    """One source probing many ports (TCP SYNs, UDP) within `window` seconds.

    Counts are kept per source as {port: last seen}, updated only with each batch's probes,
    so the cost follows the probes, not the traffic.
    """

    def __init__(
        self,
        window: float = 10.0,
        min_ports: int = 100,
        cooldown: float = 60.0,
        name: str = "portscan",
    ) -> None:
        self.name = name
        self.min_ports = min_ports
        self.window_ns = int(window * NS)
        self.cooldown_ns = int(cooldown * NS)
        self._ports: dict[str, dict[int, int]] = {}
        self._hosts: dict[str, dict[str, int]] = {}
        self._first: dict[str, dict[int, int]] = {}
        self._last_alert: dict[str, int] = {}

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Look for sources touching at least `min_ports` distinct ports."""
        flags = batch["tcp_flags"].to_numpy(dtype="int64", na_value=-1)
        syn_only = (flags >= 0) & ((flags & 0x12) == 0x02)
        udp = (batch["proto"] == "UDP").to_numpy(dtype=bool, na_value=False)
        probes = batch[(syn_only | udp) & batch["dport"].notna().to_numpy()]
        if probes.empty:
            return []
        touched: set[str] = set()
        for src, port, t in _pairs(probes, "src", "dport"):
            ports = self._ports.setdefault(src, {})
            if port not in ports:
                self._first.setdefault(src, {})[port] = t
            ports[port] = t
            touched.add(src)
        seen_hosts = (
            pd.DataFrame(
                {
                    "src": probes["src"].astype(str),
                    "dst": probes["dst"].astype(str),
                    "t": probes["ts"].array.asi8,
                }
            )
            .groupby(["src", "dst"], sort=False, as_index=False)["t"]
            .max()
        )
        for src, dst, t in zip(
            seen_hosts["src"].tolist(),
            seen_hosts["dst"].tolist(),
            seen_hosts["t"].tolist(),
            strict=True,
        ):
            self._hosts.setdefault(src, {})[dst] = t
        alerts = []
        for src in touched:
            newest = max(self._ports[src].values())
            cutoff = newest - self.window_ns
            ports = {p: t for p, t in self._ports[src].items() if t >= cutoff}
            self._ports[src] = ports
            self._first[src] = {p: t for p, t in self._first[src].items() if p in ports}
            hosts = {h: t for h, t in self._hosts.get(src, {}).items() if t >= cutoff}
            self._hosts[src] = hosts
            if len(ports) < self.min_ports:
                continue
            if newest - self._last_alert.get(src, -(1 << 62)) < self.cooldown_ns:
                continue
            self._last_alert[src] = newest
            first = min(self._first[src].values())
            targets = sorted(hosts, key=hosts.__getitem__, reverse=True)[:3]
            message = (
                f"Port scan from {src}: {len(ports)} ports on {len(hosts)} host(s) in "
                f"{(newest - first) / NS:.1f} s (targets: {', '.join(targets)})"
            )
            alerts.append(
                Alert(
                    time=_ts(first),
                    detector=self.name,
                    metric="distinct_ports",
                    value=float(len(ports)),
                    mean=float("nan"),
                    std=float("nan"),
                    z=float("nan"),
                    severity="critical" if len(ports) >= 10 * self.min_ports else "warning",
                    message=message,
                    window_start=_ts(first),
                    window_end=_ts(newest),
                    context={"source": src, "ports": len(ports), "hosts": len(hosts)},
                )
            )
        return alerts


class SynFloodDetector:
    """Many TCP connections to one service that are opened (SYN) but never completed (ACK).

    Per destination service it remembers, for `window` seconds, the client endpoints that sent
    a SYN and whether they later sent an ACK; only SYN and ACK rows of each batch are looked at.
    """

    def __init__(
        self,
        window: float = 10.0,
        min_half_open: int = 200,
        ratio: float = 0.8,
        cooldown: float = 60.0,
        name: str = "synflood",
    ) -> None:
        self.name = name
        self.min_half_open, self.ratio = min_half_open, ratio
        self.window_ns = int(window * NS)
        self.cooldown_ns = int(cooldown * NS)
        # service -> client endpoint -> [first SYN time, completed?]
        self._conns: dict[tuple[str, int], dict[tuple[str, int], list[int]]] = {}
        self._last_alert: dict[tuple[str, int], int] = {}

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Count half-open connections per destination service."""
        flags = batch["tcp_flags"].to_numpy(dtype="int64", na_value=-1)
        syn = batch[(flags >= 0) & ((flags & 0x12) == 0x02)]
        if len(syn):
            keys = pd.DataFrame(
                {
                    "dst": syn["dst"].astype(str),
                    "dport": syn["dport"].astype("int64"),
                    "src": syn["src"].astype(str),
                    "sport": syn["sport"].astype("int64"),
                    "t": syn["ts"].array.asi8,
                }
            )
            for dst, dport, src, sport, t in keys.itertuples(index=False):
                self._conns.setdefault((dst, dport), {}).setdefault((src, sport), [t, 0])
        if not self._conns:
            return []
        ack = batch[(flags >= 0) & ((flags & 0x16) == 0x10)]
        if len(ack):
            for dst, dport, src, sport in zip(
                ack["dst"].astype(str),
                ack["dport"].astype("int64"),
                ack["src"].astype(str),
                ack["sport"].astype("int64"),
                strict=True,
            ):
                conn = self._conns.get((dst, dport), {}).get((src, sport))
                if conn is not None:
                    conn[1] = 1
        if not len(syn):
            return []
        newest = int(batch["ts"].array.asi8.max())
        alerts = []
        for service in {
            (d, p)
            for d, p in zip(syn["dst"].astype(str), syn["dport"].astype("int64"), strict=True)
        }:
            conns = {
                k: v for k, v in self._conns[service].items() if v[0] >= newest - self.window_ns
            }
            self._conns[service] = conns
            half_open = sum(1 for v in conns.values() if not v[1])
            if half_open < self.min_half_open or half_open < self.ratio * len(conns):
                continue
            if newest - self._last_alert.get(service, -(1 << 62)) < self.cooldown_ns:
                continue
            self._last_alert[service] = newest
            sources = len({src for src, _ in conns})
            start = min(v[0] for v in conns.values())
            message = (
                f"SYN flood on {service[0]}:{service[1]}: {half_open} of {len(conns)} "
                f"connections never completed, from {sources} source(s)"
            )
            alerts.append(
                Alert(
                    time=_ts(start),
                    detector=self.name,
                    metric="half_open_connections",
                    value=float(half_open),
                    mean=float("nan"),
                    std=float("nan"),
                    z=float("nan"),
                    severity="critical",
                    message=message,
                    window_start=_ts(start),
                    window_end=_ts(newest),
                    context={"target": f"{service[0]}:{service[1]}", "sources": sources},
                )
            )
        return alerts


class NewTalkerDetector:
    """An address not seen in the last `memory` seconds (after `learning` seconds of quiet)."""

    def __init__(
        self,
        memory: float = 3600.0,
        learning: float = 300.0,
        max_addresses: int = 100_000,
        name: str = "newtalker",
    ) -> None:
        self.name = name
        self.memory_ns, self.learning_ns = int(memory * NS), int(learning * NS)
        self.max_addresses = max_addresses
        self._seen: dict[str, int] = {}
        self._start: int | None = None

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Alert once per address that appears after the learning period."""
        rows = batch[batch["src"].notna().to_numpy()]
        if rows.empty:
            return []
        firsts = rows.groupby("src", observed=True)["ts"].min()
        alerts = []
        for addr, first in firsts.items():
            t = int(first.value)
            if self._start is None:
                self._start = t
            key = str(addr)
            last = self._seen.get(key)
            if (last is None or t - last > self.memory_ns) and t - self._start >= self.learning_ns:
                alerts.append(
                    Alert(
                        time=first,
                        detector=self.name,
                        metric="new_address",
                        value=1.0,
                        mean=float("nan"),
                        std=float("nan"),
                        z=float("nan"),
                        severity="info",
                        message=f"New talker {key}: not seen in the last "
                        f"{self.memory_ns // NS // 60} minutes",
                        window_start=first,
                        window_end=first,
                        context={"address": key},
                    )
                )
        newest = rows["ts"].array.asi8.max()
        for addr, last in rows.groupby("src", observed=True)["ts"].max().items():
            self._seen[str(addr)] = int(last.value)
        if len(self._seen) > self.max_addresses:
            cutoff = newest - self.memory_ns
            self._seen = {a: t for a, t in self._seen.items() if t >= cutoff}
        return alerts


WindowFunction = Callable[[pd.DataFrame], "Alert | Iterable[Alert] | None"]


class FunctionDetector:
    """A custom detector from a function of the last `window` seconds of rows.

    The function is called every `every` seconds of packet time (and at the end of each batch)
    with a DataFrame of the recent rows, and returns an Alert, a list of them, or None. After an
    alert it is not asked again for `cooldown` seconds (default: the window).
    """

    def __init__(
        self,
        fn: WindowFunction,
        window: float = 10.0,
        every: float = 1.0,
        name: str | None = None,
        cooldown: float | None = None,
    ) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "custom"))
        self.every_ns = int(every * NS)
        self._window = _Window(window)
        self._next: int | None = None
        self.cooldown_ns = int((window if cooldown is None else cooldown) * NS)
        self._last_alert: int | None = None

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Call the function every `every` seconds of packet time, also inside a long batch
        (a file replayed at full speed hands over minutes of packets at once)."""
        if batch.empty:
            return []
        ns = _ns(batch)
        alerts: list[Alert] = []
        start = 0
        while start < len(batch):
            if self._next is None:
                self._next = int(ns[start]) + self.every_ns
            cut = int(np.searchsorted(ns, self._next, side="left"))
            if cut >= len(batch):
                self._window.add(batch.iloc[start:])
                alerts += self._call()  # the batch's end is a point in time too
                break
            self._window.add(batch.iloc[start:cut])
            alerts += self._call()
            self._next += self.every_ns * max(1, (int(ns[cut]) - self._next) // self.every_ns + 1)
            start = cut
        return alerts

    def _call(self) -> list[Alert]:
        if not self._window.parts:
            return []
        now = self._window.parts[-1][0]
        if self._last_alert is not None and now - self._last_alert < self.cooldown_ns:
            return []  # the same condition would alert again on every call
        result = self.fn(self._window.frame())
        if result is None:
            return []
        alerts = [result] if isinstance(result, Alert) else list(result)
        if alerts:
            self._last_alert = now
        return [a if a.detector else replace(a, detector=self.name) for a in alerts]


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
