"""pcap and pcapng, both ways: bytes into record tables and record tables into bytes (pure: no
file or socket I/O). One package knows the formats, as dpkt's pcap.py does."""

from __future__ import annotations

import struct

from . import pcap
from .pcap import (
    PcapHeader,
    encode_pcap_header,
    encode_pcap_records,
    parse_pcap_header,
    truncated_tail,
    walk_pcap,
)
from .pcapng import (
    PCAPNG_BOM,
    PCAPNG_SHB,
    PcapngState,
    encode_pcapng_idb,
    encode_pcapng_records,
    encode_pcapng_shb,
    walk_pcapng,
)
from .records import MAX_CAPLEN, NAT, Format, Records, WalkResult

__all__ = [
    "MAX_CAPLEN",
    "NAT",
    "PCAPNG_BOM",
    "PCAPNG_SHB",
    "Format",
    "PcapHeader",
    "PcapngState",
    "Records",
    "WalkResult",
    "detect_format",
    "encode_pcap_header",
    "encode_pcap_records",
    "encode_pcapng_idb",
    "encode_pcapng_records",
    "encode_pcapng_shb",
    "parse_pcap_header",
    "truncated_tail",
    "walk_pcap",
    "walk_pcapng",
]


def detect_format(head: bytes) -> Format | None:
    """The format of a capture whose first bytes are `head`, or None if it is not one."""
    if len(head) < 4:
        return None
    for order in "<>":
        (magic,) = struct.unpack(order + "I", head[:4])
        if magic in pcap.PCAP_MAGICS:
            return Format.PCAP
    if struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
        return Format.PCAPNG
    return None
