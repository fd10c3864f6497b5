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
import pandas as pd

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
    # each distinct address once: factorize hashes the texts (None: -1) in C
    codes, uniques = pd.factorize(np.asarray([*src, *dst], dtype=object))
    s_code, d_code = codes[:n].astype(np.int64), codes[n:].astype(np.int64)
    by_code = [_pack(str(t)) for t in uniques]
    width = np.array([len(b) for b in by_code] + [0], dtype=np.int64)  # [-1]: missing
    ok = (s_code >= 0) & (d_code >= 0) & (proto >= 0) & (width[s_code] == width[d_code])
    if not ok.any():
        return out
    table = np.zeros((len(by_code) + 1, 16), dtype=np.uint8)
    if by_code:
        table[:-1] = np.frombuffer(b"".join(b.ljust(16, b"\0") for b in by_code), np.uint8).reshape(
            -1, 16
        )
    sport, dport = sport.astype(np.int64), dport.astype(np.int64)
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
    at = np.arange(n)
    addr_less = a[at, first] < b[at, first]
    same_addr = ~diff.any(axis=1)
    swap = ~one_way & ((~same_addr & ~addr_less) | (same_addr & (dport < sport)))
    lo, hi = np.where(swap, b.T, a.T).T, np.where(swap, a.T, b.T).T
    p_lo, p_hi = np.where(swap, dport, sport), np.where(swap, sport, dport)
    has_ports = np.isin(proto, list(_WITH_PORTS)) & (p_lo >= 0) & (p_hi >= 0)
    # one message layout per (address width, with ports or not): a byte matrix each, so the
    # hash is the only step per flow; the digests are base64-encoded all at once
    for w in (4, 16):
        for ports in (True, False):
            rows = np.flatnonzero(ok & (width[s_code] == w) & (has_ports == ports))
            if len(rows):
                messages = _messages(
                    seed, lo[rows, :w], hi[rows, :w], proto[rows], p_lo[rows], p_hi[rows], ports
                )
                for i, text in zip(rows.tolist(), _hashes(messages), strict=True):
                    out[i] = text
    return out


def _messages(
    seed: int,
    lo: npt.NDArray[np.uint8],
    hi: npt.NDArray[np.uint8],
    proto: npt.NDArray[np.int64],
    p_lo: npt.NDArray[np.int64],
    p_hi: npt.NDArray[np.int64],
    ports: bool,
) -> npt.NDArray[np.uint8]:
    """The spec's hash input of each flow, one row each: seed, addresses, protocol, a zero
    byte, then the ports when the protocol has them (all big-endian)."""
    k = len(proto)
    parts = [
        np.broadcast_to(np.frombuffer(struct.pack("!H", seed), np.uint8), (k, 2)),
        lo,
        hi,
        (proto & 255).astype(np.uint8)[:, None],
        np.zeros((k, 1), dtype=np.uint8),
    ]
    if ports:
        parts.append(p_lo.astype(">u2").view(np.uint8).reshape(k, 2))
        parts.append(p_hi.astype(">u2").view(np.uint8).reshape(k, 2))
    return np.ascontiguousarray(np.hstack(parts))


def _hashes(messages: npt.NDArray[np.uint8]) -> list[str]:
    """ "1:" + base64(sha1(row)) of each row. A 20-byte digest encodes as 27 characters and
    "="; padded to 21 bytes, all digests encode in one call, 28 characters each, and the
    zero byte's "A" becomes the "=" again."""
    width = messages.shape[1]
    data = messages.tobytes()
    sha1 = hashlib.sha1
    digests = b"".join(
        [sha1(data[i : i + width]).digest() + b"\0" for i in range(0, len(data), width)]
    )
    text = np.frombuffer(base64.b64encode(digests), dtype="S28").copy()
    chars = text.view(np.uint8).reshape(-1, 28)
    chars[:, 27] = ord("=")
    return ["1:" + t for t in text.astype("U28").tolist()]
