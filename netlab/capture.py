"""Capture: pulls frames from a source in background threads into a RollingFrame.

Two daemon threads, each with one job: the reader takes chunks from the source into a bounded
backlog (what overflows is counted as dropped by netlab); the decoder turns chunks into rows,
appends them to the frame and puts each batch, without blocking, into every subscription's own
bounded queue, so a slow subscriber loses only its own batches and never stalls the capture.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from .config import Settings
from .core.anomaly import Alert, Detector
from .core.batch import Batch
from .core.decode import decode_batch
from .core.detectors import (
    WindowFunction,
)
from .core.frame import RollingFrame
from .detection import Detection
from .errors import CaptureError, NetlabError
from .sources.base import Chunk, Source, can_wait, merge_chunks
from .sources.factory import make_source
from .sources.live import LiveSource
from .sources.packetstore import ATTR, CapturePackets, store_for
from .sources.replay import FileSource
from .subscription import Callback, Subscription, drain
from .warmup import warm_up


class Recording:
    """Frames of a capture going to a pcap/pcapng file (`Capture.record`): `frames` written so
    far; `close()` stops and closes the file (idempotent); it also ends with the capture."""

    def __init__(self, capture: Capture, path: str | os.PathLike[str]) -> None:
        from .sources.writer import PcapWriter

        self._capture = capture
        self._writer = PcapWriter(path)
        self.path = self._writer.path
        self.closed = False

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._writer.frames

    def _write(self, chunk: Chunk) -> None:
        self._writer.write(chunk)

    def close(self) -> None:
        """Stop recording and close the file; idempotent."""
        if self.closed:
            return
        self.closed = True
        cap = self._capture
        if self._write in cap._raw_sinks:
            cap._raw_sinks.remove(self._write)
        with cap._lock:
            if self in cap._recordings:
                cap._recordings.remove(self)
        self._writer.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording"
        return f"<netlab.Recording {self.path} {state} frames={self.frames}>"


@dataclass(frozen=True)
class CaptureStats:
    """Counters of a capture. decoded + dropped_netlab + dropped_kernel == arrived."""

    source: str
    filter: str
    started: datetime | None
    running: bool
    received: int  # packets netlab read from the source
    decoded: int  # rows added to the frame
    dropped_kernel: int  # packets the kernel (or the remote server) could not keep
    dropped_netlab: int  # packets read but dropped because the decoder's backlog was full
    packets_per_second: float
    bytes_per_second: float
    subscriber_drops: int  # batches a slow subscriber did not get (rows are still in the frame)
    problems: tuple[str, ...] = ()

    @property
    def arrived(self) -> int:
        """Every packet accounted for: kept or dropped somewhere."""
        return self.received + self.dropped_kernel


class Capture:
    """Frames from an interface, a capture file or a source object, decoded into `frame`."""

    def __init__(
        self,
        source: str | os.PathLike[str] | Source,
        *,
        bpf: str | None = None,
        max_rows: int | None = None,
        max_age: float | None = None,
        speed: float | None = 1.0,
        loop: bool = False,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        bpf = self.settings.bpf if bpf is None else bpf
        if max_age is None:
            max_age = self.settings.max_age or None
        self.frame = RollingFrame(max_rows or self.settings.max_rows, max_age)
        self._source = make_source(source, bpf, self.settings, speed, loop)
        # the newest packet bytes, so rows can be written back to pcap (netlab.write_pcap)
        self.packets = store_for(self._source, self.settings.keep_bytes_mb << 20)
        self.frame.attrs[ATTR] = self.packets
        self._speed, self._loop = speed, loop
        self._backlog: queue.Queue[Chunk | None] = queue.Queue(self.settings.backlog_batches)
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._finished = threading.Event()  # the source ran out and every row is decoded
        self._threads: list[threading.Thread] = []
        self._pending: Source | None = None
        self._pending_bpf: str | None = None  # a live filter change for the reader to apply
        self._swap_error: BaseException | None = None
        self._swapped = threading.Event()
        self._restart_lock = threading.Lock()  # one restart at a time
        self._started: datetime | None = None
        self._received = self._decoded = self._dropped_netlab = 0
        self._kernel_base = 0  # drops reported by sources replaced by restart()
        self._received_at_swap = 0
        self._subscriber_drops = 0
        self._rate: deque[tuple[float, int, int]] = deque(maxlen=64)
        self._bytes = 0
        self._next_number = 1
        self._errors: list[str] = []
        self._closed = False
        self._raw_sinks: list[Callable[[Chunk], object]] = []
        self._recordings: list[Recording] = []
        self._detection = Detection(self.settings, self._error)
        self.detectors: list[Detector] = self._detection.detectors
        self.alerts: deque[Alert] = self._detection.alerts
        self._detector_sub: Subscription | None = None

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> Capture:
        """Open the source and start the threads; return once capturing."""
        if self._threads:
            return self
        if self._closed:
            raise CaptureError("this capture is closed; create a new one")
        self._source.open()
        warm_up()
        # Capture threads share the GIL with pandas work (detectors, widgets, the user's
        # cells); a 1 ms switch interval (Python's default is 5 ms) keeps replay timing and
        # widget refreshes smooth. It is process-wide and only ever lowered here.
        if sys.getswitchinterval() > 0.001:
            sys.setswitchinterval(0.001)
        self._started = datetime.now(UTC)
        # Detectors run on their own subscription: never in the read or decode loop.
        # Merged and at most 5 times a second: detectors are pandas work that holds the GIL.
        self._detector_sub = self.subscribe(
            self._detection.run,
            maxsize=256,
            every=0.2,
            lossless=can_wait(self._source),  # a file: see every row
        )
        for name, target in (("read", self._read_loop), ("decode", self._decode_loop)):
            thread = threading.Thread(target=target, name=f"netlab-capture-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        if not self._ready.wait(10):
            self.close()
            raise CaptureError("the capture did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop capturing and release the source; the frame keeps its rows. Idempotent."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._source.close()
        for recording in list(self._recordings):  # after the decoder wrote what it had
            recording.close()
        if self._pending is not None:
            self._pending.close()
            self._pending = None

    def close(self) -> None:
        """Stop, and close every subscription. Idempotent."""
        self.stop()
        self._closed = True
        for sub in list(self._subscribers):
            sub.close()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """True while frames are being read (False once stopped or a file has ended)."""
        return bool(self._threads) and self._threads[0].is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a file source has been read to its end, decoded, and every row has been
        through the detectors and every callback subscription; True if all that within
        `timeout` s. (Rows waiting in an iterated subscription are the iterator's to take.)"""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._finished.wait(timeout):
            return False
        for sub in list(self._subscribers):
            if not sub.has_callback:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not sub.flush(left):
                return False
        return True

    # threads -------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        self._ready.set()
        interval = self.settings.batch_interval
        while not self._stop.is_set():
            if self._pending is not None:
                self._swap_source()
            if self._pending_bpf is not None:
                self._apply_bpf()
            try:
                chunk = self._source.read(interval)
            except Exception as exc:  # noqa: BLE001 - report, wait, and keep the capture alive
                detail = (
                    str(exc) if isinstance(exc, NetlabError) else f"{type(exc).__name__}: {exc}"
                )
                self._error(f"reading {self._source.description}: {detail}")
                if can_wait(self._source):
                    # a file that cannot be read on will not heal: end, keeping what was read
                    self._backlog.put(None)
                    return
                time.sleep(interval)
                continue
            if chunk is not None and len(chunk):
                with self._lock:
                    self._received += len(chunk)
                if can_wait(self._source):
                    self._put_waiting(chunk)  # a file loses nothing by waiting: never drop
                    continue
                try:
                    self._backlog.put_nowait(chunk)
                except queue.Full:
                    with self._lock:
                        self._dropped_netlab += len(chunk)
            elif self._source.exhausted:
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
        with self._lock:  # stopped while waiting: read but never decoded
            self._dropped_netlab += len(chunk)

    def _apply_bpf(self) -> None:
        expression, self._pending_bpf = self._pending_bpf, None
        assert expression is not None
        try:
            self._source.set_bpf(expression)  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 - handed to the restart() that asked
            self._swap_error = exc
        self._swapped.set()

    def _swap_source(self) -> None:
        new, self._pending = self._pending, None
        assert new is not None
        old = self._source
        # What the old live or remote source still holds (its ring, its queue) is read before
        # it goes: nothing lost. (A file would just go on; it loses nothing by closing.)
        for _ in range(0 if can_wait(old) else 64):
            try:
                chunk = old.read(0)
            except Exception:  # noqa: BLE001 - a failing old source has nothing more to give
                break
            if chunk is None or not len(chunk):
                break
            with self._lock:
                self._received += len(chunk)
            self._put_waiting(chunk)
        with self._lock:
            self._kernel_base += old.counters(self._received - self._received_at_swap).dropped
            self._received_at_swap = self._received
            self._source = new
        old.close()
        self._swapped.set()

    def _decode_loop(self) -> None:
        while True:
            try:
                chunk = self._backlog.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if chunk is None:
                self._finished.set()
                return
            chunk, ended = self._coalesce(chunk)
            for sink in list(self._raw_sinks):
                try:
                    sink(chunk)
                except Exception as exc:  # noqa: BLE001 - a full disk must not stop the capture
                    self._error(f"writing frames: {type(exc).__name__}: {exc}")
            try:
                batch = self._decode(chunk)
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the capture
                with self._lock:
                    self._dropped_netlab += len(chunk)
                self._error(f"decoding {len(chunk)} frames failed: {type(exc).__name__}: {exc}")
                continue
            version = self.frame.append(batch)
            now = time.monotonic()
            with self._lock:
                self._decoded += len(batch)
                self._bytes += int(batch.values["length"].sum())
                self._rate.append((now, self._decoded, self._bytes))
            self._offer(batch.with_first_version(version - len(batch) + 1))
            if ended:
                self._finished.set()
                return

    def _coalesce(self, first: Chunk) -> tuple[Chunk, bool]:
        """Merge the chunks already waiting behind `first`: one batch, one fixed cost."""
        chunks, ended = drain(self._backlog, first, limit=256)
        if len(chunks) == 1:
            return first, ended
        if any(c.records is None for c in chunks):
            frames = [c.frame for c in chunks if c.frame is not None]
            if len(frames) == len(chunks):
                return Chunk(frame=pd.concat(frames, ignore_index=True)), ended
            for c in chunks[1:]:  # mixed kinds never happen with one source; keep them apart
                self._backlog.put(c)
            return first, ended
        return merge_chunks(chunks), ended

    def _decode(self, chunk: Chunk) -> Batch:
        if chunk.frame is not None:
            batch = Batch.from_frame(chunk.frame)
        else:
            assert chunk.records is not None
            buf = np.frombuffer(chunk.data, dtype=np.uint8)
            rec = chunk.records
            numbers = rec.number
            if numbers is None:  # numbered on from the last (live capture)
                numbers = np.arange(self._next_number, self._next_number + len(rec))
                rec = replace(rec, number=numbers)
                chunk = Chunk(data=chunk.data, records=rec)
            batch = decode_batch(buf, rec, self._next_number)
            if isinstance(self.packets, CapturePackets):
                self.packets.add(chunk)
            if len(numbers):
                self._next_number = int(numbers[-1]) + 1
            return batch
        self._next_number += len(batch)
        return batch

    def _offer(self, batch: Batch) -> None:
        for sub in list(self._subscribers):
            sub._deliver(batch)  # never blocks: a full queue drops its own oldest batch

    def record(self, path: str | os.PathLike[str]) -> Recording:
        """Also write every frame read from now on to a .pcap or .pcapng file (as dumpcap -w
        does), from the decoder thread. The recording ends, complete, when the capture stops,
        or earlier with `recording.close()`."""
        recording = Recording(self, path)
        with self._lock:
            self._recordings.append(recording)
        self._raw_sinks.append(recording._write)
        return recording

    def on_alert(self, callback: Callable[[Alert], object]) -> Callable[[], None]:
        """Call `callback(alert)` for every new alert; returns a function that unregisters it."""
        return self._detection.on_alert(callback)

    def add_detector(
        self,
        detector: Detector | WindowFunction,
        *,
        window: float = 10.0,
        every: float = 1.0,
        name: str | None = None,
    ) -> Detector:
        """Watch the capture with a detector object, or a function of the recent rows
        (`fn(window_df) -> Alert | list[Alert] | None`, called about once a second)."""
        return self._detection.add(detector, window=window, every=every, name=name)

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors = [*self._errors[-19:], message]

    # public API ----------------------------------------------------------------------------
    def subscribe(
        self,
        callback: Callback | None = None,
        *,
        maxsize: int = 64,
        every: float = 0.0,
        lossless: bool = False,
    ) -> Subscription:
        """New rows as they are decoded, as DataFrames indexed by row version: `callback(batch)`
        runs in a thread of the subscription's own (with `every`, at most that often, with the
        batches that arrived meanwhile merged), or iterate over the returned subscription.
        A slow subscriber loses its oldest batches, unless `lossless`: then the capture waits
        for it (a file reads slower; a live capture's kernel drops, and counts, the rest)."""
        return self._add_subscription(
            Subscription(self, callback, maxsize, every, attrs=self.frame.attrs, lossless=lossless)
        )

    def subscribe_batches(
        self, callback: Callable[[Batch], object], *, maxsize: int = 64, every: float = 0.0
    ) -> Subscription:
        """As `subscribe`, with the rows as a Batch (no DataFrame is made): for consumers that
        encode the rows themselves, such as the server."""
        return self._add_subscription(
            Subscription(self, None, maxsize, every, batch_callback=callback)
        )

    def _add_subscription(self, sub: Subscription) -> Subscription:
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
                self._subscriber_drops += sub.dropped  # keep counting what it lost

    @property
    def source(self) -> Source:
        """The source being read."""
        return self._source

    @property
    def stats(self) -> CaptureStats:
        """Counters right now."""
        with self._lock:
            received = self._received
            counters = self._source.counters(received - self._received_at_swap)
            rate = list(self._rate)
            pps = bps = 0.0
            if len(rate) >= 2 and time.monotonic() - rate[-1][0] < 2.0:
                window = [r for r in rate if r[0] >= rate[-1][0] - 2.0]
                t0, n0, b0 = window[0]
                t1, n1, b1 = window[-1]
                if t1 > t0:
                    pps, bps = (n1 - n0) / (t1 - t0), (b1 - b0) / (t1 - t0)
            problems = tuple(self._errors) + tuple(getattr(self._source, "problems", ()))
            return CaptureStats(
                source=self._source.description,
                filter=self._source.bpf,
                started=self._started,
                running=self.running,
                received=received,
                decoded=self._decoded,
                dropped_kernel=self._kernel_base + counters.dropped,
                dropped_netlab=self._dropped_netlab,
                packets_per_second=pps,
                bytes_per_second=bps,
                subscriber_drops=self._subscriber_drops + sum(s.dropped for s in self._subscribers),
                problems=problems,
            )

    def restart(self, *, interface: str | None = None, bpf: str | None = None) -> None:
        """Switch interface and/or filter, keeping every captured row.

        The new source is opened (and its filter compiled) first; if that fails the error is
        raised and the running capture continues untouched.
        """
        if interface is None and bpf is None:
            return
        # One restart at a time: parallel ones (a server's settings POSTs) each opened a
        # source, and the ones replaced before the reader took them were never closed.
        with self._restart_lock:
            self._restart(interface, bpf)

    def _restart(self, interface: str | None, bpf: str | None) -> None:
        current = self._source
        new_bpf = current.bpf if bpf is None else bpf
        if interface is None and isinstance(current, FileSource):
            current.set_bpf(new_bpf)  # validates first; the old filter stays on error
            return
        from .sources.remote import RemoteSource

        if isinstance(current, RemoteSource):
            current.set_remote(interface=interface, bpf=bpf)  # the server validates
            return
        if isinstance(current, LiveSource) and interface in (None, current.interface):
            # The same interface, another filter: change it on the open handle, in the
            # reader's thread. A second handle would see packets twice while both were open
            # and lose what the first still held when closed.
            current.check_bpf(new_bpf)
            if not self._threads or not self.running:
                current.set_bpf(new_bpf)
                return
            self._swap_error = None
            self._swapped.clear()
            self._pending_bpf = new_bpf
            if not self._swapped.wait(30):
                raise CaptureError("the capture did not change its filter within 30 s")
            if self._swap_error is not None:
                raise self._swap_error
            return
        if interface is None:
            raise CaptureError(f"{current.description} cannot change its filter")
        new = make_source(interface, new_bpf, self.settings, self._speed, self._loop)
        new.open()
        if not self._threads or not self.running:
            self._source.close()
            self._source = new
            return
        self._swapped.clear()
        self._pending = new
        if not self._swapped.wait(30):
            if self._pending is new:  # never taken: it must not stay open
                self._pending = None
                new.close()
            raise CaptureError("the capture did not switch source within 30 s")

    def __repr__(self) -> str:
        s = self.stats
        state = "running" if s.running else "stopped"
        return (
            f"<netlab.Capture {s.source} filter={s.filter!r} {state} rows={len(self.frame)} "
            f"decoded={s.decoded} dropped={s.dropped_kernel + s.dropped_netlab}>"
        )
