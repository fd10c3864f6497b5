"""Application fields for many packets at once: DNS questions and TLS server names.

Both are read over whole arrays: DNS messages are grouped by their bytes (without the id) so
each distinct question is parsed once; TLS ClientHellos are walked extension by extension with
numpy. HTTP requests and odd cases fall back to the per-packet parsers in `appfields`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..bytesview import I64, BytesView
from . import payload

DNS_WINDOW = 160  # bytes of a DNS message looked at: the header and any sane question
SNI_WINDOW = 256  # longest server name read (RFC 6066 allows 255 bytes)
HTTP_WINDOW = 256  # bytes of a request read at once; longer heads go to the per-packet parser
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True  # what bytes.strip() strips


@cache
def hex16() -> pa.Array:
    """'0000' to 'ffff' for formatting ids."""
    return pa.array([f"{i:04x}" for i in range(65536)])


class TextGroups:
    """Text values for some rows, collected as pyarrow arrays before they become a column.

    A group is either plain values, one per row, or codes into a dictionary of texts (what a
    parser of distinct messages makes): those are never spelled out row by row. Where groups
    overlap, the later one wins."""

    def __init__(self) -> None:
        self.groups: list[tuple[I64, I64 | None, pa.Array]] = []

    def add(self, rows: I64, values: pa.Array) -> None:
        if len(rows):
            self.groups.append((rows, None, values.cast(pa.string())))

    def add_encoded(self, rows: I64, codes: I64, dictionary: pa.Array) -> None:
        """`rows` have the texts `dictionary[codes]` (duplicates and nulls allowed in it)."""
        if len(rows):
            self.groups.append((rows, codes, dictionary.cast(pa.string())))

    def add_dict(self, items: dict[int, str]) -> None:
        if items:
            self.add(
                np.fromiter(items.keys(), dtype=np.int64, count=len(items)),
                pa.array(list(items.values()), type=pa.string()),
            )

    def codes(self, n: int) -> tuple[I64, list[str]]:
        """Codes per row (-1 where absent) into a list of distinct texts."""
        out = np.full(n, -1, dtype=np.int64)
        if not self.groups:
            return out, []
        dictionaries: list[pa.Array] = []
        placed: list[tuple[I64, I64]] = []  # rows, codes into the concatenated dictionaries
        base = 0
        for rows, codes, texts in self.groups:
            if codes is None:
                encoded = pc.dictionary_encode(texts)
                codes = _indices(encoded.indices)
                texts = encoded.dictionary
            placed.append((rows, np.where(codes >= 0, codes + base, -1)))
            dictionaries.append(texts)
            base += len(texts)
        merged = pc.dictionary_encode(pa.concat_arrays(dictionaries))
        remap = np.append(_indices(merged.indices), -1)  # a final -1 for missing
        for rows, codes in placed:
            out[rows] = remap[codes]
        return out, merged.dictionary.to_pylist()


def _indices(indices: pa.Array) -> I64:
    """Dictionary indices as int64, -1 for nulls."""
    return np.asarray(pc.fill_null(indices, -1).to_numpy(), dtype=np.int64)


def _windows(view: BytesView, start: I64, length: I64, width: int) -> npt.NDArray[np.uint8]:
    block = view.block(start, width)
    block[np.arange(width) >= length[:, None]] = 0
    return block


def _texts(values: I64, render: Callable[[int], str]) -> pa.Array:
    """`render` of each value, formatted once per distinct value."""
    inverse, uniq = pd.factorize(values)
    return pc.take(pa.array([render(v) for v in uniq.tolist()], type=pa.string()), inverse)


def _ipv4(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _mac(value: int) -> str:
    return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))


def arp_fields(view: BytesView, start: I64, length: I64, rows: I64, summaries: TextGroups) -> None:
    """ARP summaries, as Wireshark words them ("Who has 10.0.0.1? Tell 10.0.0.2")."""
    if not len(rows):
        return
    op = view.u16(start + 6)
    ipv4_ether = (
        (length >= 28)
        & (view.u16(start + 2) == 0x0800)
        & (view.u8(start + 4) == 6)
        & (view.u8(start + 5) == 4)
    )
    spa, tpa = view.u32(start + 14), view.u32(start + 24)
    sha = (view.u16(start + 8) << 32) | view.u32(start + 10)
    request, reply = ipv4_ether & (op == 1), ipv4_ether & (op == 2)
    gratuitous = request & (spa == tpa)
    who_has = request & ~gratuitous

    def add(mask: npt.NDArray[np.bool_], *parts: str | Callable[[I64], pa.Array]) -> None:
        k = np.flatnonzero(mask)
        if not len(k):
            return
        if all(isinstance(p, str) for p in parts):
            summaries.add(rows[k], pa.array(["".join(map(str, parts))] * len(k)))
        else:
            pieces = [p if isinstance(p, str) else p(k) for p in parts]
            summaries.add(rows[k], pc.binary_join_element_wise(*pieces, ""))

    def ip(values: I64) -> Callable[[I64], pa.Array]:
        return lambda k: _texts(values[k], _ipv4)

    add(length < 8, "ARP (truncated)")
    add(gratuitous, "Gratuitous ARP for ", ip(spa), " (Request)")
    add(who_has, "Who has ", ip(tpa), "? Tell ", ip(spa))
    add(reply, "", ip(spa), " is at ", lambda k: _texts(sha[k], _mac))
    add((length >= 8) & ~(request | reply), "ARP opcode ", lambda k: _texts(op[k], str))


def _strings(view: BytesView, start: I64, stop: I64) -> pa.Array:
    """The bytes [start, stop) of each row as strings (callers make sure they are ASCII)."""
    lengths = np.maximum(stop - start, 0)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    index = np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    data = view.buf.take(index)
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data))


def http_fields(
    view: BytesView, start: I64, stop: I64, rows: I64, hosts: TextGroups, summaries: TextGroups
) -> I64:
    """Request lines and Host headers of HTTP requests whose heads fit in HTTP_WINDOW bytes
    and are plain (CRLF lines, ASCII); return the rows left for `payload.parse_http_request`.

    Only the newlines are searched for: a request line ends at the first, the Host header
    follows one, the head ends at an empty line."""
    if not len(rows):
        return rows
    length = stop - start
    n, width = len(rows), int(min(HTTP_WINDOW, max(length.max(), 16)))
    win = np.zeros((n, width + 8), dtype=np.uint8)  # zero padding: reads past a row are 0
    win[:, :width] = _windows(view, start, length, width)
    fits = length <= width
    r, c = np.nonzero(win[:, :width] == 10)  # every newline, by row then position
    first = np.full(n, -1, dtype=np.int64)
    uniq_rows, first_at = np.unique(r, return_index=True)
    first[uniq_rows] = c[first_at]
    line_end = first - 1  # CRLF; a bare LF goes to the per-packet parser
    ok = (first >= 10) & (win[np.arange(n), np.maximum(line_end, 0)] == 13)
    # "METHOD target HTTP/x.y": the request line ends with " HTTP/" and three more bytes
    tail = win[np.arange(n)[:, None], np.maximum(line_end - 9, 0)[:, None] + np.arange(6)]
    ok &= (tail == np.frombuffer(b" HTTP/", dtype=np.uint8)).all(axis=1)

    after = r[:, None], c[:, None] + np.arange(1, 6)
    nxt = win[after]  # the five bytes after each newline
    blank = (nxt[:, 0] == 10) | ((nxt[:, 0] == 13) & (nxt[:, 1] == 10))
    lowered = nxt | np.where((nxt >= 65) & (nxt <= 90), 32, 0).astype(np.uint8)
    is_host = (lowered == np.frombuffer(b"host:", dtype=np.uint8)).all(axis=1)
    # the head ends at the first empty line; a Host line counts only before it
    head_end = np.full(n, width + 1, dtype=np.int64)
    np.minimum.at(head_end, r[blank], c[blank])
    host_nl = np.full(n, width + 1, dtype=np.int64)
    h = is_host & (c < head_end[r])
    np.minimum.at(host_nl, r[h], c[h])
    has_host = host_nl <= width
    # a head whose end or Host line was not seen in the window may go on past it
    ok &= fits | has_host | (head_end <= width)
    # the Host value runs to the next newline (or the end of a payload that fits)
    value_end = np.where(fits, length, width + 1)
    k = np.flatnonzero(h)
    following = np.minimum(k + 1, len(c) - 1)
    ends_at = np.where((k + 1 < len(c)) & (r[following] == r[k]), c[following], -1)
    got = ends_at >= 0
    np.minimum.at(value_end, r[k[got]], ends_at[got])
    ok &= ~has_host | (value_end <= width)
    value_start = host_nl + 6
    for _ in range(width):  # strip, as bytes.strip() does
        lead = has_host & (value_start < value_end)
        lead &= _WHITESPACE[win[np.arange(n), np.minimum(value_start, width)]]
        trail = has_host & (value_end > value_start)
        trail &= _WHITESPACE[win[np.arange(n), np.clip(value_end - 1, 0, width)]]
        if not (lead.any() or trail.any()):
            break
        value_start += lead
        value_end -= trail
    # latin-1 text is the same as ASCII only below 128: heads with other bytes go one by one
    ok &= win.max(axis=1) < 128
    good = np.flatnonzero(ok)
    summaries.add(rows[good], _strings(view, start[good], start[good] + line_end[good]))
    named = good[has_host[good]]
    hosts.add(
        rows[named],
        _strings(view, start[named] + value_start[named], start[named] + value_end[named]),
    )
    undone: I64 = rows[~ok]
    return undone


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
    parsed: list[payload.DnsSummary | None] = []
    for u in uniq:
        raw = u.tobytes()
        size = (raw[-2] << 8) | raw[-1]
        parsed.append(payload.parse_dns(b"\0\0" + raw[: size - 2]))
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
    # a summary per distinct (message, id): "Standard query 0x1a2b A example.com"
    key_codes, keys = pd.factorize(inv * 65536 + view.u16(start[g]))
    message, ident = pa.array(keys // 65536), pa.array(keys % 65536)
    summaries.add_encoded(
        rows[g],
        key_codes,
        pc.binary_join_element_wise(
            pc.take(kinds, message), " 0x", pc.take(hex16(), ident), pc.take(details, message), ""
        ),
    )
    qnames.add_encoded(rows[g], inv, names)
    slow_q: dict[int, str] = {}
    slow_s: dict[int, str] = {}
    buf = view.buf
    for k in np.flatnonzero(redo).tolist():
        a = int(start[k])
        msg = buf[a : a + int(length[k])].tobytes()
        summary = payload.parse_dns(msg)
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
        inverse = inverse.ravel()
        snis.add_encoded(rows[h], inverse, texts)
        hellos = pc.binary_join_element_wise("Client Hello (SNI=", texts, ")", "")
        summaries.add_encoded(rows[h], inverse, hellos)
    nosni = np.flatnonzero(~has)
    summaries.add(rows[nosni], pa.array(["Client Hello"] * len(nosni)))
    return undone
