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
        # alerts as vertical rules across the graph (as annotations in Grafana): a scatter of
        # dots pads its scales by the dots' size, which put the rate axis below zero and the
        # time axis before the data
        self.marks = bq.Lines(
            x=np.zeros((0, 2), dtype="datetime64[ms]"),
            y=np.zeros((0, 2)),
            scales=scales,
            colors=["#d62728"],
            stroke_width=2,
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
            # no padding: the axes start where the data does (a rate from zero, time from the
            # first second shown); bqplot pads y by 2.5 % by default, below zero
            padding_x=0.0,
            padding_y=0.0,
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
            # ticks chosen here, at whole seconds and round counts inside the data: bqplot's
            # own spread from the domain's edge, which its marks pad by a pixel (so the first
            # label read 23:59:59 for data from 00:00:00, and the rate axis started below 0)
            self.x_axis.tick_values = time_ticks(first, last)
            self.y_axis.tick_values = count_ticks(self.y_scale.max)
            self.line.x, self.line.y = times, packets
            self.bytes_scale.max = float(max(volume.max() * 1.1, 1.0))
            self.bytes_axis.tick_values = count_ticks(self.bytes_scale.max)
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
            at = np.array([a.time.tz_localize(None) for a in alerts], dtype="datetime64[ms]")
            with self.marks.hold_sync():
                self.marks.x = np.stack([at, at], axis=1)
                self.marks.y = np.tile([0.0, float(self.y_scale.max)], (len(alerts), 1))
                self.marks.colors = ["#d62728"] * len(alerts)
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


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def time_ticks(first: np.datetime64, last: np.datetime64, count: int = 4) -> np.ndarray:
    """About `count` ticks at whole multiples of a round number of seconds in [first, last]."""
    lo = int(np.ceil(first.astype("datetime64[ms]").astype(np.int64) / 1000))
    hi = int(np.floor(last.astype("datetime64[ms]").astype(np.int64) / 1000))
    step = next((s for s in TIME_STEPS if s * count >= hi - lo), TIME_STEPS[-1])
    start = -(-lo // step) * step
    return np.arange(start, hi + 1, step).astype("datetime64[s]").astype("datetime64[ms]")


def count_ticks(top: float, count: int = 3) -> np.ndarray:
    """0 and whole, round values (1, 2 or 5 times a power of ten apart) up to `top`."""
    top = max(top, 1.0)
    raw = top / max(count, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = max(1.0, next(m * power for m in (1, 2, 5, 10) if m * power >= raw))
    return np.arange(0.0, top + step * 1e-9, step)
