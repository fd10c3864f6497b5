"""PacketTable: the newest rows, filtered, with a row to pick for explaining."""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
from traitlets import Int

from ..core.schema import COLUMN_NAMES
from ..display_filter import DisplayFilter, compile_filter
from ..errors import DisplayFilterError
from .refresher import Refresher, SelfFed, Update, feed

if TYPE_CHECKING:
    from ..capture import Capture

DEFAULT_COLUMNS = ("number", "ts", "src", "dst", "proto", "sport", "dport", "length", "info")


class PacketTable(SelfFed, w.VBox):  # type: ignore[misc]
    """Newest `max_rows` rows; filter by protocol, text, or rows inside alert windows.

    Alone, give it what to show: a Capture (local or remote; it then keeps itself live) or a
    DataFrame of rows. In a Dashboard, the dashboard's refresher feeds it.
    """

    selected = Int(0).tag(sync=False)  # the frame number of the selected packet (0: none)

    def __init__(
        self,
        source: Capture | pd.DataFrame | None = None,
        *,
        max_rows: int = 30,
        columns: tuple[str, ...] = DEFAULT_COLUMNS,
        keep: int = 2000,
        hz: float | None = None,
    ) -> None:
        self.max_rows, self.keep = max_rows, keep
        from ..core.batch import empty_frame

        self.rows = empty_frame()
        # Redraws run in the refresher's thread, picks arrive in the kernel's: the flag says
        # "this thread is redrawing", the lock keeps a pick and a redraw from interleaving.
        self._redrawing = threading.local()
        self._lock = threading.RLock()
        self._selected_row: pd.Series | None = None
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
        self.html = w.HTML()
        self.html.add_class("netlab-table-html")
        self.picker = w.Select(options=[], rows=6, layout=w.Layout(width="100%"))
        self.picker.add_class("netlab-table-picker")
        for control in (self.proto, self.search, self.only_alerts, self.columns):
            control.observe(lambda _change: self.render(), names="value")
        self.picker.observe(self._picked, names="value")
        self.columns.add_class("netlab-table-columns")
        options = w.Accordion([self.columns], titles=("Columns",))
        options.selected_index = None
        super().__init__(
            [
                w.HBox([self.proto, self.search, self.only_alerts]),
                self.display_filter,
                self.filter_error,
                options,
                self.html,
                w.HTML("<b>Select a packet</b> (to explain it):"),
                self.picker,
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

    def _picked(self, change: dict[str, Any]) -> None:
        if getattr(self._redrawing, "on", False):
            return  # a redraw moving the list, not a person picking
        with self._lock:
            self.selected = int(change["new"] or 0)
            # kept with the pick: at a high rate the row leaves `rows` within a second
            self._selected_row = self._find(self.selected)

    def _find(self, number: int) -> pd.Series | None:
        if not number or self.rows.empty:
            return None
        hits = self.rows.index[self.rows["number"].to_numpy() == number]
        return self.rows.loc[hits[-1]] if len(hits) else None

    @property
    def selected_row(self) -> pd.Series | None:
        """The selected packet's row (by frame number), or None when nothing is selected."""
        row = self._selected_row
        if row is None or row["number"] != self.selected:
            row = self._selected_row = self._find(self.selected)
        return row

    def refresh(self, update: Update) -> None:
        """Take the new rows (called by the refresher)."""
        self.alert_windows = [(a.window_start, a.window_end) for a in update.alerts]
        if update.rows.empty:
            return
        from ..sources.pcapreader import concat_frames

        parts = [p for p in (self.rows, update.rows) if not p.empty]
        merged = concat_frames(parts) if len(parts) > 1 else parts[0]
        merged.index = pd.Index([*self.rows.index, *update.rows.index][-len(merged) :])
        self.rows = merged.iloc[-self.keep :]
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
        """Redraw the table and the picker."""
        if not self.rows.empty:
            protos = sorted(str(p) for p in self.rows["proto"].dropna().unique())
            options = ["all", *protos]
            if self.proto.value not in options:
                options.append(self.proto.value)
            if list(self.proto.options) != options:
                self.proto.options = options
        shown = self.filtered().iloc[-self.max_rows :].iloc[::-1]
        cols = [c for c in self.columns.value if c in shown.columns] or list(DEFAULT_COLUMNS)
        self.html.value = _html_table(shown, cols)
        picks = [
            (f"#{number}  {src} → {dst}  {info}", int(number))
            for number, src, dst, info in zip(
                shown["number"].tolist(),
                shown["src"].astype(object).fillna("").tolist(),
                shown["dst"].astype(object).fillna("").tolist(),
                shown["info"].tolist(),
                strict=True,
            )
        ]
        # The selection is a frame number and stays on that packet while rows scroll: a
        # selected packet that scrolled out of view stays listed first, marked.
        with self._lock:
            chosen = self.selected
            if chosen and chosen not in {n for _, n in picks}:
                row = self.selected_row
                label = f"#{chosen}  (selected)" + (f"  {row['info']}" if row is not None else "")
                picks.insert(0, (label, chosen))
            self._redrawing.on = True
            try:
                with self.picker.hold_sync():
                    self.picker.options = picks
                    self.picker.value = chosen if chosen else None
            finally:
                self._redrawing.on = False


def _html_table(df: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in df[columns].itertuples(index=False):
        cells = []
        for value in row:
            text = (
                ""
                if value is None or (not isinstance(value, str) and pd.isna(value))
                else str(value)
            )
            if isinstance(value, pd.Timestamp):
                text = value.strftime("%H:%M:%S.%f")
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="netlab-rows"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
