"""Flow assignment: which flow each packet belongs to, for a whole frame at once.

As tshark's `tcp.stream` and `udp.stream`: a bidirectional 5-tuple of the outermost headers,
and a new TCP flow when a SYN (without ACK) reuses the ports with another initial sequence
number than the one its side started with (a retransmitted SYN stays in its flow). Packets
with addresses but no ports are grouped by address pair and protocol. One number space for
every protocol, numbered from 0 in order of each flow's first packet; -1 without addresses.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

I64 = npt.NDArray[np.int64]
SYN, ACK = 0x002, 0x010


def _endpoint_codes(df: pd.DataFrame) -> tuple[I64, I64]:
    """One code space for the source and destination addresses (-1: none)."""
    both = pd.api.types.union_categoricals(
        [df["src"].astype("category"), df["dst"].astype("category")], ignore_order=True
    )
    codes = np.asarray(both.codes, dtype=np.int64)
    return codes[: len(df)], codes[len(df) :]


def assign_flows(df: pd.DataFrame) -> I64:
    """The flow number of every row of a netlab frame (rows in capture order)."""
    return assign_flows_and_sides(df)[0]


def assign_flows_and_sides(df: pd.DataFrame) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Each row's flow number, and which of its flow's two sides sent it (True: the side with
    the lower endpoint code; a label, not the originator)."""
    n = len(df)
    out = np.full(n, -1, dtype=np.int64)
    if not n:
        return out, np.zeros(0, dtype=bool)
    src, dst = _endpoint_codes(df)
    sport = df["sport"].to_numpy(dtype=np.int64, na_value=-1)
    dport = df["dport"].to_numpy(dtype=np.int64, na_value=-1)
    proto = pd.factorize(df["proto"].astype(object).fillna(""))[0].astype(np.int64)
    has = (src >= 0) & (dst >= 0)
    # the endpoint (address, port) of each side, and which side is "lower": a direction-free key
    a = src * 65536 + np.maximum(sport, 0)
    b = dst * 65536 + np.maximum(dport, 0)
    forward = a <= b
    lo, hi = np.where(forward, a, b), np.where(forward, b, a)
    key = _combine(_combine(proto, lo), hi)
    segment = _tcp_reuse(df, key, forward)
    group = _combine(key, segment)
    rows = np.flatnonzero(has)
    # number flows in order of their first packet
    firsts, inverse = np.unique(group[rows], return_inverse=True)
    first_row = np.full(len(firsts), n, dtype=np.int64)
    np.minimum.at(first_row, inverse, rows)
    rank = np.empty(len(firsts), dtype=np.int64)
    rank[np.argsort(first_row, kind="stable")] = np.arange(len(firsts))
    out[rows] = rank[inverse]
    return out, forward


def _combine(a: I64, b: I64) -> I64:
    """Dense codes of the pairs (a, b): hashing integers, not tuples."""
    da = pd.factorize(a)[0].astype(np.int64)
    db, uniques = pd.factorize(b)
    return pd.factorize(da * max(len(uniques), 1) + db.astype(np.int64))[0].astype(np.int64)


def _tcp_reuse(df: pd.DataFrame, key: I64, forward: npt.NDArray[np.bool_]) -> I64:
    """For each row, how many times its 5-tuple was reused by a new SYN before it."""
    flags = df["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)
    seq = df["tcp_seq"].to_numpy(dtype=np.int64, na_value=-1)
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
    reused = np.zeros(len(df), dtype=np.int64)
    reused[order[new]] = 1
    # a reuse starts a new flow for both directions of the 5-tuple, from that packet on
    k_order = np.argsort(key, kind="stable")
    count = np.cumsum(reused[k_order])
    restart = np.r_[True, key[k_order][1:] != key[k_order][:-1]]
    offset = np.maximum.accumulate(np.where(restart, count - reused[k_order], 0))
    out = np.empty(len(df), dtype=np.int64)
    out[k_order] = count - offset
    return out


FLOW_COLUMNS = (
    "flow",
    "proto",
    "src",
    "sport",
    "dst",
    "dport",
    "first",
    "last",
    "duration",
    "orig_packets",
    "orig_bytes",
    "resp_packets",
    "resp_bytes",
    "orig_payload",
    "resp_payload",
    "server_name",
)


def flow_table(df: pd.DataFrame, flows: I64 | None = None) -> pd.DataFrame:
    """One row per flow of a frame: the originator's side first (the sender of the first SYN
    without ACK, else of the first packet), times, and packets, frame bytes and payload bytes
    per direction (as tshark's conversation table counts them)."""
    flows = assign_flows(df) if flows is None else flows
    rows = np.flatnonzero(flows >= 0)
    if not len(rows):
        return pd.DataFrame({name: [] for name in FLOW_COLUMNS})
    f = flows[rows]
    count = int(f.max()) + 1
    sub = df.iloc[rows]
    flags = sub["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)
    syn = (flags >= 0) & ((flags & (SYN | ACK)) == SYN)
    position = np.arange(len(rows))
    first = np.full(count, len(rows), dtype=np.int64)
    np.minimum.at(first, f, position)
    first_syn = np.full(count, len(rows), dtype=np.int64)
    np.minimum.at(first_syn, f[syn], position[syn])
    origin = np.where(first_syn < len(rows), first_syn, first)
    src, _ = _endpoint_codes(sub)
    sport = sub["sport"].to_numpy(dtype=np.int64, na_value=-1)
    # a packet goes the originator's way when it leaves from the originator's endpoint
    orig = (src == src[origin][f]) & (sport == sport[origin][f])
    orig |= position == origin[f]
    length = sub["length"].to_numpy(dtype=np.int64)
    payload = sub["paylen"].to_numpy(dtype=np.int64, na_value=0)
    ts = sub["ts"].array.asi8
    last = np.full(count, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, f, ts)
    start = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(start, f, ts)

    def per_flow(values: I64, mask: npt.NDArray[np.bool_]) -> I64:
        return np.bincount(f[mask], weights=values[mask], minlength=count).astype(np.int64)

    ones = np.ones(len(rows), dtype=np.int64)
    head = sub.iloc[origin]
    names = _first_text(sub, f, count)
    table = pd.DataFrame(
        {
            "flow": np.arange(count, dtype=np.int64),
            "proto": head["proto"].to_numpy(),
            "src": head["src"].to_numpy(),
            "sport": head["sport"].to_numpy(),
            "dst": head["dst"].to_numpy(),
            "dport": head["dport"].to_numpy(),
            "first": pd.to_datetime(start, utc=True),
            "last": pd.to_datetime(last, utc=True),
            "duration": (last - start) / 1e9,
            "orig_packets": per_flow(ones, orig),
            "orig_bytes": per_flow(length, orig),
            "resp_packets": per_flow(ones, ~orig),
            "resp_bytes": per_flow(length, ~orig),
            "orig_payload": per_flow(payload, orig),
            "resp_payload": per_flow(payload, ~orig),
            "server_name": names,
        }
    )
    for col in ("proto", "src", "dst", "server_name"):
        table[col] = table[col].astype("category")
    for col in ("sport", "dport"):
        table[col] = table[col].astype("UInt16")
    return table


def _first_text(sub: pd.DataFrame, f: I64, count: int) -> npt.NDArray[np.object_]:
    """Each flow's first TLS SNI, else HTTP Host, else DNS query name (None without)."""
    out = np.full(count, None, dtype=object)
    for col in ("dns_qname", "http_host", "tls_sni"):  # the later ones win
        values = sub[col]
        has = values.notna().to_numpy()
        if not has.any():
            continue
        named = pd.Series(values.to_numpy()[has]).groupby(f[has]).first()
        out[named.index.to_numpy()] = named.to_numpy()
    return out
