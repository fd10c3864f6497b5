"""pcapng: sections, interfaces and packet blocks, walked into records and written back."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .records import (
    MAX_CAPLEN,
    NAT,
    ByteSource,
    Records,
    WalkResult,
    place_frames,
    place_words,
)

PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D


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


def _block(btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    size = len(body) + 12
    return struct.pack("<II", btype, size) + body + struct.pack("<I", size)


def encode_pcapng_shb() -> bytes:
    """A section header block (little-endian, version 1.0, section length unknown)."""
    return _block(PCAPNG_SHB, struct.pack("<IHHq", PCAPNG_BOM, 1, 0, -1))


def encode_pcapng_idb(linktype: int, snaplen: int = MAX_CAPLEN) -> bytes:
    """An interface description block with nanosecond timestamps (if_tsresol 9)."""
    tsresol = struct.pack("<HHB3x", 9, 1, 9)
    return _block(1, struct.pack("<HHI", linktype, 0, snaplen) + tsresol + bytes(4))


def encode_pcapng_records(data: Any, records: Records, interface: npt.NDArray[Any]) -> bytes:
    """The records (and their frames, from `data`) as enhanced packet blocks, record k on
    interface id `interface[k]` (nanosecond timestamps)."""
    n = len(records)
    if not n:
        return b""
    caplen = records.caplen.astype(np.int64)
    sizes = 32 + caplen + (-caplen % 4)  # 28 bytes of header, the frame padded, the length
    starts = np.cumsum(sizes) - sizes
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    ts = np.where(records.ts_ns == NAT, 0, records.ts_ns).astype(np.uint64)
    words = np.stack(
        [
            np.full(n, 6, dtype=np.int64),
            sizes,
            np.asarray(interface, dtype=np.int64),
            (ts >> np.uint64(32)).astype(np.int64),
            (ts & np.uint64(0xFFFFFFFF)).astype(np.int64),
            caplen,
            records.wirelen.astype(np.int64),
        ],
        axis=1,
    )
    place_words(out, starts, words)
    place_frames(out, starts + 28, data, records)
    place_words(out, starts + sizes - 4, sizes[:, None])
    return out.tobytes()
