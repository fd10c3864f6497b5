"""Pure parsing of pcap and pcapng bytes into record tables (no file or socket I/O).

The walk over records is the only per-packet Python loop: it reads one length per record and
nothing else; every other header field is gathered afterwards with numpy in one pass.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from enum import Enum
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

NAT = np.iinfo(np.int64).min  # pandas' NaT; used for packets without a timestamp (pcapng SPB)
MAX_CAPLEN = 262_144  # libpcap's largest snapshot length; larger records are corrupt

U8 = npt.NDArray[np.uint8]
ByteSource = bytes | bytearray | memoryview | mmap.mmap
I64 = npt.NDArray[np.int64]


class Format(Enum):
    """Capture file formats, told apart by their magic number."""

    PCAP = "pcap"
    PCAPNG = "pcapng"


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


_PCAP_MAGICS = {
    0xA1B2C3D4: (False, False),
    0xA1B23C4D: (True, False),
    0xA1B2CD34: (False, True),
}
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D


def detect_format(head: bytes) -> Format | None:
    """The format of a capture whose first bytes are `head`, or None if it is not one."""
    if len(head) < 4:
        return None
    for order in "<>":
        (magic,) = struct.unpack(order + "I", head[:4])
        if magic in _PCAP_MAGICS:
            return Format.PCAP
    if struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
        return Format.PCAPNG
    return None


def parse_pcap_header(head: bytes) -> PcapHeader:
    """Parse a pcap global header (the caller checked the magic)."""
    for order in "<>":
        magic, _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack(
            order + "IHHiIII", head[:24]
        )
        if magic in _PCAP_MAGICS:
            nano, modified = _PCAP_MAGICS[magic]
            # The upper bits of the link-type field carry FCS flags (libpcap's LT_LINKTYPE).
            return PcapHeader(order, nano, modified, network & 0xFFFF, snaplen)
    raise ValueError("not a pcap header")


@dataclass
class Records:
    """Where each packet's bytes are in a buffer, and its capture metadata."""

    offset: I64  # start of the packet bytes in the buffer
    caplen: I64
    wirelen: I64
    ts_ns: I64  # nanoseconds since the epoch, NAT when the format gives none
    linktype: npt.NDArray[np.int32]
    # each record's frame number in its file (from 1), when a filter left gaps; None: the
    # records are numbered on from wherever their reader is
    number: I64 | None = None

    def __len__(self) -> int:
        return len(self.offset)

    def take(self, which: slice | npt.NDArray[Any]) -> Records:
        """The records picked by a slice, a boolean mask or positions."""
        return Records(
            self.offset[which],
            self.caplen[which],
            self.wirelen[which],
            self.ts_ns[which],
            self.linktype[which],
            None if self.number is None else self.number[which],
        )

    @staticmethod
    def empty() -> Records:
        """No records."""
        z = np.zeros(0, dtype=np.int64)
        return Records(z, z, z, z, np.zeros(0, dtype=np.int32))


@dataclass
class WalkResult:
    """Records found in a buffer, where the walk stopped and why."""

    records: Records
    end: int  # offset of the first byte not consumed
    partial: bool = False  # the buffer ends inside a record (more bytes may come)
    problems: list[str] = field(default_factory=list)  # corrupt data, told to the user


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


@dataclass
class _Interface:
    linktype: int
    ts_mul: int = 1_000  # nanoseconds per tick, when ticks are coarser than 1 ns
    ts_div: int = 1  # ticks per nanosecond, when finer
    ts_pow2: int = 0  # resolution 2^-n seconds (0: decimal resolution)
    ts_offset_ns: int = 0


@dataclass
class PcapngState:
    """What a pcapng walk must remember between buffers: the section and its interfaces."""

    byte_order: str = "<"
    interfaces: list[_Interface] = field(default_factory=list)
    sections: int = 0


def _parse_idb(data: ByteSource, pos: int, blen: int, bo: str) -> _Interface:
    linktype, _res, _snap = struct.unpack_from(bo + "HHI", data, pos + 8)
    iface = _Interface(linktype)
    opt = pos + 16
    stop = pos + blen - 4
    while opt + 4 <= stop:
        code, olen = struct.unpack_from(bo + "HH", data, opt)
        if code == 0:
            break
        val = opt + 4
        if code == 9 and olen >= 1 and val < stop:
            res = data[val]
            if res & 0x80:
                iface.ts_pow2 = res & 0x7F
            elif res <= 9:
                iface.ts_mul, iface.ts_div = 10 ** (9 - res), 1
            else:
                iface.ts_mul, iface.ts_div = 1, 10 ** (res - 9)
        elif code == 14 and olen == 8 and val + 8 <= stop:
            (offset_s,) = struct.unpack_from(bo + "q", data, val)
            iface.ts_offset_ns = offset_s * 1_000_000_000
        opt = val + ((olen + 3) & ~3)
    return iface


def _ticks_to_ns(iface: _Interface, ticks: int) -> int:
    if iface.ts_pow2:
        ns = ((ticks * 1_000_000_000) >> iface.ts_pow2) + iface.ts_offset_ns
    else:
        ns = ticks * iface.ts_mul // iface.ts_div + iface.ts_offset_ns
    # datetime64[ns] ends in 2262; a later (corrupt) time is shown as missing, not wrapped.
    return ns if NAT < ns <= np.iinfo(np.int64).max else int(NAT)


def walk_pcapng(
    data: ByteSource,
    start: int,
    state: PcapngState,
    limit: int | None = None,
) -> WalkResult:
    """Find the packets of a pcapng stream in `data[start:]` (EPB, SPB and obsolete PB)."""
    end = len(data)
    offs: list[int] = []
    caps: list[int] = []
    wires: list[int] = []
    tss: list[int] = []
    links: list[int] = []
    problems: list[str] = []
    pos = start
    partial = False
    remaining = limit if limit is not None else -1
    while pos + 12 <= end and remaining != 0:
        (btype_le,) = struct.unpack_from("<I", data, pos)
        if btype_le == PCAPNG_SHB:
            (bom,) = struct.unpack_from("<I", data, pos + 8)
            if bom == PCAPNG_BOM:
                state.byte_order = "<"
            elif bom == 0x4D3C2B1A:
                state.byte_order = ">"
            else:
                problems.append(f"pcapng section header at byte {pos} has no valid byte-order mark")
                pos = end
                break
            state.interfaces = []
            state.sections += 1
        bo = state.byte_order
        btype, blen = struct.unpack_from(bo + "II", data, pos)
        if blen < 12 or blen % 4:
            problems.append(f"pcapng block at byte {pos} has an invalid length {blen}")
            pos = end
            break
        if pos + blen > end:
            partial = True
            break
        if btype == 1:
            if blen < 20:  # link type, reserved and snaplen, then the trailing length
                problems.append(f"pcapng interface block at byte {pos} is too short ({blen})")
                pos = end
                break
            state.interfaces.append(_parse_idb(data, pos, blen, bo))
        elif btype in (6, 2) and blen >= 32:
            if btype == 6:
                iface_id, ts_hi, ts_lo, cap, wire = struct.unpack_from(bo + "IIIII", data, pos + 8)
            else:
                iface_id, _drops, ts_hi, ts_lo, cap, wire = struct.unpack_from(
                    bo + "HHIIII", data, pos + 8
                )
            cap = min(cap, blen - 32)
            if iface_id < len(state.interfaces):
                iface = state.interfaces[iface_id]
                offs.append(pos + 28)
                caps.append(cap)
                wires.append(wire)
                tss.append(_ticks_to_ns(iface, (ts_hi << 32) | ts_lo))
                links.append(iface.linktype)
                remaining -= 1
            else:
                problems.append(
                    f"packet block at byte {pos} names interface {iface_id}, which the section "
                    "does not describe: skipped"
                )
        elif btype == 3 and blen >= 16:
            (wire,) = struct.unpack_from(bo + "I", data, pos + 8)
            if state.interfaces:
                offs.append(pos + 12)
                caps.append(min(wire, blen - 16))
                wires.append(wire)
                tss.append(int(NAT))
                links.append(state.interfaces[0].linktype)
                remaining -= 1
        pos += blen
    if pos < end and not partial and remaining != 0 and not problems:
        partial = True
    records = Records(
        np.asarray(offs, dtype=np.int64),
        np.asarray(caps, dtype=np.int64),
        np.asarray(wires, dtype=np.int64),
        np.asarray(tss, dtype=np.int64),
        np.asarray(links, dtype=np.int32),
    )
    return WalkResult(records, pos, partial, problems)
