"""Writing captured frames: raw bytes to pcap/pcapng, decoded rows to Parquet/CSV."""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pandas as pd

from .core.chunk import Chunk
from .core.pcapfile import (
    Records,
    encode_pcap_header,
    encode_pcap_records,
    encode_pcapng_idb,
    encode_pcapng_records,
    encode_pcapng_shb,
)
from .errors import NetlabError, NetlabWarning
from .packets import FilePackets, PacketStore, locate, store_in
from .sources.pcapreader import file_offsets

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


class PcapWriter:
    """Appends frames to a nanosecond pcap (.pcap) or a pcapng (.pcapng) file."""

    def __init__(self, path: str | os.PathLike[str] | BinaryIO, *, pcapng: bool = True) -> None:
        # a path says its format by extension; a stream (the server's answers) is told
        self._own = isinstance(path, str | os.PathLike)
        if isinstance(path, str | os.PathLike):
            self.path = Path(path)
            self.pcapng = self.path.suffix.lower() == ".pcapng"
            self._fh: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        else:
            self.path, self.pcapng, self._fh = Path("stream"), pcapng, path
        self._lock = threading.Lock()  # the decoder thread writes; another thread may close
        self._linktypes: dict[int, int] = {}  # linktype -> pcapng interface id
        self.frames = 0
        if self.pcapng:
            self._fh.write(encode_pcapng_shb())

    def write(self, chunk: Chunk, limit: int | None = None) -> None:
        """Append the frames of a raw chunk (at most `limit`; rows decoded elsewhere carry no
        bytes and are skipped)."""
        with self._lock:
            if not self._fh.closed:
                self._write(chunk, limit)

    def _write(self, chunk: Chunk, limit: int | None) -> None:
        rec = chunk.records
        if rec is None or not len(rec):
            return
        if limit is not None:
            rec = rec.take(slice(0, limit))
        linktypes = pd.unique(rec.linktype).tolist()  # in order of first use
        if self.pcapng:
            for lt in linktypes:  # new interfaces numbered in that order
                if lt not in self._linktypes:
                    self._linktypes[lt] = len(self._linktypes)
                    self._fh.write(encode_pcapng_idb(lt))
            ids = np.zeros(len(rec), dtype=np.int64)
            for lt in linktypes:
                ids[rec.linktype == lt] = self._linktypes[lt]
            self._fh.write(encode_pcapng_records(chunk.data, rec, ids))
        else:
            if not self._linktypes:
                self._header(int(rec.linktype[0]))
            if any(lt not in self._linktypes for lt in linktypes):
                raise NetlabError(
                    f"{self.path}: a pcap file holds one link type; use .pcapng for frames "
                    "of several"
                )
            self._fh.write(encode_pcap_records(chunk.data, rec))
        self.frames += len(rec)

    def _header(self, linktype: int) -> None:
        self._linktypes[linktype] = 0
        self._fh.write(encode_pcap_header(linktype))

    def close(self) -> None:
        """Finish the file (a stream it was given is left open); idempotent."""
        with self._lock:
            if self._fh.closed:
                return
            if not self.pcapng and not self._linktypes:
                self._header(1)  # no frames: still a pcap file (of Ethernet, as tcpdump's)
            if self._own:
                self._fh.close()


class RowWriter:
    """Appends decoded rows to Parquet (.parquet) or CSV (.csv), batch by batch."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        if self.kind not in ("parquet", "csv"):
            raise NetlabError(f"{self.path}: write .pcap, .pcapng, .parquet or .csv")
        self._parquet: object = None
        self._csv_started = False  # the header is written once, with the first batch
        self.rows = 0

    def write(self, batch: pd.DataFrame) -> None:
        """Append a batch of rows."""
        table = flat_rows(batch)
        if self.kind == "csv":
            # the first batch starts the file afresh (an old file of that name is replaced)
            if self._csv_started:
                table.to_csv(self.path, mode="a", header=False, index=False)
            else:
                table.to_csv(self.path, mode="w", header=True, index=False)
            self._csv_started = True
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, arrow.schema)
            self._parquet.write_table(arrow.cast(self._parquet.schema))  # type: ignore[attr-defined]
        self.rows += len(batch)

    def close(self) -> None:
        """Finish the file; idempotent."""
        if self._parquet is not None:
            self._parquet.close()  # type: ignore[attr-defined]
            self._parquet = None
        elif self.kind == "parquet" and not self.path.exists():
            from .core.batch import empty_frame

            flat_rows(empty_frame()).to_parquet(self.path, index=False)
        elif self.kind == "csv" and not self._csv_started:
            from .core.batch import empty_frame

            self.write(empty_frame())  # no rows: still a CSV file, with its header


def flat_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with plain text instead of categoricals, so every batch has the same schema."""
    out = df.copy()
    out.attrs = {}  # where the packets are is no column of a file
    for name, dtype in out.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            out[name] = out[name].astype("string")
    return out.reset_index(drop=True)


def write_frame(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write decoded rows to Parquet or CSV, by extension."""
    writer = RowWriter(path)
    writer.write(df)
    writer.close()
    return writer.path


def write_pcap(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    packets: Any = None,
) -> int:
    """Write the packets behind `rows` (a netlab frame, or its JSON rows) to a .pcap or
    .pcapng file, in row order; return how many were written.

    The bytes come from `packets` (a Capture, a capture file, or a store), or else from the
    frame itself: frames from `read_pcap` and from a capture's `frame.snapshot()` know where
    their packets are. Rows whose bytes are no longer kept are left out, with a warning.
    """
    from .core.wire import from_rows

    df = rows if isinstance(rows, pd.DataFrame) else from_rows([dict(r) for r in rows])
    if "number" not in df or df["number"].isna().any() or (df["number"] <= 0).any():
        raise NetlabError("each row needs its 'number' (the frame's number in its source)")
    target = Path(path)
    if target.suffix.lower() not in (".pcap", ".pcapng"):
        raise NetlabError(f"{target}: write_pcap writes .pcap or .pcapng")
    if target.suffix.lower() == ".pcap" and df["linktype"].nunique() > 1:
        raise NetlabError(
            f"{target}: these rows have several link types and a pcap file holds one; write .pcapng"
        )
    store = _store_of(df, packets)
    chunks, found = packet_chunks(df, store)
    missing = int((~found).sum())
    writer = PcapWriter(target)
    try:
        for chunk in chunks:
            writer.write(chunk)
    finally:
        writer.close()
    if missing:
        warnings.warn(
            f"{missing} of {len(df)} rows were left out of {target.name}: {store.description} "
            "does not have their bytes (any more: a capture, or the server of a remote one, "
            "keeps the newest NETLAB_KEEP_BYTES_MB)",
            NetlabWarning,
            stacklevel=2,
        )
    return writer.frames


def pcapng_bytes(df: pd.DataFrame) -> tuple[bytes, I64, int]:
    """The packets behind the rows of a netlab frame as a pcapng file in memory; also the
    frame numbers written (in order) and how many rows had no bytes any more."""
    chunks: list[Chunk] = []
    found = np.zeros(0, dtype=bool)
    if len(df):
        chunks, found = packet_chunks(df, _store_of(df, None))
    out = io.BytesIO()
    writer = PcapWriter(out, pcapng=True)  # no rows: still a valid file, its section header
    for chunk in chunks:
        writer.write(chunk)
    numbers = df["number"].to_numpy(dtype=np.int64)[found] if len(df) else found.astype(np.int64)
    return out.getvalue(), numbers, int((~found).sum())


def _store_of(df: pd.DataFrame, packets: Any) -> PacketStore:
    store: PacketStore | None
    if packets is None:
        store = store_in(df.attrs)
    elif isinstance(packets, str | os.PathLike):
        store = _file_store(packets)
    elif hasattr(packets, "locate"):
        store = packets
    else:
        store = getattr(packets, "packets", None)  # a Capture
    if store is None:
        raise NetlabError(
            "these rows do not say where their packets are (rows from JSON, Parquet or CSV keep "
            "only decoded fields): pass packets= the Capture or capture file they came from"
        )
    return store


def packet_chunks(df: pd.DataFrame, store: PacketStore) -> tuple[list[Chunk], Mask]:
    """Raw chunks of the rows whose bytes `store` has, in row order (one chunk per run of rows
    in the same buffer); and which rows those are."""
    numbers = df["number"].to_numpy(dtype=np.int64)
    found = np.zeros(len(numbers), dtype=bool)
    # (rows read back from Parquet or CSV may hold other time units)
    ts = pd.DatetimeIndex(pd.to_datetime(df["ts"], utc=True)).as_unit("ns").asi8
    caplen = df["caplen"].to_numpy(dtype=np.int64)
    wirelen = df["length"].to_numpy(dtype=np.int64)
    linktype = df["linktype"].to_numpy(dtype=np.int32)
    buffers, rows, offsets, groups = [], [], [], []
    sensors = df["sensor"].to_numpy(dtype=object) if "sensor" in df.columns else None
    for g, (data, where, offs) in enumerate(locate(store, numbers, sensors)):
        found[where] = True
        buffers.append(data)
        rows.append(where)
        offsets.append(offs)
        groups.append(np.full(len(where), g))
    if not rows:
        return [], found
    row, offset, group = (np.concatenate(x).astype(np.int64) for x in (rows, offsets, groups))
    if not len(row):
        return [], found
    order = np.argsort(row, kind="stable")
    row, offset, group = row[order], offset[order], group[order]
    cuts = np.flatnonzero(np.diff(group)) + 1  # a new chunk where the buffer changes
    chunks = []
    for run in np.split(np.arange(len(row)), cuts):
        r = row[run]
        rec = Records(offset[run], caplen[r], wirelen[r], ts[r], linktype[r])
        chunks.append(Chunk(data=buffers[int(group[run[0]])], records=rec))
    return chunks, found


def _file_store(path: str | os.PathLike[str]) -> FilePackets:
    """The frames of a capture file by their offsets, found by walking its records (no
    decoding)."""
    offsets = file_offsets(path)
    if not len(offsets):
        raise NetlabError(f"{path}: no frames")
    return FilePackets(path, offsets)
