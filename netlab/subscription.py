"""Subscriptions: new rows from a capture, through a callback in its own thread or an iterator."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .sources.pcapreader import concat_frames

Callback = Callable[[pd.DataFrame], object]


class _Owner(Protocol):
    def _unsubscribe(self, sub: Subscription) -> None: ...


def put_dropping_oldest(q: queue.Queue[Any], item: Any) -> bool:
    """Put without blocking; when full, drop the oldest item first. True if one was dropped."""
    dropped = False
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                q.get_nowait()  # the newest matters most
                dropped = True
            except queue.Empty:
                pass


def drain(q: queue.Queue[Any], first: Any, limit: int = 1 << 30) -> tuple[list[Any], bool]:
    """`first` and what already waits behind it (at most `limit` items), without blocking;
    True when the end marker (None) was among them."""
    items = [first]
    while len(items) < limit:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return items, False
        if item is None:
            return items, True
        items.append(item)
    return items, False


class Subscription:
    """New rows from a capture: through a callback (run in the subscription's own thread) or
    by iterating. Each subscription has its own bounded queue: when it falls behind, its
    oldest batches are dropped and counted in `dropped`; nobody else waits for it."""

    def __init__(
        self, capture: _Owner, callback: Callback | None, maxsize: int, every: float = 0.0
    ) -> None:
        self._capture = capture
        self.callback = callback
        self.every = every  # with a callback: call at most this often, with the batches merged
        self._queue: queue.Queue[pd.DataFrame | None] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.errors: list[str] = []
        self.closed = False
        self._thread: threading.Thread | None = None
        if callback is not None:
            self._thread = threading.Thread(target=self._run, name="netlab-subscriber", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self.callback is not None
        last = 0.0
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self.every:
                time.sleep(max(0.0, last + self.every - time.monotonic()))
                batch, ended = self._merge_waiting(batch)
                last = time.monotonic()
                if ended:
                    self._queue.put(None)
            try:
                self.callback(batch)
            except Exception as exc:  # noqa: BLE001 - a broken subscriber must not stop capture
                self.errors = [*self.errors[-9:], f"{type(exc).__name__}: {exc}"]

    def _merge_waiting(self, first: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
        parts, ended = drain(self._queue, first)
        if len(parts) == 1:
            return first, ended
        merged = concat_frames(parts)
        merged.index = pd.Index(np.concatenate([p.index.to_numpy() for p in parts]))
        return merged, ended

    def _deliver(self, batch: pd.DataFrame) -> None:
        if not self.closed and put_dropping_oldest(self._queue, batch):
            self.dropped += 1

    def get(self, timeout: float | None = None) -> pd.DataFrame | None:
        """The next batch of rows, or None on timeout or once the subscription is closed."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[pd.DataFrame]:
        while not self.closed:
            batch = self.get(timeout=0.2)
            if batch is not None:
                yield batch

    def close(self) -> None:
        """Stop receiving (a callback in progress finishes first); idempotent."""
        if self.closed:
            return
        self.closed = True
        self._capture._unsubscribe(self)
        put_dropping_oldest(self._queue, None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
