"""HTTP/1.x messages of a followed stream: requests from the client's bytes, responses from the
server's, paired in order (pipelining), bodies de-chunked and decompressed.

As an HTTP parser that reads a capture must: a message cut by the end of the capture or by a
gap ends with what could be read and a note saying why; bytes that are not HTTP end the parse
of that side with a note. Nothing here raises on bad input.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd


class Stream(Protocol):
    """What parsing needs of a followed stream (core/stream's Stream is one)."""

    @property
    def client(self) -> bytes: ...
    @property
    def server(self) -> bytes: ...
    @property
    def segments(self) -> pd.DataFrame: ...
    @property
    def gaps(self) -> pd.DataFrame: ...


MAX_HEAD = 64 * 1024  # bytes of request line and headers before a message is not HTTP
_REQUEST = re.compile(rb"([A-Z][A-Z0-9_-]{0,19}) (\S+) HTTP/(\d\.\d)\r?\n")
_STATUS = re.compile(rb"HTTP/(\d\.\d) (\d{3})(?: ([^\r\n]*))?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
COLUMNS = (
    "direction", "frame", "method", "uri", "version", "status", "reason", "headers",
    "content_type", "content_encoding", "body_length", "body", "request", "note",
)  # fmt: skip


@dataclass
class Message:
    """One request or response."""

    direction: str
    start: int  # offset of its first byte in its side's bytes
    method: str | None = None
    uri: str | None = None
    version: str | None = None
    status: int | None = None
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    body_length: int = 0  # as sent (before decoding)
    request: int | None = None  # for a response: the row of the request it answers
    notes: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The last value of a header (names compare case-insensitively)."""
        name = name.lower()
        found = [v for k, v in self.headers if k.lower() == name]
        return found[-1] if found else None


def messages(stream: Stream) -> pd.DataFrame:
    """The HTTP/1.x messages of a stream, one row each in the order their first bytes were
    sent; a response's `request` is the row of the request it answers."""
    requests = _parse_side(stream.client, "client", None)
    methods = [m.method for m in requests]
    responses = _parse_side(stream.server, "server", methods)
    gaps = stream.gaps
    for m in requests + responses:
        side_gaps = gaps[gaps["direction"] == m.direction]
        end = m.start + max(m.body_length, 1)
        if ((side_gaps["offset"] >= m.start) & (side_gaps["offset"] <= end)).any():
            m.notes.append("bytes of this message are missing from the capture")
    # pair responses with requests in order; 1xx responses are interim (100 Continue)
    answered = 0
    for r in responses:
        if answered < len(requests):
            r.request = answered
        if r.status is None or r.status >= 200 or r.status == 101:
            answered += 1
    rows = requests + responses
    order = sorted(range(len(rows)), key=lambda i: _record_of(stream, rows[i]))
    position = {old: new for new, old in enumerate(order)}
    table = []
    for i in order:
        m = rows[i]
        request = None if m.request is None else position[m.request]
        table.append(
            {
                "direction": m.direction,
                "frame": _frame_of(stream, m),
                "method": m.method,
                "uri": m.uri,
                "version": m.version,
                "status": m.status,
                "reason": m.reason,
                "headers": m.headers,
                "content_type": m.header("Content-Type"),
                "content_encoding": m.header("Content-Encoding"),
                "body_length": m.body_length,
                "body": m.body,
                "request": request,
                "note": "; ".join(m.notes) or None,
            }
        )
    df = pd.DataFrame(table, columns=list(COLUMNS))
    for col in ("frame", "status", "request"):
        df[col] = df[col].astype("Int64")
    for col in ("method", "uri", "version", "reason", "content_type", "content_encoding", "note"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)  # None, not NaN
    return df


def _where(stream: Stream, m: Message) -> int:
    """The row of the segments that holds the message's first byte."""
    seg = stream.segments
    mine = np.flatnonzero((seg["direction"] == m.direction).to_numpy())
    if not len(mine):
        return -1
    offsets = seg["offset"].to_numpy()[mine]
    return int(mine[max(int(np.searchsorted(offsets, m.start, side="right")) - 1, 0)])


def _record_of(stream: Stream, m: Message) -> int:
    at = _where(stream, m)
    return int(stream.segments["record"].iloc[at]) if at >= 0 else 0


def _frame_of(stream: Stream, m: Message) -> int | None:
    at = _where(stream, m)
    return int(stream.segments["frame"].iloc[at]) if at >= 0 else None


def _parse_side(data: bytes, direction: str, methods: list[str | None] | None) -> list[Message]:
    """The messages of one side's bytes; `methods`: the requests' methods, when parsing
    responses (a response to HEAD has no body)."""
    out: list[Message] = []
    at = 0
    while at < len(data):
        if data[at : at + 2] == b"\r\n":  # a stray CRLF between messages (RFC 9112 2.2)
            at += 2
            continue
        m = Message(direction, at)
        try:
            at = _parse_one(data, at, m, methods, out)
        except Exception as exc:  # noqa: BLE001 - a capture may hold anything
            m.notes.append(f"could not be read: {exc}")
            at = len(data)
        if m.method is None and m.status is None:  # not the start of a message
            # as after a gap the capture left: go on at the next line that starts one
            again = _next_start(data, m.start, methods is not None)
            skipped = (len(data) if again < 0 else again) - m.start
            if out:
                out[-1].notes.append(f"then {skipped} bytes that are not HTTP/1.x")
            if again < 0:
                break
            at = again
            continue
        out.append(m)
    return out


def _next_start(data: bytes, after: int, responses: bool) -> int:
    """Where the next line that starts a message begins (-1: none)."""
    pattern = _STATUS if responses else _REQUEST
    at = data.find(b"\n", after)
    while 0 <= at < len(data) - 1:
        if pattern.match(data, at + 1):
            return at + 1
        at = data.find(b"\n", at + 1)
    return -1


def _parse_one(
    data: bytes, at: int, m: Message, methods: list[str | None] | None, before: list[Message]
) -> int:
    """Parse the message at `at` into `m`; return where the next one starts."""
    head_end = _HEAD_END.search(data, at, min(len(data), at + MAX_HEAD))
    first = (_STATUS if methods is not None else _REQUEST).match(data, at)
    if first is None:
        return len(data)
    if methods is None:
        m.method, m.uri = first.group(1).decode("ascii"), first.group(2).decode("latin-1")
    else:
        m.status = int(first.group(2))
        m.reason = (first.group(3) or b"").decode("latin-1")
    m.version = first.group(1 if methods is not None else 3).decode("ascii")
    if head_end is None:
        m.notes.append("the headers end with the stream")
        _headers(data[first.end() :], m)
        return len(data)
    _headers(data[first.end() : head_end.start()], m)
    start = head_end.end()
    final = sum(1 for r in before if r.status is None or r.status >= 200 or r.status == 101)
    length, chunked = _body_rule(m, methods, final)
    if chunked:
        body, end = _dechunk(data, start, m)
    elif length is None:  # until the connection closes
        body, end = data[start:], len(data)
    else:
        end = min(start + length, len(data))
        body = data[start:end]
        if end < start + length:
            m.notes.append(f"the body ends after {end - start} of {length} bytes")
    m.body_length = end - start
    m.body = _decoded(body, m)
    return end


def _headers(block: bytes, m: Message) -> None:
    for line in re.split(rb"\r?\n", block):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and m.headers:  # an obsolete folded line continues
            key, text = m.headers[-1]
            m.headers[-1] = (key, text + " " + line.strip().decode("latin-1"))
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            m.notes.append(f"a header line without a colon: {line[:40]!r}")
            continue
        m.headers.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))


def _body_rule(m: Message, methods: list[str | None] | None, index: int) -> tuple[int | None, bool]:
    """(body length, chunked) by RFC 9112 6.3; a length of None: until the connection ends.
    `index`: the final responses before this one (which request this one answers)."""
    if m.status is not None:
        if 100 <= m.status < 200 or m.status in (204, 304):
            return 0, False
        if methods is not None and _request_method(methods, index) == "HEAD":
            return 0, False
    encoding = (m.header("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        return None, True
    length = m.header("Content-Length")
    if length is not None:
        try:
            return max(int(length.split(",")[0]), 0), False
        except ValueError:
            m.notes.append(f"a Content-Length that is not a number: {length!r}")
    return (None if m.status is not None else 0), False


def _request_method(methods: list[str | None], responses_before: int) -> str | None:
    return methods[responses_before] if responses_before < len(methods) else None


def _dechunk(data: bytes, at: int, m: Message) -> tuple[bytes, int]:
    parts: list[bytes] = []
    while True:
        line_end = data.find(b"\n", at)
        if line_end < 0:
            m.notes.append("the chunked body ends with the stream")
            return b"".join(parts), len(data)
        size_text = data[at:line_end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            m.notes.append(f"a chunk size that is not hexadecimal: {size_text[:20]!r}")
            return b"".join(parts), len(data)
        at = line_end + 1
        if size == 0:  # the last chunk; then trailer lines up to an empty one
            while True:
                line_end = data.find(b"\n", at)
                if line_end < 0:
                    return b"".join(parts), len(data)
                line, at = data[at:line_end].strip(), line_end + 1
                if not line:
                    return b"".join(parts), at
        parts.append(data[at : at + size])
        if at + size > len(data):
            m.notes.append("the chunked body ends with the stream")
            return b"".join(parts), len(data)
        at += size
        if data[at : at + 2] == b"\r\n":
            at += 2
        elif data[at : at + 1] == b"\n":
            at += 1


def _decoded(body: bytes, m: Message) -> bytes:
    encoding = (m.header("Content-Encoding") or "").lower().strip()
    if not body or encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(wbits=31).decompress(body)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)  # zlib-wrapped, as RFC 9110 says
            except zlib.error:
                return zlib.decompressobj(wbits=-15).decompress(body)  # raw, as some send
    except zlib.error as exc:
        m.notes.append(f"the {encoding} body could not be decompressed: {exc}")
        return body
    m.notes.append(f"the body is left {encoding}-encoded")
    return body
