"""PacketDetail: one packet's layer tree and bytes; picking a field marks its bytes."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from ..core.dissection import Dissection
from ..errors import NetlabError


class PacketDetail(w.VBox):  # type: ignore[misc]
    """The tree (layers, their fields indented) as a list to pick from, and the hex dump
    with the picked field's or layer's bytes marked, as Wireshark's detail and bytes panes."""

    def __init__(self, dissection: Dissection | None = None) -> None:
        self.dissection: Dissection | None = None
        self.tree = w.Select(options=[], rows=14, layout=w.Layout(width="46%"))
        self.tree.add_class("netlab-detail-tree")
        self.hex = w.HTML("<i>Select a packet to see its layers.</i>")
        self.hex.add_class("netlab-detail-hex")
        self.tree.observe(self._picked, names="value")
        super().__init__([w.HBox([self.tree, self.hex])])
        self.add_class("netlab-detail")
        if dissection is not None:
            self.show(dissection)

    def show(self, dissection: Dissection) -> None:
        """Show a dissection (nothing picked)."""
        self.dissection = dissection
        options: list[tuple[str, tuple[int, int]]] = []
        for layer in dissection.layers:
            options.append((layer.name, (layer.offset, layer.length)))
            for f in layer.fields:
                options.append((f"    {f.name} = {f.shown}", (f.offset, f.length)))
        self.tree.unobserve(self._picked, names="value")
        self.tree.options = options
        self.tree.value = None
        self.tree.observe(self._picked, names="value")
        self.hex.value = hex_html(dissection.data, None)

    def show_row(self, row: pd.Series | None, packets: Any = None) -> None:
        """Dissect and show a packet row (its bytes from where the row says, or `packets`)."""
        from ..dissect import dissect

        if row is None:
            return
        try:
            self.show(dissect(row, packets=packets))
        except NetlabError as exc:
            self.tree.options = []
            self.hex.value = f'<span class="netlab-error">{html.escape(str(exc))}</span>'

    def pick(self, name: str) -> None:
        """Pick a field by name ("IP.src" or tshark's "ip.src"), as a click does."""
        if self.dissection is None or (f := self.dissection.field(name)) is None:
            raise KeyError(name)
        self.tree.value = (f.offset, f.length)

    def _picked(self, change: dict[str, Any]) -> None:
        if self.dissection is not None:
            self.hex.value = hex_html(self.dissection.data, change["new"])


def hex_html(data: bytes, span: tuple[int, int] | None) -> str:
    """The bytes 16 a line (offset, hex, ASCII), the bytes of `span` (offset, length) marked."""
    start, stop = (span[0], span[0] + span[1]) if span else (-1, -1)
    lines = []
    for row in range(0, len(data), 16):
        hexes, text = [], []
        for i, b in enumerate(data[row : row + 16]):
            ch = chr(b) if 32 <= b < 127 else "."
            cell, char = f"{b:02x}", html.escape(ch)
            if start <= row + i < stop:
                cell = f'<mark class="netlab-detail-mark">{cell}</mark>'
                char = f'<mark class="netlab-detail-mark">{char}</mark>'
            hexes.append(cell + ("  " if i == 7 else " "))
            text.append(char)
        lines.append(f"{row:04x}  {''.join(hexes):<49}{''.join(text)}")
    return f'<pre style="margin:0;font-size:12px">{chr(10).join(lines)}</pre>'
