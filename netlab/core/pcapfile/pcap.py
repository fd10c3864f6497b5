"""Classic pcap: the global header, the walk over records, and writing records back.

The walk is the only per-packet Python loop: it reads one length per record and nothing else;
every other header field is gathered afterwards with numpy in one pass.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from .records import (
    I64,
    MAX_CAPLEN,
    NAT,
    U8,
    ByteSource,
    Records,
    WalkResult,
    place_frames,
    place_words,
)


@dataclass(frozen=True)
class PcapHeader:
    """The 24-byte global header of a classic pcap file."""

    byte_order: str  # "<" or ">"
    nanosecond: bool
    modified: bool  # Kuznetzov's patched format: 24-byte record headers
    linktype: int
    snaplen: int

    @property
    def record_header_len(self) -> int:
        """Bytes in each record header."""
        return 24 if self.modified else 16


PCAP_MAGICS = {
    0xA1B2C3D4: (False, False),
    0xA1B23C4D: (True, False),
    0xA1B2CD34: (False, True),
}


def parse_pcap_header(head: bytes) -> PcapHeader:
    """Parse a pcap global header (the caller checked the magic)."""
    for order in "<>":
        magic, _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack(
            order + "IHHiIII", head[:24]
        )
        if magic in PCAP_MAGICS:
            nano, modified = PCAP_MAGICS[magic]
            # The upper bits of the link-type field carry FCS flags (libpcap's LT_LINKTYPE).
            return PcapHeader(order, nano, modified, network & 0xFFFF, snaplen)
    raise ValueError("not a pcap header")


def _record_headers(buf: U8, pos: I64, order: str) -> npt.NDArray[np.int64]:
    """The four 32-bit fields of the pcap record headers at `pos`, as an (n, 4) array."""
    if not len(pos):
        return np.zeros((0, 4), dtype=np.int64)
    rows = np.ndarray((len(buf) - 15,), dtype=(order + "u4", 4), buffer=buf, strides=(1,))
    return rows[pos].astype(np.int64)


def walk_pcap(
    data: ByteSource,
    start: int,
    header: PcapHeader,
    limit: int | None = None,
    first_number: int = 1,
) -> WalkResult:
    """Find the records of a pcap body in `data[start:]`."""
    hlen = header.record_header_len
    end = len(data)
    max_cap = max(MAX_CAPLEN, min(header.snaplen, 1 << 24))
    read_u32 = struct.Struct(header.byte_order + "I").unpack_from
    offsets: list[int] = []
    append = offsets.append
    pos = start
    last = end - hlen  # the last offset where a whole record header fits
    problems: list[str] = []
    partial = False
    # A bounded for-loop is the cheapest Python loop; this is the only per-record one.
    for _ in repeat(None, limit if limit is not None else end):
        if pos > last:
            partial = pos < end  # a record header cut short
            break
        (cap,) = read_u32(data, pos + 8)
        if cap > max_cap:
            (wire,) = read_u32(data, pos + 12)
            if wire < cap:  # some writers swap the lengths; libpcap and Wireshark swap back
                cap = wire
            if cap > max_cap:
                problems.append(
                    f"frame {first_number + len(offsets)} at byte {pos} claims {cap} captured "
                    f"bytes (more than {max_cap}): the rest of the file is corrupt and was skipped"
                )
                pos = end
                break
        nxt = pos + hlen + cap
        if nxt > end:
            partial = True
            break
        append(pos)
        pos = nxt
    buf = np.frombuffer(data, dtype=np.uint8)
    hdr = np.asarray(offsets, dtype=np.int64)
    fields = _record_headers(buf, hdr, header.byte_order)
    sec, frac, cap_arr, wire = fields[:, 0], fields[:, 1], fields[:, 2], fields[:, 3]
    swapped = cap_arr > max_cap
    cap_arr, wire = np.where(swapped, wire, cap_arr), np.where(swapped, cap_arr, wire)
    ts = sec * 1_000_000_000 + frac * (1 if header.nanosecond else 1_000)
    records = Records(
        hdr + hlen, cap_arr, wire, ts, np.full(len(hdr), header.linktype, dtype=np.int32)
    )
    return WalkResult(records, pos, partial, problems)


def truncated_tail(data: ByteSource, pos: int, header: PcapHeader) -> tuple[Records, str]:
    """The cut-short record at the end of a finished pcap file, kept with its real caplen."""
    hlen = header.record_header_len
    left = len(data) - pos
    if left < hlen:
        return Records.empty(), f"the file ends with {left} bytes of an incomplete record header"
    sec, frac, cap, wire = struct.unpack_from(header.byte_order + "IIII", data, pos)
    got = left - hlen
    ts = sec * 1_000_000_000 + frac * (1 if header.nanosecond else 1_000)
    rec = Records(
        np.array([pos + hlen], dtype=np.int64),
        np.array([got], dtype=np.int64),
        np.array([wire], dtype=np.int64),
        np.array([ts], dtype=np.int64),
        np.array([header.linktype], dtype=np.int32),
    )
    msg = (
        f"the file appears to have been cut short in the middle of a packet: the last frame "
        f"has {got} of its {cap} captured bytes (kept with caplen {got})"
    )
    return rec, msg


def encode_pcap_header(linktype: int, snaplen: int = MAX_CAPLEN) -> bytes:
    """The global header of a little-endian, nanosecond pcap file."""
    return struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, snaplen, linktype)


def encode_pcap_records(data: Any, records: Records) -> bytes:
    """The records (and their frames, from `data`) as nanosecond pcap records."""
    n = len(records)
    if not n:
        return b""
    caplen = records.caplen.astype(np.int64)
    sizes = 16 + caplen
    starts = np.cumsum(sizes) - sizes
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    ts = np.where(records.ts_ns == NAT, 0, records.ts_ns)
    sec, nsec = np.divmod(ts, 1_000_000_000)
    place_words(out, starts, np.stack([sec, nsec, caplen, records.wirelen], axis=1))
    place_frames(out, starts + 16, data, records)
    return out.tobytes()
