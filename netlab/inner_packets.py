"""The packets inside a frame's packets (tunnelled or quoted by an ICMP error), decoded from
the bytes the frame's packet store keeps, level by level, for the display filter.

Only rows whose outermost headers say they may carry a packet are read (GRE, IP in IP, the
tunnel UDP ports, ICMP errors), so a frame without any costs one look at four columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from .core.decode import decode_batch
from .core.dfilter.columns import Columns, MissingColumn
from .core.inner import (
    GENEVE,
    GTP_U,
    ICMP6_ERRORS,
    ICMP_ERRORS,
    L2TP,
    TEREDO,
    VXLAN,
    inner_records,
)
from .core.pcapfile import Records
from .errors import NetlabError
from .packets import locate, store_in
from .sources.pcapreader import concat_frames

I64 = npt.NDArray[np.int64]
LEVELS = 3  # a tunnel in a tunnel in a tunnel; tshark goes deeper, captures rarely do
_CARRIERS = ("IPIP", "IPv6", "GRE", "AH")  # protocol names of an IP packet that carries another
_PORTS = (VXLAN, GENEVE, GTP_U, TEREDO, L2TP)
_TO_READ = ("number", "caplen", "length", "linktype", "ts")  # what finding the bytes needs
# (protocol shown, the columns that tell, the values that say a packet is inside)
_SIGNS = (
    ("UDP", ("sport", "dport"), _PORTS),
    ("ICMP", ("icmp_type",), ICMP_ERRORS),
    ("ICMPv6", ("icmp_type",), ICMP6_ERRORS),
)


@dataclass(frozen=True)
class Inner:
    """The packets one level inside a frame's rows: decoded rows, and the frame row each one
    is inside (positions in the frame)."""

    frame: pd.DataFrame
    rows: I64


def candidates(data: pd.DataFrame | Columns) -> I64:
    """Positions of the rows whose outermost headers say they may carry a packet. Read
    through the filter's own columns (each read once per evaluation), so a filter that reads
    them anyway pays little more; a row's ports and ICMP type only where they matter."""
    c = data if isinstance(data, Columns) else Columns(data)
    try:
        proto = c.text("proto")
        # each row's kind in one look-up through the codes: 1 a carrier, 2.. as in _SIGNS
        names = [_CARRIERS, *((shown,) for shown, _, _ in _SIGNS)]
        per_name = np.zeros(len(proto.cats) + 1, dtype=np.uint8)  # the last: no protocol
        for k, shown in enumerate(names, start=1):
            per_name[:-1][np.asarray(proto.cats.isin(shown), dtype=bool)] = k
        kind = per_name[proto.codes]
        maybe = kind == 1
        for k, (_, columns, values) in enumerate(_SIGNS, start=2):
            rows = kind == k
            if rows.any():
                table = np.zeros(1 << 16, dtype=bool)  # ports and types are 16 bits at most
                table[list(values)] = True
                for name in columns:
                    occ = c.ints(name)
                    maybe |= rows & occ.present & table[occ.values & 0xFFFF]
    except MissingColumn:
        return np.zeros(0, dtype=np.int64)
    if any(name not in c.df.columns for name in _TO_READ):
        return np.zeros(0, dtype=np.int64)  # where the bytes are cannot be told
    return np.flatnonzero(maybe)


def inner_levels(data: pd.DataFrame | Columns, levels: int = LEVELS) -> list[Inner]:
    """The packets inside the rows' packets, level by level (empty when none carries one,
    or the frame's bytes are not kept)."""
    frame = data.df if isinstance(data, Columns) else data
    rows = candidates(data)
    store = store_in(frame.attrs)
    if not len(rows) or store is None:
        return []
    sub = frame.iloc[rows]
    numbers = sub["number"].to_numpy(dtype=np.int64)
    sensors = sub["sensor"].to_numpy(dtype=object) if "sensor" in sub.columns else None
    try:
        groups = locate(store, numbers, sensors)
    except (NetlabError, OSError):
        return []  # the bytes are gone (a file changed, a server away): outer headers only
    out: list[list[tuple[pd.DataFrame, I64]]] = [[] for _ in range(levels)]
    for kept, where, offsets in groups:  # each buffer that holds some of the rows' bytes
        buf = np.frombuffer(kept, dtype=np.uint8)
        at = sub.iloc[where]
        rec = Records(
            offsets,
            at["caplen"].to_numpy(dtype=np.int64),
            at["length"].to_numpy(dtype=np.int64),
            at["ts"].array.asi8.copy(),
            at["linktype"].to_numpy(dtype=np.int32),
        )
        outer = rows[where]  # frame positions of these records
        for level in range(levels):
            rec, inside = inner_records(buf, rec)
            if not len(rec):
                break
            outer = outer[inside]
            out[level].append((decode_batch(buf, rec, 1).to_frame(), outer))
    return [_joined(parts) for parts in out if parts]


def _joined(parts: list[tuple[pd.DataFrame, I64]]) -> Inner:
    """One level's packets from several buffers, as one frame."""
    if len(parts) == 1:
        return Inner(parts[0][0], parts[0][1])
    return Inner(concat_frames([p for p, _ in parts]), np.concatenate([r for _, r in parts]))
