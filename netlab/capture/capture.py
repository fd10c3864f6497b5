"""Capture: the facade over a source read in background threads into a RollingFrame.

The threads are the pipeline's (`pipeline.py`); this object owns the frame, the packet store,
the subscriptions, the detectors and the recordings, and follows netlab's lifecycle rule
(`netlab.lifecycle`): it runs once, and a start after stop or close raises ClosedError.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from ..archive import ArchiveWriter, default_sensor
from ..config import Settings
from ..core.alerts import Alert, Detector
from ..core.batch import Batch
from ..core.detectors import WindowFunction
from ..core.frame import RollingFrame
from ..errors import CaptureError
from ..lifecycle import Lifecycle
from ..packets import ATTR
from ..sources.base import Chunk, Source
from ..sources.factory import make_source
from .alerts import CaptureAlerts
from .flows import LiveFlows
from .pipeline import Pipeline
from .recording import Recording
from .stats import CaptureStats, Counters
from .subscription import Callback, Subscription
from .warmup import warm_up

__all__ = ["Capture", "CaptureStats", "Recording"]


class Capture:
    """Frames from an interface, a capture file, a netlab server (ws://host:port), several
    servers merged (a list of ws:// URLs: each row's `sensor` says whose it is) or a source
    object, decoded into `frame`; with `archive=DIR`, also written to that archive
    (`netlab.open_archive` reads it)."""

    def __init__(
        self,
        source: str | os.PathLike[str] | Source | Sequence[str],
        *,
        bpf: str | None = None,
        max_rows: int | None = None,
        max_age: float | None = None,
        speed: float | None = 1.0,
        loop: bool = False,
        settings: Settings | None = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        bpf = self.settings.bpf if bpf is None else bpf
        if max_age is None:
            max_age = self.settings.max_age or None
        self.frame = RollingFrame(max_rows or self.settings.max_rows, max_age)
        self._speed, self._loop = speed, loop
        source = make_source(source, bpf, self.settings, speed, loop)
        # the newest packet bytes, so rows can be written back to pcap (netlab.write_pcap)
        self.packets = source.packet_store(self.settings.keep_bytes_mb << 20)
        self.frame.attrs[ATTR] = self.packets
        self._counters = Counters()
        self.flows = LiveFlows(self.settings.max_flows, self._counters.error)
        self._pipeline = Pipeline(
            source,
            self.frame,
            self.packets,
            self._counters,
            backlog=self.settings.backlog_batches,
            interval=self.settings.batch_interval,
            gather=self.settings.decode_interval,
            offer=self._offer,
            report=self._counters.error,
            annotate=self.flows.annotate,
            sensor=default_sensor(self.settings.sensor),
        )
        self._life = Lifecycle("capture")
        self._lock = threading.Lock()
        self._restart_lock = threading.Lock()  # one restart at a time
        self._subscribers: list[Subscription] = []
        self._subscriber_drops = 0
        self._started: datetime | None = None
        self._recordings: list[Recording] = []
        self._alerts = CaptureAlerts(self.settings, self._counters.error)
        self._archive_feed: Subscription | None = None
        self.detectors: list[Detector] = self._alerts.detectors
        self.alerts: deque[Alert] = self._alerts.alerts
        # what it reads also goes to an archive (a Parquet dataset), written by its own thread
        self.archive: ArchiveWriter | None = None
        if archive is not None:
            s = self.settings
            self.archive = ArchiveWriter(
                archive,
                sensor=s.sensor,
                flush=s.archive_flush,
                max_age_hours=s.archive_max_age,
                max_gb=s.archive_max_gb,
                report=self._counters.error,
            )

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> Capture:
        """Open the source and start the threads; return once capturing. A second call
        returns at once; a call after stop() or close() raises ClosedError."""
        if not self._life.begin():
            return self
        source = self._pipeline.source
        try:
            source.open()
            warm_up()
        except BaseException:
            self.close()  # nothing left open or running
            raise
        # Capture threads share the GIL with pandas work (detectors, widgets, the user's
        # cells); a 1 ms switch interval (Python's default is 5 ms) keeps replay timing and
        # widget refreshes smooth. It is process-wide and only ever lowered here.
        if sys.getswitchinterval() > 0.001:
            sys.setswitchinterval(0.001)
        self._started = datetime.now(UTC)
        # Detectors run on their own subscription: never in the read or decode loop.
        # Merged and at most 5 times a second: detectors are pandas work that holds the GIL.
        self.subscribe(
            self._alerts.run,
            maxsize=256,
            every=0.2,
            lossless=source.can_wait,  # a file: see every row
        )
        if self.archive is not None:
            try:
                self._start_archive(source.can_wait)
            except BaseException:
                self.close()  # nothing left open or running
                raise
        if not self._pipeline.start(timeout=10):
            self.close()
            raise CaptureError("the capture did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop capturing and release the source; the frame keeps its rows and subscriptions
        get what was decoded. Idempotent; the capture cannot be started again."""
        self._life.end()
        self._pipeline.stop()
        self._pipeline.source.close()
        for recording in list(self._recordings):  # after the decoder wrote what it had
            recording.close()
        feed, self._archive_feed = self._archive_feed, None
        if self.archive is not None and feed is not None:
            # what the decoder handed over reaches the writer, which then writes it all; the
            # flows still open end with the capture (as Zeek writes them at shutdown)
            feed.flush(30)
            feed.close()
            self.archive.add_flows(self.flows.snapshot())
        if self.archive is not None:
            self.archive.close()

    def _start_archive(self, lossless: bool) -> None:
        archive = self.archive
        assert archive is not None
        try:
            archive.start()
        except OSError as exc:
            raise CaptureError(f"archive {archive.root}: {exc}") from None
        self._archive_feed = self._add_subscription(
            Subscription(
                self, None, 256, 0.0, batch_callback=archive.add_packets, lossless=lossless
            )
        )
        self.on_frames(archive.add_frames)
        self.subscribe_flows(archive.add_flows)
        self.on_alert(archive.add_alert)

    def close(self) -> None:
        """Stop, and close every subscription. Idempotent."""
        self.stop()
        for sub in list(self._subscribers):
            sub.close()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """True while frames are being read (False once stopped or a file has ended)."""
        return self._pipeline.running

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a file source has been read to its end, decoded, and every row has been
        through the detectors and every callback subscription; True if all that within
        `timeout` s. (Rows waiting in an iterated subscription are the iterator's to take.)"""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._pipeline.finished.wait(timeout):
            return False
        for sub in list(self._subscribers):
            if not sub.has_callback:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not sub.flush(left):
                return False
        return True

    # subscriptions, recordings, detectors --------------------------------------------------
    def _offer(self, batch: Batch) -> None:
        for sub in list(self._subscribers):
            sub._deliver(batch)  # never blocks: a full queue drops its own oldest batch

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

    def record(self, path: str | os.PathLike[str]) -> Recording:
        """Also write every frame read from now on to a .pcap or .pcapng file (as dumpcap -w
        does), from the decoder thread. The recording ends, complete, when the capture stops,
        or earlier with `recording.close()`."""
        unregister: list[Callable[[], None]] = []

        def ended(recording: Recording) -> None:
            for off in unregister:
                off()
            with self._lock:
                if recording in self._recordings:
                    self._recordings.remove(recording)

        recording = Recording(path, on_close=ended)
        with self._lock:
            self._recordings.append(recording)
        unregister.append(self.on_frames(recording.write))
        return recording

    def on_frames(self, callback: Callable[[Chunk], object]) -> Callable[[], None]:
        """Call `callback(chunk)` with the raw frames of every chunk read from now on, in the
        decoder thread before the chunk is decoded (a raising callback is reported in
        `stats.problems`, never stops the capture); returns an idempotent unregister."""
        sinks = self._pipeline.raw_sinks
        sinks.append(callback)

        def unregister() -> None:
            if callback in sinks:
                sinks.remove(callback)

        return unregister

    def on_alert(self, callback: Callable[[Alert], object]) -> Callable[[], None]:
        """Call `callback(alert)` for every new alert; returns a function that unregisters it
        (idempotent)."""
        return self._alerts.on_alert(callback)

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
        return self._alerts.add(detector, window=window, every=every, name=name)

    # state ---------------------------------------------------------------------------------
    def subscribe_flows(self, callback: Callable[[pd.DataFrame], object]) -> Callable[[], None]:
        """Call `callback(ended)` with each batch of flows that end (idle or active too long,
        a port reused, or dropped for room), as `netlab.flows()` rows; returns the call that
        unsubscribes. It runs in the decoder thread: keep it quick."""
        return self.flows.subscribe(callback)

    @property
    def source(self) -> Source:
        """The source being read."""
        return self._pipeline.source

    @property
    def stats(self) -> CaptureStats:
        """Counters right now."""
        with self._lock:
            drops = self._subscriber_drops + sum(s.dropped for s in self._subscribers)
        return self._counters.snapshot(
            self._pipeline.source,
            started=self._started,
            running=self.running,
            subscriber_drops=drops,
        )

    def restart(self, *, interface: str | None = None, bpf: str | None = None) -> None:
        """Switch interface and/or filter, keeping every captured row.

        The new filter is validated (and a new source opened) first; if that fails the error
        is raised and the running capture continues untouched.
        """
        if interface is None and bpf is None:
            return
        # One restart at a time: parallel ones (a server's settings POSTs) each opened a
        # source, and the ones replaced before the reader took them were never closed.
        with self._restart_lock:
            current = self._pipeline.source
            new_bpf = current.bpf if bpf is None else bpf
            if interface is None or interface == current.interface:
                # The same source, another filter: changed on the open source (a second live
                # handle would see packets twice while both were open).
                current.set_filter(new_bpf)
                return
            if current.switch(interface, new_bpf):  # e.g. a remote server switches itself
                return
            new = make_source(interface, new_bpf, self.settings, self._speed, self._loop)
            new.open()
            if not self.running:
                current.close()
                self._pipeline.source = new
                return
            if not self._pipeline.switch(new, timeout=30):
                raise CaptureError("the capture did not switch source within 30 s")

    def __repr__(self) -> str:
        s = self.stats
        state = "running" if s.running else "stopped"
        return (
            f"<netlab.Capture {s.source} filter={s.filter!r} {state} rows={len(self.frame)} "
            f"decoded={s.decoded} dropped={s.dropped_kernel + s.dropped_netlab}>"
        )
