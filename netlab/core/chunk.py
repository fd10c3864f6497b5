"""Chunk: frames as a source hands them over, raw bytes with their records or decoded rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import Batch
from .pcapfile import Records


@dataclass
class Chunk:
    """Frames read from a source: raw bytes with their records, or rows decoded elsewhere."""

    data: bytes = b""
    records: Records | None = None
    batch: Batch | None = None  # rows decoded elsewhere (a remote server sends rows)

    def __len__(self) -> int:
        if self.batch is not None:
            return len(self.batch)
        return len(self.records) if self.records is not None else 0


def merge_chunks(chunks: list[Chunk]) -> Chunk:
    """One chunk holding the frames of several (byte offsets rebased).

    Only each chunk's frames are copied: a paced replay hands out a few frames at a time, each
    chunk sharing the file's whole read-ahead block, and joining whole blocks filled the
    packet store with copies of the same block (bytes for 1,997 of 18,926 demo frames)."""
    base = 0
    offsets, caplens, wirelens, stamps, links = [], [], [], [], []
    pieces: list[memoryview] = []
    for c in chunks:
        rec = c.records
        assert rec is not None
        if not len(rec):
            continue
        lo = int(rec.offset.min())
        hi = int((rec.offset + rec.caplen).max())
        pieces.append(memoryview(c.data)[lo:hi])
        offsets.append(rec.offset - lo + base)
        caplens.append(rec.caplen)
        wirelens.append(rec.wirelen)
        stamps.append(rec.ts_ns)
        links.append(rec.linktype)
        base += hi - lo
    if not pieces:
        return Chunk(data=b"", records=Records.empty())
    chunks = [c for c in chunks if c.records is not None and len(c.records)]
    records = Records(
        np.concatenate(offsets),
        np.concatenate(caplens),
        np.concatenate(wirelens),
        np.concatenate(stamps),
        np.concatenate(links),
        None
        if any(c.records.number is None for c in chunks)  # type: ignore[union-attr]
        else np.concatenate([c.records.number for c in chunks]),  # type: ignore[union-attr]
    )
    return Chunk(data=b"".join(pieces), records=records)
