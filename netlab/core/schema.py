"""The one table of frame columns: name, storage kind, pandas dtype, tshark field, meaning.

Everything that lists columns (the decoder's output, the rolling frame's storage, the JSON rows
of the server, the README table and the tshark conformance test) reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd


class Kind(Enum):
    """How a column is stored and typed."""

    TIME = "time"  # int64 nanoseconds since the epoch -> datetime64[ns, UTC]
    INT = "int"  # always present unsigned integer
    OPT_INT = "opt_int"  # nullable unsigned integer (values + mask)
    TEXT = "text"  # categorical text (codes into a string pool), may be missing
    DERIVED = "derived"  # text computed from the other columns when a DataFrame is made


@dataclass(frozen=True)
class Column:
    """One column of a netlab frame."""

    name: str
    kind: Kind
    numpy_dtype: str  # storage dtype of the values
    tshark: str  # the tshark field it agrees with ("" when tshark has none)
    doc: str

    @property
    def pandas_dtype(self) -> str:
        """The dtype of this column in a DataFrame."""
        if self.kind is Kind.TIME:
            return "datetime64[ns, UTC]"
        if self.kind is Kind.INT:
            return self.numpy_dtype
        if self.kind is Kind.OPT_INT:
            return self.numpy_dtype.capitalize().replace("Uint", "UInt")
        if self.kind is Kind.DERIVED:
            return "string"
        return "category"


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
    Column("ttl", Kind.OPT_INT, "uint8", "ip.ttl/ipv6.hlim", "IPv4 TTL or IPv6 hop limit"),
    Column("vlan", Kind.OPT_INT, "uint16", "vlan.id", "Outermost 802.1Q VLAN id"),
    Column("icmp_type", Kind.OPT_INT, "uint8", "icmp.type/icmpv6.type", "ICMP/ICMPv6 type"),
    Column("icmp_code", Kind.OPT_INT, "uint8", "icmp.code/icmpv6.code", "ICMP/ICMPv6 code"),
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
TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind is Kind.TEXT)
STORED_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.kind is not Kind.DERIVED)


def empty_frame() -> pd.DataFrame:
    """A DataFrame with every column, correctly typed, and no rows."""
    data: dict[str, object] = {}
    for col in COLUMNS:
        if col.kind is Kind.TEXT:
            data[col.name] = pd.Categorical([], categories=pd.Index([], dtype=object))
        elif col.kind is Kind.DERIVED:
            data[col.name] = pd.array([], dtype="string[pyarrow]")
        else:
            data[col.name] = pd.Series(np.array([], dtype="int64"), dtype=col.pandas_dtype)
    return pd.DataFrame(data)


def markdown_table() -> str:
    """The columns as a Markdown table, for the README."""
    lines = ["| column | dtype | tshark field | meaning |", "|---|---|---|---|"]
    for c in COLUMNS:
        tshark = f"`{c.tshark}`" if c.tshark else ""
        lines.append(f"| `{c.name}` | {c.pandas_dtype} | {tshark} | {c.doc} |")
    return "\n".join(lines)
