"""ACKed unseen segment: an ACK beyond what the other side was seen to send.

Wireshark keeps, per side, a "max seq to be acked" mark. It follows the side's next sequence
number while the side's data is contiguous; at a hole (a segment that moves nextseq without
starting at the mark) it waits at the hole's start, until a segment starting exactly there
fills it or an ACK goes past it (that ACK is flagged, and the mark catches up with nextseq).
Where no hole is open, an ACK past nextseq is flagged only if the data side has seen no such
ACK since its own ACK number last changed (tshark 4.0 parks the side's duplicate-ACK counter
at -1 to say so).

Whether a segment fills a hole, or an ACK passes it, does not depend on the mark: both are
found for every possible hole at once. Only which holes are real (a hole cannot open while
another is open on the same side) is a chain, walked one hole per side per round.
"""

from __future__ import annotations

import numpy as np

from .tcp_flags import ACK_LOST_SEGMENT
from .tcp_sides import ACK, I64, UNSET, Bools, Sides, group_cummax, signed


class HoleState:
    """How each side (group) ends the batch: an open hole's start (unwrapped; UNSET: none)
    and whether an ACK past nextseq came since its ACK number last changed."""

    def __init__(self, n_groups: int) -> None:
        self.start = np.full(n_groups, UNSET, dtype=np.int64)
        self.marker = np.zeros(n_groups, dtype=bool)


def ack_lost(
    p: Sides, before: I64, probe: Bools, runs: I64, ack_changed: Bools
) -> tuple[I64, HoleState]:
    """The ACK_LOST_SEGMENT bit of each packet, and how each side ends. `before` is each
    packet's side's nextseq before it (unwrapped), `runs` the duplicate-ACK count of each
    packet's side after it and `ack_changed` whether a packet's ACK number differs from its
    side's previous one. A context row brings its side's open hole and marker along."""
    n = p.n
    out = np.zeros(n, dtype=np.int64)
    state = HoleState(2 * p.count)
    if not n:
        return out, state
    after = np.where(probe, before, np.maximum(before, p.useq + p.length))  # nextseq after
    acking = p.real & (p.rev >= 0) & ((p.flags & ACK) != 0)
    # an ACK on the other side's line: through that side's last packet before it
    ack_u = p.at(p.useq, p.rev) + signed(p.ack - p.at(p.seq, p.rev))
    other_next = p.at(after, p.rev, UNSET)  # the other side's nextseq when the ACK is sent
    acking &= other_next != UNSET
    # holes: a segment that moves its side's nextseq without starting at it, or one an
    # earlier batch left open
    opener = p.real & ~probe & (before != UNSET) & (p.useq != before) & (after > before)
    opener |= p.ctx_hole
    openers = np.flatnonzero(opener)
    inside = np.zeros(n, dtype=bool)  # ACKs sent while the side they ack has a hole open
    passed = np.zeros(n, dtype=bool)  # the ACKs that go past a hole (flagged, close it)
    if len(openers):
        start = np.where(p.ctx_hole, p.ctx_hole_u, before)[openers]  # where each hole starts
        close, by_ack = _closers(p, openers, start, ack_u, acking, probe)
        real = _chain(p.group[openers], openers, close)
        o, c, a = openers[real], close[real], by_ack[real]
        # the ACKs of the other side while a hole is open (the one that passes it included)
        inside = _spans(p, o, np.where(a, c + 1, c))
        passed[c[a & (c < n)]] = True
        still_open = c >= n
        state.start[p.group[o[still_open]]] = start[real][still_open]
    beyond = acking & ~inside & (ack_u > other_next)
    # a context row is an ACK number change of its side, unless its marker says otherwise
    changes = ack_changed | (~p.real & ~p.ctx_marker)
    flagged, state.marker = _first_since_change(p, beyond, runs, changes)
    out[passed] = ACK_LOST_SEGMENT
    out[flagged] = ACK_LOST_SEGMENT
    return out, state


def _closers(
    p: Sides, openers: I64, start: I64, ack_u: I64, acking: Bools, probe: Bools
) -> tuple[I64, Bools]:
    """For each possible hole, the packet that closes it (p.n if none): the first later
    segment of its side starting exactly at the hole, or the first later ACK of the other
    side past it, whichever comes first; and whether it was the ACK."""
    n = p.n
    g = p.group[openers]
    fill = _first_match(p.group, p.useq, p.real & ~probe, g, start, openers, n)
    # ACKs of the side acking group g: the other side of the same flow
    acked_group = np.where(acking, p.flow * 2 + (1 - p.side), -1)
    passing = _first_above(acked_group, ack_u, g, start, openers, n)
    return np.minimum(fill, passing), passing < fill


def _first_match(group: I64, value: I64, usable: Bools, g: I64, v: I64, after: I64, n: int) -> I64:
    """For each query (g, v, after): the first usable position > after with (group, value) ==
    (g, v); n if none. One sort, one search for all queries."""
    idx = np.flatnonzero(usable)
    order = idx[np.lexsort((idx, value[idx], group[idx]))]
    kg, kv = group[order], value[order]
    lo = _search(kg, kv, order, g, v, after + 1)
    found = lo < len(order)
    found[found] &= (kg[lo[found]] == g[found]) & (kv[lo[found]] == v[found])
    return np.where(found, order[np.minimum(lo, len(order) - 1)], n)


def _search(kg: I64, kv: I64, kp: I64, g: I64, v: I64, p: I64) -> I64:
    """Positions of the queries in the rows sorted by (kg, kv, kp): lexicographic search."""
    return np.searchsorted(_keys(kg, kv, kp), _keys(g, v, p)).astype(np.int64)


def _first_above(group: I64, value: I64, g: I64, v: I64, after: I64, n: int) -> I64:
    """For each query: the first position > after in group g whose value is > v; n if none.
    Values of a group mostly rise (they are ACK numbers), so a running maximum answers most
    queries; the few it cannot (the maximum passed v before `after`) are looked up singly."""
    idx = np.flatnonzero(group >= 0)
    order = idx[np.argsort(group[idx], kind="stable")]
    og = group[order]
    best = group_cummax(value[order], og)
    from_after = np.searchsorted(_keys(og, order), _keys(g, after + 1)).astype(np.int64)
    hit = np.searchsorted(_keys(og, best), _keys(g, v + 1)).astype(np.int64)
    out = np.full(len(g), n, dtype=np.int64)
    ok = hit < len(order)
    ok[ok] &= og[hit[ok]] == g[ok]
    early = ok & (hit < from_after)
    late = ok & ~early
    out[late] = order[hit[late]]
    for k in np.flatnonzero(early).tolist():  # rare: an ACK past v came before the hole
        lo = int(from_after[k])
        hi = int(np.searchsorted(og, g[k], side="right"))
        above = np.flatnonzero(value[order[lo:hi]] > v[k])
        if len(above):
            out[k] = order[lo + int(above[0])]
    return out


def _chain(g: I64, openers: I64, close: I64) -> Bools:
    """Which possible holes are real: a side's first one is; after a hole closes, the next is
    the first possible one after the close. Walked one hole per side per round."""
    real = np.zeros(len(openers), dtype=bool)
    order = np.lexsort((openers, g))
    og, oo, oc = g[order], openers[order], close[order]
    first = np.flatnonzero(np.r_[True, og[1:] != og[:-1]])
    group_end = np.r_[first[1:], len(og)]
    cur = first.copy()
    end = group_end.copy()
    while len(cur):
        real[order[cur]] = True
        # the next possible hole of the same side after this one closed
        nxt = np.searchsorted(_keys(og, oo), _keys(og[cur], oc[cur]), side="right")
        keep = nxt < end
        cur, end = nxt[keep], end[keep]
    return real


def _keys(*columns: I64) -> np.recarray:
    """Rows to search lexicographically (numpy compares record arrays field by field)."""
    return np.rec.fromarrays([np.asarray(c, dtype=np.int64) for c in columns])


def _spans(p: Sides, start: I64, stop: I64) -> Bools:
    """The packets strictly after `start` and before `stop` of the other side of `start`'s
    packet (the ACKs of its data), for several non-overlapping spans per side."""
    out = np.zeros(p.n, dtype=bool)
    for s in (0, 1):
        mine = p.side[start] == s
        diff = np.zeros(p.n + 1, dtype=np.int64)
        np.add.at(diff, start[mine] + 1, 1)
        np.add.at(diff, np.minimum(stop[mine], p.n), -1)
        out |= (np.cumsum(diff[:-1]) > 0) & (p.side != s)
    return out


def _first_since_change(p: Sides, beyond: Bools, runs: I64, changes: Bools) -> tuple[I64, Bools]:
    """Of the ACKs past nextseq outside holes, those tshark flags: the acked side's duplicate
    ACK count is 0 and no such ACK came since that side's ACK number last changed; and per
    side whether one came since (the marker a context row carries on)."""
    # a marked context row stands for such an ACK before the batch
    virtual = np.flatnonzero(p.ctx_marker)
    cand = np.flatnonzero(beyond)
    acked = np.concatenate([virtual, p.rev[cand]])  # the acked side's last packet before
    at = np.concatenate([virtual, cand])
    is_real = np.r_[np.zeros(len(virtual), dtype=bool), np.ones(len(cand), dtype=bool)]
    marker = np.zeros(2 * p.count, dtype=bool)
    change_pos = np.flatnonzero(changes)
    change_pos = change_pos[np.lexsort((change_pos, p.group[change_pos]))]
    change_group = p.group[change_pos]
    last_change_of = np.full(2 * p.count, -1, dtype=np.int64)
    if len(change_pos):
        np.maximum.at(last_change_of, change_group, change_pos)
    if not len(at):
        return at, marker
    acked_group = p.group[acked]
    # the acked side's last ACK change at or before that packet
    k = np.searchsorted(_keys(change_group, change_pos), _keys(acked_group, acked), "right") - 1
    ok = k >= 0
    ok[ok] &= change_group[k[ok]] == acked_group[ok]
    last_change = np.where(ok, change_pos[np.maximum(k, 0)], -1)
    # the previous candidate acking the same side
    order = np.lexsort((at, acked_group))
    prev_cand = np.full(len(at), -2, dtype=np.int64)
    sg = acked_group[order]
    prev_sorted = np.where(np.r_[False, sg[1:] == sg[:-1]], np.r_[-2, at[order][:-1]], -2)
    prev_cand[order] = prev_sorted
    fresh = prev_cand < last_change
    flagged: I64 = at[is_real & fresh & (p.at(runs, acked) == 0)]
    # a side's marker at the end: its last candidate came after its last change
    last_cand = np.full(2 * p.count, -1, dtype=np.int64)
    np.maximum.at(last_cand, acked_group, at)
    marker = last_cand > last_change_of
    marker &= last_cand >= 0
    return flagged, marker
