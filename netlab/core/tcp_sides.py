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

from .columns import Columns, columns
from .tcp_context import Context, FlowState, SideState

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


def group_cummax(values: I64, group: I64) -> I64:
    """The running maximum of `values` within each group (rows sorted by group): each
    group's values are lifted above the previous group's, so one running maximum serves every
    group (pandas' groupby costs ~10x more on a live batch of a few hundred rows).

    The lift is the values' span when it fits in 64 bits (UNSET, the int64 minimum, is set
    aside as "below everything"); else the values' ranks are lifted instead, at a sort's cost."""
    n = len(values)
    if not n:
        return values.copy()
    step = np.cumsum(np.r_[False, group[1:] != group[:-1]])
    unset = values == UNSET
    rest = values[~unset]
    lo = int(rest.min()) - 1 if len(rest) else 0  # UNSET stands here, below every value
    span = (int(rest.max()) if len(rest) else 0) - lo + 1
    if span * (int(step[-1]) + 1) < 1 << 62:
        lift = step * span
        top = np.maximum.accumulate(np.where(unset, 0, values - lo) + lift) - lift
        return np.where(top == 0, UNSET, top + lo)
    by_value = np.argsort(values, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_value] = np.arange(n)
    top = np.maximum.accumulate(rank + step * n) - step * n
    out: I64 = values[by_value[top]]
    return out


def first_per(group: I64, count: int, where: Bools) -> I64:
    """Per group (0..count-1), the first position where `where` holds; len(group) if none."""
    out = np.full(count, len(group), dtype=np.int64)
    pos = np.flatnonzero(where)
    np.minimum.at(out, group[pos], pos)
    return out


class Sides:
    """The analysable TCP packets of a frame (header whole, in a flow), sorted by flow; with a
    `context`, each side with a past first gets one context row (`real` False) standing for
    its earlier packets. Flows are numbered 0..count-1 here (`flow_ids` maps them back)."""

    def __init__(
        self,
        data: pd.DataFrame | Columns,
        flows: I64,
        forward: Bools,
        context: Context | None = None,
    ) -> None:
        frame = columns(data)
        flags, seq, seglen = frame.ints("tcp_flags"), frame.ints("tcp_seq"), frame.ints("paylen")
        # tshark analyses a segment once its header is whole (a short one raises first)
        real = np.flatnonzero((flows >= 0) & (flags >= 0) & (seq >= 0) & (seglen >= 0))
        self.flow_ids, local = np.unique(flows[real], return_inverse=True)
        self.count = len(self.flow_ids)
        cols = {
            "flow": local.astype(np.int64),
            "side": forward[real].astype(np.int64),
            "flags": flags[real],
            "seq": seq[real],
            "ack": frame.ints("tcp_ack", 0)[real],
            "seglen": seglen[real],
            "ts": frame.ints("ts")[real],
            "wscale": frame.ints("tcp_wscale")[real],
            "win": frame.ints("tcp_window", 0)[real],
            "rows": real,
        }
        ctx_sides, self.past = self._context(context)
        k = len(ctx_sides)
        if k:
            c = ctx_sides
            extra = {
                "flow": np.searchsorted(self.flow_ids, c.key // 2),
                "side": c.key % 2,
                "flags": np.full(k, ACK, dtype=np.int64),  # a plain ACK: no SYN, FIN or RST
                "seq": c.seq,
                "ack": c.ack,
                "seglen": np.zeros(k, dtype=np.int64),
                "ts": c.ts,
                "wscale": np.full(k, -1, dtype=np.int64),
                "win": np.zeros(k, dtype=np.int64),
                "rows": np.full(k, -1, dtype=np.int64),
            }
            cols = {name: np.concatenate([extra[name], cols[name]]) for name in cols}
        order = np.argsort(cols["flow"], kind="stable")  # context rows first in their flow
        cols = {name: values[order] for name, values in cols.items()}
        self.rows = cols["rows"]
        self.real = self.rows >= 0
        self.n = n = len(self.rows)
        self.flow, self.side = cols["flow"], cols["side"]
        self.group = self.flow * 2 + self.side  # one side of one flow
        self.flags, self.seq, self.ack = cols["flags"], cols["seq"], cols["ack"]
        self.seglen, self.ts = cols["seglen"], cols["ts"]
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
        self.first_synack[self.past.synack] = -1  # seen in an earlier batch
        self.useq = self._unwrapped()
        self._wscale = cols["wscale"]
        self.window = cols["win"] << self._shift(cols["wscale"])
        self.scale_known = self._scale_known(cols["wscale"])
        # a context row's state: its side's nextseq (as its own end), when it was reached,
        # its analysis bits, its run of duplicate ACKs, an open hole and the ACK marker
        self.ctx = np.flatnonzero(~self.real)
        self.when0 = np.full(n, -1, dtype=np.int64)
        self.ctx_flags = np.zeros(n, dtype=np.int64)
        self.ctx_runs = np.zeros(n, dtype=np.int64)
        self.ctx_hole = np.zeros(n, dtype=bool)
        self.ctx_hole_u = np.zeros(n, dtype=np.int64)
        self.ctx_marker = np.zeros(n, dtype=bool)
        if k:
            where = np.argsort(order)[:k]  # where each context entry went
            c = ctx_sides
            self.length[where] = np.where(c.next_u == UNSET, 0, c.next_u)
            self.window[where] = c.window
            self.when0[where] = c.next_time
            self.ctx_flags[where] = c.flags
            self.ctx_runs[where] = c.runs
            self.ctx_hole[where] = c.hole
            self.ctx_hole_u[where] = c.hole_u
            self.ctx_marker[where] = c.marker

    def _context(self, context: Context | None) -> tuple[SideState, FlowState]:
        """The context entries of the flows in this batch, and per local flow its past
        (flows without one: no SYN-ACK, RTT 0, no SYN, no offers)."""
        past = FlowState(
            key=self.flow_ids,
            synack=np.zeros(self.count, dtype=bool),
            rtt=np.zeros(self.count, dtype=np.int64),
            last_syn=np.full(self.count, -1, dtype=np.int64),
            offer0=np.full(self.count, -1, dtype=np.int64),
            offer1=np.full(self.count, -1, dtype=np.int64),
        )
        if context is None or not self.count:
            return SideState.empty(), past
        f = context.flows
        at = np.searchsorted(self.flow_ids, f.key)
        ok = (at < self.count) & (self.flow_ids[np.minimum(at, self.count - 1)] == f.key)
        for name in ("synack", "rtt", "last_syn", "offer0", "offer1"):
            getattr(past, name)[at[ok]] = getattr(f, name)[ok]
        s = context.sides
        flow = s.key // 2
        at = np.searchsorted(self.flow_ids, flow)
        ok = (at < self.count) & (self.flow_ids[np.minimum(at, self.count - 1)] == flow)
        keep = np.flatnonzero(ok)
        return s.take(keep[np.argsort(s.key[keep], kind="stable")]), past

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
        earlier = np.stack([self.past.offer0, self.past.offer1])
        offer = np.where(earlier >= 0, earlier, offer)  # an earlier batch's offer came first
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
        known: Bools = self.pos > self.first_synack[self.flow]
        for s, earlier in ((0, self.past.offer0), (1, self.past.offer1)):
            offered = first_per(self.flow, self.count, self.syn & (self.side == s) & (wscale >= 0))
            offered[earlier >= 0] = -1
            known |= (self.side != s) & (self.pos > offered[self.flow])
        return known

    def offers(self) -> tuple[I64, I64]:
        """Per flow, the window-scale shift each side's SYN offered so far (-1: none)."""
        offer, _ = self._offers(self._wscale)
        return offer[0], offer[1]

    def next_seq(self, excluded: Bools) -> tuple[I64, I64, I64]:
        """Before each packet, its side's next expected sequence number: the highest seq + len
        seen on the side, leaving out `excluded` packets (zero-window probes). Returned raw (0
        while unset, as Wireshark keeps it), unwrapped (UNSET while unset) and the time the
        highest value was first reached."""
        end = np.where(excluded, UNSET, self.useq + self.length)
        order = self.by_side()
        best_sorted = group_cummax(end[order], self.group[order])
        best = np.empty(self.n, dtype=np.int64)
        best[order] = best_sorted
        starts = np.r_[True, self.group[order][1:] != self.group[order][:-1]]
        raised = (starts | np.r_[True, best_sorted[1:] > best_sorted[:-1]]) & (best_sorted != UNSET)
        reached = np.maximum.accumulate(np.where(raised, np.arange(self.n), -1))
        # the time of the packet that raised it (a context row knows its own, earlier time)
        stamp = np.where(self.when0 >= 0, self.when0, self.ts)[order]
        when_sorted = np.where(reached >= 0, stamp[np.maximum(reached, 0)], 0)
        when = np.empty(self.n, dtype=np.int64)
        when[order] = when_sorted
        self.next_after, self.next_after_time = best, when  # after each packet
        before = self.at(best, self.prev, UNSET)
        unset = before == UNSET
        raw = np.where(unset, 0, (self.seq + (before - self.useq)) % WRAP)
        return raw, before, self.at(when, self.prev)

    def handshake_rtt(self) -> tuple[I64, I64]:
        """Per flow, tshark's tcp.analysis.initial_rtt in ns (0 when unknown), and the position
        of the packet that set it: the first packet with ACK and without SYN after a SYN (the
        handshake's ACK, or a RST-ACK refusing it), less the time of the last SYN before it."""
        pure_syn = self.real & ((self.flags & (SYN | ACK)) == SYN)
        last_syn = last_index(self.flow, pure_syn)
        syn_time = np.where(
            last_syn >= 0, self.at(self.ts, last_syn), self.past.last_syn[self.flow]
        )
        acks = self.real & ((self.flags & (SYN | ACK)) == ACK) & (syn_time >= 0)
        done = first_per(self.flow, self.count, acks)
        rtt = np.zeros(self.count, dtype=np.int64)
        ok = np.flatnonzero(done < self.n)
        rtt[ok] = self.ts[done[ok]] - syn_time[done[ok]]
        known = self.past.rtt > 0  # an earlier batch saw the handshake end
        rtt[known], done[known] = self.past.rtt[known], -1
        return rtt, done

    def last_syn_time(self) -> I64:
        """Per flow, the time of the last SYN without ACK so far (-1: none)."""
        pure_syn = self.real & ((self.flags & (SYN | ACK)) == SYN)
        out = self.past.last_syn.copy()
        rows = np.flatnonzero(pure_syn)
        np.maximum.at(out, self.flow[rows], self.ts[rows])
        return out
