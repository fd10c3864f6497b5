"""Frame bytes to typed rows, for a whole batch at once (the hot path).

`decode_records` walks all frames of a buffer together with numpy: link layer, IPv4/IPv6 with
extension headers, TCP/UDP/SCTP/ICMP. Only packets that may carry DNS, TLS, HTTP or ARP details
are looked at one by one. Per-packet semantics: no defragmentation, no reassembly.
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import names
from .app import payload
from .app.columns import TextGroups, arp_fields, dns_fields, http_fields, tls_fields
from .batch import Batch
from .bytesview import I64, BytesView
from .linklayer import ET_ARP, ET_IPV4, ET_IPV6, NO_L3, link_layer
from .pcapfile import Records
from .schema import STORED_COLUMNS, code_table
from .tcp import TcpFields, read_tcp

_IPV6_EXT = (0, 43, 60, 44, 51)
_TCP, _UDP, _ICMP, _ICMP6, _SCTP = 6, 17, 1, 58, 132
# ICMP messages with an identifier at bytes 4-5 (tshark's icmp.ident, icmpv6.echo.identifier):
# echo, timestamp, information and address mask requests and replies; ICMPv6 echo
_ICMP_IDENT = np.array([0, 8, 13, 14, 15, 16, 17, 18])
_ICMP6_IDENT = np.array([128, 129])
_HTTP_METHODS = np.array([int.from_bytes(m, "big") for m in payload.HTTP_METHODS])


class Decoded:
    """The raw per-packet arrays of a decoded batch, before they become a DataFrame."""

    def __init__(self, n: int) -> None:
        neg = np.full(n, -1, dtype=np.int64)
        self.ip_version = np.zeros(n, dtype=np.int64)
        self.tp = neg.copy()  # transport protocol number after the outermost IP header
        self.l4 = neg.copy()  # where the header after the outermost IP header starts
        self.sport, self.dport, self.flags = neg.copy(), neg.copy(), neg.copy()
        self.ttl, self.icmp_type, self.icmp_code = neg.copy(), neg.copy(), neg.copy()
        self.icmp_id = neg.copy()
        self.payload, self.payload_end = neg.copy(), neg.copy()
        self.wire_end = neg.copy()  # where the IP packet ends on the wire (captured or not)
        self.fragment = np.zeros(n, dtype=bool)  # a later IP fragment: no transport header
        self.more = np.zeros(n, dtype=bool)  # more fragments follow (the first one: MF set)
        self.src4 = np.zeros(n, dtype=np.int64)
        self.dst4 = np.zeros(n, dtype=np.int64)
        self.src6 = np.zeros((0, 16), dtype=np.uint8)
        self.dst6 = np.zeros((0, 16), dtype=np.uint8)
        self.rows6 = np.zeros(0, dtype=np.int64)
        self.dst6_ok = np.zeros(0, dtype=bool)
        self.tcp = TcpFields(n)


def _be(block: npt.NDArray[np.uint8], at: int, width: int) -> I64:
    """Big-endian integers from `width` bytes at column `at` of each row of `block`."""
    out = block[:, at].astype(np.int64)
    for k in range(at + 1, at + width):
        out = (out << 8) | block[:, k]
    return out


def _ipv4(view: BytesView, rows: I64, l3: I64, end: I64, wire: I64, d: Decoded) -> tuple[I64, I64]:
    h = view.block(l3, 20)  # the fixed header, one copy per packet
    ihl = (h[:, 0] & 0x0F).astype(np.int64) * 4
    total = _be(h, 2, 2)
    d.ip_version[rows] = 4
    d.ttl[rows] = h[:, 8]
    d.tp[rows] = h[:, 9]
    d.src4[rows] = _be(h, 12, 4)
    d.dst4[rows] = _be(h, 16, 4)
    frag = _be(h, 6, 2)
    d.fragment[rows] = (frag & 0x1FFF) != 0
    d.more[rows] = (frag & 0x2000) != 0
    # A zero total length is TCP segmentation offload: trust the captured length.
    ip_end = np.where(total > 0, np.minimum(end, l3 + total), end)
    d.wire_end[rows] = np.where(total > 0, l3 + total, wire)
    return l3 + ihl, ip_end


def _ipv6(view: BytesView, rows: I64, l3: I64, end: I64, wire: I64, d: Decoded) -> tuple[I64, I64]:
    d.ip_version[rows] = 6
    d.ttl[rows] = view.u8(l3 + 7)
    d.rows6 = rows
    d.src6 = view.block(l3 + 8, 16)
    d.dst6 = view.block(l3 + 24, 16)
    d.dst6_ok = l3 + 40 <= end
    plen = view.u16(l3 + 4)
    ip_end = np.where(plen > 0, np.minimum(end, l3 + 40 + plen), end)
    d.wire_end[rows] = np.where(plen > 0, l3 + 40 + plen, wire)
    nxt = view.u8(l3 + 6)
    pos = l3 + 40
    later_fragment = np.zeros(len(rows), dtype=bool)
    more = np.zeros(len(rows), dtype=bool)
    for _ in range(8):
        ext = np.isin(nxt, _IPV6_EXT) & (pos + 8 <= ip_end)
        if not ext.any():
            break
        is_frag = ext & (nxt == 44)
        later_fragment |= is_frag & ((view.u16(pos + 2) & 0xFFF8) != 0)
        more |= is_frag & ((view.u16(pos + 2) & 1) != 0)
        hlen = np.where(
            nxt == 44,
            8,
            np.where(nxt == 51, (view.u8(pos + 1) + 2) * 4, (view.u8(pos + 1) + 1) * 8),
        )
        nxt = np.where(ext, view.u8(pos), nxt)
        pos = np.where(ext, pos + hlen, pos)
    d.tp[rows] = nxt
    d.fragment[rows] = later_fragment
    d.more[rows] = more
    return pos, ip_end


def _transport(view: BytesView, rows: I64, l4: I64, ip_end: I64, d: Decoded) -> None:
    tp = d.tp[rows]
    live = ~d.fragment[rows]
    h = view.block(l4, 14)  # ports, and TCP's offset and flags word at 12
    ports = live & np.isin(tp, (_TCP, _UDP, _SCTP)) & (l4 + 4 <= ip_end)
    # tshark shows UDP's ports when the IP length leaves room for its 8-byte header, even if
    # the capture cut the header after the ports
    ports &= (tp != _UDP) | (l4 + 8 <= d.wire_end[rows])
    d.sport[rows] = np.where(ports, _be(h, 0, 2), -1)
    d.dport[rows] = np.where(ports, _be(h, 2, 2), -1)
    tcp = live & (tp == _TCP) & (l4 + 14 <= ip_end)
    word = _be(h, 12, 2)
    d.flags[rows] = np.where(tcp, word & 0x0FFF, -1)
    at = np.flatnonzero(tcp)
    if len(at):
        read_tcp(view, rows[at], l4[at], ip_end[at], d.flags[rows[at]], d.tcp)
    udp = ports & (tp == _UDP)
    # a TCP header shorter than 20 bytes, longer than its segment or not captured whole has
    # no payload length (tshark shows no tcp.len, and analyses nothing, for it)
    hlen = (word >> 12) * 4
    whole = tcp & (hlen >= 20) & (l4 + hlen <= np.minimum(d.wire_end[rows], ip_end))
    udp &= l4 + 8 <= np.minimum(d.wire_end[rows], ip_end)  # its header whole, and captured
    d.payload[rows] = np.where(whole, l4 + hlen, np.where(udp, l4 + 8, -1))
    icmp = live & np.isin(tp, (_ICMP, _ICMP6)) & (l4 + 2 <= ip_end)
    d.icmp_type[rows] = np.where(icmp, h[:, 0].astype(np.int64), -1)
    d.icmp_code[rows] = np.where(icmp, h[:, 1].astype(np.int64), -1)
    kind = h[:, 0]
    ident = icmp & (l4 + 6 <= ip_end)
    ident &= np.where(tp == _ICMP, np.isin(kind, _ICMP_IDENT), np.isin(kind, _ICMP6_IDENT))
    d.icmp_id[rows] = np.where(ident, _be(h, 4, 2), -1)
    d.payload_end[rows] = ip_end


def decode_records(buf: npt.NDArray[np.uint8], rec: Records, first_number: int = 1) -> pd.DataFrame:
    """Decode every frame of `rec` (positions in `buf`) into a typed DataFrame."""
    return decode_batch(buf, rec, first_number).to_frame()  # indexed from 0


def decode_batch(buf: npt.NDArray[np.uint8], rec: Records, first_number: int = 1) -> Batch:
    """Decode every frame of `rec` (positions in `buf`) into a batch of stored columns."""
    d, et, vlan, l3, end = layers(buf, rec)
    app = _app_fields(buf, d, et, l3, end)
    return _assemble(rec, first_number, d, et, vlan, app)


def payload_spans(buf: npt.NDArray[np.uint8], rec: Records) -> tuple[I64, I64]:
    """Where each frame's TCP or UDP payload starts in `buf` (-1: none) and how many of its
    bytes were captured: the bytes a stream is made of (up to the IP length, so an Ethernet
    trailer is not payload)."""
    d, *_, end = layers(buf, rec)
    start = d.payload
    return start, np.where(start >= 0, np.maximum(np.minimum(d.payload_end, end) - start, 0), 0)


def layers(buf: npt.NDArray[np.uint8], rec: Records) -> tuple[Decoded, I64, I64, I64, I64]:
    """The link, IP and transport layers of every frame: (decoded, EtherType, VLAN, layer-3
    offset, captured end)."""
    n = len(rec)
    view = BytesView(buf)
    end = rec.offset + np.minimum(rec.caplen, np.maximum(len(buf) - rec.offset, 0))
    wire = rec.offset + np.maximum(
        rec.wirelen, rec.caplen
    )  # where each frame would end had it been captured whole
    l3, et, vlan = link_layer(view, rec.offset, end, rec.linktype)
    d = Decoded(n)
    l4 = np.full(n, -1, dtype=np.int64)
    ip_end = end.copy()
    b0, total = view.u8(l3), view.u16(l3 + 2)
    # As tshark: a header length under 20 or a total length under it is bogus, not IPv4.
    v4 = (et == ET_IPV4) & (l3 + 20 <= end) & ((b0 >> 4) == 4) & ((b0 & 0x0F) >= 5)
    v4 = np.flatnonzero(v4 & ((total == 0) | (total >= (b0 & 0x0F) * 4)))
    if len(v4):
        l4[v4], ip_end[v4] = _ipv4(view, v4, l3[v4], end[v4], wire[v4], d)
    # An IPv6 header cut short still shows the addresses that were captured, as in tshark.
    v6 = np.flatnonzero((et == ET_IPV6) & (l3 + 24 <= end) & ((view.u8(l3) >> 4) == 6))
    if len(v6):
        l4[v6], ip_end[v6] = _ipv6(view, v6, l3[v6], end[v6], wire[v6], d)
    ip = np.flatnonzero(d.ip_version > 0)
    if len(ip):
        _transport(view, ip, l4[ip], ip_end[ip], d)
    d.l4 = l4
    return d, et, vlan, l3, end


class _AppFields:
    def __init__(self) -> None:
        self.dns = TextGroups()
        self.sni = TextGroups()
        self.host = TextGroups()
        self.summary = TextGroups()


def _app_fields(buf: npt.NDArray[np.uint8], d: Decoded, et: I64, l3: I64, end: I64) -> _AppFields:
    out = _AppFields()
    view = BytesView(buf)
    raw = buf.data  # slices of a memoryview copy only the bytes asked for
    pay, pend = d.payload, np.minimum(d.payload_end, end)
    plen = pend - pay
    has = (pay >= 0) & (plen > 0)
    tcp = has & (d.tp == _TCP)
    udp = has & (d.tp == _UDP)
    dns_ports = tuple(payload.DNS_PORTS)
    on_dns_port = np.isin(d.sport, dns_ports) | np.isin(d.dport, dns_ports)
    rows = np.flatnonzero((tcp | udp) & on_dns_port & (plen >= 12))
    start = pay[rows] + np.where(tcp[rows], 2, 0)  # DNS over TCP: a two-byte length first
    dns_fields(view, start, pend[rows] - start, rows, out.dns, out.summary)

    first = view.u8(pay)
    # A ClientHello may also follow other TLS records (ChangeCipherSpec...) in a segment.
    tls = tcp & (plen >= 6) & np.isin(first, (0x14, 0x15, 0x16)) & (view.u8(pay + 1) == 3)
    rows = np.flatnonzero(tls)
    rest = tls_fields(view, pay[rows], pend[rows], rows, out.sni, out.summary)
    sni: dict[int, str] = {}
    summary: dict[int, str] = {}
    for i, a, b in zip(rest.tolist(), pay[rest].tolist(), pend[rest].tolist(), strict=True):
        hello = payload.find_client_hello(bytes(raw[a:b]))
        if hello is None:
            continue
        name = payload.parse_tls_sni(hello)
        if name is not None:
            sni[i] = name
        summary[i] = "Client Hello" + (f" (SNI={name})" if name else "")

    http = (tcp | (udp & ((d.sport == 1900) | (d.dport == 1900)))) & (plen >= 16)
    rows = np.flatnonzero(http & np.isin(view.u32(pay), _HTTP_METHODS))
    rows = http_fields(view, pay[rows], pend[rows], rows, out.host, out.summary)
    host: dict[int, str] = {}
    for i, a, b in zip(rows.tolist(), pay[rows].tolist(), pend[rows].tolist(), strict=True):
        req = payload.parse_http_request(bytes(raw[a:b]))
        if req is not None:
            if req.host is not None:
                host[i] = req.host
            summary[i] = req.request_line
    rows = np.flatnonzero((et == ET_ARP) & (l3 >= 0))
    arp_fields(view, l3[rows], np.maximum(end[rows] - l3[rows], 0), rows, out.summary)
    out.sni.add_dict(sni)
    out.host.add_dict(host)
    out.summary.add_dict(summary)
    return out


def _ipv4_text(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


Text = tuple[I64, list[str]]  # codes (-1: missing) into distinct texts


def _addresses(d: Decoded) -> tuple[Text, Text]:
    """src and dst as codes into one shared list of texts."""
    n = len(d.ip_version)
    src = np.full(n, -1, dtype=np.int64)
    dst = np.full(n, -1, dtype=np.int64)
    cats: list[str] = []
    v4 = np.flatnonzero(d.ip_version == 4)
    if len(v4):
        # factorize hashes (O(n)); np.unique would sort
        inv, uniq = pd.factorize(np.concatenate([d.src4[v4], d.dst4[v4]]))
        cats.extend(_ipv4_text(int(u)) for u in uniq.tolist())
        src[v4], dst[v4] = inv[: len(v4)], inv[len(v4) :]
    if len(d.rows6):
        both = np.ascontiguousarray(np.concatenate([d.src6, d.dst6])).view("V16").ravel()
        uniq6, inv6 = np.unique(both, return_inverse=True)
        base = len(cats)
        cats.extend(socket.inet_ntop(socket.AF_INET6, u.tobytes()) for u in uniq6)
        k = len(d.rows6)
        src[d.rows6] = inv6[:k] + base
        dst[d.rows6] = np.where(d.dst6_ok, inv6[k:] + base, -1)
    return _distinct(src, cats), _distinct(dst, cats)


def _distinct(codes: I64, cats: list[str]) -> Text:
    """Codes into `cats` with duplicate texts merged."""
    pool: list[str] = []
    return code_table(cats, {}, pool)[codes], pool


def _proto(d: Decoded, et: I64) -> Text:
    ip = d.ip_version > 0
    key = np.where(ip, d.tp, np.where(et != NO_L3, 1000 + (et & 0xFFFF), -1))
    key = np.where((et == -2) & ~ip, 999, key)  # LLC
    key = np.where((et == -3) & ~ip, 998, key)  # Cisco SLARP
    inv, uniq = pd.factorize(key)
    cats = []
    for k in uniq.tolist():
        if k == 999:
            cats.append("LLC")
        elif k == 998:
            cats.append("SLARP")
        elif k >= 1000:
            cats.append(names.ethertype_name(k - 1000))
        else:
            cats.append(names.proto_name(k))  # -1 never shows: its rows get code -1 below
    codes = np.where(key == -1, -1, inv)
    return _distinct(codes, cats)


def _assemble(
    rec: Records, first_number: int, d: Decoded, et: I64, vlan: I64, app: _AppFields
) -> Batch:
    n = len(rec)
    src, dst = _addresses(d)
    ip_version = np.where(d.ip_version > 0, d.ip_version, -1)
    text: dict[str, Text] = {
        "src": src,
        "dst": dst,
        "proto": _proto(d, et),
        "dns_qname": app.dns.codes(n),
        "tls_sni": app.sni.codes(n),
        "http_host": app.host.codes(n),
        "summary": app.summary.codes(n),
        "sensor": (np.full(n, -1, dtype=np.int64), []),  # the capture names its sensor
    }
    optional = {
        "ip_version": ip_version,
        "sport": d.sport,
        "dport": d.dport,
        "tcp_flags": d.flags,
        "tcp_seq": d.tcp.seq,
        "tcp_ack": d.tcp.ack,
        "tcp_window": d.tcp.window,
        "tcp_mss": d.tcp.mss,
        "tcp_wscale": d.tcp.wscale,
        "ttl": d.ttl,
        "vlan": vlan,
        "icmp_type": d.icmp_type,
        "icmp_code": d.icmp_code,
        "icmp_id": d.icmp_id,
        # on the wire, as tshark's tcp.len: from the IP length, even where the capture cut it;
        # none for the first of several TCP fragments, whose segment length is not known from
        # it (tshark shows no tcp.len), though its start is read (an HTTP request's host)
        "paylen": np.where(
            (d.payload >= 0) & ~(d.more & (d.tp == _TCP)), d.wire_end - d.payload, -1
        ),
        "flow": np.full(n, -1, dtype=np.int64),  # numbered across packets: see core/annotate
    }
    plain: dict[str, npt.NDArray[Any]] = {
        "number": (
            np.arange(first_number, first_number + n, dtype=np.int64)
            if rec.number is None
            else rec.number.astype(np.int64, copy=False)
        ),
        "ts": rec.ts_ns,
        "length": rec.wirelen,
        "caplen": rec.caplen,
        "linktype": rec.linktype,
        "tcp_analysis": np.zeros(n, dtype=np.uint16),  # needs the flow's earlier packets too
    }
    raw: dict[str, Any] = {**plain, **optional, **text}
    parts = {c.name: c.codec.from_decoded(raw[c.name], c.numpy_dtype) for c in STORED_COLUMNS}
    return Batch.from_parts(n, parts)
