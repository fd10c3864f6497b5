"""Replaying a capture file: at once, or paced by its own timestamps, optionally looped."""

from __future__ import annotations

import mmap
import os
import time
from dataclasses import replace

import numpy as np

from ..core.pcapfile import (
    NAT,
    Format,
    PcapHeader,
    PcapngState,
    Records,
    WalkResult,
    detect_format,
    parse_pcap_header,
    walk_pcap,
    walk_pcapng,
)
from ..errors import CaptureFileError
from .base import Chunk, SourceBase, SourceCounters
from .libpcap import BpfProgram

READ_AHEAD = 4096  # records taken from the file at a time
# Paced replays hand out frames at most every EMIT_GAP seconds, each time with those due within
# LOOKAHEAD: every batch has a fixed decoding cost, and a few ms is far below what anyone sees.
EMIT_GAP = 0.005
LOOKAHEAD = 0.003


class FileSource(SourceBase):
    """Frames of a pcap/pcapng file, replayed at `speed` times real time (None: at once)."""

    can_wait = True  # nothing is lost while the capture makes it wait (back-pressure)

    def __init__(
        self,
        path: str | os.PathLike[str],
        bpf: str = "",
        *,
        speed: float | None = 1.0,
        loop: bool = False,
        retime: bool = False,
    ) -> None:
        if speed is not None and not speed > 0:  # 0 or NaN would divide the clock by nothing
            raise ValueError(f"speed must be above 0, or None for as fast as possible: {speed}")
        self.path = os.fspath(path)
        self.description = f"file {os.path.basename(self.path)}"
        self.bpf = bpf
        self.speed = speed
        self.loop = loop
        self.retime = retime  # stamp frames with the wall-clock time they are replayed at
        self.problems: list[str] = []
        self._programs: dict[int, BpfProgram] = {}
        self._mm: mmap.mmap | None = None
        self._fh: object = None
        self._exhausted = False
        self._pending: tuple[bytes, Records] | None = None
        self._t0_wall = 0.0
        self._t0_ts: int | None = None
        self._shift_ns = 0  # added to timestamps on each loop so time keeps moving forward
        self._last_ts = 0
        self._first_ts: int | None = None  # of the file itself, before any loop shift
        self._last_emit = 0.0
        self._t0_epoch_ns = 0
        # frame numbers as the file has them (tshark's, kept when a filter skips frames);
        # a loop numbers its passes on: pass 2 starts after the last frame of pass 1
        self._walked = 0
        self._number_base = 0

    def open(self) -> None:
        """Open and check the file; compile the filter for its link type."""
        from .pcapreader import check_regular_file

        check_regular_file(self.path)  # open() of a FIFO would block the capture for good
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise CaptureFileError(self.path, exc.strerror or str(exc)) from None
        self._fh = fh
        try:
            if os.fstat(fh.fileno()).st_size == 0:
                raise CaptureFileError(self.path, "the file is empty, not a capture")
            self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            fmt = detect_format(self._mm[:4])
            if fmt is None:
                raise CaptureFileError(self.path, "not a pcap or pcapng file")
            self._format = fmt
            self._rewind()
            if self.bpf:
                self.set_filter(self.bpf)
        except BaseException:
            self.close()
            raise

    def set_filter(self, bpf: str) -> None:
        """Filter the replay with a BPF expression (validated first; the old one stays on error)."""
        programs: dict[int, BpfProgram] = {}
        if bpf:
            for linktype in self._linktypes():
                programs[linktype] = BpfProgram(bpf, linktype)
        self._programs = programs
        self.bpf = bpf

    def _linktypes(self) -> set[int]:
        if self._format is Format.PCAP:
            assert self._header is not None
            return {self._header.linktype}
        assert self._mm is not None
        walk = walk_pcapng(self._mm, 0, PcapngState(), 1000)
        return {int(x) for x in np.unique(walk.records.linktype)} or {1}

    def _rewind(self) -> None:
        assert self._mm is not None
        self._header: PcapHeader | None = None
        if self._format is Format.PCAP:
            if len(self._mm) < 24:
                raise CaptureFileError(self.path, "the pcap header is cut short")
            self._header = parse_pcap_header(self._mm[:24])
            self._pos = 24
        else:
            self._state = PcapngState()
            self._pos = 0

    def _next_records(self) -> tuple[bytes, Records] | None:
        assert self._mm is not None
        walk: WalkResult
        if self._header is not None:
            walk = walk_pcap(self._mm, self._pos, self._header, READ_AHEAD)
        else:
            walk = walk_pcapng(self._mm, self._pos, self._state, READ_AHEAD)
        self._pos = walk.end
        for problem in walk.problems + (
            ["the file ends in the middle of a record"] if walk.partial else []
        ):
            if problem not in self.problems:
                self.problems.append(problem)
        rec = walk.records
        if not len(rec):
            return None
        first_number = self._number_base + self._walked + 1
        self._walked += len(rec)
        rec = replace(rec, number=np.arange(first_number, first_number + len(rec)))
        first = int(rec.offset[0])
        last = int(rec.offset[-1] + rec.caplen[-1])
        data = bytes(self._mm[first:last])
        rec = replace(rec, offset=rec.offset - first)
        ts = rec.ts_ns.copy()
        known = ts != NAT
        if self._first_ts is None and known.any():
            self._first_ts = int(ts[known][0])
        ts[known] += self._shift_ns
        return data, replace(rec, ts_ns=ts)

    def _filtered(self, data: bytes, rec: Records) -> Records:
        programs = self._programs  # one read: set_filter may swap it from another thread
        if not programs or not len(rec):
            return rec
        fields = zip(
            rec.offset.tolist(),
            rec.caplen.tolist(),
            rec.wirelen.tolist(),
            rec.linktype.tolist(),
            strict=True,
        )
        keep = [
            lt in programs and programs[lt].matches(data[o : o + c], w) for o, c, w, lt in fields
        ]
        return rec.take(np.asarray(keep, dtype=bool))

    def read(self, timeout: float) -> Chunk | None:
        """Frames that are due; waits at most `timeout` seconds for the next one."""
        if self._exhausted:
            time.sleep(timeout)
            return None
        if self._pending is None:
            self._pending = self._next_records()
            if self._pending is None:
                return self._end_of_file()
            if not len(self._pending[1]):
                self._pending = None
                return None
        data, rec = self._pending
        if self.speed is None:
            self._pending = None
            self._note_last(rec)
            return Chunk(data=data, records=self._filtered(data, rec))
        ts = rec.ts_ns
        known = ts != NAT
        if self._t0_ts is None:
            self._t0_ts = int(ts[known][0]) if known.any() else 0
            self._t0_wall = time.monotonic()
            self._t0_epoch_ns = time.time_ns()
        due = self._t0_wall + (np.where(known, ts, self._t0_ts) - self._t0_ts) / 1e9 / self.speed
        now = time.monotonic()
        wake = max(due[0] - LOOKAHEAD, self._last_emit + EMIT_GAP)
        if wake > now:
            time.sleep(min(wake - now, timeout))
            now = time.monotonic()
        # The leading frames that are due (frames out of time order wait behind earlier ones).
        not_due = due > now + LOOKAHEAD
        n = int(np.argmax(not_due)) if not_due.any() else len(due)
        if n == 0:
            return None
        self._last_emit = now
        out = rec.take(slice(0, n))
        # in file time: the next loop pass is shifted by it (a retimed wall-clock stamp here
        # pushed pass 2 years ahead, so `netlab serve` played a file once and went silent)
        self._note_last(out)
        if self.retime:
            # each frame stamped with the wall-clock time it was due at (one fixed origin)
            wall_ns = self._t0_epoch_ns + ((due[:n] - self._t0_wall) * 1e9).astype(np.int64)
            out = replace(out, ts_ns=wall_ns)
        rest = rec.take(slice(n, None))
        self._pending = (data, rest) if len(rest) else None
        return Chunk(data=data, records=self._filtered(data, out))

    def _note_last(self, rec: Records) -> None:
        known = rec.ts_ns[rec.ts_ns != NAT]
        if len(known):
            self._last_ts = int(known.max())

    def _end_of_file(self) -> Chunk | None:
        if not self.loop:
            self._exhausted = True
            return None
        # Loop: the next pass starts one mean gap after this one ended, so time goes forward.
        start = (self._first_ts or 0) + self._shift_ns
        self._shift_ns += max(self._last_ts - start, 0) + 1_000_000
        self._number_base += self._walked
        self._walked = 0
        self._rewind()
        return None

    def counters(self, received: int) -> SourceCounters:
        """A file drops nothing."""
        return SourceCounters(None, 0)

    @property
    def exhausted(self) -> bool:
        """True after the last frame of a file that does not loop."""
        return self._exhausted

    def close(self) -> None:
        """Close the file; idempotent."""
        self._pending = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None
