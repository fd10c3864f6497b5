"""FunctionDetector: a custom detector from a function of the recent rows."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from ..alerts import NS, Alert, ts_ns


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
        ns = ts_ns(batch)
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
