"""The TCP packets of a frame seen as Wireshark's TCP analysis sees them: two sides per flow,
each with its packets in capture order, its next expected sequence number and its last ACK.

Everything is arrays over the packets sorted by flow, then capture order; "the previous packet
of my side" and "the last packet of the other side before me" are indices into them, so each
per-side state of Wireshark's analysis becomes a shift, a running maximum or a run length.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

FIN, SYN, RST, ACK = 0x001, 0x002, 0x004, 0x010
WRAP = 1 << 32
UNSET = np.iinfo(np.int64).min


def signed(delta: I64) -> I64:
    """A difference of 32-bit sequence numbers as Wireshark compares them (GT_SEQ, LT_SEQ)."""
    return ((delta + (1 << 31)) % WRAP) - (1 << 31)


def last_index(group: I64, member: Bools) -> I64:
    """For each row (rows sorted by group), the last row at or before it in its group where
    `member` holds; -1 if none."""
    n = len(group)
    idx = np.arange(n, dtype=np.int64)
    start = np.r_[True, group[1:] != group[:-1]] if n else np.zeros(0, dtype=bool)
    first_of_group = np.maximum.accumulate(np.where(start, idx, 0)) if n else idx
    last = np.maximum.accumulate(np.where(member, idx, -1)) if n else idx
    return np.where(last >= first_of_group, last, -1)


def first_per(group: I64, count: int, where: Bools) -> I64:
    """Per group (0..count-1), the first position where `where` holds; len(group) if none."""
    out = np.full(count, len(group), dtype=np.int64)
    pos = np.flatnonzero(where)
    np.minimum.at(out, group[pos], pos)
    return out


class Sides:
    """The analysable TCP packets of a frame (header whole, in a flow), sorted by flow."""

    def __init__(self, df: pd.DataFrame, flows: I64, forward: Bools) -> None:
        flags = df["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)
        seq = df["tcp_seq"].to_numpy(dtype=np.int64, na_value=-1)
        seglen = df["paylen"].to_numpy(dtype=np.int64, na_value=-1)
        # tshark analyses a segment once its header is whole (a short one raises first)
        rows = np.flatnonzero((flows >= 0) & (flags >= 0) & (seq >= 0) & (seglen >= 0))
        self.rows = rows[np.argsort(flows[rows], kind="stable")]
        r = self.rows
        self.n = n = len(r)
        self.flow = flows[r]
        self.count = int(self.flow.max()) + 1 if n else 0
        self.side = forward[r].astype(np.int64)
        self.group = self.flow * 2 + self.side  # one side of one flow
        self.flags = flags[r]
        self.seq = seq[r]
        self.ack = df["tcp_ack"].to_numpy(dtype=np.int64, na_value=0)[r]
        self.seglen = seglen[r]
        self.ts = df["ts"].array.asi8[r]
        self.pos = np.arange(n, dtype=np.int64)
        self._by_side: I64 | None = None
        mine = [last_index(self.flow, self.side == s) for s in (0, 1)]
        minus_one = np.full(1, -1, dtype=np.int64)
        shifted = [np.concatenate([minus_one, m[:-1]]) for m in mine]
        same_before: I64 = np.where(self.side == 1, shifted[1], shifted[0])
        same_flow = np.r_[False, self.flow[1:] == self.flow[:-1]]
        self.prev = np.where(same_flow & (same_before >= 0), same_before, -1)  # my side's last
        self.rev = np.where(self.side == 1, mine[0], mine[1])  # the other side's last before me
        self.syn = (self.flags & SYN) != 0
        self.synack = self.syn & ((self.flags & ACK) != 0)
        self.sfr = (self.flags & (SYN | FIN | RST)) != 0
        self.length = self.seglen + ((self.flags & (SYN | FIN)) != 0)  # SYN and FIN count one
        self.first_synack = first_per(self.flow, self.count, self.synack)
        self.useq = self._unwrapped()
        wscale = df["tcp_wscale"].to_numpy(dtype=np.int64, na_value=-1)[r]
        window = df["tcp_window"].to_numpy(dtype=np.int64, na_value=0)[r]
        self.window = window << self._shift(wscale)
        self.scale_known = self._scale_known(wscale)

    def at(self, values: I64, which: I64, missing: int = 0) -> I64:
        """`values` of the packets `which` points at (`missing` where it is -1)."""
        return np.where(which >= 0, values[np.maximum(which, 0)], missing)

    def by_side(self) -> I64:
        """The packets ordered by side, then capture order."""
        if self._by_side is None:
            self._by_side = np.argsort(self.group, kind="stable")
        return self._by_side

    def _unwrapped(self) -> I64:
        """Sequence numbers on a 64-bit line per side: each packet is its side's previous
        packet plus the signed 32-bit step between them (so wrap-around is no jump)."""
        step = np.where(self.prev >= 0, signed(self.seq - self.at(self.seq, self.prev)), 0)
        order = self.by_side()
        total = np.cumsum(step[order])
        starts = np.r_[True, self.group[order][1:] != self.group[order][:-1]]
        base = np.maximum.accumulate(np.where(starts, np.arange(self.n), 0))
        out = np.empty(self.n, dtype=np.int64)
        out[order] = total - total[base]
        return out

    def _offers(self, wscale: I64) -> tuple[I64, Bools]:
        """Per flow and side, the window-scale shift its SYN offered (-1: none seen)."""
        offer = np.full((2, self.count), -1, dtype=np.int64)
        for s in (0, 1):
            mine = np.flatnonzero(self.syn & (self.side == s) & (wscale >= 0))[::-1]
            offer[s, self.flow[mine]] = wscale[mine]  # reversed: the first offer wins
        agreed = (offer[0] >= 0) & (offer[1] >= 0)
        return offer, agreed

    def _shift(self, wscale: I64) -> I64:
        """Window scaling as Wireshark applies it: a side's shift (at most 14) once the SYN-ACK
        was seen and both SYNs offered it; never on SYN segments; else none."""
        offer, agreed = self._offers(wscale)
        mine = offer[self.side, self.flow]
        after = self.pos > self.first_synack[self.flow]
        ok = ~self.syn & after & agreed[self.flow]
        return np.where(ok, np.minimum(np.maximum(mine, 0), 14), 0)

    def _scale_known(self, wscale: I64) -> Bools:
        """Whether Wireshark knows the *other* side's scaling at each packet: that side's SYN
        offered it, or the SYN-ACK was seen (after which scaling is agreed or off)."""
        known = self.pos > self.first_synack[self.flow]
        for s in (0, 1):
            offered = first_per(self.flow, self.count, self.syn & (self.side == s) & (wscale >= 0))
            known |= (self.side != s) & (self.pos > offered[self.flow])
        return known

    def next_seq(self, excluded: Bools) -> tuple[I64, I64, I64]:
        """Before each packet, its side's next expected sequence number: the highest seq + len
        seen on the side, leaving out `excluded` packets (zero-window probes). Returned raw (0
        while unset, as Wireshark keeps it), unwrapped (UNSET while unset) and the time the
        highest value was first reached."""
        end = np.where(excluded, UNSET, self.useq + self.length)
        order = self.by_side()
        best_sorted = pd.Series(end[order]).groupby(self.group[order]).cummax().to_numpy()
        best = np.empty(self.n, dtype=np.int64)
        best[order] = best_sorted
        starts = np.r_[True, self.group[order][1:] != self.group[order][:-1]]
        raised = (starts | np.r_[True, best_sorted[1:] > best_sorted[:-1]]) & (best_sorted != UNSET)
        reached = np.maximum.accumulate(np.where(raised, np.arange(self.n), -1))
        when_sorted = np.where(reached >= 0, self.ts[order][np.maximum(reached, 0)], 0)
        when = np.empty(self.n, dtype=np.int64)
        when[order] = when_sorted
        before = self.at(best, self.prev, UNSET)
        unset = before == UNSET
        raw = np.where(unset, 0, (self.seq + (before - self.useq)) % WRAP)
        return raw, before, self.at(when, self.prev)

    def handshake_rtt(self) -> tuple[I64, I64]:
        """Per flow, tshark's tcp.analysis.initial_rtt in ns (0 when unknown), and the position
        of the packet that set it: the first packet with ACK and without SYN after a SYN (the
        handshake's ACK, or a RST-ACK refusing it), less the time of the last SYN before it."""
        pure_syn = (self.flags & (SYN | ACK)) == SYN
        last_syn = last_index(self.flow, pure_syn)
        acks = ((self.flags & (SYN | ACK)) == ACK) & (last_syn >= 0)
        done = first_per(self.flow, self.count, acks)
        rtt = np.zeros(self.count, dtype=np.int64)
        ok = np.flatnonzero(done < self.n)
        syn_at = last_syn[done[ok]]
        good = syn_at >= 0
        rtt[ok[good]] = self.ts[done[ok[good]]] - self.ts[syn_at[good]]
        return rtt, done
