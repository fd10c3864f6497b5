"""Packets inside packets: where a tunnel (IP in IP, GRE, ERSPAN, VXLAN, Geneve, GTP-U,
Teredo, L2TP, behind an IPsec AH or not) or an ICMP error (the packet it quotes) carries
another packet, found for a whole batch at once and handed back as records the decoder reads
like any other frames.

netlab's columns are a packet's outermost headers, one row of ~100 bytes each. tshark shows
every header it finds, so its `ip.addr`, `tcp.port` or `tcp` also match the inner packet's;
a display filter naming such a field decodes the inner packets of the rows that have one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .bytesview import I64, BytesView
from .decode import Decoded, layers
from .pcapfile import Records

Bools = npt.NDArray[np.bool_]
# take(rows, start, link): these rows' inner packet starts at `start` (the first call wins)
_Take = Callable[[Bools, I64, "I64 | int"], None]

ETHERNET, RAW_IP, RAW_IPV6 = 1, 101, 229  # link types of what a tunnel carries
_IPIP, _IPV6, _GRE, _UDP, _ICMP, _ICMP6, _AH = 4, 41, 47, 17, 1, 58, 51
VXLAN, GENEVE, GTP_U, TEREDO, L2TP = 4789, 6081, 2152, 3544, 1701  # their IANA UDP ports
ICMP_ERRORS = (3, 4, 5, 11, 12)  # unreachable, source quench, redirect, time exceeded, parameter
ICMP6_ERRORS = (1, 2, 3, 4)  # unreachable, too big, time exceeded, parameter problem
_GRE_CARRIES = {0x0800: RAW_IP, 0x86DD: RAW_IP, 0x6558: ETHERNET}  # IPv4, IPv6, bridged
_ERSPAN_II, _ERSPAN_III = 0x88BE, 0x22EB
_PPP_IP = (0x21, 0x57)  # PPP's protocol numbers of IPv4 and IPv6


def inner_records(buf: npt.NDArray[np.uint8], rec: Records) -> tuple[Records, I64]:
    """The packets the frames of `rec` carry, one at most per frame (the first tunnel or
    quoted packet inside it), and which frame each came from (positions in `rec`)."""
    d, *_, end = layers(buf, rec)
    view = BytesView(buf)
    n = len(rec)
    at = np.full(n, -1, dtype=np.int64)  # where the inner packet starts
    link = np.zeros(n, dtype=np.int64)
    ip = (d.ip_version > 0) & ~d.fragment & (d.l4 >= 0)
    ip_end = np.where(ip, d.payload_end, end)

    def take(rows: Bools, start: I64, kind: I64 | int) -> None:
        rows = rows & (at < 0) & (start >= 0) & (start < ip_end)
        at[rows] = start[rows]
        link[rows] = kind[rows] if isinstance(kind, np.ndarray) else kind

    take(ip & np.isin(d.tp, (_IPIP, _IPV6)), d.l4, RAW_IP)
    # an IPsec authentication header (RFC 4302) in front of a tunnelled packet
    ah = ip & (d.tp == _AH) & np.isin(view.u8(d.l4), (_IPIP, _IPV6))
    take(ah, d.l4 + (view.u8(d.l4 + 1) + 2) * 4, RAW_IP)
    _gre(view, d, ip & (d.tp == _GRE) & (d.l4 + 4 <= ip_end), take)
    udp = ip & (d.tp == _UDP) & (d.payload >= 0)
    _udp_tunnels(view, d, udp, ip_end, take)
    errors = (d.tp == _ICMP) & np.isin(d.icmp_type, ICMP_ERRORS)
    errors |= (d.tp == _ICMP6) & np.isin(d.icmp_type, ICMP6_ERRORS)
    take(ip & errors, d.l4 + 8, RAW_IP)  # the quoted packet follows the 8-byte ICMP header
    rows = np.flatnonzero(at >= 0)
    start = at[rows]
    caplen = end[rows] - start
    inner = Records(start, caplen, caplen, rec.ts_ns[rows], link[rows].astype(np.int32))
    return inner, rows


def _gre(view: BytesView, d: Decoded, rows: Bools, take: _Take) -> None:
    """GRE version 0 (RFC 2784/2890): optional checksum, key and sequence number words, then
    the EtherType of what it carries; ERSPAN II and III carry Ethernet after their header.
    Version 1 (PPTP's, RFC 2637) carries PPP after its key, sequence and acknowledgement."""
    p = d.l4
    flags = view.u16(p)
    kind = view.u16(p + 2)
    pptp = rows & ((flags & 7) == 1) & (kind == 0x880B)
    at = p + 8 + 4 * ((flags >> 12) & 1) + 4 * ((flags >> 7) & 1)
    proto, inside = ppp(view, at)
    take(pptp & np.isin(proto, _PPP_IP), inside, RAW_IP)
    words = ((flags & 0xC000) != 0).astype(np.int64) + ((flags >> 13) & 1) + ((flags >> 12) & 1)
    body = p + 4 + 4 * words
    rows = rows & ((flags & 7) == 0)
    carried = np.zeros(len(p), dtype=np.int64)
    for ether, link in _GRE_CARRIES.items():
        carried[kind == ether] = link
    take(rows & (carried > 0), body, carried)
    take(rows & (kind == _ERSPAN_II), body + 8, ETHERNET)
    # ERSPAN III: a 12-byte header, and 8 more when its O bit (the last bit) says so
    optional = (view.u8(body + 11) & 1) * 8
    take(rows & (kind == _ERSPAN_III), body + 12 + optional, ETHERNET)


def _udp_tunnels(view: BytesView, d: Decoded, udp: Bools, ip_end: I64, take: _Take) -> None:
    p = d.payload
    ports = (VXLAN, GENEVE, GTP_U, TEREDO, L2TP)
    on = {port: udp & ((d.sport == port) | (d.dport == port)) for port in ports}
    take(on[VXLAN] & (view.u8(p) & 0x08 != 0), p + 8, ETHERNET)  # the I flag: a valid VNI
    # Geneve: options of 4-byte words after the 8-byte header, then Ethernet or IP
    kind = view.u16(p + 2)
    after = p + 8 + (view.u8(p) & 0x3F) * 4
    geneve = on[GENEVE] & ((view.u8(p) >> 6) == 0)
    take(geneve & (kind == 0x6558), after, ETHERNET)
    take(geneve & np.isin(kind, (0x0800, 0x86DD)), after, RAW_IP)
    _gtp(view, p, on[GTP_U], ip_end, take)
    _teredo(view, p, on[TEREDO], ip_end, take)
    _l2tp(view, p, on[L2TP], take)


def _gtp(view: BytesView, p: I64, rows: Bools, ip_end: I64, take: _Take) -> None:
    """GTP-U version 1 G-PDUs: 8 bytes, 4 more when any of E, S, PN is set, then the
    extension headers the E flag chains (each a length in 4-byte words, the next type last)."""
    flags = view.u8(p)
    rows = rows & ((flags >> 5) == 1) & ((flags & 0x10) != 0) & (view.u8(p + 1) == 0xFF)
    pos = p + 8 + np.where(flags & 0x07 != 0, 4, 0)
    following = np.where(flags & 0x04 != 0, view.u8(p + 11), 0)
    for _ in range(4):
        chained = rows & (following != 0) & (pos < ip_end)
        if not chained.any():
            break
        words = view.u8(pos)
        rows = rows & ~(chained & (words == 0))  # a zero length is malformed: nothing inside
        nxt = pos + words * 4
        following = np.where(chained, view.u8(nxt - 1), following)
        pos = np.where(chained, nxt, pos)
    take(rows & (following == 0), pos, RAW_IP)


def _teredo(view: BytesView, p: I64, rows: Bools, ip_end: I64, take: _Take) -> None:
    """Teredo (RFC 4380): an authentication header (type 1) and an origin indication (type
    0, 8 bytes) may come before the IPv6 packet."""
    pos = p.copy()
    auth = rows & (view.u16(pos) == 0x0001)
    pos = np.where(auth, pos + 13 + view.u8(pos + 2) + view.u8(pos + 3), pos)
    origin = rows & (view.u16(pos) == 0x0000) & (pos + 8 < ip_end)
    pos = np.where(origin, pos + 8, pos)
    take(rows & ((view.u8(pos) >> 4) == 6), pos, RAW_IPV6)


def _l2tp(view: BytesView, p: I64, rows: Bools, take: _Take) -> None:
    """L2TPv2 data messages (RFC 2661): the flags say which of length, Ns/Nr and an offset
    field follow the tunnel and session ids; then PPP (address and control optional, the
    protocol one byte when compressed) carrying IPv4 or IPv6."""
    flags = view.u16(p)
    rows = rows & ((flags & 0x0F) == 2) & ((flags & 0x8000) == 0)  # version 2, not control
    pos = p + 6 + np.where(flags & 0x4000 != 0, 2, 0) + np.where(flags & 0x0800 != 0, 4, 0)
    pos = np.where(flags & 0x0200 != 0, pos + 2 + view.u16(pos), pos)
    proto, inside = ppp(view, pos)
    take(rows & np.isin(proto, _PPP_IP), inside, RAW_IP)


def ppp(view: BytesView, pos: I64) -> tuple[I64, I64]:
    """A PPP header at `pos` (HDLC address and control optional, the protocol one byte when
    compressed): its protocol, and where what it carries starts."""
    pos = np.where(view.u16(pos) == 0xFF03, pos + 2, pos)
    short = (view.u8(pos) & 1) == 1
    proto = np.where(short, view.u8(pos), view.u16(pos))
    return proto, pos + np.where(short, 1, 2)
