"""RateSparkline: packets per second over the last minutes, with alerts marked on the line."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd

from .refresher import Update


def _human_bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} TB"


class RateSparkline(w.VBox):  # type: ignore[misc]
    """A bqplot line of packets/s, the current rate and bytes/s, and alert markers."""

    def __init__(self, seconds: int = 120) -> None:
        self.seconds = seconds
        x, y = bq.DateScale(), bq.LinearScale(min=0)
        now = np.datetime64("now")
        self.line = bq.Lines(x=[now], y=[0.0], scales={"x": x, "y": y}, colors=["#1f77b4"])
        self.marks = bq.Scatter(
            x=[now],
            y=[0.0],
            scales={"x": x, "y": y},
            colors=["#d62728"],
            default_size=64,
            visible=False,
        )
        self.figure = bq.Figure(
            marks=[self.line, self.marks],
            axes=[bq.Axis(scale=x, num_ticks=4), bq.Axis(scale=y, side="left", num_ticks=3)],
            layout=w.Layout(height="180px", width="100%"),
            fig_margin={"top": 10, "bottom": 30, "left": 50, "right": 10},
        )
        self.label = w.HTML("no packets yet")
        self.label.add_class("netlab-rate")
        super().__init__([self.label, self.figure])
        self.add_class("netlab-sparkline")

    def refresh(self, update: Update) -> None:
        """Redraw from the refresher's per-second rates."""
        rates = update.rates
        if rates.empty:
            return
        rates = rates.iloc[-self.seconds :]
        times = rates["time"].dt.tz_localize(None).to_numpy()
        with self.line.hold_sync():
            self.line.x = times
            self.line.y = rates["packets"].to_numpy(dtype=float)
        start = rates["time"].iloc[0]
        alerts = [a for a in update.alerts if a.time >= start]
        if alerts:
            lookup = dict(zip(rates["time"], rates["packets"], strict=True))
            with self.marks.hold_sync():
                self.marks.x = np.array(
                    [a.time.tz_localize(None) for a in alerts], dtype="datetime64[ns]"
                )
                self.marks.y = [float(lookup.get(a.time.floor("s"), 0)) for a in alerts]
                self.marks.visible = True
        s = update.stats
        self.label.value = (
            f"<b>{s.packets_per_second:,.0f}</b> packets/s · "
            f"<b>{_human_bytes(s.bytes_per_second)}/s</b> · "
            f"{len(alerts)} alert(s) in view"
        )

    @staticmethod
    def series(rates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(times, packets) as the line draws them (for notebooks and tests)."""
        return rates["time"].to_numpy(), rates["packets"].to_numpy(dtype=float)
