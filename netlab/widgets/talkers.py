"""Talkers: the busiest hosts and conversations of what the capture holds, by bytes."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from ..core.summary import conversations, top_talkers
from .grid import DataGrid


class Talkers(w.VBox):  # type: ignore[misc]
    """Two grids, as Wireshark's Endpoints and Conversations windows: hosts (packets and bytes
    sent plus received) and conversations (both directions of a flow), busiest first."""

    def __init__(self, rows: pd.DataFrame | None = None, *, top: int = 50) -> None:
        self.top = top
        self.hosts = DataGrid(
            key="rank",
            columns=("rank", "address", "packets", "bytes"),
            height=22 * 10,
            empty_text="no hosts yet",
        )
        self.hosts.add_class("netlab-talkers-hosts")
        self.pairs = DataGrid(
            key="rank",
            columns=("rank", "proto", "src", "sport", "dst", "dport", "packets", "bytes"),
            height=22 * 10,
            empty_text="no conversations yet",
        )
        self.pairs.add_class("netlab-talkers-conversations")
        super().__init__(
            [
                w.HTML("<b>Top hosts</b> (sent + received)"),
                self.hosts,
                w.HTML("<b>Top conversations</b> (both directions)"),
                self.pairs,
            ]
        )
        self.add_class("netlab-talkers")
        if rows is not None:
            self.show(rows)

    def show(self, rows: pd.DataFrame) -> None:
        """Rank the hosts and conversations of `rows`."""
        hosts = top_talkers(rows, self.top)
        pairs = conversations(rows, self.top) if len(rows) else conversations(rows)
        for table in (hosts, pairs):
            table.insert(0, "rank", range(1, len(table) + 1))
        self.hosts.data, self.pairs.data = hosts, pairs
