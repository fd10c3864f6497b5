"""Which bytes of a flow's segments make its stream, as Wireshark's Follow TCP Stream puts them.

Wireshark 4's follow (`follow_tcp_tap_listener` and `check_follow_fragments` in packet-tcp.c)
keeps, per direction, the next sequence number it expects. A segment at that number is
written; one that starts before it gives only its new bytes (a retransmission with more data,
an overlap) or nothing; one past it waits as a fragment until the bytes before it arrive, or
until the other side acknowledges beyond it: then the bytes in between are a gap, marked
"[N bytes missing in capture file]". Fragments still waiting at the end are never written.

The result is a plan: one record per piece of the stream, in the order Wireshark writes
them (which interleaves the two directions in time), each naming the segment it takes bytes
from. Most flows have no fragment at all: their plan is computed with numpy (a running
maximum of where each direction's bytes end). A flow with one is walked segment by segment,
exactly as Wireshark does; that is the only Python loop, and only for flows with holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
MOD = 1 << 32
GAP = 1  # a record's kind: bytes missing from the capture (0: bytes of a segment)


@dataclass
class Segments:
    """One flow's TCP segments (or UDP datagrams), in capture order."""

    frame: I64  # frame numbers
    server: Bools  # sent by the server (the side that did not send the first packet)
    seq: I64  # raw sequence numbers (0..2^32-1); UDP: unused
    ack: I64  # raw acknowledgement numbers, -1 without the ACK flag
    syn: Bools
    seglen: I64  # payload bytes on the wire (tcp.len)
    datalen: I64  # payload bytes captured (at most seglen)

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class Plan:
    """The records of a stream in Wireshark's order."""

    kind: I64  # 0: bytes of a segment, GAP: bytes missing from the capture
    server: Bools
    segment: I64  # index into the Segments the bytes come from (-1 for a gap)
    skip: I64  # bytes of that segment's captured payload to skip
    length: I64  # bytes taken (a gap: bytes missing, as Wireshark counts them)
    frame: I64  # the frame the record is written at

    def __len__(self) -> int:
        return len(self.kind)

    @staticmethod
    def of(rows: list[tuple[int, bool, int, int, int, int]]) -> Plan:
        """A plan from (kind, server, segment, skip, length, frame) tuples."""
        a = np.array(rows, dtype=np.int64).reshape(-1, 6)
        return Plan(a[:, 0], a[:, 1].astype(bool), a[:, 2], a[:, 3], a[:, 4], a[:, 5])


def follow_udp(seg: Segments) -> Plan:
    """Every datagram with captured bytes, in order (Wireshark's Follow UDP Stream)."""
    rows = np.flatnonzero(seg.datalen > 0)
    n = len(rows)
    zero = np.zeros(n, dtype=np.int64)
    return Plan(zero, seg.server[rows], rows, zero, seg.datalen[rows], seg.frame[rows])


def follow_tcp(seg: Segments) -> Plan:
    """The plan of a TCP flow's stream."""
    if not len(seg):
        return Plan.of([])
    sequence = (seg.seq + seg.syn) % MOD  # a SYN takes one sequence number before the data
    plan = _in_order(seg, sequence)
    return plan if plan is not None else _walk(seg, sequence)


def _in_order(seg: Segments, sequence: I64) -> Plan | None:
    """The plan when no segment ever waits as a fragment; None when one does.

    Per direction: sequence numbers unwrapped from the direction's first segment (where
    Wireshark starts expecting), then the running maximum of where written bytes end. A segment
    with captured bytes that starts past that maximum would wait: no plan here. So would one
    whose capture was cut short (Wireshark then writes fewer bytes than it moves on by)."""
    has_data = seg.datalen > 0
    if np.any(has_data & (seg.datalen < seg.seglen)):
        return None
    kept = np.zeros(len(seg), dtype=bool)
    skip = np.zeros(len(seg), dtype=np.int64)
    for side in (False, True):
        rows = np.flatnonzero(seg.server == side)
        if not len(rows):
            continue
        step = np.diff(sequence[rows], prepend=sequence[rows[0]])
        rel = np.cumsum((step + (1 << 31)) % MOD - (1 << 31))  # int32 steps, unwrapped
        data = has_data[rows]
        ends = np.where(data, rel + seg.seglen[rows], np.iinfo(np.int64).min)
        before = np.maximum(np.maximum.accumulate(np.concatenate(([0], ends[:-1]))), 0)
        if np.any(data & (rel > before)):
            return None
        new = data & (rel + seg.seglen[rows] > before)
        kept[rows[new]] = True
        skip[rows[new]] = before[new] - rel[new]
    rows = np.flatnonzero(kept)
    return Plan(
        np.zeros(len(rows), dtype=np.int64),
        seg.server[rows],
        rows,
        skip[rows],
        seg.datalen[rows] - skip[rows],
        seg.frame[rows],
    )


def _before(a: int, b: int) -> bool:
    """TCP's LT_SEQ: a precedes b modulo 2^32."""
    return ((a - b) % MOD) >= (1 << 31)


class _Walk:
    """Wireshark's follow state for one flow: the next expected number and the fragments
    waiting, per direction; and the records written."""

    def __init__(self, seg: Segments) -> None:
        self.seg = seg
        self.next = [0, 0]
        self.started = [False, False]
        self.fragments: list[list[tuple[int, int, int]]] = [[], []]  # (seq, segment, skip)
        self.out: list[tuple[int, bool, int, int, int, int]] = []

    def flush(self, side: int, acked: int | None, frame: int) -> bool:
        """check_follow_fragments: write one waiting fragment that now fits, or (given an
        acknowledgement past the lowest one) a gap up to it. False: nothing could be done."""
        waiting = self.fragments[side]
        if not waiting:
            return False
        lowest = waiting[0][0]
        for i, (fseq, k, fskip) in enumerate(waiting):
            if _before(fseq, lowest):
                lowest = fseq
            size = int(self.seg.datalen[k]) - fskip
            if _before(fseq, self.next[side]):
                new_pos = (self.next[side] - fseq) % MOD
                if size > new_pos:
                    self.out.append(
                        (0, bool(side), k, fskip + new_pos, size - new_pos, int(self.seg.frame[k]))
                    )
                    self.next[side] = (self.next[side] + size - new_pos) % MOD
                del waiting[i]
                return True
            if fseq == self.next[side]:
                if size > 0:
                    self.out.append((0, bool(side), k, fskip, size, int(self.seg.frame[k])))
                self.next[side] = (self.next[side] + size) % MOD
                del waiting[i]
                return True
        if acked is not None and _before(lowest, acked):
            missing = (lowest - self.next[side]) % MOD
            if missing >= 1 << 31:
                missing -= MOD  # Wireshark prints the difference as a signed int
            self.out.append((GAP, bool(side), -1, 0, missing, frame))
            self.next[side] = lowest
            return True
        return False

    def segment(self, k: int, sequence: int) -> None:
        """follow_tcp_tap_listener for segment k."""
        seg = self.seg
        side = int(seg.server[k])
        frame = int(seg.frame[k])
        if self.fragments[1 - side]:
            acked = int(seg.ack[k]) if seg.ack[k] >= 0 else None
            while self.flush(1 - side, acked, frame):
                pass
        if not self.started[side]:
            self.started[side] = True
            self.next[side] = sequence
        length, data_length, skip = int(seg.seglen[k]), int(seg.datalen[k]), 0
        if _before(sequence, self.next[side]):
            next_seq = (sequence + length) % MOD
            if _before(self.next[side], next_seq):
                skip = (self.next[side] - sequence) % MOD
                data_length = max(data_length - skip, 0)
                sequence = self.next[side]
                length = (next_seq - self.next[side]) % MOD
        if data_length == 0 or _before(sequence, self.next[side]):
            return
        if sequence == self.next[side]:
            self.next[side] = (self.next[side] + length) % MOD
            self.out.append((0, bool(side), k, skip, data_length, frame))
            while self.flush(side, None, frame):
                pass
        else:
            self.fragments[side].append((sequence, k, skip))


def _walk(seg: Segments, sequence: I64) -> Plan:
    walk = _Walk(seg)
    for k, s in enumerate(sequence.tolist()):
        walk.segment(k, s)
    return Plan.of(walk.out)
