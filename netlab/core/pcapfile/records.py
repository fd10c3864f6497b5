"""Record tables: where each frame of a capture buffer is, and what its record header says."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

NAT = np.iinfo(np.int64).min  # pandas' NaT; used for packets without a timestamp (pcapng SPB)
MAX_CAPLEN = 262_144  # libpcap's largest snapshot length; larger records are corrupt

U8 = npt.NDArray[np.uint8]
ByteSource = bytes | bytearray | memoryview | mmap.mmap
I64 = npt.NDArray[np.int64]


class Format(Enum):
    """Capture file formats, told apart by their magic number."""

    PCAP = "pcap"
    PCAPNG = "pcapng"


@dataclass
class Records:
    """Where each packet's bytes are in a buffer, and its capture metadata."""

    offset: I64  # start of the packet bytes in the buffer
    caplen: I64
    wirelen: I64
    ts_ns: I64  # nanoseconds since the epoch, NAT when the format gives none
    linktype: npt.NDArray[np.int32]
    # each record's frame number in its file (from 1), when a filter left gaps; None: the
    # records are numbered on from wherever their reader is
    number: I64 | None = None

    def __len__(self) -> int:
        return len(self.offset)

    def take(self, which: slice | npt.NDArray[Any]) -> Records:
        """The records picked by a slice, a boolean mask or positions."""
        return Records(
            self.offset[which],
            self.caplen[which],
            self.wirelen[which],
            self.ts_ns[which],
            self.linktype[which],
            None if self.number is None else self.number[which],
        )

    @staticmethod
    def empty() -> Records:
        """No records."""
        z = np.zeros(0, dtype=np.int64)
        return Records(z, z, z, z, np.zeros(0, dtype=np.int32))


@dataclass
class WalkResult:
    """Records found in a buffer, where the walk stopped and why."""

    records: Records
    end: int  # offset of the first byte not consumed
    partial: bool = False  # the buffer ends inside a record (more bytes may come)
    problems: list[str] = field(default_factory=list)  # corrupt data, told to the user


def place_frames(out: U8, starts: I64, data: Any, records: Records) -> None:
    """Copy each record's frame bytes from `data` to `out` at `starts` (vectorised, a few MB
    at a time so the index arrays stay small)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    caplen = records.caplen.astype(np.int64)
    ends = np.cumsum(caplen)
    budget = 1 << 20
    first = 0
    while first < len(caplen):
        base = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, base + budget, side="right")), first + 1)
        lens = caplen[first:last]
        total = int(lens.sum())
        if total:
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
            src = np.repeat(records.offset[first:last].astype(np.int64), lens) + within
            out[np.repeat(starts[first:last], lens) + within] = buf[src]
        first = last


def place_words(out: U8, starts: I64, words: npt.NDArray[Any]) -> None:
    """Write row k of `words` (little-endian uint32, n x m) to `out` at `starts[k]`."""
    raw = np.ascontiguousarray(words.astype("<u4")).view(np.uint8).reshape(len(starts), -1)
    out[starts[:, None] + np.arange(raw.shape[1])] = raw
