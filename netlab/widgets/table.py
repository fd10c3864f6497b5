"""PacketTable: the newest rows in a virtualised grid, filtered, with a row to select."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np
import pandas as pd
from traitlets import Int

from ..core.frame import RollingFrame
from ..core.schema import COLUMN_NAMES
from ..core.tcp_flags import KEEP_ALIVE, KEEP_ALIVE_ACK, REUSED_PORTS, WINDOW_UPDATE
from ..display_filter import DisplayFilter, compile_filter
from ..errors import DisplayFilterError
from .grid import DataGrid
from .refresher import Refresher, SelfFed, Update, feed

if TYPE_CHECKING:
    from ..capture import Capture

DEFAULT_COLUMNS = ("number", "ts", "src", "dst", "proto", "sport", "dport", "length", "info")
# Wireshark's "Bad TCP" rule leaves out what is not trouble
NOT_TROUBLE = WINDOW_UPDATE | KEEP_ALIVE | KEEP_ALIVE_ACK | REUSED_PORTS
SYN_FIN_RST = 0x01 | 0x02 | 0x04


class PacketTable(SelfFed, w.VBox):  # type: ignore[misc]
    """The newest `keep` rows in a grid (newest first, sortable, arrow keys move the
    selection); filter by display filter, protocol, text, or rows inside alert windows.

    Alone, give it what to show: a Capture (local or remote; it then keeps itself live) or a
    DataFrame of rows. In a Dashboard, the dashboard's refresher feeds it.
    """

    selected = Int(0).tag(sync=False)  # the frame number of the selected packet (0: none)

    def __init__(
        self,
        source: Capture | pd.DataFrame | None = None,
        *,
        max_rows: int = 16,
        columns: tuple[str, ...] = DEFAULT_COLUMNS,
        keep: int = 20_000,
        hz: float | None = None,
    ) -> None:
        self.max_rows, self.keep = max_rows, keep
        self._kept = RollingFrame(max_rows=keep)
        self._rows: pd.DataFrame | None = None  # the kept rows as a DataFrame, made when read
        self.alert_windows: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        self.proto = w.Dropdown(
            options=["all"], value="all", description="Protocol", layout=w.Layout(width="200px")
        )
        self.search = w.Text(
            placeholder="filter: address, port, name, text…", layout=w.Layout(width="280px")
        )
        self.search.add_class("netlab-table-search")
        # a Wireshark display filter, applied on Enter; a mistake is shown under the box and
        # the last valid filter stays
        self.display_filter = w.Text(
            placeholder="display filter, e.g. tcp.port == 443 && !tcp.analysis.retransmission",
            continuous_update=False,
            layout=w.Layout(width="100%"),
        )
        self.display_filter.add_class("netlab-display-filter")
        self.filter_error = w.HTML()
        self.filter_error.add_class("netlab-display-filter-error")
        self.shown_filter: DisplayFilter | None = None
        self.display_filter.observe(self._filter_changed, names="value")
        self.only_alerts = w.Checkbox(description="only rows in alert windows", indent=False)
        self.columns = w.SelectMultiple(options=list(COLUMN_NAMES), value=list(columns), rows=8)
        self.grid = DataGrid(
            key="number",
            columns=columns,
            newest_first=True,
            tones=packet_tones,
            height=22 * max_rows,
            empty_text="no packets yet: is the capture running, and the interface up?",
        )
        self.grid.add_class("netlab-table-grid")
        self.grid.observe(self._picked, names="selected")
        self._selected_row: pd.Series | None = None
        # set from code (or a test), the grid highlights it as if clicked
        self.observe(lambda c: setattr(self.grid, "selected", c["new"] or None), names="selected")
        for control in (self.proto, self.search, self.only_alerts):
            control.observe(lambda _change: self.render(), names="value")
        self.columns.observe(self._columns_changed, names="value")
        self.columns.add_class("netlab-table-columns")
        options = w.Accordion([self.columns], titles=("Columns",))
        options.selected_index = None
        super().__init__(
            [
                self.display_filter,
                self.filter_error,
                w.HBox([self.proto, self.search, self.only_alerts]),
                options,
                self.grid,
            ]
        )
        self.add_class("netlab-table")
        self.render()
        if isinstance(source, pd.DataFrame):
            self.rows = source.iloc[-keep:]
            self.render()
            source = None
        self.refresher: Refresher | None = feed(self.refresh, source, hz)

    def _filter_changed(self, change: dict[str, Any]) -> None:
        text = str(change["new"]).strip()
        try:
            self.shown_filter = compile_filter(text) if text else None
        except DisplayFilterError as e:
            self.filter_error.value = f"<pre class='netlab-error'>{html.escape(str(e))}</pre>"
            return  # the last valid filter stays
        self.filter_error.value = ""
        self.render()

    def _columns_changed(self, change: dict[str, Any]) -> None:
        self.grid.columns = [c for c in change["new"]] or list(DEFAULT_COLUMNS)

    def _picked(self, change: dict[str, Any]) -> None:
        # kept with the pick: at a high rate the row leaves `rows` within a second
        self._selected_row = self.grid.selected_row
        self.selected = int(change["new"] or 0)

    @property
    def selected_row(self) -> pd.Series | None:
        """The selected packet's row (by frame number), or None when nothing is selected."""
        if not self.selected:
            return None
        row = self._selected_row
        if row is not None and row["number"] == self.selected:
            return row
        hits = self.rows.index[self.rows["number"].to_numpy() == self.selected]
        self._selected_row = self.rows.loc[hits[-1]] if len(hits) else None
        return self._selected_row

    def select(self, number: int) -> None:
        """Select the packet with frame number `number`, as a click on its row does."""
        self.grid.selected = int(number)

    @property
    def rows(self) -> pd.DataFrame:
        """The kept rows, oldest first (indexed from 1 in the order the table took them)."""
        if self._rows is None:
            self._rows = self._kept.snapshot()
        return self._rows

    @rows.setter
    def rows(self, rows: pd.DataFrame) -> None:
        """Show these rows instead (the newest `keep` of them)."""
        self._kept = RollingFrame(max_rows=self.keep)
        self._take(rows)

    def _take(self, rows: pd.DataFrame) -> None:
        # The rows go into a rolling frame of the table's own, which codes their texts into
        # its string pool: taking new rows costs what they cost. Concatenating DataFrames
        # instead unified every categorical's categories with the kept rows' each time, which
        # grew with every address seen (40 -> 300 ms a tick over 90 s at 10k packets/s).
        if not rows.empty:
            self._kept.append(rows)
            # the packet store, so that the kept rows still know their bytes
            self._kept.attrs.update({str(k): v for k, v in rows.attrs.items()})
        self._rows = None

    def refresh(self, update: Update) -> None:
        """Take the new rows (called by the refresher)."""
        self.alert_windows = [(a.window_start, a.window_end) for a in update.alerts]
        if update.rows.empty:
            return
        self._take(update.rows)
        self.render()

    def filtered(self) -> pd.DataFrame:
        """The rows that pass the filters."""
        df = self.rows
        if df.empty:
            return df
        if self.shown_filter is not None:  # tcp.stream counts the streams of the kept rows
            df = df[self.shown_filter.mask(df)]
        if self.proto.value != "all":
            df = df[df["proto"].astype(str) == self.proto.value]
        text = self.search.value.strip().lower()
        if text:
            hay = (
                df["src"].astype(str)
                + " "
                + df["dst"].astype(str)
                + " "
                + df["info"].astype(str)
                + " "
                + df["sport"].astype(str)
                + " "
                + df["dport"].astype(str)
            ).str.lower()
            df = df[hay.str.contains(text, regex=False)]
        if self.only_alerts.value:
            mask = pd.Series(False, index=df.index)
            for start, end in self.alert_windows:
                mask |= (df["ts"] >= start) & (df["ts"] <= end)
            df = df[mask]
        return df

    def render(self) -> None:
        """Give the grid the filtered rows (the selection stays on its packet)."""
        if not self.rows.empty:
            protos = sorted(str(p) for p in self.rows["proto"].dropna().unique())
            options = ["all", *protos]
            if self.proto.value not in options:
                options.append(self.proto.value)
            if list(self.proto.options) != options:
                self.proto.options = options
        self.grid.data = self.filtered()

    def shown(self) -> pd.DataFrame:
        """The rows the grid has in view, top first."""
        return self.grid.shown()


def packet_tones(rows: pd.DataFrame) -> Sequence[str]:
    """Each row's colour class, as Wireshark's default colouring rules pick them: Bad TCP
    (analysis flags that mean trouble), TCP SYN/FIN/RST, then TCP, UDP, ICMP, ARP."""
    proto = rows["proto"].astype(object).to_numpy()
    analysis = rows["tcp_analysis"].to_numpy(dtype=np.uint16) if "tcp_analysis" in rows else 0
    flags = rows["tcp_flags"].to_numpy(dtype=np.int64, na_value=0) if "tcp_flags" in rows else 0
    tcp = proto == "TCP"
    choices = [
        tcp & ((analysis & ~np.uint16(NOT_TROUBLE)) != 0),
        tcp & ((flags & SYN_FIN_RST) != 0),
        tcp,
        proto == "UDP",
        np.isin(proto, ["ICMP", "ICMPv6"]),
        proto == "ARP",
    ]
    tones: list[str] = np.select(choices, ["bad", "syn", "tcp", "udp", "icmp", "arp"], "").tolist()
    return tones
