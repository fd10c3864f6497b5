"""Link layers: where the network header starts in each frame, and its EtherType.

The common link types are handled over whole arrays; rare ones one frame at a time in plain
Python (they are rare by definition, and each has its own small quirks).
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from .bytesview import I64, BytesView

ET_IPV4 = 0x0800
ET_ARP = 0x0806
ET_IPV6 = 0x86DD
ET_LLC = -2  # an 802.3 frame with an LLC header that is not SNAP
ET_SLARP = -3  # Cisco HDLC's keepalive protocol, which takes RARP's number 0x8035 there
NO_L3 = -1

LINKTYPE_NAMES = {
    0: "NULL",
    1: "Ethernet",
    8: "SLIP",
    9: "PPP",
    12: "Raw IP",
    14: "Raw IP",
    50: "PPP-HDLC",
    101: "Raw IP",
    104: "Cisco HDLC",
    105: "802.11",
    107: "Frame Relay",
    108: "Loopback",
    113: "Linux SLL",
    127: "802.11 radiotap",
    129: "ARCNET",
    178: "Juniper Ethernet",
    192: "PPI",
    195: "802.15.4",
    226: "IPNET",
    228: "IPv4",
    229: "IPv6",
    239: "NFLOG",
    242: "IPoIB",
    253: "Netlink",
    258: "PKTAP",
    271: "vsock",
    276: "Linux SLL2",
}

_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_PPP_TO_ET = {0x0021: ET_IPV4, 0x0057: ET_IPV6, 0x0281: 0x8847}


def _by_version(view: BytesView, pos: I64) -> I64:
    nib = view.u8(pos) >> 4
    return np.where(nib == 4, ET_IPV4, np.where(nib == 6, ET_IPV6, NO_L3))


def link_layer(
    view: BytesView, off: I64, end: I64, linktype: npt.NDArray[np.int32]
) -> tuple[I64, I64, I64]:
    """Return (network header offset, EtherType, outermost 802.1Q VLAN id or -1) per frame."""
    n = len(off)
    pos = np.full(n, -1, dtype=np.int64)
    et = np.full(n, NO_L3, dtype=np.int64)
    kinds = [linktype[0]] if len(linktype) and (linktype == linktype[0]).all() else None
    for lt in kinds if kinds is not None else np.unique(linktype):
        rows = np.flatnonzero(linktype == lt)
        p = off[rows]
        if lt == 1:
            e, q = _ethernet(view, p, end[rows])
        elif lt == 113:
            e, q = view.u16(p + 14), p + 16
        elif lt == 276:
            e, q = view.u16(p), p + 20
        elif lt in (0, 108):
            # NULL stores the address family in the capturing host's byte order.
            le = view.u8(p) | (view.u8(p + 1) << 8)
            be = view.u8(p + 3) | (view.u8(p + 2) << 8)
            fam = np.where((lt == 0) & (view.u8(p) != 0), le, be)
            e = np.where(fam == 2, ET_IPV4, np.where(np.isin(fam, (24, 28, 30)), ET_IPV6, NO_L3))
            # As Wireshark: a NULL frame starting 0x0f00/0x8f00 is really Cisco HDLC.
            hdlc = np.isin(view.u16(p), (0x0F00, 0x8F00))
            e = np.where(hdlc, _hdlc_type(view.u16(p + 2)), e)
            q = p + 4
        elif lt in (12, 14, 101, 228):
            e, q = _by_version(view, p), p
        elif lt == 229:
            # As tshark: the IPv6 link type carries only IPv6.
            e, q = np.where(view.u8(p) >> 4 == 6, ET_IPV6, NO_L3), p
        else:
            e, q = _scalar_rows(view, p, end[rows], int(lt))
        ok = q < end[rows]
        et[rows] = np.where(ok, e, NO_L3)
        pos[rows] = np.where(ok, q, -1)
    return _unwrap(view, pos, et, end)


def _ethernet(view: BytesView, p: I64, end: I64) -> tuple[I64, I64]:
    et = view.u16(p + 12)
    pos = p + 14
    llc = np.flatnonzero(et < 0x0600)  # a length, not an EtherType: 802.3 with LLC (rare)
    if len(llc):
        at = pos[llc]
        snap = (view.u8(at) == 0xAA) & (view.u8(at + 1) == 0xAA) & (view.u8(at + 2) == 3)
        et[llc] = np.where(snap, view.u16(at + 6), ET_LLC)
        pos[llc] = np.where(snap, at + 8, at)
    et = np.where(p + 14 <= end, et, NO_L3)
    return et, pos


def _unwrap(view: BytesView, pos: I64, et: I64, end: I64) -> tuple[I64, I64, I64]:
    """Peel VLAN tags, MPLS labels and PPPoE sessions off, in any order, a few levels deep."""
    vlan = np.full(len(pos), -1, dtype=np.int64)
    for _ in range(8):
        tagged = np.isin(et, _VLAN_TPIDS) & (pos + 4 <= end)
        mpls = np.isin(et, (0x8847, 0x8848)) & (pos + 4 <= end)
        pppoe = (et == 0x8864) & (pos + 8 <= end)
        macsec = (et == 0x88E5) & (pos + 8 <= end)
        if not (tagged.any() or mpls.any() or pppoe.any() or macsec.any()):
            break
        if macsec.any():
            # An integrity-only SecTAG (TCI without E/C bits) is followed by the plain frame.
            rows = np.flatnonzero(macsec)
            tci = view.u8(pos[rows])
            hdr = np.where(tci & 0x20, 14, 6)
            plain = (tci & 0x0C) == 0
            et[rows] = np.where(plain, view.u16(pos[rows] + hdr), NO_L3)
            pos[rows] += hdr + 2
        if tagged.any():
            rows = np.flatnonzero(tagged)
            # tshark's vlan.id counts 802.1Q tags only; an 802.1ad S-tag is ieee8021ad.id.
            first_q = rows[(et[rows] == 0x8100) & (vlan[rows] < 0)]
            vlan[first_q] = view.u16(pos[first_q]) & 0x0FFF
            et[rows] = view.u16(pos[rows] + 2)
            pos[rows] += 4
        if mpls.any():
            rows = np.flatnonzero(mpls)
            p = pos[rows].copy()
            active = np.ones(len(rows), dtype=bool)
            for _ in range(8):
                bottom = (view.u8(p + 2) & 1) == 1
                p = np.where(active, p + 4, p)
                active &= ~bottom
                if not active.any():
                    break
            nib = view.u8(p) >> 4
            # A zero nibble is a pseudowire control word followed by an Ethernet frame.
            inner_eth = nib == 0
            et[rows] = np.where(nib == 4, ET_IPV4, np.where(nib == 6, ET_IPV6, view.u16(p + 16)))
            et[rows] = np.where((nib == 4) | (nib == 6) | inner_eth, et[rows], NO_L3)
            pos[rows] = np.where(inner_eth, p + 18, p)
        if pppoe.any():
            rows = np.flatnonzero(pppoe)
            proto = view.u16(pos[rows] + 6)
            mapped = np.full(len(rows), NO_L3, dtype=np.int64)
            for ppp, ether in _PPP_TO_ET.items():
                mapped[proto == ppp] = ether
            et[rows] = mapped
            pos[rows] += 8
    return pos, et, vlan


def _hdlc_type(ether: I64) -> I64:
    """A Cisco HDLC protocol field as an EtherType; 0x8035 there is SLARP, not RARP."""
    return np.where(ether == 0x8035, ET_SLARP, ether)


def _scalar_rows(view: BytesView, p: I64, end: I64, lt: int) -> tuple[I64, I64]:
    e = np.full(len(p), NO_L3, dtype=np.int64)
    q = np.full(len(p), -1, dtype=np.int64)
    buf = view.buf
    for i, (start, stop) in enumerate(zip(p.tolist(), end.tolist(), strict=True)):
        rel, ether = scalar_link(bytes(buf[start:stop]), lt)
        if rel >= 0:
            q[i], e[i] = start + rel, ether
    return e, q


def _ppp(data: bytes, i: int) -> tuple[int, int]:
    if data[i : i + 2] == b"\xff\x03":
        i += 2
    if i >= len(data):
        return -1, NO_L3
    if data[i] & 1:  # protocol-field compression: one byte
        proto, i = data[i], i + 1
    else:
        if i + 2 > len(data):
            return -1, NO_L3
        proto, i = struct.unpack_from(">H", data, i)[0], i + 2
    ether = _PPP_TO_ET.get(proto, NO_L3)
    return (i, ether) if ether != NO_L3 else (-1, NO_L3)


def _ieee80211(data: bytes, i: int) -> tuple[int, int]:
    if i + 24 > len(data):
        return -1, NO_L3
    fc0, fc1 = data[i], data[i + 1]
    if (fc0 >> 2) & 3 != 2 or fc1 & 0x40:  # not a data frame, or protected
        return -1, NO_L3
    hdr = 24 + (6 if fc1 & 3 == 3 else 0)
    if fc0 & 0x80:  # QoS data
        hdr += 2 + (4 if fc1 & 0x80 else 0)
    j = i + hdr
    if data[j : j + 3] == b"\xaa\xaa\x03" and j + 8 <= len(data):
        return j + 8, struct.unpack_from(">H", data, j + 6)[0]
    return -1, NO_L3


def scalar_link(data: bytes, lt: int, depth: int = 0) -> tuple[int, int]:
    """(network header offset, EtherType) of one frame of a rarely seen link type."""
    try:
        return _scalar_link(data, lt, depth)
    except (struct.error, IndexError):
        return -1, NO_L3


def _scalar_link(data: bytes, lt: int, depth: int) -> tuple[int, int]:
    n = len(data)
    if lt == 1:
        if n < 14:
            return -1, NO_L3
        ether = struct.unpack_from(">H", data, 12)[0]
        if ether < 0x0600:
            if data[14:17] == b"\xaa\xaa\x03" and n >= 22:
                return 22, struct.unpack_from(">H", data, 20)[0]
            return 14, ET_LLC
        return 14, ether
    if lt in (9, 50):
        return _ppp(data, 0)
    if lt == 104:  # Cisco HDLC: address, control, EtherType
        return 4, int(_hdlc_type(np.array([struct.unpack_from(">H", data, 2)[0]]))[0])
    if lt == 107:  # Frame Relay: Q.922 address, then RFC 2427 NLPID or Cisco EtherType
        if data[2] == 0x03:
            i = 3 + (data[3] == 0)  # optional pad
            nlpid = data[i]
            if nlpid == 0xCC:
                return i + 1, ET_IPV4
            if nlpid == 0x8E:
                return i + 1, ET_IPV6
            if nlpid == 0x80:
                return i + 6, struct.unpack_from(">H", data, i + 4)[0]
            return -1, NO_L3
        return 4, struct.unpack_from(">H", data, 2)[0]
    if lt == 226:  # Solaris IPNET
        return 24, {2: ET_IPV4, 26: ET_IPV6}.get(data[1], NO_L3)
    if lt == 242:  # IPoIB: destination and source addresses (20 bytes each), EtherType, reserved
        return 44, struct.unpack_from(">H", data, 40)[0]
    if lt == 129:  # Linux ARCNET: src, dst, offset(2), then RFC 1201 or RFC 1051 protocol id
        proto = data[4]
        if proto in (0xD4, 0xD5):
            hdr = 8 + (4 if data[5] == 0xFF else 0)
            return hdr, ET_IPV4 if proto == 0xD4 else ET_ARP
        if proto in (0xF0, 0xF1):
            return 5, ET_IPV4 if proto == 0xF0 else ET_ARP
        return -1, NO_L3
    if lt == 239:  # NFLOG: TLVs in host byte order; the payload TLV has type 9
        family = data[0]
        i = 4
        while i + 4 <= n:
            tlen, ttype = struct.unpack_from("<HH", data, i)
            if tlen < 4:
                break
            if ttype & 0x7FFF == 9:
                return i + 4, ET_IPV4 if family == 2 else ET_IPV6 if family == 10 else NO_L3
            i += (tlen + 3) & ~3
        return -1, NO_L3
    if lt == 178:  # Juniper: "MGC", flags, optional extension TLVs, then Ethernet
        if data[:3] != b"MGC":
            return -1, NO_L3
        hdr = 4 + (2 + struct.unpack_from(">H", data, 4)[0] if data[3] & 0x80 else 0)
        return _inner(data, hdr, 1, depth)
    if lt == 258:  # PKTAP: header length and the inner link type, little-endian
        hdr, inner = struct.unpack_from("<II", data, 0)
        return _inner(data, hdr, inner, depth)
    if lt == 192:  # PPI
        hdr, inner = struct.unpack_from("<HI", data, 2)
        return _inner(data, hdr, inner, depth)
    if lt == 127:  # radiotap, then 802.11
        (hdr,) = struct.unpack_from("<H", data, 2)
        return _ieee80211(data, hdr)
    if lt == 105:
        return _ieee80211(data, 0)
    return -1, NO_L3


def _inner(data: bytes, hdr: int, lt: int, depth: int) -> tuple[int, int]:
    if depth > 2 or hdr >= len(data):
        return -1, NO_L3
    if lt in (12, 14, 101, 228, 229):
        nib = data[hdr] >> 4
        return hdr, ET_IPV4 if nib == 4 else ET_IPV6 if nib == 6 else NO_L3
    rel, ether = scalar_link(data[hdr:], lt, depth + 1)
    return (hdr + rel, ether) if rel >= 0 else (-1, NO_L3)
