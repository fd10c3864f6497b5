"""`dissect()`: the layer tree of one packet, by scapy, as netlab's own plain structure.

scapy dissects the frame (the fields `show2` lists); each field's byte offset and length are
found by walking the layer's fields over its original bytes as scapy's own dissection does
(`getfield`, bit by bit for bit fields). Names tshark gives the common fields are added, so a
field can be found by either name (and the offsets are checked against tshark's PDML).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from .core.dissection import Dissection, Field, Layer
from .errors import NetlabError
from .export import _store_of
from .packets import packet_bytes

SHOWN = 200  # characters of a value shown (a payload's are its bytes in the hex dump)
# scapy layer -> tshark protocol, and scapy field -> tshark field, for the common layers
PROTOCOLS = {
    "Ether": "eth", "Dot1Q": "vlan", "IP": "ip", "IPv6": "ipv6", "TCP": "tcp", "UDP": "udp",
    "ICMP": "icmp", "ARP": "arp", "DNS": "dns", "Raw": "data", "CookedLinux": "sll",
}  # fmt: skip
FIELDS = {
    "Ether": {"dst": "eth.dst", "src": "eth.src", "type": "eth.type"},
    "Dot1Q": {"prio": "vlan.priority", "vlan": "vlan.id", "type": "vlan.etype"},
    "IP": {
        "version": "ip.version", "ihl": "ip.hdr_len", "tos": "ip.dsfield", "len": "ip.len",
        "id": "ip.id", "flags": "ip.flags", "frag": "ip.frag_offset", "ttl": "ip.ttl",
        "proto": "ip.proto", "chksum": "ip.checksum", "src": "ip.src", "dst": "ip.dst",
    },
    "IPv6": {
        "version": "ipv6.version", "tc": "ipv6.tclass", "fl": "ipv6.flow", "plen": "ipv6.plen",
        "nh": "ipv6.nxt", "hlim": "ipv6.hlim", "src": "ipv6.src", "dst": "ipv6.dst",
    },
    "TCP": {
        "sport": "tcp.srcport", "dport": "tcp.dstport", "seq": "tcp.seq_raw",
        "ack": "tcp.ack_raw", "dataofs": "tcp.hdr_len", "flags": "tcp.flags",
        "window": "tcp.window_size_value", "chksum": "tcp.checksum", "urgptr": "tcp.urgent_pointer",
    },
    "UDP": {
        "sport": "udp.srcport", "dport": "udp.dstport", "len": "udp.length",
        "chksum": "udp.checksum",
    },
    "ICMP": {
        "type": "icmp.type", "code": "icmp.code", "chksum": "icmp.checksum", "id": "icmp.ident",
        "seq": "icmp.seq",
    },
    "ARP": {
        "hwtype": "arp.hw.type", "ptype": "arp.proto.type", "hwlen": "arp.hw.size",
        "plen": "arp.proto.size", "op": "arp.opcode", "hwsrc": "arp.src.hw_mac",
        "psrc": "arp.src.proto_ipv4", "hwdst": "arp.dst.hw_mac", "pdst": "arp.dst.proto_ipv4",
    },
    "DNS": {"id": "dns.id", "qdcount": "dns.count.queries", "ancount": "dns.count.answers"},
}  # fmt: skip


def dissect(row: pd.Series, *, packets: Any = None) -> Dissection:
    """The layers and fields of the packet of one row (of read_pcap, a capture's frame or a
    remote capture's), with each field's place in the frame's bytes."""
    if not isinstance(row, pd.Series):
        raise NetlabError("dissect() takes one packet row, e.g. dissect(df.iloc[0])")
    number, caplen = int(row["number"]), int(row["caplen"])
    frame = pd.DataFrame(index=[0])
    frame.attrs = dict(row.attrs)  # where the row's bytes are, unless `packets` says
    store = _store_of(frame, packets)
    data = packet_bytes(store, number, caplen, _sensor(row))
    if data is None:
        raise NetlabError(
            f"frame {number}: {store.description} does not have its bytes any more (a capture "
            "keeps the newest NETLAB_KEEP_BYTES_MB)"
        )
    return dissect_bytes(data, int(row["linktype"]), number)


def _sensor(row: pd.Series) -> str | None:
    """The row's sensor, if it names one (rows of a merged capture do)."""
    sensor = row.get("sensor")
    return None if sensor is None or pd.isna(sensor) else str(sensor)


def dissect_bytes(data: bytes, linktype: int = 1, number: int = 0) -> Dissection:
    """The dissection of a frame's bytes (`linktype`: its LINKTYPE_*)."""
    import scapy.layers.all  # noqa: F401 - registers every layer a frame may need
    from scapy.config import conf
    from scapy.packet import NoPayload, Raw

    cls: Any = conf.l2types.num2layer.get(linktype, Raw)
    note = None
    try:
        packet = cls(data)
    except Exception as exc:  # noqa: BLE001 - a malformed frame still shows its bytes
        packet, note = Raw(data), f"scapy could not dissect it: {exc}"
    layers: list[Layer] = []
    layer = packet
    while not isinstance(layer, NoPayload):
        try:
            original = _original(layer)
            if layers and layers[-1].tshark == "tcp" and _HTTP_START.match(original):
                # HTTP by netlab, whether or not scapy's HTTP layer is bound (its fields are
                # parsed by regular expressions: no byte offsets to walk)
                layers += _http(original, len(data) - len(original))
                break
            layers.append(_layer(layer, data))
        except Exception as exc:  # noqa: BLE001
            note = f"the {layer.name} layer could not be read: {exc}"
            break
        layer = layer.payload
    return Dissection(number, data, layers, note)


def _original(layer: Any) -> bytes:
    """The bytes scapy dissected this layer (and its payload) from."""
    return layer.original if isinstance(layer.original, bytes) else bytes(layer)


def _layer(layer: Any, frame: bytes) -> Layer:
    original = _original(layer)
    offset = len(frame) - len(original)
    total = len(original)
    kind = type(layer).__name__
    names = FIELDS.get(kind, {})
    out = Layer(layer.name, offset, total, tshark=PROTOCOLS.get(kind))

    def bit(s: Any) -> int:  # how far into the layer a dissection state is, in bits
        return (total - len(s[0])) * 8 + s[1] if isinstance(s, tuple) else (total - len(s)) * 8

    s: Any = original
    for f in layer.fields_desc:
        start = bit(s)
        s, _ = f.getfield(layer, s)
        end = bit(s)
        if end == start:
            continue  # a field this packet does not have (a condition, an empty list)
        value = layer.getfieldval(f.name)
        shown = str(f.i2repr(layer, value))
        if len(shown) > SHOWN:
            shown = shown[: SHOWN - 1] + "…"
        first = start // 8
        out.fields.append(
            Field(f.name, shown, offset + first, (end + 7) // 8 - first, names.get(f.name))
        )
    return out


_HTTP_START = re.compile(rb"(?:[A-Z]{3,10} \S+ HTTP/\d\.\d|HTTP/\d\.\d \d{3}(?: [^\r\n]*)?)\r?\n")
_HTTP_HEADERS = {
    "host": "http.host", "user-agent": "http.user_agent", "accept": "http.accept",
    "accept-language": "http.accept_language", "accept-encoding": "http.accept_encoding",
    "connection": "http.connection", "referer": "http.referer", "cookie": "http.cookie",
    "set-cookie": "http.set_cookie", "content-type": "http.content_type",
    "content-length": "http.content_length_header", "content-encoding": "http.content_encoding",
    "transfer-encoding": "http.transfer_encoding", "server": "http.server", "date": "http.date",
    "location": "http.location", "cache-control": "http.cache_control",
    "last-modified": "http.last_modified", "authorization": "http.authorization",
}  # fmt: skip


def _http(data: bytes, offset: int) -> list[Layer]:
    """An HTTP message's start line and header lines (tshark's fields: a header is its whole
    line), and its body (as far as this segment holds it) as data."""
    end = data.find(b"\r\n\r\n")
    head_end = len(data) if end < 0 else end + 4
    layer = Layer("HTTP", offset, len(data), tshark="http")
    first_end = data.find(b"\n") + 1
    tokens = data[:first_end].rstrip(b"\r\n").split(b" ", 2)
    names = (
        ("version", "http.response.version", "code", "http.response.code", "phrase",
         "http.response.phrase")
        if tokens[0].startswith(b"HTTP/")
        else ("method", "http.request.method", "uri", "http.request.uri", "version",
              "http.request.version")
    )  # fmt: skip
    at = 0
    for i, token in enumerate(tokens):
        shown = token.decode("latin-1")
        layer.fields.append(Field(names[2 * i], shown, offset + at, len(token), names[2 * i + 1]))
        at += len(token) + 1
    at = first_end
    while at < head_end:
        line_end = data.find(b"\n", at, head_end)
        line_end = head_end if line_end < 0 else line_end + 1
        line = data[at:line_end]
        name, sep, value = line.partition(b":")
        if sep:
            key = name.strip().decode("latin-1")
            shown = value.strip().decode("latin-1")[:SHOWN]
            layer.fields.append(
                Field(key, shown, offset + at, len(line), _HTTP_HEADERS.get(key.lower()))
            )
        at = line_end
    layers = [layer]
    if head_end < len(data):
        body = data[head_end:]
        shown = repr(body[:SHOWN])
        raw = Layer("Raw", offset + head_end, len(body), tshark="data")
        raw.fields.append(Field("load", shown, offset + head_end, len(body)))
        layers.append(raw)
    return layers
