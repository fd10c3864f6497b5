"""Sensors: the sensors of a merged capture side by side (one row each)."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from ..core.summary import SENSOR_COLUMNS, sensor_summary
from .grid import DataGrid


class Sensors(w.VBox):  # type: ignore[misc]
    """A row per sensor of the rows on view: packets, bytes, rate, hosts, flows and packets
    with TCP trouble, so sensors compare at a glance (`Capture(["ws://a", "ws://b"])`)."""

    def __init__(self, rows: pd.DataFrame | None = None) -> None:
        self.grid = DataGrid(
            key="row",  # the grid keys rows by an integer: the sensor's place, not shown
            columns=SENSOR_COLUMNS,
            height=22 * 8,
            empty_text="no packets yet: one row per sensor will appear here",
        )
        self.grid.add_class("netlab-sensors-grid")
        note = w.HTML(
            "One row per sensor. Merge several servers with "
            '<code>netlab.Capture(["ws://a:8765/ws", "ws://b:8765/ws"])</code>.'
        )
        super().__init__([self.grid, note])
        self.add_class("netlab-sensors")
        if rows is not None:
            self.show(rows)

    def show(self, rows: pd.DataFrame) -> None:
        """Summarise `rows` by sensor."""
        table = sensor_summary(rows)
        table.insert(0, "row", range(len(table)))
        self.grid.data = table
