"""Application fields for many packets at once: DNS questions and TLS server names.

Both are read over whole arrays: DNS messages are grouped by their bytes (without the id) so
each distinct question is parsed once; TLS ClientHellos are walked extension by extension with
numpy. HTTP requests and odd cases fall back to the per-packet parsers in `appfields`.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from . import appfields
from .bytesview import I64, BytesView

DNS_WINDOW = 160  # bytes of a DNS message looked at: the header and any sane question
SNI_WINDOW = 256  # longest server name read (RFC 6066 allows 255 bytes)


@cache
def hex16() -> pa.Array:
    """'0000' to 'ffff' for formatting ids."""
    return pa.array([f"{i:04x}" for i in range(65536)])


class TextGroups:
    """Text values for some rows, collected as pyarrow arrays before they become a column."""

    def __init__(self) -> None:
        self.rows: list[I64] = []
        self.values: list[pa.Array] = []

    def add(self, rows: I64, values: pa.Array) -> None:
        if len(rows):
            self.rows.append(rows)
            self.values.append(values.cast(pa.string()))

    def add_dict(self, items: dict[int, str]) -> None:
        if items:
            self.add(
                np.fromiter(items.keys(), dtype=np.int64, count=len(items)),
                pa.array(list(items.values()), type=pa.string()),
            )

    def codes(self, n: int) -> tuple[I64, list[str]]:
        """Codes per row (-1 where absent) into a list of distinct texts."""
        codes = np.full(n, -1, dtype=np.int64)
        if not self.rows:
            return codes, []
        values = pa.concat_arrays(self.values)
        encoded = pc.dictionary_encode(values)
        idx = encoded.indices.to_numpy(zero_copy_only=False)
        valid = ~np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        rows = np.concatenate(self.rows)
        codes[rows[valid]] = idx[valid]
        return codes, encoded.dictionary.to_pylist()


def _windows(view: BytesView, start: I64, length: I64, width: int) -> npt.NDArray[np.uint8]:
    block = view.block(start, width)
    block[np.arange(width) >= length[:, None]] = 0
    return block


def dns_fields(
    view: BytesView, start: I64, length: I64, rows: I64, qnames: TextGroups, summaries: TextGroups
) -> None:
    """DNS question names and summaries for the messages at `start` (`length` bytes each)."""
    if not len(rows):
        return
    win = _windows(view, start, length, DNS_WINDOW)
    key = np.empty((len(rows), DNS_WINDOW), dtype=np.uint8)
    key[:, :-2] = win[:, 2:]  # the message without its id ...
    clipped = np.minimum(length, DNS_WINDOW)
    key[:, -2], key[:, -1] = clipped >> 8, clipped & 0xFF  # ... and how much of it is there
    uniq, inverse = np.unique(
        np.ascontiguousarray(key).view(f"V{DNS_WINDOW}").ravel(), return_inverse=True
    )
    parsed: list[appfields.DnsSummary | None] = []
    for u in uniq:
        raw = u.tobytes()
        size = (raw[-2] << 8) | raw[-1]
        parsed.append(appfields.parse_dns(b"\0\0" + raw[: size - 2]))
    ok = np.array([p is not None for p in parsed], dtype=bool)
    # A question running past the window is parsed again, whole, one message at a time.
    long_name = np.array([p is not None and p.qname is None for p in parsed], dtype=bool)
    redo = (long_name[inverse] | ~ok[inverse]) & (length > DNS_WINDOW)
    good = ok[inverse] & ~redo
    g = np.flatnonzero(good)
    inv = inverse[g]
    kinds = pa.array([p.kind if p else "" for p in parsed])
    details = pa.array([p.detail if p else "" for p in parsed])
    names = pa.array([p.qname if p else None for p in parsed], type=pa.string())
    ids = view.u16(start[g])
    summaries.add(
        rows[g],
        pc.binary_join_element_wise(
            pc.take(kinds, pa.array(inv)),
            " 0x",
            pc.take(hex16(), pa.array(ids)),
            pc.take(details, pa.array(inv)),
            "",
        ),
    )
    qnames.add(rows[g], pc.take(names, pa.array(inv)))
    slow_q: dict[int, str] = {}
    slow_s: dict[int, str] = {}
    buf = view.buf
    for k in np.flatnonzero(redo).tolist():
        a = int(start[k])
        msg = buf[a : a + int(length[k])].tobytes()
        summary = appfields.parse_dns(msg)
        if summary is not None:
            if summary.qname is not None:
                slow_q[int(rows[k])] = summary.qname
            slow_s[int(rows[k])] = summary.info((msg[0] << 8) | msg[1])
    qnames.add_dict(slow_q)
    summaries.add_dict(slow_s)


def tls_fields(
    view: BytesView, start: I64, stop: I64, rows: I64, snis: TextGroups, summaries: TextGroups
) -> I64:
    """Server names of ClientHellos that start their segment; return the rows left undone."""
    first = view.u8(start)
    hello = (first == 0x16) & (view.u8(start + 5) == 0x01)
    undone: I64 = rows[~hello]
    rows, start, stop = rows[hello], start[hello], stop[hello]
    if not len(rows):
        return undone
    # Walk the ClientHello: handshake header, version, random, session id, ciphers, compression.
    pos = start + 5 + 4 + 2 + 32
    pos = pos + 1 + view.u8(pos)
    pos = pos + 2 + view.u16(pos)
    pos = pos + 1 + view.u8(pos)
    ext_end = np.minimum(pos + 2 + view.u16(pos), stop)
    pos = pos + 2
    name_at = np.full(len(rows), -1, dtype=np.int64)
    active = pos + 4 <= ext_end
    for _ in range(64):
        if not active.any():
            break
        etype = view.u16(pos)
        found = active & (etype == 0)
        name_at[found] = pos[found] + 4
        active &= ~found
        pos = np.where(active, pos + 4 + view.u16(pos + 2), pos)
        active &= pos + 4 <= ext_end
    has = name_at >= 0
    # server_name_list: list length (2), type (1, 0 = host_name), name length (2), name
    has &= view.u8(name_at + 2) == 0
    nlen = view.u16(name_at + 3)
    has &= (name_at + 5 + nlen <= stop) & (nlen > 0)
    h = np.flatnonzero(has)
    if len(h):
        win = _windows(view, name_at[h] + 5, nlen[h], SNI_WINDOW)
        uniq, inverse = np.unique(
            np.ascontiguousarray(win).view(f"V{SNI_WINDOW}").ravel(), return_inverse=True
        )
        texts = pa.array(
            [u.tobytes().rstrip(b"\0").decode("ascii", "backslashreplace") for u in uniq]
        )
        sni = pc.take(texts, pa.array(inverse))
        snis.add(rows[h], sni)
        summaries.add(rows[h], pc.binary_join_element_wise("Client Hello (SNI=", sni, ")", ""))
    nosni = np.flatnonzero(~has)
    summaries.add(rows[nosni], pa.array(["Client Hello"] * len(nosni)))
    return undone
