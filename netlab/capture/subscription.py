"""Subscriptions: new rows from a capture, through a callback in its own thread or an iterator."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pandas as pd

from ..core.batch import Batch, concat_batches

Callback = Callable[[pd.DataFrame], object]
BatchCallback = Callable[[Batch], object]


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


def _contiguous_runs(parts: list[Batch]) -> list[list[Batch]]:
    """`parts` split where row versions jump (batches dropped in between are not papered over)."""
    runs = [[parts[0]]]
    for part in parts[1:]:
        prev = runs[-1][-1]
        if part.first_version == prev.first_version + len(prev):
            runs[-1].append(part)
        else:
            runs.append([part])
    return runs


class Subscription:
    """New rows from a capture: through a callback (run in the subscription's own thread) or
    by iterating. Each subscription has its own bounded queue: when it falls behind, its
    oldest batches are dropped and counted in `dropped`; nobody else waits for it.

    A `lossless` subscription drops nothing: the capture's decoder waits for it instead (a
    file then reads no faster than the subscriber takes its rows; a live capture's kernel
    drops what does not fit, and counts it). The `netlab capture` command uses one."""

    def __init__(
        self,
        capture: _Owner,
        callback: Callback | None,
        maxsize: int,
        every: float = 0.0,
        *,
        batch_callback: BatchCallback | None = None,
        attrs: dict[str, Any] | None = None,
        lossless: bool = False,
    ) -> None:
        self.lossless = lossless
        # batches handed over and not yet through the callback: flush() waits for zero
        self._unfinished = 0
        self._idle = threading.Condition()
        self._capture = capture
        self._attrs = attrs or {}  # put on each DataFrame handed out (where the packets are)
        self.callback = callback
        # netlab's own consumers (the server) take the rows as a Batch: no DataFrame made
        self.batch_callback = batch_callback
        self.every = every  # with a callback: call at most this often (waiting batches merge)
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.errors: list[str] = []
        self.closed = False
        self._thread: threading.Thread | None = None
        if callback is not None or batch_callback is not None:
            self._thread = threading.Thread(target=self._run, name="netlab-subscriber", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        last = 0.0
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self.every:
                time.sleep(max(0.0, last + self.every - time.monotonic()))
            # A callback slower than the batches gets what waits merged, rather than losing it.
            parts, ended = drain(self._queue, batch)
            last = time.monotonic()
            if ended:
                self._queue.put(None)
            for run in _contiguous_runs(parts):
                self._call(concat_batches(run))
            self._done(len(parts))

    def _done(self, n: int) -> None:
        with self._idle:
            self._unfinished -= n
            if self._unfinished <= 0:
                self._idle.notify_all()

    @property
    def has_callback(self) -> bool:
        """True when rows go to a callback in the subscription's thread (not an iterator)."""
        return self._thread is not None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every batch handed over so far has been through the callback (or taken
        by the iterator); True if so within `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished <= 0 or self.closed, timeout)

    def _call(self, batch: Batch) -> None:
        try:
            if self.batch_callback is not None:
                self.batch_callback(batch)
            elif self.callback is not None:
                self.callback(self._frame(batch))
        except Exception as exc:  # noqa: BLE001 - a broken subscriber must not stop capture
            self.errors = [*self.errors[-9:], f"{type(exc).__name__}: {exc}"]

    def _deliver(self, batch: Batch) -> None:
        if self.closed:
            return
        with self._idle:
            self._unfinished += 1
        if self.lossless:
            while not self.closed:
                try:
                    self._queue.put(batch, timeout=0.1)
                    return
                except queue.Full:
                    continue
            self._done(1)
        elif put_dropping_oldest(self._queue, batch):
            self.dropped += 1
            self._done(1)

    def get(self, timeout: float | None = None) -> pd.DataFrame | None:
        """The next batch of rows, or None on timeout or once the subscription is closed."""
        try:
            batch = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if batch is None:
            return None
        self._done(1)
        return self._frame(batch)

    def _frame(self, batch: Batch) -> pd.DataFrame:
        df = batch.to_frame()
        df.attrs.update(self._attrs)
        return df

    def __iter__(self) -> Iterator[pd.DataFrame]:
        while not self.closed:
            batch = self.get(timeout=0.2)
            if batch is not None:
                yield batch

    def close(self) -> None:
        """Stop receiving (a callback in progress finishes first); idempotent."""
        if self.closed:
            return
        self._capture._unsubscribe(self)
        if self._thread is not None and self.lossless:
            # the end marker goes behind what is queued: those batches still reach the callback
            try:
                self._queue.put(None, timeout=30)
            except queue.Full:
                put_dropping_oldest(self._queue, None)
        elif self._thread is not None:
            put_dropping_oldest(self._queue, None)  # lossy: never wait on a slow callback
        self.closed = True
        with self._idle:
            self._idle.notify_all()
        if self._thread is None:
            put_dropping_oldest(self._queue, None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
