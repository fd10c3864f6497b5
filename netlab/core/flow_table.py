"""`flows()`: one row per flow of a frame, as Zeek's conn.log and NFStream's flows give them.

The packets' `flow` numbers (tshark's tcp.stream/udp.stream) say which packets make a flow;
idle and active timeouts (Zeek's by default) may cut a long or resumed flow into several rows,
which share the flow number and count `part` from 0. Everything is a grouped reduction over
the packets; only the Community ID is computed in Python, once per row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import tcp_flags
from .columns import Columns, columns, texts_at
from .community_id import community_id_array
from .flows import assign_flows_and_sides
from .services import services
from .tcp_analysis import tcp_analysis
from .tcp_sides import first_per
from .zeek_state import conn_state, history

I64 = npt.NDArray[np.int64]
Timeout = float | Mapping[str, float] | None

# Zeek's defaults: tcp_inactivity_timeout 5 min, udp and icmp 1 min; NFStream's active 30 min
IDLE_TIMEOUT: dict[str, float] = {"TCP": 300.0, "*": 60.0}
ACTIVE_TIMEOUT = 1800.0
SYN, ACK = 0x002, 0x010
PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6": 58, "SCTP": 132}

FLOW_COLUMNS = (
    "flow",
    "part",
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
    "state",
    "history",
    "rtt",
    "retransmissions",
    "out_of_order",
    "dup_acks",
    "zero_windows",
    "service",
    "server_name",
    "community_id",
    "sensor",
)


def flows(
    frame: pd.DataFrame,
    *,
    idle_timeout: Timeout = IDLE_TIMEOUT,
    active_timeout: float | None = ACTIVE_TIMEOUT,
) -> pd.DataFrame:
    """One row per flow of a netlab frame (packets in capture order), the originator's side
    first (the sender of the first SYN without ACK, else of the first packet).

    `idle_timeout` (seconds, or per protocol name with "*" for the rest; None: never) ends a
    flow after a silence that long, `active_timeout` after it has lasted that long; a packet
    after either starts a new row of the same flow (`part` counts them)."""
    have = "flow" in frame.columns and "tcp_analysis" in frame.columns
    if have and frame["flow"].notna().any():
        packet_flow = frame["flow"].to_numpy(dtype=np.int64, na_value=-1)
        analysis = frame["tcp_analysis"].to_numpy(dtype=np.int64)
    else:
        packet_flow, sides = assign_flows_and_sides(frame)
        analysis = tcp_analysis(frame, packet_flow, sides).astype(np.int64)
    rows = np.flatnonzero(packet_flow >= 0)
    if not len(rows):
        return _empty()
    sub = frame.iloc[rows]
    ts = sub["ts"].array.asi8
    part = _parts(packet_flow[rows], ts, _seconds(idle_timeout, sub["proto"]), active_timeout)
    key = packet_flow[rows] * (int(part.max()) + 1) + part
    # numbered in order of first packet: factorize numbers keys as it first meets them
    codes, uniques = pd.factorize(key)
    f = codes.astype(np.int64)
    count = len(uniques)
    return _table(sub, rows, f, count, packet_flow[rows], part, analysis[rows])


def _empty() -> pd.DataFrame:
    return pd.DataFrame({name: [] for name in FLOW_COLUMNS})


def _seconds(timeout: Timeout, proto: pd.Series) -> npt.NDArray[np.float64]:
    """Each packet's idle timeout in seconds, by its protocol (a categorical column)."""
    if timeout is None:
        return np.full(len(proto), np.inf, dtype=np.float64)
    if not isinstance(timeout, Mapping):
        return np.full(len(proto), float(timeout), dtype=np.float64)
    default = float(timeout.get("*", np.inf))
    cat = pd.Categorical(proto)
    per_name = [float(timeout.get(str(name), default)) for name in cat.categories]
    table = np.asarray([*per_name, default], dtype=np.float64)  # code -1 (none): the default
    return table[np.asarray(cat.codes, dtype=np.int64)]


def _parts(flow: I64, ts: I64, idle: npt.NDArray[np.float64], active: float | None) -> I64:
    """Which row of its flow each packet belongs to, by the timeouts."""
    n = len(flow)
    order = np.argsort(flow, kind="stable")
    of, ots = flow[order], ts[order]
    same = np.r_[False, of[1:] == of[:-1]]
    gap = np.r_[0, np.diff(ots)]
    idle_ns = idle[order] * 1e9
    cut = same & (gap > idle_ns)
    if active is not None:
        cut = _active_cuts(of, ots, cut, int(active * 1e9))
    part_sorted = np.cumsum(cut)
    start = np.maximum.accumulate(np.where(~same, np.arange(n), 0))
    part = np.empty(n, dtype=np.int64)
    part[order] = part_sorted - part_sorted[start]
    return part


def _active_cuts(
    of: I64, ots: I64, cut: npt.NDArray[np.bool_], limit: int
) -> npt.NDArray[np.bool_]:
    """Add a cut at the first packet at least `limit` ns after its row's first packet, for
    every row at once, until no row is that long (one round per cut of the longest flow)."""
    n = len(of)
    pos = np.arange(n)
    while True:
        starts = np.maximum.accumulate(np.where(cut | np.r_[True, of[1:] != of[:-1]], pos, 0))
        over = ots - ots[starts] >= limit
        if not over.any():
            return cut
        # the first over-long packet of each row starts a new row
        first_over = over & ~np.r_[False, over[:-1] & (starts[1:] == starts[:-1])]
        cut = cut | first_over


def _table(
    sub: pd.DataFrame,
    rows: I64,
    f: I64,
    count: int,
    packet_flow: I64,
    part: I64,
    analysis: I64,
) -> pd.DataFrame:
    n = len(rows)
    flags = sub["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)
    position = np.arange(n)
    first = np.full(count, n, dtype=np.int64)
    np.minimum.at(first, f, position)
    syn = (flags >= 0) & ((flags & (SYN | ACK)) == SYN)
    first_syn = np.full(count, n, dtype=np.int64)
    np.minimum.at(first_syn, f[syn], position[syn])
    origin = np.where(first_syn < n, first_syn, first)
    src = pd.factorize(sub["src"].astype(object))[0]
    sport = sub["sport"].to_numpy(dtype=np.int64, na_value=-1)
    orig = ((src == src[origin][f]) & (sport == sport[origin][f])) | (position == origin[f])
    length = sub["length"].to_numpy(dtype=np.int64)
    payload = sub["paylen"].to_numpy(dtype=np.int64, na_value=0)
    ts = sub["ts"].array.asi8
    start = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(start, f, ts)
    last = np.full(count, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, f, ts)

    def total(values: I64, mask: npt.NDArray[np.bool_]) -> I64:
        return np.bincount(f[mask], weights=values[mask], minlength=count).astype(np.int64)

    ones = np.ones(n, dtype=np.int64)

    def flagged(bit: int) -> I64:
        return total(ones, (analysis & bit) != 0)

    head = sub.iloc[origin]
    head_sport = head["sport"].to_numpy(dtype=np.int64, na_value=-1)
    head_dport = head["dport"].to_numpy(dtype=np.int64, na_value=-1)
    retransmitted = ((analysis & tcp_flags.RETRANSMISSION) != 0) & (payload > 0)
    zero_window = (analysis & tcp_flags.ZERO_WINDOW) != 0
    text, seen = history(f, orig, flags, payload, retransmitted, zero_window, count)
    is_tcp = (head["proto"].astype(object) == "TCP").to_numpy()
    answered = total(ones, ~orig) > 0
    table = pd.DataFrame(
        {
            "flow": packet_flow[origin],
            "part": part[origin],
            "proto": head["proto"].to_numpy(),
            "src": head["src"].to_numpy(),
            "sport": head["sport"].to_numpy(),
            "dst": head["dst"].to_numpy(),
            "dport": head["dport"].to_numpy(),
            "first": pd.to_datetime(start, utc=True),
            "last": pd.to_datetime(last, utc=True),
            "duration": (last - start) / 1e9,
            "orig_packets": total(ones, orig),
            "orig_bytes": total(length, orig),
            "resp_packets": total(ones, ~orig),
            "resp_bytes": total(length, ~orig),
            "orig_payload": total(payload, orig),
            "resp_payload": total(payload, ~orig),
            "state": conn_state(seen, is_tcp, answered),
            "history": text,
            "rtt": _rtt(sub, f, count),
            "retransmissions": flagged(tcp_flags.RETRANSMISSION),
            "out_of_order": flagged(tcp_flags.OUT_OF_ORDER),
            "dup_acks": flagged(tcp_flags.DUPLICATE_ACK),
            "zero_windows": flagged(tcp_flags.ZERO_WINDOW),
            "service": services(sub, f, count, head_sport, head_dport),
            "server_name": first_names(sub, f, count),
            "community_id": community_ids(sub, origin),
            "sensor": head["sensor"].to_numpy() if "sensor" in head else None,
        }
    )
    return typed(table)


def typed(table: pd.DataFrame) -> pd.DataFrame:
    """A flows table with its columns' dtypes: categories, UInt16 ports, strings."""
    for col in ("proto", "src", "dst", "state", "service", "server_name", "sensor"):
        table[col] = table[col].astype("category")
    for col in ("sport", "dport"):
        table[col] = table[col].astype("UInt16")
    table["history"] = table["history"].astype("string")
    table["community_id"] = table["community_id"].astype("string")
    return table


def _rtt(sub: pd.DataFrame, f: I64, count: int) -> npt.NDArray[np.float64]:
    """tshark's tcp.analysis.initial_rtt of each row's TCP handshake, in seconds (NaN): the
    first packet with ACK and without SYN after a SYN (the handshake's ACK, or a RST-ACK
    refusing it), less the time of the last SYN before it; only segments whose header is
    whole count, as in tshark (`Sides.handshake_rtt`, without sorting every packet by flow)."""
    cols = columns(sub)
    flags, seq, seglen = cols.ints("tcp_flags"), cols.ints("tcp_seq"), cols.ints("paylen")
    whole = (flags >= 0) & (seq >= 0) & (seglen >= 0)
    kind = flags & (SYN | ACK)
    syn, ack = whole & (kind == SYN), whole & (kind == ACK)
    n = len(f)
    pos = np.arange(n, dtype=np.int64)
    first_syn = first_per(f, count, syn)
    done = first_per(f, count, ack & (pos > first_syn[f]))
    before = syn & (pos < done[f])
    last_syn = np.full(count, -1, dtype=np.int64)
    np.maximum.at(last_syn, f[before], pos[before])
    out = np.full(count, np.nan)
    ok = np.flatnonzero(done < n)
    ts = cols.ints("ts")
    rtt = ts[done[ok]] - ts[last_syn[ok]]
    out[ok[rtt > 0]] = rtt[rtt > 0] / 1e9
    return out


def first_names(data: pd.DataFrame | Columns, f: I64, count: int) -> npt.NDArray[np.object_]:
    """Each flow's first TLS SNI, else HTTP Host, else DNS query name (None without)."""
    cols = columns(data)
    out = np.full(count, None, dtype=object)
    for col in ("dns_qname", "http_host", "tls_sni"):  # the later ones win
        has = np.flatnonzero(cols.text(col)[0] >= 0)
        if not len(has):
            continue
        first = first_per(f[has], count, np.ones(len(has), dtype=bool))
        named = np.flatnonzero(first < len(has))
        out[named] = texts_at(cols, col, has[first[named]])
    return out


def community_ids(data: pd.DataFrame | Columns, rows: I64) -> list[str | None]:
    """Community ID v1 (seed 0) of the flows whose originating packets are at `rows`; None
    without addresses."""
    cols = columns(data)
    codes, texts = cols.text("proto")
    used, inverse = np.unique(codes[rows], return_inverse=True)  # a few names: one lookup each
    numbers = [PROTO_NUMBERS.get(str(texts[k]), -1) if k >= 0 else -1 for k in used.tolist()]
    number = np.asarray(numbers, dtype=np.int64)[inverse.reshape(-1)]
    icmp = np.isin(number, (1, 58))

    def ints(col: str) -> I64:
        return cols.ints(col)[rows]

    sport = np.where(icmp, ints("icmp_type"), ints("sport"))
    dport = np.where(icmp, ints("icmp_code"), ints("dport"))
    src, dst = texts_at(cols, "src", rows), texts_at(cols, "dst", rows)
    return community_id_array(number, list(src), list(dst), sport, dport)
