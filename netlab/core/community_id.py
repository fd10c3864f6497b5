"""Community ID v1 (corelight/community-id-spec): one flow hash that Zeek, Suricata, Arkime
and others compute alike, so a netlab flow row pivots to their logs.

`"1:" + base64(sha1(seed, addresses, protocol, 0, ports))`, the endpoints ordered so both
directions of a flow give the same ID. ICMP has no ports: its type stands for the source port
and, for the types that have an answer (echo, router and neighbour solicitation, ...), the
answer's type for the destination port (else the code, and the flow is one-way: not ordered).
Computed once per flow, never per packet.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import socket
import struct
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

_TCP, _UDP, _ICMP, _ICMP6, _SCTP = 6, 17, 1, 58, 132
_WITH_PORTS = frozenset({_TCP, _UDP, _SCTP, _ICMP, _ICMP6})

# ICMP types that have a counterpart (request <-> reply), both ways
_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {
    128: 129,
    129: 128,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    130: 131,
    131: 130,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}


def community_id(
    proto: int,
    src: str,
    dst: str,
    sport: int | None = None,
    dport: int | None = None,
    *,
    seed: int = 0,
) -> str:
    """The Community ID of one flow (`sport`/`dport`: an ICMP packet's type and code)."""
    saddr = ipaddress.ip_address(src).packed
    daddr = ipaddress.ip_address(dst).packed
    one_way = False
    if proto in (_ICMP, _ICMP6) and sport is not None:
        pairs = _ICMP4_PAIRS if proto == _ICMP else _ICMP6_PAIRS
        counterpart = pairs.get(sport)
        if counterpart is None:
            one_way = True  # dport stays the code
        else:
            dport = counterpart
    has_ports = proto in _WITH_PORTS and sport is not None and dport is not None
    if not one_way:
        first, second = (saddr, sport or 0), (daddr, dport or 0)
        if second < first:  # addresses first, then ports
            saddr, daddr = daddr, saddr
            sport, dport = dport, sport
    data = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BB", proto, 0)
    if has_ports:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def community_ids(
    flows: Iterable[tuple[int, str, str, int | None, int | None]], *, seed: int = 0
) -> list[str]:
    """The Community ID of each (proto, src, dst, sport, dport) flow tuple."""
    return [community_id(*flow, seed=seed) for flow in flows]


def _pairs_table(pairs: dict[int, int]) -> npt.NDArray[np.int64]:
    table = np.full(256, -1, dtype=np.int64)
    for k, v in pairs.items():
        table[k] = v
    return table


_ICMP4_TABLE = _pairs_table(_ICMP4_PAIRS)
_ICMP6_TABLE = _pairs_table(_ICMP6_PAIRS)


def _pack(text: str) -> bytes:
    """An address's bytes (socket's C parser: ipaddress is 10x slower per address)."""
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def community_id_array(
    proto: npt.NDArray[np.int64],
    src: Sequence[str | None],
    dst: Sequence[str | None],
    sport: npt.NDArray[np.int64],
    dport: npt.NDArray[np.int64],
    *,
    seed: int = 0,
) -> list[str | None]:
    """`community_id` of many flows at once (ports -1 where absent; ICMP: type and code;
    None where an address is missing): addresses parsed once per distinct text, the endpoint
    order and ICMP pairing in numpy; only the hash is per flow."""
    n = len(proto)
    out: list[str | None] = [None] * n
    texts = sorted({t for t in (*src, *dst) if t is not None})
    packed = {t: _pack(t) for t in texts}
    width = np.array([len(packed[t]) for t in texts], dtype=np.int64)
    code = {t: k for k, t in enumerate(texts)}
    s_code = np.array([code.get(t, -1) if t is not None else -1 for t in src], dtype=np.int64)
    d_code = np.array([code.get(t, -1) if t is not None else -1 for t in dst], dtype=np.int64)
    ok = (s_code >= 0) & (d_code >= 0) & (proto >= 0)
    ok[ok] &= width[s_code[ok]] == width[d_code[ok]]
    if not ok.any():
        return out
    padded = b"".join(packed[t].ljust(16, b"\0") for t in texts)
    table = np.frombuffer(padded, dtype=np.uint8).reshape(len(texts), 16)
    sport, dport = sport.copy(), dport.copy()
    icmp = (proto == _ICMP) | (proto == _ICMP6)
    one_way = np.zeros(n, dtype=bool)
    if icmp.any():
        pairs = np.where(proto == _ICMP, _ICMP4_TABLE[sport & 255], _ICMP6_TABLE[sport & 255])
        has_pair = icmp & (sport >= 0) & (pairs >= 0)
        dport = np.where(has_pair, pairs, dport)
        one_way = icmp & (sport >= 0) & ~has_pair
    a, b = table[s_code], table[d_code]
    diff = a != b
    first = np.argmax(diff, axis=1)
    rows = np.arange(n)
    addr_less = a[rows, first] < b[rows, first]
    same_addr = ~diff.any(axis=1)
    swap = ~one_way & ((~same_addr & ~addr_less) | (same_addr & (dport < sport)))
    lo, hi = np.where(swap, d_code, s_code), np.where(swap, s_code, d_code)
    p_lo, p_hi = np.where(swap, dport, sport), np.where(swap, sport, dport)
    has_ports = np.isin(proto, list(_WITH_PORTS)) & (p_lo >= 0) & (p_hi >= 0)
    head = struct.pack("!H", seed)
    by_code = [packed[t] for t in texts]
    # the hash is the one step per flow: plain lists, as numpy's scalars cost more than it
    rows = np.flatnonzero(ok)
    ports = np.where(has_ports, (p_lo << 16) | p_hi, -1)[rows].tolist()
    trailer = [bytes((p, 0)) for p in range(256)]
    for i, a, b, p, pp in zip(
        rows.tolist(),
        lo[rows].tolist(),
        hi[rows].tolist(),
        proto[rows].tolist(),
        ports,
        strict=True,
    ):
        data = head + by_code[a] + by_code[b] + trailer[p]
        if pp >= 0:
            data += pp.to_bytes(4, "big")
        out[i] = "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
    return out
