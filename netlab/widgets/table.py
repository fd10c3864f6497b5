"""PacketTable: the newest rows, filtered, with a row to pick for explaining."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd
from traitlets import Int

from ..core.schema import COLUMN_NAMES
from .refresher import Update

DEFAULT_COLUMNS = ("number", "ts", "src", "dst", "proto", "sport", "dport", "length", "info")


class PacketTable(w.VBox):  # type: ignore[misc]
    """Newest `max_rows` rows; filter by protocol, text, or rows inside alert windows."""

    selected = Int(0).tag(sync=False)  # the version of the selected row (0: none)

    def __init__(
        self,
        rows: pd.DataFrame | None = None,
        *,
        max_rows: int = 30,
        columns: tuple[str, ...] = DEFAULT_COLUMNS,
        keep: int = 2000,
    ) -> None:
        self.max_rows, self.keep = max_rows, keep
        from ..core.schema import empty_frame

        self.rows = rows.iloc[-keep:] if rows is not None else empty_frame()
        self.alert_windows: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        self.proto = w.Dropdown(
            options=["all"], value="all", description="Protocol", layout=w.Layout(width="200px")
        )
        self.search = w.Text(
            placeholder="filter: address, port, name, text…", layout=w.Layout(width="280px")
        )
        self.search.add_class("netlab-table-search")
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
                options,
                self.html,
                w.HTML("<b>Select a packet</b> (to explain it):"),
                self.picker,
            ]
        )
        self.add_class("netlab-table")
        self.render()

    def _picked(self, change: dict[str, Any]) -> None:
        self.selected = int(change["new"] or 0)

    @property
    def selected_row(self) -> pd.Series | None:
        """The selected row, if it is still shown."""
        if not self.selected or self.selected not in self.rows.index:
            return None
        position = self.rows.index.get_loc(self.selected)
        assert isinstance(position, int)
        return self.rows.iloc[position]

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
            (f"#{number}  {src} → {dst}  {info}", int(version))
            for version, number, src, dst, info in zip(
                shown.index.tolist(),
                shown["number"].tolist(),
                shown["src"].astype(object).fillna("").tolist(),
                shown["dst"].astype(object).fillna("").tolist(),
                shown["info"].tolist(),
                strict=True,
            )
        ]
        keep = self.picker.value
        self.picker.options = picks
        if keep in [v for _, v in picks]:
            self.picker.value = keep


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
