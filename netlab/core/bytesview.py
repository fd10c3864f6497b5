"""Vectorised big-endian reads at many positions of one byte buffer at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


def _overlapping(buf: npt.NDArray[np.uint8], dtype: str, width: int) -> npt.NDArray[np.generic]:
    # A view whose item i is the `width` bytes starting at byte i: one gather per field.
    count = max(len(buf) - width + 1, 1)
    return np.ndarray((count,), dtype=dtype, buffer=buf, strides=(1,))


class BytesView:
    """Gathers integers from a uint8 buffer; positions past the end are clipped.

    Callers mask results with their own bounds (a packet's captured end), so a clipped read
    never leaks into a row; clipping only keeps indexing safe.
    """

    def __init__(self, buf: npt.NDArray[np.uint8]) -> None:
        if len(buf) < 8:
            buf = np.concatenate([buf, np.zeros(8, dtype=np.uint8)])
        self.buf = buf
        self._b16 = _overlapping(buf, ">u2", 2)
        self._b32 = _overlapping(buf, ">u4", 4)

    def u8(self, pos: I64) -> I64:
        """Bytes at `pos`."""
        return self.buf.take(pos, mode="clip").astype(np.int64)

    def u16(self, pos: I64) -> I64:
        """Big-endian 16-bit integers at `pos`."""
        # Fancy indexing, not take(): take() copies a strided source first.
        return self._b16[np.clip(pos, 0, len(self._b16) - 1)].astype(np.int64)

    def u32(self, pos: I64) -> I64:
        """Big-endian 32-bit integers at `pos`."""
        return self._b32[np.clip(pos, 0, len(self._b32) - 1)].astype(np.int64)

    def block(self, pos: I64, width: int) -> npt.NDArray[np.uint8]:
        """`width` consecutive bytes from each position, as an (n, width) array."""
        last = len(self.buf) - width  # the last position with `width` bytes after it
        inside = (pos >= 0) & (pos <= last)
        if inside.all() and last >= 0:
            # a view whose row i is the `width` bytes at byte i: one row copy per position
            rows = np.ndarray((last + 1, width), dtype=np.uint8, buffer=self.buf, strides=(1, 1))
            return rows[pos]
        idx = pos[:, None] + np.arange(width, dtype=np.int64)
        return self.buf.take(idx, mode="clip")
