"""ProtocolHierarchy: Wireshark's Statistics > Protocol Hierarchy, as an indented tree with
bars for the share of packets."""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd

from ..core.summary import protocol_hierarchy


class ProtocolHierarchy(w.VBox):  # type: ignore[misc]
    """Each protocol path with its packets, bytes and share of all packets."""

    def __init__(self, rows: pd.DataFrame | None = None) -> None:
        self.table = protocol_hierarchy(rows if rows is not None else pd.DataFrame())
        self.html = w.HTML("")
        self.html.add_class("netlab-protocols-html")
        super().__init__([self.html])
        self.add_class("netlab-protocols")
        self.show(rows if rows is not None else pd.DataFrame())

    def show(self, rows: pd.DataFrame) -> None:
        """Count the protocols of `rows` and redraw."""
        self.table = protocol_hierarchy(rows)
        self.html.value = hierarchy_html(self.table)


def hierarchy_html(table: pd.DataFrame) -> str:
    """The hierarchy as an HTML table: indented names, a bar per share, counts."""
    if not len(table):
        return '<div class="netlab-empty">No packets yet: the protocols appear with them.</div>'
    lines = []
    for path, protocol, depth, packets, volume, share in table.itertuples(index=False):
        pct = 100.0 * float(share)
        lines.append(
            f'<tr data-path="{html.escape(str(path))}">'
            f'<td style="padding-left:{0.4 + 1.2 * int(depth):.1f}em">{html.escape(protocol)}</td>'
            # the bar styled in place: the pane may be shown alone, without netlab.css
            f'<td style="min-width:220px"><div class="netlab-bar" style="display:inline-block;'
            f"width:{1.6 * pct:.1f}px;height:10px;margin-right:6px;"
            f'background:var(--jp-brand-color1,#1976d2)"></div>{pct:.1f} %</td>'
            f"<td>{int(packets):,}</td><td>{int(volume):,}</td></tr>"
        )
    return (
        '<table class="netlab-hierarchy"><thead><tr><th>Protocol</th><th>Packets %</th>'
        "<th>Packets</th><th>Bytes</th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>"
    )
