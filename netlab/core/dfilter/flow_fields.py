"""The display-filter fields of a flow table (`netlab.flows()` rows): the same names as a
packet's where a flow has them, from the flow's columns (its service and server name, its
TCP-analysis counts)."""

from __future__ import annotations

import pandas as pd

from .columns import Bools, Columns
from .fields import (
    PACKET_GETTERS,
    PROTOCOL_NAMES,
    Getter,
    address_field,
    both_ints,
    int_field,
    label,
    present,
    proto_rows,
    stream_field,
    tcp_rows,
    text_field,
    udp_rows,
)


def _service(c: Columns, name: str) -> Bools:
    return c.text_is("service", name)


def _flow_fields() -> dict[str, Getter]:
    table: dict[str, Getter] = {
        "dns.qry.name": text_field("server_name", lambda c: _service(c, "dns")),
        "http.host": text_field("server_name", lambda c: _service(c, "http")),
        "tls.handshake.extensions_server_name": text_field(
            "server_name", lambda c: _service(c, "tls")
        ),
        "tcp.analysis.initial_rtt": int_field("rtt", tcp_rows),
    }
    table["ip"] = lambda c: [present(address_field(("src",), 4, True)(c)[0].present)]
    table["ipv6"] = lambda c: [present(address_field(("src",), 6, True)(c)[0].present)]
    for end, col in (("src", ("src",)), ("dst", ("dst",)), ("addr", ("src", "dst"))):
        table[f"ip.{end}"] = address_field(col, 4, flows=True)
        table[f"ipv6.{end}"] = address_field(col, 6, flows=True)
    for proto, rows in (("tcp", tcp_rows), ("udp", udp_rows)):
        table[f"{proto}.srcport"] = int_field("sport", rows)
        table[f"{proto}.dstport"] = int_field("dport", rows)
        table[f"{proto}.port"] = both_ints("sport", "dport", rows)
        table[f"{proto}.stream"] = stream_field(proto.upper())
    counts = {
        "retransmission": "retransmissions",
        "out_of_order": "out_of_order",
        "duplicate_ack": "dup_acks",
        "zero_window": "zero_windows",
    }
    for flag, column in counts.items():
        table[f"tcp.analysis.{flag}"] = label(lambda c, column=column: _positive(c, column))
    for app in ("dns", "http", "tls"):
        table[app] = label(lambda c, app=app: _service(c, app))
    for name, shown in PROTOCOL_NAMES.items():
        table[name] = label(lambda c, shown=shown: proto_rows(c, *shown))
    return table


def _positive(c: Columns, col: str) -> Bools:
    occ = c.ints(col)
    out: Bools = occ.present & (occ.values > 0)
    return out


FLOW_GETTERS = _flow_fields()


def is_flow_table(df: pd.DataFrame) -> bool:
    """A table of `netlab.flows()` rows rather than packets."""
    return "orig_packets" in df.columns and "number" not in df.columns


def getters_for(df: pd.DataFrame) -> dict[str, Getter]:
    return FLOW_GETTERS if is_flow_table(df) else PACKET_GETTERS
