"""TCP header fields beyond ports and flags: sequence and acknowledgement numbers, the window,
and the MSS and window-scale options, read for many packets at once (as tshark shows them:
a field is there when its bytes were captured, the acknowledgement number with or without the
ACK flag)."""

from __future__ import annotations

import numpy as np

from .bytesview import I64, BytesView

MAX_OPTIONS = 40  # bytes of options a TCP header can hold (data offset 15)


class TcpFields:
    """The TCP fields of the rows of one batch, -1 where a row has none."""

    def __init__(self, n: int) -> None:
        neg = np.full(n, -1, dtype=np.int64)
        self.seq, self.ack, self.window = neg.copy(), neg.copy(), neg.copy()
        self.mss, self.wscale = neg.copy(), neg.copy()


def read_tcp(view: BytesView, rows: I64, l4: I64, end: I64, flags: I64, out: TcpFields) -> None:
    """Fill `out` for `rows` whose TCP header starts at `l4` (bytes up to `end` readable;
    `flags` the rows' TCP flags, -1 where the flags were not captured)."""
    has_flags = flags >= 0
    seq_ok = has_flags & (l4 + 8 <= end)
    out.seq[rows] = np.where(seq_ok, view.u32(l4 + 4), -1)
    out.ack[rows] = np.where(has_flags & (l4 + 12 <= end), view.u32(l4 + 8), -1)
    out.window[rows] = np.where(has_flags & (l4 + 16 <= end), view.u16(l4 + 14), -1)
    header_end = np.minimum(l4 + (view.u8(l4 + 12) >> 4) * 4, end)
    opts = np.flatnonzero(has_flags & (header_end > l4 + 20))
    if len(opts):
        _options(view, rows[opts], l4[opts] + 20, header_end[opts], out)


def _options(view: BytesView, rows: I64, pos: I64, stop: I64, out: TcpFields) -> None:
    """Walk the options of every row at once: one step per option, at most 40 steps."""
    live = pos < stop
    mss = np.full(len(rows), -1, dtype=np.int64)
    wscale = np.full(len(rows), -1, dtype=np.int64)
    for _ in range(MAX_OPTIONS):
        if not live.any():
            break
        kind = view.u8(pos)
        live &= kind != 0  # end of option list
        nop = live & (kind == 1)
        length = np.where(nop, 1, view.u8(pos + 1))
        sized = live & ~nop & (pos + 2 <= stop) & (length >= 2) & (pos + length <= stop)
        is_mss = sized & (kind == 2) & (length == 4)
        mss = np.where(is_mss, view.u16(pos + 2), mss)
        is_ws = sized & (kind == 3) & (length == 3)
        wscale = np.where(is_ws, view.u8(pos + 2), wscale)
        live &= nop | sized  # a length that does not fit ends the walk, as in tshark
        pos = np.where(live, pos + length, pos)
        live &= pos < stop
    out.mss[rows] = mss
    out.wscale[rows] = wscale
