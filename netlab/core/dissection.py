"""One packet's layer tree: layers, their fields, and where each field's bytes are.

A plain structure (no scapy object in it), so the widget, explain and the server show the same
dissection: `to_dict()` is what `GET /packets/{number}` sends.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

from .stream import hexdump_lines


@dataclass
class Field:
    """A field of a layer: its name, tshark's name for it where there is one, the value as
    shown, and its bytes (offset from the frame's first byte, length)."""

    name: str
    shown: str
    offset: int
    length: int
    tshark: str | None = None


@dataclass
class Layer:
    """A protocol layer and its fields; `offset`/`length` cover its header and payload."""

    name: str
    offset: int
    length: int
    fields: list[Field] = field(default_factory=list)
    tshark: str | None = None  # tshark's protocol name (eth, ip, tcp...)


@dataclass
class Dissection:
    """The layers of frame `number`, and its bytes."""

    number: int
    data: bytes
    layers: list[Layer]
    note: str | None = None  # why the dissection stopped early, if it did

    def field(self, name: str) -> Field | None:
        """The first field called `name` (netlab's "layer.field" or tshark's name)."""
        for layer in self.layers:
            for f in layer.fields:
                if name in (f"{layer.name}.{f.name}", f.tshark):
                    return f
        return None

    def hexdump(self, highlight: str | Field | None = None) -> str:
        """The frame's bytes, 16 a line; with `highlight` (a field or its name), a line of
        carets under each line marks the field's bytes."""
        f = self.field(highlight) if isinstance(highlight, str) else highlight
        if isinstance(highlight, str) and f is None:
            raise KeyError(f"no field {highlight!r} in this packet")
        lines = []
        for row, line in enumerate(hexdump_lines(self.data)):
            lines.append(line)
            if f is None:
                continue
            marks = [" "] * len(line)
            for i in range(16):
                at = row * 16 + i
                if f.offset <= at < f.offset + f.length:
                    col = 10 + 3 * i + (1 if i >= 8 else 0)
                    marks[col : col + 2] = ["^", "^"]
            if "^" in marks:
                lines.append("".join(marks).rstrip())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the layers and fields, and the bytes in hex."""
        out = asdict(self)
        out["data"] = self.data.hex()
        return out

    def __str__(self) -> str:
        lines = [f"Frame {self.number}: {len(self.data)} bytes"]
        for layer in self.layers:
            lines.append(f"{layer.name}  [{layer.offset}:{layer.offset + layer.length}]")
            lines.extend(
                f"    {f.name} = {f.shown}  [{f.offset}:{f.offset + f.length}]"
                for f in layer.fields
            )
        if self.note:
            lines.append(f"({self.note})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = []
        for layer in self.layers:
            fields = "".join(
                f'<li data-offset="{f.offset}" data-length="{f.length}">'
                f"{html.escape(f.name)} = {html.escape(f.shown)}</li>"
                for f in layer.fields
            )
            items.append(
                f"<details open><summary>{html.escape(layer.name)}</summary><ul>{fields}</ul>"
                "</details>"
            )
        return f'<div class="netlab-detail">{"".join(items)}</div>'
