"""Wireshark's TCP analysis flags for every packet of a frame at once.

The meaning is that of Wireshark's `tcp_analyze_sequence_number` (epan/dissectors/packet-tcp.c,
tshark 4.0, default preferences, one pass in capture order): each side of a connection keeps
its next expected sequence number, last ACK, window and run of duplicate ACKs, and each packet
is compared with them. Here those states are running maxima, shifts and run lengths over the
packets of a side (`tcp_sides`), so no Python runs per packet; ACKed-unseen-segment's mark is
walked one hole at a time (`tcp_holes`). Left out: SACK-based fast retransmission, MPTCP, the
manual override, and Wireshark moving a side's state on a zero-window-probe ACK.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from .columns import Columns
from .tcp_carry import carry_out
from .tcp_context import Context
from .tcp_flags import (
    DUPLICATE_ACK,
    FAST_RETRANSMISSION,
    KEEP_ALIVE,
    KEEP_ALIVE_ACK,
    LOST_SEGMENT,
    OUT_OF_ORDER,
    RETRANSMISSION,
    SPURIOUS_RETRANSMISSION,
    WINDOW_FULL,
    WINDOW_UPDATE,
    ZERO_WINDOW,
    ZERO_WINDOW_PROBE,
    ZERO_WINDOW_PROBE_ACK,
)
from .tcp_holes import ack_lost
from .tcp_sides import I64, RST, UNSET, WRAP, Bools, Sides, signed

FAST_RETRANSMISSION_NS = 20_000_000  # a retransmission within 20 ms of the dup ACKs
OUT_OF_ORDER_NS = 3_000_000  # without a handshake RTT, "soon after" means 3 ms


def tcp_analysis(df: pd.DataFrame, flows: I64, forward: Bools) -> npt.NDArray[np.uint16]:
    """The tcp_analysis bit set of every row of a frame (0 for rows that are not TCP).

    `flows` numbers each row's flow and `forward` tells its side, as
    `flows.assign_flows_and_sides` gives them."""
    out = np.zeros(len(df), dtype=np.uint16)
    p = Sides(df, flows, forward)
    if p.n:
        out[p.rows] = analyse(p, carry=False)[0].astype(np.uint16)
    return out


def analyse_batch(
    df: pd.DataFrame | Columns, flows: I64, forward: Bools, context: Context | None
) -> tuple[npt.NDArray[np.uint16], Context]:
    """As `tcp_analysis`, for one batch of a longer capture: `context` is what the earlier
    batches left (flows numbered as here); returns the flags and the context after it."""
    out = np.zeros(len(df), dtype=np.uint16)
    p = Sides(df, flows, forward, context)
    if not p.n:
        return out, Context.empty()
    flags, state = analyse(p)
    out[p.rows[p.real]] = flags[p.real].astype(np.uint16)
    return out, state


def _probes(p: Sides) -> Bools:
    """Zero-window probes: one byte at the next expected sequence number while the other side's
    window is 0. A probe does not advance nextseq, so the two depend on each other: start with
    every candidate left out, then keep only the real probes out, until nothing changes."""
    candidate: Bools = p.real & (p.seglen == 1) & (p.rev >= 0)
    candidate &= p.at(p.window, p.rev, -1) == 0
    probe = candidate
    for _ in range(8):
        nextseq, _, _ = p.next_seq(probe)
        again = candidate & (p.seq == nextseq)
        if np.array_equal(again, probe):
            break
        probe = again
    return probe


def analyse(p: Sides, carry: bool = True) -> tuple[I64, Context]:
    """The flags of the packets of `p`, in its order (a context row keeps its side's), and
    (`carry`) the state each side and flow is left in."""
    seq, ack, seglen, window, sfr = p.seq, p.ack, p.seglen, p.window, p.sfr
    probe = _probes(p)
    nextseq, before, nextseq_time = p.next_seq(probe)
    flags = np.where(probe, ZERO_WINDOW_PROBE, 0).astype(np.int64)
    rest = ~probe & p.real  # a probe skips the checks up to the duplicate ACK
    flags |= np.where(rest & (window == 0) & ~sfr, ZERO_WINDOW, 0)
    lost = (before != UNSET) & (p.useq > before) & ((p.flags & RST) == 0)
    flags |= np.where(rest & lost, LOST_SEGMENT, 0)
    keep_alive = rest & (seglen <= 1) & (seq == (nextseq - 1) % WRAP) & ~sfr
    flags |= np.where(keep_alive, KEEP_ALIVE, 0)
    last_ack, last_window = p.at(ack, p.prev), p.at(window, p.prev)
    same_place = rest & (seglen == 0) & (seq == nextseq) & (ack == last_ack) & ~sfr
    flags |= np.where(same_place & (window != 0) & (window != last_window), WINDOW_UPDATE, 0)
    rev_ack, rev_window = p.at(ack, p.rev), p.at(window, p.rev)
    full = rest & (seglen > 0) & (p.rev >= 0) & p.scale_known & ~sfr
    full &= (seq + seglen) % WRAP == (rev_ack + rev_window) % WRAP
    flags |= np.where(full, WINDOW_FULL, 0)
    # the other side's last packet's flags, so far only probes and keep-alives count
    flags[p.ctx] = p.ctx_flags[p.ctx]
    rev_flags = p.at(flags, p.rev)
    repeat = same_place & (window == last_window)
    ka_ack = repeat & (window != 0) & ((rev_flags & KEEP_ALIVE) != 0)
    flags |= np.where(ka_ack, KEEP_ALIVE_ACK, 0)
    probe_ack = rest & (seglen == 0) & (window == 0) & (window == last_window) & (seq == nextseq)
    probe_ack &= (ack == last_ack) & ((rev_flags & ZERO_WINDOW_PROBE) != 0) & ~sfr
    flags |= np.where(probe_ack, ZERO_WINDOW_PROBE_ACK, 0)
    dup = repeat & (window != 0) & ~ka_ack & ~probe_ack
    flags |= np.where(dup, DUPLICATE_ACK, 0)
    ack_changed = p.real & (ack != last_ack)  # a first packet: against 0, as Wireshark starts
    runs = _runs(p, dup, ack_changed)
    lost_acks, holes = ack_lost(p, before, probe, runs, ack_changed)
    flags |= lost_acks
    flags |= _retransmissions(p, nextseq, nextseq_time, keep_alive, runs)
    flags[p.ctx] = p.ctx_flags[p.ctx]
    return flags, carry_out(p, flags, runs, holes) if carry else Context.empty()


def _runs(p: Sides, dup: Bools, ack_changed: Bools) -> I64:
    """Each side's duplicate-ACK count after each of its packets: dup ACKs since its ACK number
    last changed (tshark 4.0 resets the count on a new ACK number, not on any other packet)."""
    order = p.by_side()
    d = np.where(p.real, dup, p.ctx_runs)[order].astype(np.int64)  # a context row: its run
    starts = np.r_[True, p.group[order][1:] != p.group[order][:-1]]
    count = np.cumsum(d)
    reset = ack_changed[order] | starts
    base = np.maximum.accumulate(np.where(reset, count - d, 0))
    out = np.empty(p.n, dtype=np.int64)
    out[order] = count - base
    return out


def _retransmissions(
    p: Sides, nextseq: I64, nextseq_time: I64, keep_alive: Bools, runs: I64
) -> I64:
    """Spurious, fast and plain retransmissions and out-of-order segments: data (or SYN/FIN)
    the other side already acknowledged, or that does not advance its side's nextseq."""
    seq, seglen = p.seq, p.seglen
    data = p.real & ((seglen > 0) | (p.length > seglen)) & ~keep_alive
    rev_ack, rev_ack_time, rev_runs = p.at(p.ack, p.rev), p.at(p.ts, p.rev), p.at(runs, p.rev)
    spurious = data & (seglen > 0) & (rev_ack != 0)
    spurious &= signed((seq + seglen) % WRAP - rev_ack) <= 0
    # not advanced: behind nextseq, unless it is new data right after a zero-window probe
    behind = (nextseq != 0) & (signed(seq - nextseq) < 0)
    behind &= ~((seglen > 1) & ((nextseq - 1) % WRAP == seq))
    left = data & ~spurious & behind
    # tshark measures both times as unsigned 64-bit nanoseconds: where time runs backwards
    # (merged or badly clocked captures) the difference is huge, so neither test holds
    since_ack = p.ts - rev_ack_time
    soon = (since_ack >= 0) & (since_ack < FAST_RETRANSMISSION_NS)
    fast = left & soon & (rev_runs >= 2) & (rev_ack == seq)
    left &= ~fast
    since_next = p.ts - nextseq_time
    soon = (since_next >= 0) & (since_next < _ooo_threshold(p))
    ooo = left & soon & (nextseq != (seq + p.length) % WRAP)
    left &= ~ooo
    out: I64 = np.where(spurious, SPURIOUS_RETRANSMISSION | RETRANSMISSION, 0)
    out |= np.where(fast, FAST_RETRANSMISSION | RETRANSMISSION, 0)
    out |= np.where(ooo, OUT_OF_ORDER, 0)
    out |= np.where(left, RETRANSMISSION, 0)
    return out


def _ooo_threshold(p: Sides) -> I64:
    """ "Soon after the highest segment": the handshake RTT once it is known, else 3 ms."""
    rtt, done = p.handshake_rtt()
    known = (p.pos > done[p.flow]) & (rtt[p.flow] > 0)
    return np.where(known, rtt[p.flow], OUT_OF_ORDER_NS)
