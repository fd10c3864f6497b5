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

I64 = npt.NDArray[np.int64]
LEVELS = 3  # a tunnel in a tunnel in a tunnel; tshark goes deeper, captures rarely do
_CARRIERS = ("IPIP", "IPv6", "GRE", "AH")  # protocol names of an IP packet that carries another
_PORTS = (VXLAN, GENEVE, GTP_U, TEREDO, L2TP)


@dataclass(frozen=True)
class Inner:
    """The packets one level inside a frame's rows: decoded rows, and the frame row each one
    is inside (positions in the frame)."""

    frame: pd.DataFrame
    rows: I64


def candidates(frame: pd.DataFrame) -> I64:
    """Positions of the rows whose outermost headers say they may carry a packet."""
    need = ("proto", "sport", "dport", "icmp_type", "number", "caplen", "length", "linktype")
    if any(c not in frame.columns for c in need):
        return np.zeros(0, dtype=np.int64)
    proto = frame["proto"].astype(object).to_numpy()
    sport = frame["sport"].to_numpy(dtype=np.int64, na_value=-1)
    dport = frame["dport"].to_numpy(dtype=np.int64, na_value=-1)
    kind = frame["icmp_type"].to_numpy(dtype=np.int64, na_value=-1)
    maybe = np.isin(proto, _CARRIERS)
    maybe |= (proto == "UDP") & (np.isin(sport, _PORTS) | np.isin(dport, _PORTS))
    maybe |= (proto == "ICMP") & np.isin(kind, ICMP_ERRORS)
    maybe |= (proto == "ICMPv6") & np.isin(kind, ICMP6_ERRORS)
    return np.flatnonzero(maybe)


def inner_levels(frame: pd.DataFrame, levels: int = LEVELS) -> list[Inner]:
    """The packets inside the frame's rows, level by level (empty when none carries one, or
    the frame's bytes are not kept)."""
    rows = candidates(frame)
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
    for data, where, offsets in groups:
        buf = np.frombuffer(data, dtype=np.uint8)
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
    if len(parts) == 1:
        return Inner(parts[0][0], parts[0][1])
    from .sources.pcapreader import concat_frames

    return Inner(concat_frames([p for p, _ in parts]), np.concatenate([r for _, r in parts]))
