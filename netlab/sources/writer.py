"""Writing captured frames: raw bytes to pcap/pcapng, decoded rows to Parquet/CSV."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from ..core.pcapfile import NAT
from ..errors import NetlabError
from .base import Chunk


class PcapWriter:
    """Appends frames to a nanosecond pcap (.pcap) or a pcapng (.pcapng) file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.pcapng = self.path.suffix.lower() == ".pcapng"
        self._fh: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()  # the decoder thread writes; another thread may close
        self._linktypes: dict[int, int] = {}  # linktype -> pcapng interface id
        self.frames = 0
        if self.pcapng:
            self._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))

    def _block(self, btype: int, body: bytes) -> None:
        body += bytes(-len(body) % 4)
        size = len(body) + 12
        self._fh.write(struct.pack("<II", btype, size) + body + struct.pack("<I", size))

    def write(self, chunk: Chunk, limit: int | None = None) -> None:
        """Append the frames of a raw chunk (at most `limit`; rows decoded elsewhere carry no
        bytes and are skipped)."""
        with self._lock:
            if not self._fh.closed:
                self._write(chunk, limit)

    def _write(self, chunk: Chunk, limit: int | None) -> None:
        rec = chunk.records
        if rec is None:
            return
        if limit is not None:
            rec = type(rec)(
                rec.offset[:limit],
                rec.caplen[:limit],
                rec.wirelen[:limit],
                rec.ts_ns[:limit],
                rec.linktype[:limit],
            )
        data = chunk.data
        for off, cap, wire, ts, lt in zip(
            rec.offset.tolist(),
            rec.caplen.tolist(),
            rec.wirelen.tolist(),
            rec.ts_ns.tolist(),
            rec.linktype.tolist(),
            strict=True,
        ):
            frame = data[off : off + cap]
            ts = 0 if ts == NAT else ts
            if self.pcapng:
                if lt not in self._linktypes:
                    self._linktypes[lt] = len(self._linktypes)
                    tsresol = struct.pack("<HHB3x", 9, 1, 9)  # nanoseconds
                    self._block(1, struct.pack("<HHI", lt, 0, 262144) + tsresol + bytes(4))
                iface = self._linktypes[lt]
                head = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, cap, wire)
                self._block(6, head + frame)
            else:
                if not self._linktypes:
                    self._linktypes[lt] = 0
                    self._fh.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, lt))
                elif lt not in self._linktypes:
                    raise NetlabError(
                        f"{self.path}: a pcap file holds one link type; use "
                        ".pcapng for frames of several"
                    )
                sec, nsec = divmod(ts, 1_000_000_000)
                self._fh.write(struct.pack("<IIII", sec, nsec, cap, wire) + frame)
            self.frames += 1

    def close(self) -> None:
        """Finish the file; idempotent."""
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


class RowWriter:
    """Appends decoded rows to Parquet (.parquet) or CSV (.csv), batch by batch."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        if self.kind not in ("parquet", "csv"):
            raise NetlabError(f"{self.path}: write .pcap, .pcapng, .parquet or .csv")
        self._parquet: object = None
        self.rows = 0

    def write(self, batch: pd.DataFrame) -> None:
        """Append a batch of rows."""
        table = flat_rows(batch)
        if self.kind == "csv":
            table.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
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
            from ..core.schema import empty_frame

            flat_rows(empty_frame()).to_parquet(self.path, index=False)


def flat_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with plain text instead of categoricals, so every batch has the same schema."""
    out = df.copy()
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
