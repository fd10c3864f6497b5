"""The seam between a Capture and where its frames come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from ..core.pcapfile import Records


@dataclass
class Chunk:
    """Frames read from a source: raw bytes with their records, or rows decoded elsewhere."""

    data: bytes = b""
    records: Records | None = None
    frame: pd.DataFrame | None = None  # a remote source hands over decoded rows

    def __len__(self) -> int:
        if self.frame is not None:
            return len(self.frame)
        return len(self.records) if self.records is not None else 0


@dataclass(frozen=True)
class SourceCounters:
    """What the source itself knows about packets that never reached netlab."""

    arrived: int | None  # packets that passed the filter in the kernel, if known
    dropped: int  # packets the kernel (or remote server) dropped


class Source(Protocol):
    """Where a Capture reads frames from. Opened and read by the capture's reader thread."""

    description: str  # for stats and status lines, e.g. "live eth0" or "file demo.pcap"
    bpf: str
    # Optional (default False): True when the source loses nothing while the capture makes
    # it wait, as a file does; the capture then waits for room instead of dropping.
    # can_wait: bool

    def open(self) -> None:
        """Acquire the resources; raise NetlabError subclasses with what to do."""

    def read(self, timeout: float) -> Chunk | None:
        """The next frames, waiting at most `timeout` seconds; None when nothing came."""

    def counters(self, received: int) -> SourceCounters:
        """Drop counters, given how many packets netlab has read so far."""

    @property
    def exhausted(self) -> bool:
        """True when no frame will ever come again (a file replayed to its end)."""

    def close(self) -> None:
        """Release everything; idempotent."""


def can_wait(source: object) -> bool:
    """Whether `source` loses nothing while the capture makes it wait (a file, not a live
    interface); sources that do not say are taken to lose what they cannot hand over."""
    return bool(getattr(source, "can_wait", False))


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
