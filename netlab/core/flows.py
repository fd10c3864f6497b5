"""Flow assignment: which flow each packet belongs to, for a whole frame at once.

As tshark's `tcp.stream` and `udp.stream`: a bidirectional 5-tuple of the outermost headers,
and a new TCP flow when a SYN (without ACK) reuses the ports with another initial sequence
number than the one its side started with (a retransmitted SYN stays in its flow). ICMP
queries and their replies (echo, timestamp, ...) are keyed by their identifier, as if it were
both ports, so each ping run is a flow. Packets with addresses but no ports (ICMP errors
among them) are grouped by address pair and protocol. One number space for
every protocol, numbered from 0 in order of each flow's first packet; -1 without addresses.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from .columns import Columns, columns

I64 = npt.NDArray[np.int64]
SYN, ACK = 0x002, 0x010


def _endpoint_codes(df: pd.DataFrame) -> tuple[I64, I64]:
    """One code space for the source and destination addresses (-1: none)."""
    both = pd.api.types.union_categoricals(
        [df["src"].astype("category"), df["dst"].astype("category")], ignore_order=True
    )
    codes = np.asarray(both.codes, dtype=np.int64)
    return codes[: len(df)], codes[len(df) :]


def flow_ports(data: pd.DataFrame | Columns) -> tuple[I64, I64]:
    """The two port numbers of each row's flow key (-1: none): the transport ports, or an ICMP
    query's identifier on both sides."""
    cols = columns(data)
    ident, sport, dport = cols.ints("icmp_id"), cols.ints("sport"), cols.ints("dport")
    query = ident >= 0
    return np.where(query, ident, sport), np.where(query, ident, dport)


def assign_flows(df: pd.DataFrame) -> I64:
    """The flow number of every row of a netlab frame (rows in capture order)."""
    return assign_flows_and_sides(df)[0]


def assign_flows_and_sides(df: pd.DataFrame) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Each row's flow number, and which of its flow's two sides sent it (True: the side with
    the lower endpoint code; a label, not the originator)."""
    flows, forward, _ = assign_flows_sides_reuse(df)
    return flows, forward


def assign_flows_sides_reuse(
    df: pd.DataFrame,
) -> tuple[I64, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """As `assign_flows_and_sides`, and which rows are SYNs that reuse the ports of an earlier
    flow (tshark's tcp.analysis.reused_ports)."""
    n = len(df)
    out = np.full(n, -1, dtype=np.int64)
    if not n:
        return out, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    src, dst = _endpoint_codes(df)
    sport, dport = flow_ports(df)
    proto = pd.factorize(df["proto"].astype(object).fillna(""))[0].astype(np.int64)
    if "sensor" in df.columns:  # one connection seen by two sensors is two flows
        sensor = pd.factorize(df["sensor"].astype(object).fillna(""))[0].astype(np.int64)
        proto = proto * (int(sensor.max()) + 1) + sensor
    has = (src >= 0) & (dst >= 0)
    # the endpoint (address, port) of each side, and which side is "lower": a direction-free key
    a = src * 65536 + np.maximum(sport, 0)
    b = dst * 65536 + np.maximum(dport, 0)
    forward = a <= b
    lo, hi = np.where(forward, a, b), np.where(forward, b, a)
    key = _key(proto, lo, hi)
    flags = df["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)
    seq = df["tcp_seq"].to_numpy(dtype=np.int64, na_value=-1)
    segment, reused = tcp_reuse(flags, seq, key, forward)
    group = key * (int(segment.max()) + 1) + segment  # key < n and segments <= n: no overflow
    rows = np.flatnonzero(has)
    # factorize numbers values in order of first appearance: flows in order of first packet
    out[rows] = pd.factorize(group[rows])[0]
    return out, forward, reused & has


def _key(proto: I64, lo: I64, hi: I64) -> I64:
    """Dense codes (0 .. n-1) of the triples (proto, lo, hi): one hash of both endpoint
    columns together, then the triple packed into one integer and hashed once more (pairs
    are hashed step by step instead when the packed value would not fit in 62 bits)."""
    n = len(lo)
    ends = pd.factorize(np.concatenate([lo, hi]))[0].astype(np.int64)
    width = int(ends.max()) + 1 if n else 1
    if width * width * (int(proto.max()) + 1 if n else 1) >= 1 << 62:
        return _combine(_combine(proto, ends[:n]), ends[n:])
    packed = (proto * width + ends[:n]) * width + ends[n:]
    return pd.factorize(packed)[0].astype(np.int64)


def _combine(a: I64, b: I64) -> I64:
    """Dense codes of the pairs (a, b): hashing integers, not tuples."""
    da = pd.factorize(a)[0].astype(np.int64)
    db, uniques = pd.factorize(b)
    return pd.factorize(da * max(len(uniques), 1) + db.astype(np.int64))[0].astype(np.int64)


def tcp_reuse(
    flags: I64, seq: I64, key: I64, forward: npt.NDArray[np.bool_]
) -> tuple[I64, npt.NDArray[np.bool_]]:
    """For each row (TCP flags and seq, -1 where none; its 5-tuple's code and side), how many
    times its 5-tuple was reused by a new SYN before it, and whether it is such a SYN."""
    syn = (flags >= 0) & ((flags & (SYN | ACK)) == SYN)
    side = key * 2 + forward.astype(np.int64)  # one 5-tuple, one direction
    order = np.argsort(side, kind="stable")  # by side, then in capture order
    s_side, s_syn, s_seq = side[order], syn[order], seq[order]
    starts = np.r_[True, s_side[1:] != s_side[:-1]]
    # the first sequence number this side used: the base a new SYN is compared with
    base_idx = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    # a SYN restarts its side: the base is the last SYN before it (or the side's first packet)
    last_syn = np.where(s_syn, np.arange(len(order)), -1)
    prev_syn = np.maximum.accumulate(np.where(starts, -1, np.r_[-1, last_syn[:-1]]))
    prev_syn = np.where(prev_syn >= base_idx, prev_syn, -1)
    base = np.where(prev_syn >= 0, s_seq[np.maximum(prev_syn, 0)], s_seq[base_idx])
    new = s_syn & ~starts & (s_seq != base)
    reused = np.zeros(len(flags), dtype=np.int64)
    reused[order[new]] = 1
    # a reuse starts a new flow for both directions of the 5-tuple, from that packet on
    k_order = np.argsort(key, kind="stable")
    count = np.cumsum(reused[k_order])
    restart = np.r_[True, key[k_order][1:] != key[k_order][:-1]]
    offset = np.maximum.accumulate(np.where(restart, count - reused[k_order], 0))
    out = np.empty(len(flags), dtype=np.int64)
    out[k_order] = count - offset
    return out, reused.astype(bool)
