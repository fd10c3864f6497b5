"""A followed stream: the bytes each side of a flow sent, in order, and where they came from.

`assemble` turns a reassembly plan (core/reassembly) and the segments' payload bytes into a
`Stream`; the stream shows itself as Wireshark's Follow Stream window does (`text`, `hexdump`,
and coloured HTML in a notebook) and parses its HTTP/1.x messages (`http`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .reassembly import GAP, Plan

I64 = npt.NDArray[np.int64]
DIRECTIONS = ("client", "server")
# Wireshark's follow window: the client's bytes red on pink, the server's blue on lavender
COLOURS = {"client": ("#7f0000", "#fbeded"), "server": ("#00007f", "#ededfb")}
_PRINTABLE = bytes(b if 32 <= b < 127 or b in (9, 10, 13) else 46 for b in range(256))


def as_text(data: bytes) -> str:
    """Bytes as Wireshark's ASCII view shows them: outside printable ASCII (but tab, CR and
    LF) a '.'."""
    return data.translate(_PRINTABLE).decode("ascii")


def gap_marker(missing: int) -> str:
    """What Wireshark writes where bytes are missing from the capture."""
    return f"[{missing} bytes missing in capture file]"


@dataclass
class Endpoint:
    """One side of a flow."""

    address: str | None
    port: int | None

    def __str__(self) -> str:
        if self.address is None:
            return "?"
        host = (
            f"[{self.address}]" if ":" in self.address and self.port is not None else self.address
        )
        return host if self.port is None else f"{host}:{self.port}"


@dataclass
class Stream:
    """The reassembled bytes of one flow.

    `client` and `server` are the bytes each side sent, in sequence order; `segments` says
    which frame each piece came from (`record` is its place in time across both sides,
    `offset` where it starts in its side's bytes); `gaps` are the bytes the capture missed
    (not in `client`/`server`: nothing is invented), at the offset where they are missing."""

    flow: int
    proto: str
    client_endpoint: Endpoint
    server_endpoint: Endpoint
    client: bytes
    server: bytes
    table: RecordTable = field(repr=False)
    truncated: bool = False  # cut at the size limit (NETLAB_STREAM_MAX_MB)
    frames_unavailable: int = 0  # frames of the flow whose bytes are no longer kept
    _frames: dict[bool, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def segments(self) -> pd.DataFrame:
        """The pieces of the stream: record, direction, offset, length, frame."""
        return self._frame(gaps=False)

    @property
    def gaps(self) -> pd.DataFrame:
        """Where bytes are missing: record, direction, offset, length (bytes missing), frame."""
        return self._frame(gaps=True)

    def _frame(self, gaps: bool) -> pd.DataFrame:
        if gaps not in self._frames:
            self._frames[gaps] = self.table.frame_of(gaps)
        return self._frames[gaps]

    def data(self, direction: str) -> bytes:
        """The bytes of one side: "client" or "server"."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction is 'client' or 'server', not {direction!r}")
        return self.client if direction == "client" else self.server

    def records(self) -> list[tuple[str, bytes | int]]:
        """The pieces in time order: (direction, bytes), or (direction, missing count) for a
        gap; as Wireshark's follow window lists them."""
        t = self.table
        out: list[tuple[str, bytes | int]] = []
        for side, gap, off, n in zip(
            t.server.tolist(), t.gap.tolist(), t.offset.tolist(), t.length.tolist(), strict=True
        ):
            d = DIRECTIONS[side]
            out.append((d, n if gap else self.data(d)[off : off + n]))
        return out

    def text(self, direction: str | None = None) -> str:
        """The stream as text, both sides interleaved in time (or one side), as Wireshark's
        ASCII view: bytes outside printable ASCII (but tab, CR and LF) shown as '.', and
        missing bytes as Wireshark marks them."""
        parts = []
        for d, piece in self.records():
            if direction is not None and d != direction:
                continue
            if isinstance(piece, int):
                parts.append(gap_marker(piece))
            else:
                parts.append(as_text(piece))
        return "".join(parts)

    def hexdump(self, direction: str | None = None) -> str:
        """The stream as tshark's `-z follow,...,hex` shows it: 16 bytes a line with their
        offset in their side's bytes; the server's lines indented."""
        lines: list[str] = []
        at = {"client": 0, "server": 0}
        for d, piece in self.records():
            if direction is not None and d != direction:
                continue
            indent = "    " if d == "server" else ""
            if isinstance(piece, int):
                lines.append(f"{indent}{gap_marker(piece)}")
                continue
            lines.extend(indent + line for line in hexdump_lines(piece, at[d]))
            at[d] += len(piece)
        return "\n".join(lines)

    def http(self) -> pd.DataFrame:
        """The HTTP/1.x messages of the stream (see core/http1)."""
        from .http1 import messages

        return messages(self)

    @property
    def nbytes(self) -> int:
        """Memory held: the bytes and the record table."""
        return len(self.client) + len(self.server) + self.table.nbytes

    def __repr__(self) -> str:
        gaps = f", {len(self.gaps)} gaps" if len(self.gaps) else ""
        cut = ", truncated" if self.truncated else ""
        return (
            f"<Stream {self.proto} flow {self.flow}: {self.client_endpoint} -> "
            f"{self.server_endpoint}, client {len(self.client):,} bytes, server "
            f"{len(self.server):,} bytes{gaps}{cut}>"
        )

    def _repr_html_(self) -> str:
        spans = []
        for d, piece in self.records():
            fg, bg = COLOURS[d]
            shown = (
                gap_marker(piece)
                if isinstance(piece, int)
                else piece.translate(_PRINTABLE).decode("ascii")
            )
            spans.append(
                f'<span class="netlab-stream-{d}" style="color:{fg};background:{bg}">'
                f"{html.escape(shown)}</span>"
            )
        head = html.escape(repr(self))
        body = "".join(spans)
        return f'<div class="netlab-stream"><div>{head}</div><pre>{body}</pre></div>'


def hexdump_lines(data: bytes, start: int = 0) -> list[str]:
    """Lines of offset, 16 bytes in hex (two groups of 8) and their ASCII."""
    out = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        left = " ".join(f"{b:02x}" for b in row[:8])
        right = " ".join(f"{b:02x}" for b in row[8:])
        text = row.translate(_PRINTABLE).decode("ascii").replace("\t", ".").replace("\r", ".")
        text = text.replace("\n", ".")
        out.append(f"{start + i:08X}  {left:<23}  {right:<23}  {text}")
    return out


@dataclass
class RecordTable:
    """The stream's records in time order (compact: 26 bytes a record)."""

    server: npt.NDArray[np.bool_]
    gap: npt.NDArray[np.bool_]
    offset: I64  # where the record starts in its side's bytes
    length: I64  # bytes (a gap: bytes missing, which Wireshark may count below 0)
    frame: I64

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.server, self.gap, self.offset, self.length, self.frame))

    def frame_of(self, gaps: bool) -> pd.DataFrame:
        rows = np.flatnonzero(self.gap == gaps)
        return pd.DataFrame(
            {
                "record": rows.astype(np.int64),
                "direction": pd.Categorical.from_codes(
                    self.server[rows].astype(np.int8), categories=pd.Index(DIRECTIONS)
                ),
                "offset": self.offset[rows],
                "length": self.length[rows],
                "frame": self.frame[rows],
            }
        )


def assemble(
    plan: Plan,
    buffers: Sequence[Any],
    buffer_of: I64,
    payload_at: I64,
    *,
    max_bytes: int,
    meta: dict[str, Any],
) -> Stream:
    """The stream a plan describes, its bytes read from the segments' payloads (segment k's
    captured payload starts at `payload_at[k]` in `buffers[buffer_of[k]]`), at most
    `max_bytes` of them (the rest cut, and the stream marked truncated)."""
    data = plan.kind != GAP
    taken = np.where(data, plan.length, 0)
    before = np.cumsum(taken) - taken
    truncated = bool(taken.sum() > max_bytes)
    keep = np.ones(len(plan), dtype=bool)
    if truncated:
        keep = before < max_bytes
        taken = np.where(keep, np.minimum(taken, max_bytes - before), 0)
    keep &= ~data | (taken > 0)
    views = [memoryview(b) for b in buffers]
    sides: dict[str, bytes] = {}
    offset = np.zeros(len(plan), dtype=np.int64)
    for side, name in enumerate(DIRECTIONS):
        mine = plan.server == bool(side)
        side_taken = np.where(mine, taken, 0)
        offset[mine] = (np.cumsum(side_taken) - side_taken)[mine]
        rows = np.flatnonzero(mine & data & keep)
        k = plan.segment[rows]
        starts = (payload_at[k] + plan.skip[rows]).tolist()
        lens = taken[rows].tolist()
        # one join of slices of the capture's buffers: the only copy of the bytes
        sides[name] = b"".join(
            [
                views[b][s : s + n]
                for b, s, n in zip(buffer_of[k].tolist(), starts, lens, strict=True)
            ]
        )
    rows = np.flatnonzero(keep)
    table = RecordTable(
        server=plan.server[rows],
        gap=~data[rows],
        offset=offset[rows],
        length=np.where(data, taken, plan.length)[rows],
        frame=plan.frame[rows],
    )
    return Stream(
        client=sides["client"], server=sides["server"], table=table, truncated=truncated, **meta
    )


def stream_of(client: bytes, server: bytes, proto: str = "TCP") -> Stream:
    """A stream of given bytes (the client's first, then the server's), for bytes from
    elsewhere: a file, a test."""
    sides = [(False, client), (True, server)]
    rows = [(side, len(data)) for side, data in sides if data]
    table = RecordTable(
        server=np.array([s for s, _ in rows], dtype=bool),
        gap=np.zeros(len(rows), dtype=bool),
        offset=np.zeros(len(rows), dtype=np.int64),
        length=np.array([n for _, n in rows], dtype=np.int64),
        frame=np.zeros(len(rows), dtype=np.int64),
    )
    none = Endpoint(None, None)
    return Stream(-1, proto, none, none, client, server, table)
