"""The display-filter fields netlab knows, with tshark's names and types, and where each one's
values come from in a packet frame and in a flow table.

A field gives a list of occurrences (`ip.addr` is the source and the destination, as in
Wireshark, where a field may occur more than once in a packet). Columns are the outermost
headers; a packet inside (tunnelled, or quoted by an ICMP error) is decoded when a filter names
a field it has (`LAYERED`), and its headers are further occurrences, as in tshark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..names import IP_PROTOCOLS
from ..services import CONTENT_SIGNS
from ..tcp_flags import BY_NAME as ANALYSIS_BITS
from .columns import Bools, Cat, Columns, Num, Occurrence


class Type(Enum):
    UINT = "unsigned integer"
    BOOL = "boolean"
    TIME = "time"  # int64 nanoseconds, written as seconds
    SECONDS = "seconds"  # float seconds (a duration)
    IPV4 = "IPv4 address"
    IPV6 = "IPv6 address"
    TEXT = "character string"
    LABEL = "label"  # present or not, no value (tcp.analysis.retransmission)
    PROTOCOL = "protocol"


def a(t: Type) -> str:
    """The type's name with its article ("an IPv4 address", "a label")."""
    return ("an " if t.value[0] in "aeiouIU" else "a ") + t.value


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: Type
    bits: int = 0  # an unsigned integer's width
    doc: str = ""


Getter = Callable[[Columns], list[Occurrence]]


def _where(occ: Occurrence, rows: Bools) -> Occurrence:
    if isinstance(occ, Num):
        return Num(occ.values, occ.present & rows)
    return Cat(occ.codes, occ.cats, occ.present & rows)


def present(rows: Bools) -> Num:
    return Num(np.zeros(len(rows), dtype=np.int64), rows)


# -- packets ---------------------------------------------------------------------------------
def proto_rows(c: Columns, *names: str) -> Bools:
    return c.text_is("proto", *names)


def _v(c: Columns, version: int) -> Bools:
    ip = c.ints("ip_version")
    out: Bools = ip.present & (ip.values == version)
    return out


def int_field(col: str, rows: Callable[[Columns], Bools] | None = None) -> Getter:
    def get(c: Columns) -> list[Occurrence]:
        occ = c.ints(col)
        return [_where(occ, rows(c)) if rows else occ]

    return get


def both_ints(a: str, b: str, rows: Callable[[Columns], Bools]) -> Getter:
    return lambda c: [_where(c.ints(a), rows(c)), _where(c.ints(b), rows(c))]


def text_field(col: str, rows: Callable[[Columns], Bools] | None = None) -> Getter:
    def get(c: Columns) -> list[Occurrence]:
        occ = c.text(col)
        return [_where(occ, rows(c)) if rows else occ]

    return get


def address_field(cols: tuple[str, ...], version: int, flows: bool) -> Getter:
    def get(c: Columns) -> list[Occurrence]:
        out: list[Occurrence] = []
        for col in cols:
            occ = c.text(col)
            if flows:  # a flow table has no ip_version: the address's own form says
                six = np.asarray(occ.cats.str.contains(":", regex=False), dtype=bool)
                out.append(Cat(occ.codes, occ.cats, occ.lookup(six if version == 6 else ~six)))
            else:
                out.append(_where(occ, _v(c, version)))
        return out

    return get


def _bit(col: str, mask: int, rows: Callable[[Columns], Bools]) -> Getter:
    def get(c: Columns) -> list[Occurrence]:
        occ = c.ints(col)
        return [Num((occ.values & mask != 0).astype(np.int64), occ.present & rows(c))]

    return get


def _label(col: str, mask: int, rows: Callable[[Columns], Bools]) -> Getter:
    def get(c: Columns) -> list[Occurrence]:
        occ = c.ints(col)
        return [present(occ.present & (occ.values & mask != 0) & rows(c))]

    return get


def stream_field(proto: str) -> Getter:
    """tshark's tcp.stream/udp.stream: the flow's rank among the frame's flows of its
    protocol (netlab's `flow` numbers all protocols in one space, in the same order)."""

    def get(c: Columns) -> list[Occurrence]:
        flow = c.ints("flow")
        rows = flow.present & proto_rows(c, proto)
        values = np.zeros(c.n, dtype=np.int64)
        if rows.any():
            values[rows] = np.unique(flow.values[rows], return_inverse=True)[1]
        return [Num(values, rows)]

    return get


def _ip_proto(version: int) -> Getter:
    """ip.proto from the protocol name netlab shows (a number where it has no name)."""
    numbers = {name: num for num, name in IP_PROTOCOLS.items()}

    def get(c: Columns) -> list[Occurrence]:
        t = c.text("proto")
        known = [numbers.get(s, int(s) if s.isdigit() else -1) for s in t.cats]
        per = np.append(np.asarray(known, dtype=np.int64), -1)
        values = per[t.codes]
        return [Num(values, t.present & (values >= 0) & _v(c, version))]

    return get


def _content(c: Columns, service: str) -> Bools:
    """Rows whose content shows the service (services.CONTENT_SIGNS), once per evaluation."""

    def make() -> Bools:
        column, starts = CONTENT_SIGNS[service]
        summary = c.text("summary")
        per = np.asarray(summary.cats.str.startswith(starts), dtype=bool)
        return summary.lookup(per) | c.text(column).present

    out: Bools = c.memo("content:" + service, make)
    return out


def _app(c: Columns, name: str) -> Bools:
    """Rows whose content netlab recognised as DNS, HTTP (a request) or TLS (a ClientHello);
    Wireshark names DNS on the mDNS and LLMNR ports apart, as protocols of their own."""
    if name in ("http", "tls"):
        return _content(c, name)
    dns = _content(c, "dns")
    if name in _LOCAL_DNS:
        return dns & _on_port(c, _LOCAL_DNS[name])
    local = np.zeros(c.n, dtype=bool)
    for port in _LOCAL_DNS.values():
        local |= _on_port(c, port)
    return dns & ~local


_LOCAL_DNS = {"mdns": 5353, "llmnr": 5355}


def _on_port(c: Columns, port: int) -> Bools:
    sport, dport = c.ints("sport"), c.ints("dport")
    out: Bools = (sport.present & (sport.values == port)) | (dport.present & (dport.values == port))
    return out


def tcp_rows(c: Columns) -> Bools:
    return proto_rows(c, "TCP")


def udp_rows(c: Columns) -> Bools:
    return proto_rows(c, "UDP")


def _ICMP(c: Columns) -> Bools:  # noqa: N802 (row selectors read as the protocol they pick)
    return proto_rows(c, "ICMP")


def _ICMP6(c: Columns) -> Bools:  # noqa: N802
    return proto_rows(c, "ICMPv6")


def _V4(c: Columns) -> Bools:  # noqa: N802
    return _v(c, 4)


def _V6(c: Columns) -> Bools:  # noqa: N802
    return _v(c, 6)


_TCP_FLAGS = {
    "fin": 0x001,
    "syn": 0x002,
    "reset": 0x004,
    "push": 0x008,
    "ack": 0x010,
    "urg": 0x020,
    "ece": 0x040,
    "cwr": 0x080,
    "ae": 0x100,
}
# protocol names tested alone, and the IP protocol or EtherType names netlab shows for them
PROTOCOL_NAMES = {
    "tcp": ("TCP",),
    "udp": ("UDP",),
    "icmp": ("ICMP",),
    "icmpv6": ("ICMPv6",),
    "sctp": ("SCTP",),
    "gre": ("GRE",),
    "igmp": ("IGMP",),
    "ospf": ("OSPF",),
    "esp": ("ESP",),
    "ah": ("AH",),
    "pim": ("PIM",),
    "vrrp": ("VRRP",),
    "arp": ("ARP", "RARP"),
    "cdp": ("CDP",),
    "lldp": ("LLDP",),
    "eapol": ("EAPOL",),
    "slarp": ("SLARP",),
}


def _packet_fields() -> dict[str, tuple[FieldDef, Getter]]:
    u, b, t = Type.UINT, Type.BOOL, Type.TEXT
    table: dict[str, tuple[FieldDef, Getter]] = {}

    def add(name: str, typ: Type, get: Getter, bits: int = 0, doc: str = "") -> None:
        table[name] = (FieldDef(name, typ, bits, doc), get)

    add("frame", Type.PROTOCOL, lambda c: [present(np.ones(c.n, dtype=bool))])
    add("frame.number", u, int_field("number"), 32)
    add("frame.len", u, int_field("length"), 32)
    add("frame.cap_len", u, int_field("caplen"), 32)
    add("frame.time_epoch", Type.TIME, int_field("ts"))
    add("frame.time_relative", Type.TIME, _relative)
    add("ip.version", u, int_field("ip_version", _V4), 4)
    add("ipv6.version", u, int_field("ip_version", _V6), 4)
    for end, col in (("src", ("src",)), ("dst", ("dst",)), ("addr", ("src", "dst"))):
        add(f"ip.{end}", Type.IPV4, address_field(col, 4, flows=False))
        add(f"ipv6.{end}", Type.IPV6, address_field(col, 6, flows=False))
    add("ip.ttl", u, int_field("ttl", _V4), 8)
    add("ipv6.hlim", u, int_field("ttl", _V6), 8)
    add("ip.proto", u, _ip_proto(4), 8)
    for proto, rows in (("tcp", tcp_rows), ("udp", udp_rows)):
        add(f"{proto}.srcport", u, int_field("sport", rows), 16)
        add(f"{proto}.dstport", u, int_field("dport", rows), 16)
        add(f"{proto}.port", u, both_ints("sport", "dport", rows), 16)
        add(f"{proto}.stream", u, stream_field(proto.upper()), 32)
    add("tcp.flags", u, int_field("tcp_flags", tcp_rows), 16)
    for flag, mask in _TCP_FLAGS.items():
        add(f"tcp.flags.{flag}", b, _bit("tcp_flags", mask, tcp_rows))
    add("tcp.seq_raw", u, int_field("tcp_seq", tcp_rows), 32)
    add("tcp.ack_raw", u, int_field("tcp_ack", tcp_rows), 32)
    add("tcp.window_size_value", u, int_field("tcp_window", tcp_rows), 16)
    add("tcp.options.mss_val", u, int_field("tcp_mss", tcp_rows), 16)
    add("tcp.options.wscale.shift", u, int_field("tcp_wscale", tcp_rows), 8)
    add("tcp.len", u, int_field("paylen", tcp_rows), 32)
    add("udp.length", u, _udp_length, 16)
    every = sum(ANALYSIS_BITS.values())
    add("tcp.analysis.flags", Type.LABEL, _label("tcp_analysis", every, tcp_rows))
    for name, bit in ANALYSIS_BITS.items():
        add(f"tcp.analysis.{name}", Type.LABEL, _label("tcp_analysis", bit, tcp_rows))
    add("icmp.type", u, int_field("icmp_type", _ICMP), 8)
    add("icmp.code", u, int_field("icmp_code", _ICMP), 8)
    add("icmp.ident", u, int_field("icmp_id", _ICMP), 16)
    add("icmpv6.type", u, int_field("icmp_type", _ICMP6), 8)
    add("icmpv6.code", u, int_field("icmp_code", _ICMP6), 8)
    add("icmpv6.echo.identifier", u, int_field("icmp_id", _ICMP6), 16)
    add("vlan", Type.PROTOCOL, lambda c: [present(c.ints("vlan").present)])
    add("vlan.id", u, int_field("vlan"), 12)
    add("dns.qry.name", t, text_field("dns_qname"))
    add("http.host", t, text_field("http_host"))
    add("tls.handshake.extensions_server_name", t, text_field("tls_sni"))
    for app in ("dns", "mdns", "llmnr", "http", "tls"):
        add(app, Type.PROTOCOL, label(lambda c, app=app: _app(c, app)))
    for name, shown in PROTOCOL_NAMES.items():
        if name in _TRANSPORTS:
            add(name, Type.PROTOCOL, label(lambda c, name=name: _transport(c, name)))
        else:
            add(name, Type.PROTOCOL, label(lambda c, shown=shown: proto_rows(c, *shown)))
    add("ip", Type.PROTOCOL, lambda c: [present(_V4(c) | _bogus(c, "IPv4"))])
    add("ipv6", Type.PROTOCOL, lambda c: [present(_V6(c) | _bogus(c, "IPv6"))])
    return table


_TRANSPORTS = ("tcp", "udp", "sctp", "icmp", "icmpv6")


def _transport(c: Columns, name: str) -> Bools:
    """A transport protocol's rows: its IP protocol number, and its header there (ports, or
    an ICMP type). A later IP fragment has none; tshark names only the first fragment's
    transport, as it does without defragmentation. (A segment cut short before its ports is
    left out too: netlab cannot tell it from a later fragment.)"""
    shown = PROTOCOL_NAMES[name]
    header = c.ints("icmp_type" if name.startswith("icmp") else "sport").present
    out: Bools = proto_rows(c, *shown) & header
    return out


def _bogus(c: Columns, shown: str) -> Bools:
    """Rows whose EtherType says IPv4 or IPv6 and whose header is not one (a bad version or
    header length): tshark still names the protocol there, with no address."""
    out: Bools = proto_rows(c, shown) & ~c.ints("ip_version").present
    return out


def label(select: Callable[..., Bools]) -> Getter:
    """A label or protocol: present on the rows `select` picks."""
    return lambda c: [present(select(c))]


def _relative(c: Columns) -> list[Occurrence]:
    """Time since the frame's first row, as tshark's (negative where time runs back)."""
    ts = c.ints("ts")
    first = ts.values[np.argmax(ts.present)] if ts.present.any() else 0
    return [Num(ts.values - first, ts.present)]


def _udp_length(c: Columns) -> list[Occurrence]:
    occ = c.ints("paylen")
    return [Num(occ.values + 8, occ.present & udp_rows(c))]


PACKET = _packet_fields()
# Fields of headers a packet inside another one also has (a tunnel's, or one an ICMP error
# quotes): tshark matches every occurrence. Not the frame's own, nor the analyses netlab makes
# of outermost flows only (streams, TCP analysis).
LAYERED = frozenset(
    name
    for name in PACKET
    if name != "frame"
    and not name.startswith(("frame.", "tcp.stream", "udp.stream", "tcp.analysis"))
)
FIELDS: dict[str, FieldDef] = {name: d for name, (d, _) in PACKET.items()}
FIELDS["tcp.analysis.initial_rtt"] = FieldDef("tcp.analysis.initial_rtt", Type.SECONDS)
PACKET_GETTERS: dict[str, Getter] = {name: get for name, (_, get) in PACKET.items()}
