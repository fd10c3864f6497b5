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
import struct
from collections.abc import Iterable

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
