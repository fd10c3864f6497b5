"""The one table of frame columns: name, storage kind, pandas dtype, tshark field, meaning.

Everything that lists columns (the decoder's output, the rolling frame's storage, the JSON rows
of the server, the README table and the tshark conformance test) reads this table. Each column's
Kind has one codec (core/codecs.py: how it is stored, joined, cut, typed and spelled): code
that handles columns loops over the table and asks the codec, and never asks `kind is ...`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codecs import CODECS, NAT, Codec, Kind, Mask, Part, Take, code_table, compact_codes

__all__ = ["CODECS", "COLUMNS", "NAT", "STORED_COLUMNS", "Codec", "Column", "Kind", "Mask"]
__all__ += ["Part", "Take", "code_table", "compact_codes", "markdown_table"]


@dataclass(frozen=True)
class Column:
    """One column of a netlab frame."""

    name: str
    kind: Kind
    numpy_dtype: str  # storage dtype of the values
    tshark: str  # the tshark field it agrees with ("" when tshark has none)
    doc: str

    @property
    def codec(self) -> Codec:
        """How this column is stored, joined, cut, typed and spelled in JSON."""
        return CODECS[self.kind]

    @property
    def pandas_dtype(self) -> str:
        """The dtype of this column in a DataFrame."""
        return self.codec.pandas_dtype(self.numpy_dtype)


COLUMNS: tuple[Column, ...] = (
    Column("number", Kind.INT, "int64", "frame.number", "Frame number in its source, from 1"),
    Column("ts", Kind.TIME, "int64", "frame.time_epoch", "Capture time (UTC, ns resolution)"),
    Column("length", Kind.INT, "uint32", "frame.len", "Length on the wire in bytes"),
    Column("caplen", Kind.INT, "uint32", "frame.cap_len", "Bytes captured (≤ length)"),
    Column("linktype", Kind.INT, "uint16", "", "Link-layer header type (LINKTYPE_*)"),
    Column("ip_version", Kind.OPT_INT, "uint8", "", "4 or 6 for the outermost IP header"),
    Column("src", Kind.TEXT, "", "ip.src/ipv6.src", "Outermost IP source address"),
    Column("dst", Kind.TEXT, "", "ip.dst/ipv6.dst", "Outermost IP destination address"),
    Column(
        "proto",
        Kind.TEXT,
        "",
        "ip.proto/ipv6.nxt",
        "Transport after the outermost IP header (TCP, UDP, ICMP, ...), else ARP or the EtherType",
    ),
    Column("sport", Kind.OPT_INT, "uint16", "tcp.srcport/udp.srcport", "Source port"),
    Column("dport", Kind.OPT_INT, "uint16", "tcp.dstport/udp.dstport", "Destination port"),
    Column("tcp_flags", Kind.OPT_INT, "uint16", "tcp.flags", "TCP flags (12 bits)"),
    Column("tcp_seq", Kind.OPT_INT, "uint32", "tcp.seq_raw", "TCP sequence number (raw)"),
    Column("tcp_ack", Kind.OPT_INT, "uint32", "tcp.ack_raw", "TCP acknowledgement (raw; with ACK)"),
    Column(
        "tcp_window",
        Kind.OPT_INT,
        "uint16",
        "tcp.window_size_value",
        "TCP window field (unscaled)",
    ),
    Column("tcp_mss", Kind.OPT_INT, "uint16", "tcp.options.mss_val", "TCP MSS option"),
    Column(
        "tcp_wscale",
        Kind.OPT_INT,
        "uint8",
        "tcp.options.wscale.shift",
        "TCP window scale option (shift count)",
    ),
    Column(
        "tcp_analysis",
        Kind.INT,
        "uint16",
        "tcp.analysis.flags",
        "TCP analysis flags, a bit set (netlab.tcp_analysis_names tells them; 0: none)",
    ),
    Column("ttl", Kind.OPT_INT, "uint8", "ip.ttl/ipv6.hlim", "IPv4 TTL or IPv6 hop limit"),
    Column("vlan", Kind.OPT_INT, "uint16", "vlan.id", "Outermost 802.1Q VLAN id"),
    Column("icmp_type", Kind.OPT_INT, "uint8", "icmp.type/icmpv6.type", "ICMP/ICMPv6 type"),
    Column("icmp_code", Kind.OPT_INT, "uint8", "icmp.code/icmpv6.code", "ICMP/ICMPv6 code"),
    Column(
        "icmp_id",
        Kind.OPT_INT,
        "uint16",
        "icmp.ident/icmpv6.echo.identifier",
        "ICMP identifier (echo, timestamp, mask and information messages; ICMPv6 echo)",
    ),
    Column("dns_qname", Kind.TEXT, "", "dns.qry.name", "First DNS question name"),
    Column(
        "tls_sni",
        Kind.TEXT,
        "",
        "tls.handshake.extensions_server_name",
        "TLS ClientHello server name",
    ),
    Column("http_host", Kind.TEXT, "", "http.host", "HTTP request Host header"),
    Column(
        "paylen",
        Kind.OPT_INT,
        "uint32",
        "tcp.len/udp.length",
        "Transport payload bytes (on the wire)",
    ),
    Column(
        "flow",
        Kind.OPT_INT,
        "int64",
        "tcp.stream/udp.stream",
        "The packet's flow, numbered from 0 in order of first packet (a row of netlab.flows)",
    ),
    Column(
        "sensor",
        Kind.TEXT,
        "int16",  # a frame stores it as int16 codes into a few names of its own
        "",
        "The sensor that saw the packet: the capture's or server's NETLAB_SENSOR (default the "
        "host name); missing in read_pcap's frames",
    ),
    Column(
        "summary",
        Kind.TEXT,
        "",
        "",
        "Application summary: DNS query/response, HTTP request line, TLS ClientHello, ARP",
    ),
    Column("info", Kind.DERIVED, "", "_ws.col.Info", "Short human summary, like Wireshark's Info"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.codec.coded)
STORED_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.kind is not Kind.DERIVED)


def markdown_table() -> str:
    """The columns as a Markdown table, for the README."""
    lines = ["| column | dtype | tshark field | meaning |", "|---|---|---|---|"]
    for c in COLUMNS:
        tshark = f"`{c.tshark}`" if c.tshark else ""
        lines.append(f"| `{c.name}` | {c.pandas_dtype} | {tshark} | {c.doc} |")
    return "\n".join(lines)
