"""The capture's two threads: the reader takes chunks from the source into a bounded backlog,
the decoder turns them into rows for the frame and every subscription.

What overflows the backlog is counted as dropped by netlab; a source that loses nothing by
waiting (a file) is made to wait instead. The decoder puts each batch, without blocking, into
every subscription's own bounded queue, so a slow subscriber loses only its own batches.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..core.batch import Batch, concat_batches, stamp_sensor
from ..core.decode import decode_batch
from ..core.frame import RollingFrame
from ..errors import NetlabError
from ..packets import PacketStore
from ..sources.base import Chunk, Source, merge_chunks
from .stats import Counters
from .subscription import drain


class Pipeline:
    """Reads `source` into `frame` in two daemon threads; `offer(batch)` gets every batch."""

    def __init__(
        self,
        source: Source,
        frame: RollingFrame,
        packets: PacketStore,
        counters: Counters,
        *,
        backlog: int,
        interval: float,
        gather: float | None = None,
        offer: Callable[[Batch], None],
        report: Callable[[str], None],
        annotate: Callable[[Batch], Batch] | None = None,
        sensor: str = "",
    ) -> None:
        self.source = source
        self.frame = frame
        self.packets = packets
        self.counters = counters
        self.interval = interval  # how long a read waits for packets
        self.gather = interval if gather is None else gather  # the decoder's batch interval
        self.raw_sinks: list[Callable[[Chunk], object]] = []
        self._offer = offer
        self._report = report
        self._batch_started = 0.0  # when the decoder last took a batch (monotonic)
        self._annotate = annotate  # the flow table: sets each batch's flow and tcp_analysis
        self.sensor = sensor  # named in the rows that do not name theirs (a server's do)
        self._backlog: queue.Queue[Chunk | None] = queue.Queue(backlog)
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.finished = threading.Event()  # the source ran out and every row is decoded
        self._threads: list[threading.Thread] = []
        self._pending: Source | None = None  # a new source for the reader to switch to
        self._swapped = threading.Event()
        self._next_number = 1

    def start(self, timeout: float = 10.0) -> bool:
        """Start both threads; True once the reader runs (within `timeout`)."""
        for name, target in (("read", self._read_loop), ("decode", self._decode_loop)):
            thread = threading.Thread(target=target, name=f"netlab-capture-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self.ready.wait(timeout)

    def stop(self) -> None:
        """Stop both threads (the decoder first finishes the chunk it has); idempotent."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._pending is not None:
            self._pending.close()
            self._pending = None

    @property
    def running(self) -> bool:
        """True while the reader runs."""
        return bool(self._threads) and self._threads[0].is_alive()

    def switch(self, new: Source, timeout: float = 30.0) -> bool:
        """Have the reader switch to the open source `new` (the old one is drained, then
        closed); False if it did not within `timeout` (then `new` is closed)."""
        self._swapped.clear()
        self._pending = new
        if self._swapped.wait(timeout):
            return True
        if self._pending is new:  # never taken: it must not stay open
            self._pending = None
            new.close()
        return False

    # the reader ----------------------------------------------------------------------------
    def _read_loop(self) -> None:
        self.ready.set()
        while not self._stop.is_set():
            if self._pending is not None:
                self._swap_source()
            source = self.source
            try:
                chunk = source.read(self.interval)
            except Exception as exc:  # noqa: BLE001 - report, wait, and keep the capture alive
                detail = (
                    str(exc) if isinstance(exc, NetlabError) else f"{type(exc).__name__}: {exc}"
                )
                self._report(f"reading {source.description}: {detail}")
                if source.can_wait:
                    # a file that cannot be read on will not heal: end, keeping what was read
                    self._backlog.put(None)
                    return
                time.sleep(self.interval)
                continue
            if chunk is not None and len(chunk):
                self.counters.add_received(len(chunk))
                if source.can_wait:
                    self._put_waiting(chunk)  # a file loses nothing by waiting: never drop
                    continue
                try:
                    self._backlog.put_nowait(chunk)
                except queue.Full:
                    self.counters.add_dropped(len(chunk))
            elif source.exhausted:
                self._backlog.put(None)
                return

    def _put_waiting(self, chunk: Chunk) -> None:
        """Back-pressure: wait for room in the backlog (until the capture stops)."""
        while not self._stop.is_set():
            try:
                self._backlog.put(chunk, timeout=0.1)
                return
            except queue.Full:
                continue
        self.counters.add_dropped(len(chunk))  # stopped while waiting: read, never decoded

    def _swap_source(self) -> None:
        new, self._pending = self._pending, None
        assert new is not None
        old = self.source
        # What the old live or remote source still holds (its ring, its queue) is read before
        # it goes: nothing lost. (A file would just go on; it loses nothing by closing.)
        for _ in range(0 if old.can_wait else 64):
            try:
                chunk = old.read(0)
            except Exception:  # noqa: BLE001 - a failing old source has nothing more to give
                break
            if chunk is None or not len(chunk):
                break
            self.counters.add_received(len(chunk))
            self._put_waiting(chunk)
        self.counters.replaced(old)
        self.source = new
        old.close()
        self._swapped.set()

    # the decoder ---------------------------------------------------------------------------
    def _decode_loop(self) -> None:
        while True:
            self._gather()
            try:
                chunk = self._backlog.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if chunk is None:
                self.finished.set()
                return
            chunk, ended = self._coalesce(chunk)
            chunk = self._numbered(chunk)  # raw sinks (an archive) see the frames' numbers
            for sink in list(self.raw_sinks):
                try:
                    sink(chunk)
                except Exception as exc:  # noqa: BLE001 - a full disk must not stop the capture
                    self._report(f"writing frames: {type(exc).__name__}: {exc}")
            try:
                batch = self._decode(chunk)
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the capture
                self.counters.add_dropped(len(chunk))
                self._report(f"decoding {len(chunk)} frames failed: {type(exc).__name__}: {exc}")
                continue
            batch = stamp_sensor(batch, self.sensor)
            if self._annotate is not None:
                try:
                    batch = self._annotate(batch)
                except Exception as exc:  # noqa: BLE001 - the rows are kept without flows
                    self._report(f"flow table: {type(exc).__name__}: {exc}")
            version = self.frame.append(batch)
            self.counters.add_decoded(len(batch), int(batch.values["length"].sum()))
            self._offer(batch.with_first_version(version - len(batch) + 1))
            if ended:
                self.finished.set()
                return

    def _gather(self) -> None:
        """When the decoder keeps up (nothing waiting), let `gather` seconds pass since the
        last batch began before the next: a source that hands out small chunks often (a paced
        replay: every 5 ms) is then decoded, analysed and passed on in a few larger batches,
        as a live capture's are. Each batch has a fixed cost (flow table, detectors,
        subscribers) that small ones paid dozens of times a second. A decoder that is behind
        never waits."""
        now = time.monotonic()
        if self._backlog.empty():
            self._stop.wait(max(0.0, self._batch_started + self.gather - now))
            now = time.monotonic()
        self._batch_started = now

    def _coalesce(self, first: Chunk) -> tuple[Chunk, bool]:
        """Merge the chunks already waiting behind `first`: one batch, one fixed cost."""
        chunks, ended = drain(self._backlog, first, limit=256)
        if len(chunks) == 1:
            return first, ended
        decoded = [c.batch for c in chunks if c.batch is not None]
        if len(decoded) == len(chunks):
            return Chunk(batch=concat_batches(decoded)), ended
        if decoded:  # mixed kinds never happen with one source; keep them apart
            for c in chunks[1:]:
                self._backlog.put(c)
            return first, ended
        return merge_chunks(chunks), ended

    def _numbered(self, chunk: Chunk) -> Chunk:
        """The chunk with its frames numbered (a file numbers its own: the file's frame
        numbers; a live capture's are numbered on from the last)."""
        rec = chunk.records
        if chunk.batch is not None or rec is None or rec.number is not None:
            return chunk
        numbers = np.arange(self._next_number, self._next_number + len(rec), dtype=np.int64)
        return replace(chunk, records=replace(rec, number=numbers))

    def _decode(self, chunk: Chunk) -> Batch:
        if chunk.batch is not None:  # decoded elsewhere (a remote server)
            self._next_number += len(chunk.batch)
            return chunk.batch
        rec = chunk.records  # numbered by _numbered
        assert rec is not None and rec.number is not None
        batch = decode_batch(np.frombuffer(chunk.data, dtype=np.uint8), rec, self._next_number)
        self.packets.add(chunk.data, rec)
        if len(rec):
            self._next_number = int(rec.number[-1]) + 1
        return batch
