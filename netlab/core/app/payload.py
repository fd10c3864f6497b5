"""Per-packet parsers for the few application fields: DNS question, TLS SNI, HTTP Host, ARP.

Each takes the bytes from the start of its header, never raises on malformed input, and
returns None when the field is absent. They run only on the packets that could carry them.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

DNS_PORTS = frozenset({53, 5353, 5355})
HTTP_METHODS = (
    b"GET ",
    b"POST",
    b"HEAD",
    b"PUT ",
    b"DELE",
    b"OPTI",
    b"CONN",
    b"PATC",
    b"TRAC",
    b"M-SE",
    b"NOTI",
    b"SUBS",
)
_QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    43: "DS",
    46: "RRSIG",
    48: "DNSKEY",
    64: "SVCB",
    65: "HTTPS",
    255: "ANY",
}


_PLAIN = re.compile(rb"[^\x21-\x7e]|\\")


def _escape(name: bytes) -> str:
    # tshark's format_text: printable ASCII as is, anything else as a backslash and octal.
    if not _PLAIN.search(name):
        return name.decode("ascii")
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\{b:03o}" for b in name)


def read_dns_name(msg: bytes, pos: int) -> tuple[str, int] | None:
    """Decode a (possibly compressed) DNS name at `pos`; return it and the end of its bytes."""
    labels: list[bytes] = []
    end = -1
    jumps = 0
    total = 0
    size = len(msg)
    while True:
        if pos >= size:
            return None
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        if length >= 0xC0:
            if pos + 1 >= size or jumps > 16:
                return None
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            continue
        if length > 63:
            return None
        stop = pos + 1 + length
        if stop > size:
            return None
        total += length + 1
        if total > 255:
            return None
        labels.append(msg[pos + 1 : stop])
        pos = stop
    if not labels:
        return "<Root>", end if end >= 0 else pos
    if any(b"." in label for label in labels):
        text = ".".join(_escape(label).replace(".", "\\056") for label in labels)
    else:
        text = _escape(b".".join(labels))
    return text, end if end >= 0 else pos


class DnsSummary(NamedTuple):
    """What the row and the Info text need from a DNS message, apart from its id."""

    qname: str | None
    kind: str  # "Standard query", "Standard query response"...
    detail: str  # rcode, question type and name

    def info(self, ident: int) -> str:
        """Wireshark-like Info text for the message with transaction id `ident`."""
        return f"{self.kind} 0x{ident:04x}{self.detail}"


_RCODES = {1: "Format error", 2: "Server failure", 3: "No such name", 5: "Refused"}


def parse_dns(msg: bytes) -> DnsSummary | None:
    """The first question of a DNS message and a Wireshark-like summary, or None."""
    if len(msg) < 12:
        return None
    flags, qdcount = struct.unpack_from(">HH", msg, 2)
    response = bool(flags & 0x8000)
    kind = "Standard query response" if response else "Standard query"
    if (flags >> 11) & 0xF not in (0, 2, 4, 5):
        kind = "Unknown operation response" if response else "Unknown operation"
    qname = None
    detail = ""
    rcode = flags & 0xF
    if rcode and response:
        detail += " " + _RCODES.get(rcode, f"rcode {rcode}")
    if qdcount:
        parsed = read_dns_name(msg, 12)
        if parsed is not None:
            qname, end = parsed
            if end + 2 <= len(msg):
                (qtype,) = struct.unpack_from(">H", msg, end)
                detail += " " + _QTYPES.get(qtype, str(qtype))
            detail += " " + qname
    return DnsSummary(qname, kind, detail)


def find_client_hello(payload: bytes) -> bytes | None:
    """The TLS record holding a ClientHello among the records of a segment, from its start."""
    i = 0
    for _ in range(8):
        if i + 6 > len(payload) or payload[i + 1] != 3:
            return None
        if payload[i] == 0x16:
            return payload[i:] if payload[i + 5] == 0x01 else None
        if payload[i] not in (0x14, 0x15, 0x17):
            return None
        i += 5 + int.from_bytes(payload[i + 3 : i + 5], "big")
    return None


def parse_tls_sni(payload: bytes) -> str | None:
    """The server name of a TLS ClientHello starting at `payload`, as far as it was captured."""
    try:
        if payload[0] != 0x16 or payload[5] != 0x01:
            return None
        i = 5 + 4 + 2 + 32  # handshake header, client version, random
        i += 1 + payload[i]  # session id
        (n,) = struct.unpack_from(">H", payload, i)
        i += 2 + n  # cipher suites
        i += 1 + payload[i]  # compression methods
        (ext_total,) = struct.unpack_from(">H", payload, i)
        i += 2
        stop = min(len(payload), i + ext_total)
        while i + 4 <= stop:
            etype, elen = struct.unpack_from(">HH", payload, i)
            i += 4
            if etype == 0:
                # server_name_list: list length, then (type, length, name) entries
                j = i + 2
                if payload[j] == 0:
                    (nlen,) = struct.unpack_from(">H", payload, j + 1)
                    name = payload[j + 3 : j + 3 + nlen]
                    if len(name) == nlen:
                        return name.decode("ascii", "backslashreplace")
                return None
            i += elen
    except (IndexError, struct.error):
        return None
    return None


class HttpRequest(NamedTuple):
    """The request line and Host of an HTTP request."""

    request_line: str
    host: str | None


def parse_http_request(payload: bytes) -> HttpRequest | None:
    """The first line and Host header of an HTTP/1 request (or SSDP) in `payload`."""
    head = payload[:4096]
    line_end = head.find(b"\r\n")
    if line_end < 0:
        line_end = head.find(b"\n")
        if line_end < 0:
            return None
    request_line = head[:line_end].decode("latin-1")
    if " " not in request_line or "HTTP/" not in request_line:
        return None
    host = None
    for line in head[line_end:].split(b"\n")[1:]:
        line = line.rstrip(b"\r")
        if not line:
            break
        name, sep, value = line.partition(b":")
        # no whitespace around the name (RFC 9112 5.1); a line starting with it continues the last
        if sep and name.lower() == b"host":
            host = value.strip().decode("latin-1")
            break
    return HttpRequest(request_line, host)


def arp_info(arp: bytes) -> str:
    """Wireshark-like summary of an ARP packet."""
    if len(arp) < 8:
        return "ARP (truncated)"
    htype, ptype, hlen, plen, op = struct.unpack_from(">HHBBH", arp, 0)
    if ptype != 0x0800 or hlen != 6 or plen != 4 or len(arp) < 28:
        return f"ARP opcode {op}"
    sha = ":".join(f"{b:02x}" for b in arp[8:14])
    spa = ".".join(str(b) for b in arp[14:18])
    tpa = ".".join(str(b) for b in arp[24:28])
    if op == 1:
        if spa == tpa:
            return f"Gratuitous ARP for {spa} (Request)"
        return f"Who has {tpa}? Tell {spa}"
    if op == 2:
        return f"{spa} is at {sha}"
    return f"ARP opcode {op}"
