"""RateSparkline: the IO graph, packets and bytes per second over the last minutes, in packet
time, with alerts marked on the line."""

from __future__ import annotations

import html
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd

from ..display_filter import DisplayFilter, compile_filter
from ..errors import DisplayFilterError
from .refresher import Refresher, SelfFed, Update, add_seconds, feed, frame_update

if TYPE_CHECKING:
    from ..capture import Capture

NO_TIMES = np.array([], dtype="datetime64[ms]")
# d3 formats, given explicitly: bqplot derives a default from the data's precision, and in
# JupyterLab that produced ".undefinedg" (an invalid format, a flat line, empty labels).
TIME_FORMAT = "%H:%M:%S"
COUNT_FORMAT = ",d"
BYTES_FORMAT = ".2s"  # SI: 1.2M
SERIES_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _human_bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} TB"


class RateSparkline(SelfFed, w.VBox):  # type: ignore[misc]
    """A bqplot line of packets/s, the current rate and bytes/s, and alert markers.

    Alone, give it what to show: a Capture (local or remote; it then keeps itself live) or a
    DataFrame of rows. In a Dashboard, the dashboard's refresher feeds it.
    """

    def __init__(
        self,
        source: Capture | pd.DataFrame | None = None,
        *,
        seconds: int = 120,
        hz: float | None = None,
    ) -> None:
        self.seconds = seconds
        # Both axes in packet time and counts: the domains are set from the data on every
        # refresh (a replayed capture's time is not now; a rate is never below zero).
        self.x_scale = bq.DateScale()
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.line = bq.Lines(
            x=NO_TIMES, y=np.array([], dtype=float), scales=scales, labels=["packets/s"]
        )
        self.line.colors = ["#1f77b4"]
        # bytes/s on a scale of its own (right axis), as Wireshark's IO graph plots both
        self.bytes_scale = bq.LinearScale(min=0.0, max=1.0)
        self.bytes_line = bq.Lines(
            x=NO_TIMES,
            y=np.array([], dtype=float),
            scales={"x": self.x_scale, "y": self.bytes_scale},
            colors=["#ff7f0e"],
            opacities=[0.7],
            labels=["bytes/s"],
        )
        self.marks = bq.Scatter(
            x=NO_TIMES,
            y=np.array([], dtype=float),
            scales=scales,
            colors=["#d62728"],
            default_size=64,
            visible=False,
        )
        self.x_axis = bq.Axis(scale=self.x_scale, num_ticks=4, tick_format=TIME_FORMAT)
        self.y_axis = bq.Axis(
            scale=self.y_scale, side="left", num_ticks=3, tick_format=COUNT_FORMAT
        )
        self.bytes_axis = bq.Axis(
            scale=self.bytes_scale, side="right", num_ticks=3, tick_format=BYTES_FORMAT
        )
        self.figure = bq.Figure(
            marks=[self.bytes_line, self.line, self.marks],
            axes=[self.x_axis, self.y_axis, self.bytes_axis],
            layout=w.Layout(height="180px", width="100%"),
            fig_margin={"top": 10, "bottom": 30, "left": 60, "right": 60},
        )
        # more lines, one per display filter (packets/s of the rows it matches), as the IO
        # graph's graphs in Wireshark; made here, hidden: the refresher thread only fills them
        self.filter_lines = [
            bq.Lines(
                x=NO_TIMES,
                y=np.array([], dtype=float),
                scales=scales,
                colors=[colour],
                visible=False,
                line_style="dashed",
            )
            for colour in SERIES_COLOURS
        ]
        self.filters: list[tuple[DisplayFilter, OrderedDict[int, list[int]]]] = []
        self._frame_rows: pd.DataFrame | None = None
        self.series_filter = w.Text(
            placeholder="add a line: a display filter, e.g. tcp.analysis.flags (Enter)",
            continuous_update=False,
            layout=w.Layout(width="420px"),
        )
        self.series_filter.add_class("netlab-io-filter")
        self.series_filter.observe(self._add_series, names="value")
        self.clear_button = w.Button(description="Clear lines", layout=w.Layout(width="auto"))
        self.clear_button.on_click(lambda _b: self.clear_series())
        self.series_error = w.HTML("")
        self.series_error.add_class("netlab-io-filter-error")
        self.legend = w.HTML("")
        self.legend.add_class("netlab-io-legend")
        self.figure.marks = [self.bytes_line, *self.filter_lines, self.line, self.marks]
        self.label = w.HTML("no packets yet")
        self.label.add_class("netlab-rate")
        super().__init__(
            [
                w.HBox([self.label, self.legend], layout=w.Layout(grid_gap="16px")),
                self.figure,
                w.HBox([self.series_filter, self.clear_button]),
                self.series_error,
            ]
        )
        self.add_class("netlab-sparkline")
        self.refresher: Refresher | None = feed(self.refresh, source, hz)

    def add_series(self, expression: str) -> None:
        """Draw one more line: packets/s of the rows `expression` (a display filter) matches,
        from now on (a DataFrame's rows at once). At most four; the oldest goes first.
        Raises DisplayFilterError for an invalid filter."""
        shown = compile_filter(expression)
        slots: OrderedDict[int, list[int]] = OrderedDict()
        if self._frame_rows is not None:
            add_seconds(slots, self._frame_rows[shown.mask(self._frame_rows)])
        self.filters = [*self.filters, (shown, slots)][-len(self.filter_lines) :]
        self._legend()
        if self._frame_rows is not None:
            self.refresh(frame_update(self._frame_rows))

    def clear_series(self) -> None:
        """Remove the display-filter lines."""
        self.filters = []
        for line in self.filter_lines:
            line.visible = False
        self._legend()

    def _add_series(self, change: dict[str, Any]) -> None:
        text = str(change["new"]).strip()
        if not text:
            return
        try:
            self.add_series(text)
        except DisplayFilterError as exc:
            self.series_error.value = f"<pre class='netlab-error'>{html.escape(str(exc))}</pre>"
            return
        self.series_error.value = ""
        self.series_filter.value = ""

    def _legend(self) -> None:
        self.legend.value = " ".join(
            f'<span style="color:{colour}">- - {html.escape(str(f))}</span>'
            for (f, _), colour in zip(self.filters, SERIES_COLOURS, strict=False)
        )

    def refresh(self, update: Update) -> None:
        """Redraw from the refresher's per-second rates."""
        if update.stats is None:
            self._frame_rows = update.rows  # a DataFrame shown once: lines added later use it
        else:
            for shown, slots in self.filters:
                try:
                    add_seconds(slots, update.rows[shown.mask(update.rows)])
                except Exception:  # noqa: BLE001, S112 - one bad line must not stop the graph
                    continue
        rates = update.rates
        if rates.empty:
            return
        rates = rates.iloc[-self.seconds :]
        times = rates["time"].dt.tz_localize(None).to_numpy().astype("datetime64[ms]")
        packets = rates["packets"].to_numpy(dtype=float)
        volume = rates["bytes"].to_numpy(dtype=float)
        first, last = times[0], times[-1]
        if last == first:
            last = first + np.timedelta64(1, "s")
        with self.figure.hold_sync():
            self.x_scale.min, self.x_scale.max = first, last
            self.y_scale.max = float(max(packets.max() * 1.1, 1.0))
            self.line.x, self.line.y = times, packets
            self.bytes_scale.max = float(max(volume.max() * 1.1, 1.0))
            self.bytes_line.x, self.bytes_line.y = times, volume
            seconds = times.astype("datetime64[s]").astype(np.int64)
            for k, line in enumerate(self.filter_lines):
                if k < len(self.filters):
                    slots = self.filters[k][1]
                    counts = [float(slots.get(int(t), (0, 0))[0]) for t in seconds.tolist()]
                    line.x, line.y, line.visible = times, np.array(counts), True
        start = rates["time"].iloc[0]
        alerts = [a for a in update.alerts if a.time >= start]
        if alerts:
            lookup = dict(zip(rates["time"], rates["packets"], strict=True))
            with self.marks.hold_sync():
                self.marks.x = np.array(
                    [a.time.tz_localize(None) for a in alerts], dtype="datetime64[ms]"
                )
                self.marks.y = [float(lookup.get(a.time.floor("s"), 0)) for a in alerts]
                self.marks.visible = True
        s = update.stats
        if s is None:  # a DataFrame: the mean over what it spans
            span = max(len(rates), 1)
            pps, bps = float(rates["packets"].sum()) / span, float(rates["bytes"].sum()) / span
        else:
            pps, bps = s.packets_per_second, s.bytes_per_second
        self.label.value = (
            f"<b>{pps:,.0f}</b> packets/s · <b>{_human_bytes(bps)}/s</b> · "
            f"{len(alerts)} alert(s) in view"
        )

    @staticmethod
    def series(rates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(times, packets) as the line draws them (for notebooks and tests)."""
        return rates["time"].to_numpy(), rates["packets"].to_numpy(dtype=float)
