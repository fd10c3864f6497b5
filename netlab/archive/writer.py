"""ArchiveWriter: a capture's packets, ended flows and alerts, into Parquet, from a thread
of its own.

The decoder only hands batches over (a list append); every `flush` seconds the writer joins
what arrived, cuts it by hour and writes one zstd Parquet file per partition, under a hidden
name renamed when whole. A failed write (a full disk, the directory removed) is reported and
the rows it did not finish are tried again at the next flush, up to `max_pending_rows` (the
oldest are given up past that, and counted); the capture never waits.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.alerts import Alert
from ..core.batch import Batch, batch_to_arrow, concat_batches
from ..core.chunk import Chunk, merge_chunks
from ..core.pcapfile import Records
from ..export import PcapWriter
from ..lifecycle import Lifecycle
from .layout import HOUR_NS, default_sensor, expired, hour_dir, new_file, partitions, remove

# Columns that rise in small steps within a flow (packets are stored flow by flow): frame
# numbers, times, places in the pcapng file, sequence and ACK numbers. Deltas take little.
_DELTA = ("number", "ts", "pcap_index", "tcp_seq", "tcp_ack")
# Frames wait for their rows (a subscription hands those over a little later) at most this many.
HELD_FRAMES = 100_000


class ArchiveWriter:
    """Writes into `root` under `sensor`; `start()`, hand rows over with `add_packets`,
    `add_flows` and `add_alert` (any thread), `close()` writes what is left."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        sensor: str = "",
        flush: float = 10.0,
        max_age_hours: float = 0.0,
        max_gb: float = 0.0,
        report: Callable[[str], object] = print,
        max_pending_rows: int = 5_000_000,
    ) -> None:
        self.root = Path(root)
        self.sensor = default_sensor(sensor)
        self.flush_every = flush
        self.max_age_hours, self.max_bytes = max_age_hours, max_gb * 1e9
        self.max_pending_rows = max_pending_rows
        self._report = report
        self._lock = threading.Lock()  # the pending rows
        self._writing = threading.Lock()  # one flush at a time
        self._packets: list[Batch] = []
        self._flows: list[pd.DataFrame] = []
        self._alerts: list[Alert] = []
        self._frames: list[Chunk] = []  # raw frames, numbered, waiting for their rows
        # rows whose write failed, as Arrow tables, tried again at the next flush
        self._retry: dict[str, list[pa.Table]] = {"packets": [], "flows": [], "alerts": []}
        self.written = {"packets": 0, "flows": 0, "alerts": 0}  # rows in finished files
        self.files = 0
        self.dropped = 0  # rows given up after failed writes, to stay within max_pending_rows
        self.frames_lost = 0  # packets whose bytes could not be written (their rows were)
        self.failures = 0
        self.ready = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._life = Lifecycle("archive writer")

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> ArchiveWriter:
        """Create the archive directory and start the writing thread (once)."""
        if self._life.begin():
            self.root.mkdir(parents=True, exist_ok=True)
            self._thread = threading.Thread(target=self._run, name="netlab-archive", daemon=True)
            self._thread.start()
            self.ready.wait(10)
        return self

    def close(self) -> None:
        """Write what is pending and stop; idempotent."""
        if not self._life.end():
            return
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)
        self.flush(final=True)

    def __enter__(self) -> ArchiveWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        self.ready.set()
        while not self._done.wait(self.flush_every):
            self.flush()

    # handing rows over ---------------------------------------------------------------------
    def add_packets(self, batch: Batch) -> None:
        """Keep a batch of packet rows for the next write (cheap: called with every batch)."""
        if len(batch):
            with self._lock:
                self._packets.append(batch)

    def add_frames(self, chunk: Chunk) -> None:
        """Keep a chunk's raw frames (numbered) for the next write: their bytes go to pcapng
        files beside the rows (only the frames are copied, not the read-ahead around them)."""
        rec = chunk.records
        if chunk.batch is None and rec is not None and len(rec) and rec.number is not None:
            kept = merge_chunks([chunk])
            with self._lock:
                self._frames.append(kept)

    def add_flows(self, flows: pd.DataFrame) -> None:
        """Keep ended flows (`netlab.flows()` rows) for the next write."""
        if len(flows):
            with self._lock:
                self._flows.append(flows)

    def add_alert(self, alert: Alert) -> None:
        """Keep an alert for the next write."""
        with self._lock:
            self._alerts.append(alert)

    @property
    def pending(self) -> int:
        """Rows handed over and not written yet."""
        with self._lock:
            new = sum(len(b) for b in self._packets) + sum(len(f) for f in self._flows)
            new += len(self._alerts)
        return new + sum(int(p.num_rows) for parts in self._retry.values() for p in parts)

    # writing -------------------------------------------------------------------------------
    def flush(self, final: bool = False) -> bool:
        """Write everything pending now; True if all of it was written. Frames whose rows
        have not arrived yet wait for them, unless `final`."""
        with self._writing:
            with self._lock:
                packets, flows, alerts = self._packets, self._flows, self._alerts
                frames = self._frames
                self._packets, self._flows, self._alerts, self._frames = [], [], [], []
            fresh = {
                "packets": self._with_bytes(_packets_table(packets), frames, final)
                if packets or frames
                else None,
                "flows": _flows_table(flows) if flows else None,
                "alerts": _alerts_table(alerts) if alerts else None,
            }
            ok = True
            for table, time_column in (("packets", "ts"), ("flows", "first"), ("alerts", "time")):
                todo, self._retry[table] = self._retry[table], []
                new = fresh[table]
                for data in [*todo, *([new] if new is not None else [])]:
                    ok &= self._write_hours(table, data, time_column)
            self._bound_retries()
            if ok and (self.max_age_hours or self.max_bytes):
                self._retain()
            return ok

    def _write_hours(self, table: str, data: pa.Table, time_column: str) -> bool:
        """Write `data` as one file per hour; what a failure leaves is tried next flush."""
        stamps = data.column(time_column).cast(pa.timestamp("ns", tz="UTC"))  # (any unit)
        ns = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
        hours = np.floor_divide(ns, HOUR_NS)
        left = np.ones(len(ns), dtype=bool)
        try:
            for hour in np.unique(hours).tolist():
                rows = np.flatnonzero(hours == hour)
                if table == "packets":
                    rows = rows[_flow_order(data, rows)]
                part = data.take(pa.array(rows))
                first = int(ns[rows].min())
                self._write_file(part, hour_dir(self.root, table, self.sensor, hour), first)
                self.written[table] += len(rows)
                left[rows] = False
        except OSError as exc:
            self.failures += 1
            self._report(f"archive: writing {table} under {self.root}: {exc}")
            self._retry[table].append(data.take(pa.array(np.flatnonzero(left))))
            return False
        return True

    def _write_file(self, part: pa.Table, directory: Path, first_ns: int) -> None:
        delta = [c for c in _DELTA if c in part.column_names]

        def write(hidden: Path) -> None:
            pq.write_table(
                part,
                hidden,
                compression="zstd",
                use_dictionary=[c for c in part.column_names if c not in delta],
                column_encoding=dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
            )

        _write_whole(directory, first_ns, ".parquet", write)
        self.files += 1

    def _with_bytes(self, table: pa.Table, frames: list[Chunk], final: bool) -> pa.Table:
        """Write the frames of `table`'s rows (and any older ones) to pcapng files, one per
        hour, and add to each row its file (`pcap_file`, relative to the archive) and index
        in it (`pcap_index`; -1: no bytes, as for rows a remote server decoded)."""
        numbers = table.column("number").to_numpy(zero_copy_only=False).astype(np.int64)
        files = np.full(len(numbers), -1, dtype=np.int32)
        index = np.full(len(numbers), -1, dtype=np.int32)
        names: list[str] = []
        if frames:
            merged = merge_chunks(frames)
            rec = merged.records
            assert rec is not None and rec.number is not None
            cut = int(numbers.max()) if len(numbers) else -1
            now = np.ones(len(rec), dtype=bool) if final else rec.number <= cut
            if len(rec) - int(now.sum()) > HELD_FRAMES:
                now[:] = True  # their rows are not coming: keep the bytes anyway
            if not now.all():
                with self._lock:
                    self._frames.insert(0, Chunk(merged.data, rec.take(np.flatnonzero(~now))))
            for hour, part in _by_hour(rec.take(np.flatnonzero(now))):
                try:
                    name = self._write_frames(Chunk(merged.data, part), hour)
                except OSError as exc:
                    self.failures += 1
                    self.frames_lost += len(part)
                    self._report(f"archive: writing packet bytes under {self.root}: {exc}")
                    continue
                assert part.number is not None
                order = np.argsort(part.number, kind="stable")
                at = np.searchsorted(part.number[order], numbers)
                at = np.minimum(at, len(part) - 1)
                hit = part.number[order][at] == numbers
                files[hit] = len(names)
                index[hit] = order[at[hit]]
                names.append(name)
        codes = pa.array(files, mask=files < 0)
        table = table.append_column(
            "pcap_file", pa.DictionaryArray.from_arrays(codes, pa.array(names, pa.string()))
        )
        return table.append_column("pcap_index", pa.array(index))

    def _write_frames(self, chunk: Chunk, hour: int) -> str:
        """One pcapng file of the frames of an hour; its path relative to the archive."""
        assert chunk.records is not None

        def write(hidden: Path) -> None:
            with open(hidden, "wb") as fh:  # (a stream: the hidden name says no format)
                writer = PcapWriter(fh, pcapng=True)
                writer.write(chunk)
                writer.close()

        directory = hour_dir(self.root, "pcap", self.sensor, hour)
        final = _write_whole(directory, int(chunk.records.ts_ns.min()), ".pcapng", write)
        return final.relative_to(self.root).as_posix()

    def _bound_retries(self) -> None:
        """Give up the oldest unwritten rows past `max_pending_rows` (counted in `dropped`)."""
        for parts in self._retry.values():
            while sum(p.num_rows for p in parts) > self.max_pending_rows:
                self.dropped += parts.pop(0).num_rows

    def _retain(self) -> None:
        """Remove the oldest hours past the age and size limits."""
        found = partitions(self.root)
        for partition in expired(found, time.time() / 3600, self.max_age_hours, self.max_bytes):
            remove(partition)


def _write_whole(
    directory: Path, first_ns: int, suffix: str, write: Callable[[Path], None]
) -> Path:
    """Write a new part file under a hidden name, then rename it: readers see it whole or
    not at all (a failed write leaves nothing). The directory is made again if it went."""
    directory.mkdir(parents=True, exist_ok=True)
    final, hidden = new_file(directory, first_ns, suffix)
    try:
        write(hidden)
        os.replace(hidden, final)
    except BaseException:
        hidden.unlink(missing_ok=True)
        raise
    return final


def _packets_table(batches: list[Batch]) -> pa.Table:
    return _unsensored(batch_to_arrow(concat_batches(batches)))


def _unsensored(table: pa.Table) -> pa.Table:
    """Without the sensor column: the partition path names the sensor (sensor=NAME), and a
    file column of the same name would clash with it in every reader."""
    return table.drop_columns(["sensor"]) if "sensor" in table.column_names else table


def _flow_order(data: pa.Table, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Packet rows flow by flow, each in capture order: a flow's sequence and ACK numbers,
    times and frame numbers then rise in small steps, and delta encoding takes a file from
    ~22 to ~15 bytes a row. (Readers sort by time; SQL has no order without ORDER BY.)"""
    flow = data.column("flow").take(pa.array(rows)).fill_null(-1).to_numpy(zero_copy_only=False)
    number = data.column("number").take(pa.array(rows)).to_numpy(zero_copy_only=False)
    return np.lexsort((number, flow))


def _by_hour(rec: Records) -> list[tuple[int, Records]]:
    """The records of each hour, in order."""
    hours = np.floor_divide(rec.ts_ns, HOUR_NS)
    return [(h, rec.take(np.flatnonzero(hours == h))) for h in np.unique(hours).tolist()]


def _flows_table(flows: list[pd.DataFrame]) -> pa.Table:
    # (dropped before Arrow: the pandas metadata must not name it either, or Dask's reader
    # looks for a categorical column the file does not have)
    both = pd.concat(flows, ignore_index=True).drop(columns=["sensor"], errors="ignore")
    table = pa.Table.from_pandas(both, preserve_index=False)
    # one index width in every file (pandas picks the narrowest that fits this batch's
    # categories, and a reader takes the first file's schema for all of them)
    fields = [
        f.with_type(pa.dictionary(pa.int32(), f.type.value_type))
        if pa.types.is_dictionary(f.type)
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def alerts_frame(alerts: list[Alert]) -> pd.DataFrame:
    """Alerts as rows: their fields, times as UTC timestamps, the context as JSON text."""
    rows = []
    for alert in alerts:
        row = alert.to_dict()
        row["context"] = json.dumps(row["context"], default=str, sort_keys=True)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("time", "window_start", "window_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _alerts_table(alerts: list[Alert]) -> pa.Table:
    return pa.Table.from_pandas(alerts_frame(alerts), preserve_index=False)
