"""Flow keys for a live table: a 64-bit hash of a row's outermost 5-tuple, the same for
both directions, so a flow keeps its key from batch to batch whatever codes a batch gives
its texts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .columns import Columns, has_text
from .flows import flow_ports

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]


def _splitmix(x: U64) -> U64:
    """SplitMix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mix(a: U64, b: U64) -> U64:
    """Combine two 64-bit hashes (order matters): structured inputs such as neighbouring
    ports or addresses still spread over the whole range."""
    return _splitmix(_splitmix(a) ^ b)


def _text_hash(cols: Columns, name: str) -> tuple[U64, Bools]:
    """A hash of each row's text, the same for the same text in every batch of this process
    (Python's own string hash: a tracker's keys never leave it); only the texts in use are
    hashed (a slice of a frame keeps all of its parent's categories)."""
    codes, texts = cols.text(name)
    has = codes >= 0
    out = np.zeros(len(codes), dtype=np.uint64)
    if has.any():
        used, inverse = np.unique(codes[has], return_inverse=True)
        hashes = np.fromiter((hash(texts[k]) for k in used.tolist()), np.int64, len(used))
        out[has] = hashes.view(np.uint64)[inverse]
    return out, has


def flow_keys(df: Columns) -> tuple[I64, Bools, Bools]:
    """Each row's flow key (both directions alike), whether it is the key's "forward" side,
    and whether it has both addresses (rows without have no flow). The sensor is part of the
    key: one connection seen by two sensors is two flows, as two Zeeks would log it."""
    src, has_src = _text_hash(df, "src")
    dst, has_dst = _text_hash(df, "dst")
    proto, _ = _text_hash(df, "proto")
    if has_text(df, "sensor"):
        proto = _mix(proto, _text_hash(df, "sensor")[0])
    one = np.uint64(1)
    ports = flow_ports(df)
    sport, dport = ports[0].astype(np.uint64) + one, ports[1].astype(np.uint64) + one
    a, b = _mix(src, sport), _mix(dst, dport)
    forward = a <= b
    lo, hi = np.where(forward, a, b), np.where(forward, b, a)
    key = _mix(_mix(proto, lo), hi).view(np.int64)
    return key, forward, has_src & has_dst
