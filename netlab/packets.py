"""Packet bytes behind decoded rows, so `write_pcap` can turn rows back into a capture file.

A frame keeps ~80 bytes of decoded fields per row, not the packets. So the bytes are kept
beside it: a file read with `read_pcap` is the store itself (only each frame's offset is
remembered), and a Capture keeps the newest `NETLAB_KEEP_BYTES_MB` of what it read, chunk by
chunk (no Python object per packet). DataFrames find their store through `df.attrs`, which
pandas carries through filtering, slicing and concatenation.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .core.pcapfile import PcapngState, Records, walk_pcapng
from .errors import NetlabError

ATTR = "netlab_packets"  # the key of a frame's packet store in DataFrame.attrs
I64 = npt.NDArray[np.int64]


class PacketStore(Protocol):
    """Where the bytes of frames, by frame number, can be found."""

    description: str

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        """Groups of (buffer, row positions in `numbers`, byte offsets in the buffer);
        numbers whose bytes are not kept appear in no group."""
        ...

    def add(self, data: bytes, records: Records) -> None:
        """Keep the bytes of frames a capture read (stores that hold no bytes ignore it)."""
        ...


class _SharedInAttrs(dict[str, str]):
    """What a store must be to live in DataFrame.attrs. pandas deep-copies attrs on every
    operation, compares them to decide what a concat keeps, and writes them as JSON into
    Parquet files: so a store is shared (never copied), equal only to itself, and written (or
    pickled) as a plain note of what it was, which is no store any more when read back."""

    def __init__(self, description: str) -> None:
        super().__init__(netlab_packets=description)
        self.description = description

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedInAttrs:
        return self

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        """See PacketStore.locate."""
        raise NotImplementedError

    def add(self, data: bytes, records: Records) -> None:
        """See PacketStore.add: a file, or a remote server, already has the bytes."""


def store_in(attrs: Mapping[Any, Any]) -> PacketStore | None:
    """The packet store a DataFrame's attrs name, if it is still one."""
    store = attrs.get(ATTR)
    return store if isinstance(store, _SharedInAttrs) else None


class FilePackets(_SharedInAttrs):
    """The frames of a capture file, by number: only their byte offsets are kept."""

    def __init__(self, path: str | os.PathLike[str], offsets: I64, first_number: int = 1):
        self.path = Path(os.path.abspath(path))  # the link survives a change of directory
        super().__init__(f"file {self.path.name}")
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.first_number = first_number
        stat = self.path.stat()
        self._identity = (stat.st_size, stat.st_mtime_ns)

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        stat = self.path.stat() if self.path.exists() else None
        if stat is None or (stat.st_size, stat.st_mtime_ns) != self._identity:
            raise NetlabError(f"{self.path} changed or went away since it was read")
        index = numbers - self.first_number
        ok = (index >= 0) & (index < len(self.offsets))
        rows = np.flatnonzero(ok)
        with open(self.path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return [(data, rows, self.offsets[index[rows]])]

    @staticmethod
    def combine(stores: list[FilePackets]) -> FilePackets | None:
        """One store for consecutive parts of the same file (as read_pcap reads it)."""
        if not stores or any(s.path != stores[0].path for s in stores):
            return None
        return FilePackets(
            stores[0].path,
            np.concatenate([s.offsets for s in stores]),
            stores[0].first_number,
        )


@dataclass
class _Kept:
    numbers: I64  # ascending frame numbers (a filter may leave gaps)
    data: bytes
    offsets: I64  # of each frame in data


class CapturePackets(_SharedInAttrs):
    """The newest bytes a capture read, up to a budget, kept whole chunk by whole chunk."""

    def __init__(self, budget_bytes: int, description: str = "capture") -> None:
        super().__init__(description)
        self.budget = budget_bytes
        self._kept: deque[_Kept] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def add(self, data: bytes, records: Records) -> None:
        """Keep the frames of a raw chunk (its records numbered); drop the oldest."""
        rec = records
        if self.budget <= 0 or not len(rec):
            return
        assert rec.number is not None, "the capture numbers records before keeping them"
        # a chunk larger than the whole budget keeps its newest frames
        # (each frame costs its bytes, the record header before it and its offset)
        fits = np.cumsum((rec.caplen + 24)[::-1]) <= self.budget
        skip = len(rec) - int(fits.sum())
        if skip:
            rec = rec.take(slice(skip, None))
        if not len(rec):
            return
        start = int(rec.offset.min())
        stop = int((rec.offset + rec.caplen).max())
        kept_bytes = bytes(memoryview(data)[start:stop])  # one copy, the frames only
        assert rec.number is not None
        kept = _Kept(rec.number.astype(np.int64), kept_bytes, rec.offset - start)
        with self._lock:
            self._kept.append(kept)
            self._size += len(kept_bytes) + kept.offsets.nbytes
            while self._size > self.budget and len(self._kept) > 1:
                old = self._kept.popleft()
                self._size -= len(old.data) + old.offsets.nbytes

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._size

    @property
    def oldest(self) -> int | None:
        """The oldest frame number whose bytes are kept."""
        with self._lock:
            return int(self._kept[0].numbers[0]) if self._kept else None

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        with self._lock:
            kept = list(self._kept)
        if not kept:
            return []
        starts = np.array([k.numbers[0] for k in kept], dtype=np.int64)
        which = np.searchsorted(starts, numbers, side="right") - 1
        groups = []
        for j in np.unique(which[which >= 0]).tolist():
            k = kept[j]
            rows = np.flatnonzero(which == j)
            pos = np.minimum(np.searchsorted(k.numbers, numbers[rows]), len(k.numbers) - 1)
            hit = k.numbers[pos] == numbers[rows]
            if hit.any():
                groups.append((k.data, rows[hit], k.offsets[pos[hit]]))
        return groups


class ArchivedPackets(_SharedInAttrs):
    """The packets of rows read from an archive: each row's pcapng file and index in it.

    Frame numbers are a capture's own, so rows of several sensors or capture sessions may
    share one; such a frame's bytes are refused (select one sensor or span first)."""

    def __init__(self, root: Path, numbers: I64, files: list[str], file_of: I64, index: I64):
        super().__init__(f"archive {root}")
        order = np.argsort(numbers, kind="stable")
        self.numbers, self.file_of, self.index = numbers[order], file_of[order], index[order]
        self.files = [root / f for f in files]
        self._offsets: dict[int, FilePackets] = {}

    def _file(self, k: int) -> FilePackets:
        if k not in self._offsets:
            path = self.files[k]
            try:
                with open(path, "rb") as fh:
                    data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except OSError as exc:
                raise NetlabError(f"archived packets: {path}: {exc}") from None
            offsets = walk_pcapng(data, 0, PcapngState()).records.offset
            self._offsets[k] = FilePackets(path, offsets, first_number=0)
        return self._offsets[k]

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        if not len(self.numbers) or not len(numbers):
            return []
        lo = np.searchsorted(self.numbers, numbers, side="left")
        hi = np.searchsorted(self.numbers, numbers, side="right")
        if (hi - lo > 1).any():
            raise NetlabError(
                "these archived rows come from several sensors or capture sessions that share "
                "frame numbers: select one sensor (sensors=[...]) or a span of one session"
            )
        found = hi - lo == 1
        at = np.minimum(lo, len(self.numbers) - 1)
        found &= self.index[at] >= 0
        groups = []
        for k in np.unique(self.file_of[at[found]]).tolist():
            rows = np.flatnonzero(found & (self.file_of[at] == k))
            for data, got, offsets in self._file(k).locate(self.index[at[rows]]):
                groups.append((data, rows[got], offsets))
        return groups


class SensorPackets(_SharedInAttrs):
    """The packets of rows from several sensors (a merged capture): frame numbers are each
    sensor's own, so a row's bytes are asked of its sensor's store (`store_of(sensor)`)."""

    def __init__(self, description: str, store_of: Callable[[str], PacketStore | None]):
        super().__init__(description)
        self.store_of = store_of

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        raise NetlabError(
            "rows of several sensors share frame numbers: pass the rows themselves (their "
            "sensor column says whose frame each is), e.g. write_pcap(rows, path)"
        )

    def locate_sensors(self, numbers: I64, sensors: npt.NDArray[Any]) -> list[tuple[Any, I64, I64]]:
        """As `locate`, for frame `numbers[i]` of sensor `sensors[i]`."""
        groups: list[tuple[Any, I64, I64]] = []
        names = np.asarray(sensors, dtype=object)
        for name in {str(s) for s in names.tolist() if s is not None and s == s}:
            store = self.store_of(name)
            if store is None:
                continue
            rows = np.flatnonzero(names == name)
            for data, got, offsets in store.locate(numbers[rows]):
                groups.append((data, rows[got], offsets))
        return groups


def locate(
    store: PacketStore, numbers: I64, sensors: npt.NDArray[Any] | None = None
) -> list[tuple[Any, I64, I64]]:
    """`store.locate(numbers)`, or by sensor and number where the store keeps several sensors'
    packets and the rows say their sensors."""
    if isinstance(store, SensorPackets) and sensors is not None:
        return store.locate_sensors(numbers, sensors)
    return store.locate(numbers)


def packet_bytes(
    store: PacketStore, number: int, caplen: int, sensor: str | None = None
) -> bytes | None:
    """The bytes of frame `number` (`caplen` long, seen by `sensor` where the store has
    several), or None if the store no longer has them."""
    names = None if sensor is None else np.array([sensor], dtype=object)
    for data, _rows, offsets in locate(store, np.array([number], dtype=np.int64), names):
        start = int(offsets[0])
        return bytes(data[start : start + caplen])
    return None


class RemotePackets(_SharedInAttrs):
    """The packets of a remote capture, fetched from its server's /pcap when asked for."""

    SPAN = 100_000  # frame numbers asked for at once (the server's limit)

    def __init__(self, description: str, fetch: Any) -> None:
        super().__init__(description)
        self._fetch = fetch  # (first, last) -> (pcapng bytes, numbers in it)

    def locate(self, numbers: I64) -> list[tuple[Any, I64, I64]]:
        groups: list[tuple[Any, I64, I64]] = []
        if not len(numbers):
            return groups
        for first in range(int(numbers.min()), int(numbers.max()) + 1, self.SPAN):
            last = first + self.SPAN - 1
            wanted = np.flatnonzero((numbers >= first) & (numbers <= last))
            if not len(wanted):
                continue
            body, got = self._fetch(first, last)
            if not len(got):
                continue
            offsets = walk_pcapng(body, 0, PcapngState()).records.offset
            where = np.clip(np.searchsorted(got, numbers[wanted]), 0, len(got) - 1)
            ok = got[where] == numbers[wanted]
            groups.append((body, wanted[ok], offsets[where[ok]]))
        return groups
