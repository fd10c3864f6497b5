"""DataGrid: a virtualised, sortable table of a DataFrame; the browser gets only what it shows.

The kernel keeps the rows and their sort order; the view (static/grid.js) reports its scroll
offset and height, and receives the formatted cells of those rows alone. So a frame of 100,000
rows costs the browser what 30 do, and a refresh formats a few dozen cells, not the frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import pandas as pd
from traitlets import Bool, Int, List, Unicode, observe, validate

STATIC = Path(__file__).with_name("static")
TIME_FORMAT = "%H:%M:%S.%f"

Tones = Callable[[pd.DataFrame], Sequence[str]]


class DataGrid(anywidget.AnyWidget):
    """Rows of a DataFrame, `key` identifying each (a frame or flow number); click a row or
    move with the arrow keys to select it; click a header to sort by that column."""

    _esm = STATIC / "grid.js"
    _css = STATIC / "netlab.css"  # the grid and the dashboard: one stylesheet

    columns = List(Unicode()).tag(sync=True)
    widths = List(Int()).tag(sync=True)  # in characters, per column
    total = Int(0).tag(sync=True)  # rows in the grid
    offset = Int(0).tag(sync=True)  # the first row in view (the browser sets it on scroll)
    visible = Int(16).tag(sync=True)  # rows in view (the browser sets it from its height)
    window: List[list[Any]] = List().tag(
        sync=True
    )  # [key, tone, cell, ...] for rows offset.. in view
    window_offset = Int(0).tag(sync=True)
    sort_by = Unicode("").tag(sync=True)  # "" keeps the rows' own order
    descending = Bool(False).tag(sync=True)
    selected = Int(None, allow_none=True).tag(sync=True)  # the selected row's key
    height = Int(360).tag(sync=True)  # px
    empty_text = Unicode("no rows").tag(sync=True)

    def __init__(
        self,
        data: pd.DataFrame | None = None,
        *,
        key: str,
        columns: Sequence[str] | None = None,
        newest_first: bool = False,
        tones: Tones | None = None,
        **kwargs: Any,
    ) -> None:
        self.key = key
        self.newest_first = newest_first
        self.tones = tones
        self._lock = threading.RLock()
        self._data = pd.DataFrame()
        self._order = np.zeros(0, dtype=np.intp)
        self._keys = np.zeros(0, dtype=np.int64)
        super().__init__(**kwargs)
        if columns is not None:
            self.columns = list(columns)
        self.on_msg(self._message)
        if data is not None:
            self.data = data

    @property
    def data(self) -> pd.DataFrame:
        """The rows (all of them, in their own order)."""
        return self._data

    @data.setter
    def data(self, frame: pd.DataFrame) -> None:
        with self._lock:
            self._data = frame
            if not self.columns:
                self.columns = [str(c) for c in frame.columns]
            self._sort()

    @validate("offset")
    def _clamp_offset(self, proposal: dict[str, Any]) -> int:
        return int(max(0, min(int(proposal["value"]), max(0, self.total - 1))))

    @observe("offset", "visible")
    def _moved(self, _change: dict[str, Any]) -> None:
        self._send_window()

    @observe("selected")
    def _reveal(self, _change: dict[str, Any]) -> None:
        # A click reaches the kernel after the rows it saw: on a busy machine newer rows may
        # have pushed the clicked one out of the window by then. Bring it back into view
        # (then the view holds it, see _sort).
        with self._lock:
            pos = self.position(self.selected)
            if pos is None or self.offset <= pos < self.offset + self.visible:
                return
            self.offset = pos if pos < self.offset else pos - self.visible + 1

    @observe("sort_by", "descending")
    def _resorted(self, _change: dict[str, Any]) -> None:
        with self._lock:
            self._sort()

    @observe("columns")
    def _columns_changed(self, _change: dict[str, Any]) -> None:
        with self._lock:
            if self.sort_by and self.sort_by not in self.columns:
                self.sort_by = ""
            self.widths = [_width(self._data, c) for c in self.columns]
            self._send_window()

    def _sort(self) -> None:
        # What the person looks at stays where it is on screen when rows come or go: the
        # selected row, else (scrolled away from the top) the top row. At the top with nothing
        # selected, the view follows the rows' order (the newest, with newest_first).
        anchor = self.selected if self.position(self.selected) is not None else None
        if anchor is None and self.offset > 0 and self.offset < len(self._keys):
            anchor = int(self._keys[self.offset])
        was = self.position(anchor)
        frame, n = self._data, len(self._data)
        if self.sort_by and self.sort_by in frame.columns:
            order = sort_order(frame[self.sort_by], self.descending)
        else:
            order = np.arange(n - 1, -1, -1) if self.newest_first else np.arange(n)
        self._order = order
        self._keys = (
            frame[self.key].to_numpy(dtype=np.int64, na_value=-1)[order]
            if n
            else np.zeros(0, dtype=np.int64)
        )
        if len(self.widths) != len(self.columns) or (n and not self.total):
            # measured once (and when the columns change): the columns keep their places
            # while rows stream in, and a refresh formats only the rows in view
            self.widths = [_width(frame, c) for c in self.columns]
        self.total = n
        now = self.position(anchor)
        if was is not None and now is not None and now != was:
            self.offset = max(0, self.offset + now - was)  # (sends the window)
        self._send_window()

    def _send_window(self) -> None:
        with self._lock:
            stop = min(self.total, self.offset + self.visible + 1)
            picked = self._order[self.offset : stop]
            rows = self._data.iloc[picked]
            cells = format_cells(rows, [c for c in self.columns if c in rows.columns])
            tones = list(self.tones(rows)) if self.tones and len(rows) else [""] * len(rows)
            keys = self._keys[self.offset : stop].tolist()
            with self.hold_sync():
                self.window = [[k, t, *c] for k, t, c in zip(keys, tones, cells, strict=True)]
                self.window_offset = self.offset

    def _message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("move"), int):
            self.move(content["move"])

    def move(self, step: int) -> None:
        """Select the row `step` rows below (negative: above) the selected one, scrolling
        it into view, as the arrow keys do; nothing selected starts from the first row."""
        with self._lock:
            if not self.total:
                return
            at = self.position(self.selected)
            pos = 0 if at is None else int(np.clip(at + step, 0, self.total - 1))
            self.selected = int(self._keys[pos])
            if pos < self.offset:
                self.offset = pos
            elif pos >= self.offset + self.visible:
                self.offset = pos - self.visible + 1

    def position(self, key: int | None) -> int | None:
        """Where the row `key` is in the grid's order (None when it is not there)."""
        if key is None:
            return None
        hits = np.flatnonzero(self._keys == key)
        return int(hits[0]) if len(hits) else None

    @property
    def selected_row(self) -> pd.Series | None:
        """The selected row, or None (nothing selected, or the row has left the grid)."""
        with self._lock:
            pos = self.position(self.selected)
            return None if pos is None else self._data.iloc[int(self._order[pos])]

    def shown(self) -> pd.DataFrame:
        """The rows in view, as the browser shows them."""
        with self._lock:
            stop = min(self.total, self.offset + self.visible + 1)
            return self._data.iloc[self._order[self.offset : stop]]


def sort_order(column: pd.Series, descending: bool) -> np.ndarray:
    """Row positions sorting `column` (stable; missing values last either way)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # by the categories' text, through their codes: no per-row strings
        ranks = np.argsort(np.argsort(column.cat.categories.astype(str).to_numpy(), kind="stable"))
        codes = column.cat.codes.to_numpy()
        values = np.where(codes >= 0, ranks[codes], -1).astype(np.int64)
        missing = codes < 0
    elif pd.api.types.is_datetime64_any_dtype(column.dtype):
        values, missing = column.array.asi8, column.isna().to_numpy()
    elif pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        missing = column.isna().to_numpy()
        values = column.to_numpy(dtype=np.float64, na_value=0.0)
    else:
        text = column.astype(str)
        missing = column.isna().to_numpy()
        values = pd.factorize(text, sort=True)[0]
    if descending:
        values = -values if values.dtype != np.uint64 else values.max() - values
    order = np.lexsort((values, missing))  # missing (True) after present, then by value
    return order.astype(np.intp)


def format_cells(rows: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """Each row's cells as text (times of day to the microsecond, missing values empty)."""
    shown = [_column_text(rows[c]) for c in columns]
    return [list(cells) for cells in zip(*shown, strict=True)] if shown else [[]] * len(rows)


def _column_text(column: pd.Series) -> list[str]:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return [t.strftime(TIME_FORMAT) if t is not pd.NaT else "" for t in column]
    if pd.api.types.is_float_dtype(column.dtype):
        return ["" if pd.isna(v) else f"{v:.6g}" for v in column.tolist()]
    values = column.astype(object).tolist()
    return ["" if v is None or v is pd.NA or v != v else str(v) for v in values]


def _width(frame: pd.DataFrame, column: str) -> int:
    """A column's width in characters: the name, or the widest of the first values."""
    if column not in frame.columns or not len(frame):
        return max(4, len(column) + 2)
    sample = _column_text(frame[column].iloc[:200])
    widest = max((len(s) for s in sample), default=0)
    return int(min(max(len(column), widest, 2) + 2, 72))  # + the cell's padding
