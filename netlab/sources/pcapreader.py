"""Reading pcap and pcapng files into typed frames: `read_pcap` and `iter_pcap`."""

from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..core.annotate import annotate
from ..core.batch import empty_frame
from ..core.decode import decode_records
from ..core.pcapfile import (
    Format,
    PcapngState,
    Records,
    WalkResult,
    detect_format,
    parse_pcap_header,
    truncated_tail,
    walk_pcap,
    walk_pcapng,
)
from ..errors import CaptureFileError, NetlabWarning
from ..packets import ATTR, FilePackets

CHUNK = 65_536


def iter_pcap(
    path: str | os.PathLike[str], *, limit: int | None = None, chunk: int = CHUNK
) -> Iterator[pd.DataFrame]:
    """Yield the frames of a pcap/pcapng file as DataFrames of at most `chunk` rows."""
    name = os.fspath(path)
    check_regular_file(name)  # a FIFO or a device would block open() or read forever
    try:
        size = os.path.getsize(name)
        fh = open(name, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise CaptureFileError(name, exc.strerror or str(exc)) from None
    try:
        if size == 0:
            raise CaptureFileError(name, "the file is empty, not a capture")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            buf = np.frombuffer(mm, dtype=np.uint8)
            try:
                for records, number in _walk_mapped(name, mm, limit, chunk):
                    yield _decoded(name, buf, records, number)
            finally:
                del buf  # release the exported buffer so the mmap can close
    finally:
        fh.close()


def file_offsets(path: str | os.PathLike[str]) -> npt.NDArray[np.int64]:
    """The byte offset of every frame of a capture file, by walking its records (nothing is
    decoded); problems are warned about as `read_pcap` does."""
    name = os.fspath(path)
    check_regular_file(name)
    try:
        fh = open(name, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise CaptureFileError(name, exc.strerror or str(exc)) from None
    try:
        if os.fstat(fh.fileno()).st_size == 0:
            raise CaptureFileError(name, "the file is empty, not a capture")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            parts = [rec.offset for rec, _ in _walk_mapped(name, mm, None, 1 << 20)]
    finally:
        fh.close()
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _walk_mapped(
    name: str, mm: mmap.mmap, limit: int | None, chunk: int
) -> Iterator[tuple[Records, int]]:
    """The records of a mapped capture, `chunk` at a time, with the number of the first."""
    fmt = detect_format(mm[:4])
    if fmt is None:
        raise CaptureFileError(
            name, f"not a pcap or pcapng file (starts with {mm[:4].hex() or 'nothing'})"
        )
    walk_from: Callable[[int, int, int], WalkResult]  # (position, count, first number)
    if fmt is Format.PCAP:
        if len(mm) < 24:
            raise CaptureFileError(name, "the pcap header is cut short")
        header = parse_pcap_header(mm[:24])
        pos = 24
        walk_from = lambda at, count, first: walk_pcap(mm, at, header, count, first)  # noqa: E731
    else:
        pos = 0
        state = PcapngState()
        walk_from = lambda at, count, _first: walk_pcapng(mm, at, state, count)  # noqa: E731
    number, left = 1, limit
    while left is None or left > 0:
        step = chunk if left is None else min(chunk, left)
        walk = walk_from(pos, step, number)
        if len(walk.records):
            yield walk.records, number
            number += len(walk.records)
            if left is not None:
                left -= len(walk.records)
        pos = walk.end
        _report(name, walk)
        if walk.partial:
            if fmt is Format.PCAP:  # a cut-short record still has its first bytes: kept
                tail, msg = truncated_tail(mm, pos, header)
                warnings.warn(f"{name}: {msg}", NetlabWarning, stacklevel=3)
                if len(tail) and (left is None or left > 0):
                    yield tail, number
            else:
                warnings.warn(
                    f"{name}: the file appears to have been cut short in the middle of a "
                    f"block at byte {pos}; the {len(mm) - pos} bytes after it were ignored",
                    NetlabWarning,
                    stacklevel=3,
                )
            return
        if walk.problems or pos >= len(mm) or (fmt is Format.PCAP and len(walk.records) < step):
            return


def _decoded(name: str, buf: npt.NDArray[np.uint8], records: Records, number: int) -> pd.DataFrame:
    frame = decode_records(buf, records, number)
    frame.attrs[ATTR] = FilePackets(name, records.offset, number)  # for write_pcap
    return frame


def _report(name: str, walk: WalkResult) -> None:
    for problem in walk.problems:
        warnings.warn(f"{name}: {problem}", NetlabWarning, stacklevel=4)


def read_pcap(path: str | os.PathLike[str], *, limit: int | None = None) -> pd.DataFrame:
    """Read a pcap or pcapng file (told apart by magic number) into one typed DataFrame.

    Truncated or corrupt files give every complete frame and a NetlabWarning; a file that is
    not a capture at all raises CaptureFileError.
    """
    budget = memory_budget()
    parts: list[pd.DataFrame] = []
    used = frames = 0
    try:
        for part in iter_pcap(path, limit=limit, chunk=1 << 20):
            parts.append(part)
            frames += len(part)
            used += int(part.memory_usage(index=False).sum())
            if used > budget:
                raise _too_big(path, budget, frames)
    except MemoryError:
        parts.clear()
        raise _too_big(path, budget, frames) from None
    if not parts:
        return empty_frame()
    if len(parts) == 1:
        return annotate(parts[0])
    frame = concat_frames(parts)
    frame.attrs[ATTR] = FilePackets.combine([p.attrs[ATTR] for p in parts])
    return annotate(frame)


def check_regular_file(name: str) -> None:
    """CaptureFileError unless `name` is a regular file (checked before opening it)."""
    import stat

    try:
        mode = os.stat(name).st_mode
    except OSError as exc:
        raise CaptureFileError(name, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a directory"
            if stat.S_ISDIR(mode)
            else ("a device or socket")
        )
        raise CaptureFileError(name, f"is {kind}, not a capture file")


def memory_budget() -> int:
    """Bytes read_pcap may fill: half of the memory available now (the final concatenation
    needs as much again), or 4 GiB where that cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def _too_big(path: str | os.PathLike[str], budget: int, frames: int) -> CaptureFileError:
    return CaptureFileError(
        os.fspath(path),
        f"its frames would need more than the {budget / 2**30:.1f} GiB of memory available "
        f"({frames:,} frames read so far); read it in pieces with netlab.iter_pcap(path, "
        "chunk=...) or a part with read_pcap(path, limit=N)",
    )


def concat_frames(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames, unifying categorical columns instead of falling back to object."""
    from pandas.api.types import union_categoricals

    out = pd.concat(parts, ignore_index=True)
    for name, dtype in parts[0].dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            # categories may be object- or str-typed depending on where a part came from
            cats = [p[name].array for p in parts]
            cats = [c.rename_categories(c.categories.astype(object)) for c in cats]
            out[name] = union_categoricals(cats, ignore_order=True)
    return out
