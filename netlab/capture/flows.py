"""A capture's live flow table: the decoder thread updates it with every batch (see
core/flow_tracker); other threads read copies of it and hear of flows as they end."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..core.batch import Batch
from ..core.flow_tracker import FlowTracker

FlowCallback = Callable[[pd.DataFrame], object]


class LiveFlows:
    """`capture.flows`: `snapshot()` the flows not ended yet, `subscribe(callback)` to get
    each batch of ended ones (a DataFrame of `netlab.flows()` rows, in the decoder thread:
    keep the callback quick). Bounded by `max_flows` (NETLAB_MAX_FLOWS)."""

    def __init__(self, max_flows: int, report: Callable[[str], None]) -> None:
        self._tracker = FlowTracker(max_flows)
        self._lock = threading.Lock()
        self._callbacks: list[FlowCallback] = []
        self._report = report

    def annotate(self, batch: Batch) -> Batch:
        """Set the batch's `flow` and `tcp_analysis` columns (the decoder thread calls this
        for every batch, in order)."""
        if not len(batch):
            return batch
        with self._lock:
            flow, flags, ended = self._tracker.update(batch)
        batch.values["flow"] = np.maximum(flow, 0)
        batch.masks["flow"] = flow < 0
        batch.values["tcp_analysis"] = flags
        if len(ended):
            for callback in list(self._callbacks):
                try:
                    callback(ended)
                except Exception as exc:  # noqa: BLE001 - a subscriber's bug must not stop it
                    self._report(f"a flow subscriber failed: {type(exc).__name__}: {exc}")
        return batch

    def snapshot(self, busiest: int | None = None) -> pd.DataFrame:
        """The flows not ended yet (by the timeouts, a reused port or for room), in flow order;
        with `busiest`, only that many, those with the most bytes."""
        with self._lock:
            return self._tracker.snapshot(busiest)

    def subscribe(self, callback: FlowCallback) -> Callable[[], None]:
        """Call `callback(ended_flows)` whenever flows end; returns the unsubscribe call."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    @property
    def active(self) -> int:
        """Flows in the table now."""
        return len(self._tracker)

    @property
    def ended(self) -> int:
        """Flows that have ended so far (the evicted ones included)."""
        return self._tracker.ended

    @property
    def evicted(self) -> int:
        """Flows dropped to keep the table within max_flows before they ended."""
        return self._tracker.evicted

    def __len__(self) -> int:
        return self.active

    def __repr__(self) -> str:
        return f"<LiveFlows active={self.active} ended={self.ended} evicted={self.evicted}>"
