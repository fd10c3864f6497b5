"""FlowTable: the flows in a grid with their TCP health; selecting one follows its stream."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import ipywidgets as w
import numpy as np
import pandas as pd

from ..core.stream import Stream
from .grid import DataGrid
from .refresher import Refresher, SelfFed, Update, feed
from .stream_view import StreamView

if TYPE_CHECKING:
    from ..capture import Capture

FLOW_COLUMNS = (
    "flow",
    "proto",
    "src",
    "sport",
    "dst",
    "dport",
    "service",
    "server_name",
    "state",
    "history",
    "packets",
    "bytes",
    "duration",
    "rtt",
    "retransmissions",
    "dup_acks",
    "zero_windows",
    "status",
)


class FlowTable(SelfFed, w.VBox):  # type: ignore[misc]
    """Active flows and the newest `keep_ended` ended ones, busiest first; the selected
    flow's stream below it (client red, server blue), as Wireshark's Conversations window
    with Follow Stream.

    Alone, give it a Capture (it keeps itself live) or a DataFrame of packets (its flows are
    computed once). In a Dashboard, the dashboard's refresher feeds it."""

    def __init__(
        self,
        source: Capture | pd.DataFrame | None = None,
        *,
        follow: Callable[[int], Stream | None] | None = None,
        keep_ended: int = 5000,
        busiest: int = 5000,
        rows: int = 12,
        hz: float | None = None,
    ) -> None:
        self.capture: Capture | None = None
        self.packets: pd.DataFrame | None = None
        self._follow = follow
        self._ended: deque[pd.DataFrame] = deque()
        self._ended_rows = 0
        self.keep_ended = keep_ended
        self.busiest = busiest  # the active flows shown: this many, those with the most bytes
        self.grid = DataGrid(
            key="flow",
            columns=FLOW_COLUMNS,
            tones=flow_tones,
            height=22 * rows,
            empty_text="no flows yet: they appear with the first packets",
        )
        self.grid.sort_by, self.grid.descending = "bytes", True
        self.grid.add_class("netlab-flows-grid")
        self.summary = w.HTML("")
        self.summary.add_class("netlab-flows-summary")
        self.stream_view = StreamView(self._follow_selected)
        self.grid.observe(lambda _c: self.stream_view.follow(), names="selected")
        super().__init__([self.summary, self.grid, self.stream_view])
        self.add_class("netlab-flows")
        self._unsubscribe: Callable[[], None] | None = None
        if isinstance(source, pd.DataFrame):
            from ..core.flow_table import flows

            self.packets = source
            self.show(flows(source))
            source = None
        elif source is not None:
            self.watch(source)
        self.refresher: Refresher | None = feed(self.refresh, source, hz)

    def watch(self, capture: Capture) -> None:
        """Take flows from `capture`: its live table, and the flows it ends (kept here)."""
        self.capture = capture
        self._unsubscribe = capture.subscribe_flows(self._ended_now)

    def _ended_now(self, ended: pd.DataFrame) -> None:
        # the decoder thread calls this: keep it quick, a bounded list of frames
        self._ended.append(ended)
        self._ended_rows += len(ended)
        while self._ended and self._ended_rows - len(self._ended[0]) >= self.keep_ended:
            self._ended_rows -= len(self._ended.popleft())

    def refresh(self, _update: Update) -> None:
        """Redraw from the capture's flow table (called by the refresher)."""
        if self.capture is None:
            return
        flows = self.capture.flows
        active = flows.snapshot(self.busiest)
        ended = list(self._ended)
        self.show(active, ended, active_total=flows.active)

    def show(
        self,
        active: pd.DataFrame,
        ended: Sequence[pd.DataFrame] = (),
        *,
        active_total: int | None = None,
    ) -> None:
        """Show flow rows (`netlab.flows()` columns): `active` ones and `ended` ones (oldest
        first). A flow cut in parts by a timeout shows its newest part. `active_total`: how
        many flows are active, when `active` holds only the busiest of them."""
        parts = [table_rows(e, "ended") for e in ended] + [table_rows(active, "active")]
        parts = [p for p in parts if len(p)]
        table = (
            pd.concat(parts, ignore_index=True)
            if len(parts) > 1
            else (parts[0] if parts else table_rows(active, "active"))
        )
        table = table.drop_duplicates("flow", keep="last") if len(table) else table
        self.grid.data = table
        n_active = int((table["status"] == "active").sum()) if len(table) else 0
        trouble = int((table["retransmissions"] > 0).sum()) if len(table) else 0
        busiest = ""
        if active_total is not None and active_total > len(active):
            busiest = f" (the {len(active):,} busiest of {active_total:,})"
        self.summary.value = (
            f"<b>{len(table):,}</b> flows · {n_active:,} active{busiest} · {trouble:,} with "
            "retransmissions"
        )

    @property
    def selected_flow(self) -> pd.Series | None:
        """The selected flow's row, or None."""
        return self.grid.selected_row

    def _follow_selected(self) -> Stream | None:
        from ..errors import NetlabError
        from ..follow import stream

        flow = self.grid.selected
        if flow is None:
            raise NetlabError("select a flow first: its stream is shown here")
        if self._follow is not None:
            return self._follow(int(flow))
        if self.packets is not None:
            return stream(self.packets, int(flow))
        if self.capture is not None:
            return stream(self.capture.frame.snapshot(), int(flow))
        return None

    def close(self) -> None:
        """Stop hearing of ended flows, then close."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        super().close()


def table_rows(flows: pd.DataFrame, status: str) -> pd.DataFrame:
    """`flows()` rows with the grid's derived columns: packets, bytes (both directions) and
    status."""
    out = flows.copy()
    if not len(out):
        for name in ("packets", "bytes"):
            out[name] = pd.Series(dtype="int64")
        out["status"] = pd.Series(dtype=object)
        return out
    out["packets"] = out["orig_packets"] + out["resp_packets"]
    out["bytes"] = out["orig_bytes"] + out["resp_bytes"]
    out["status"] = status
    return out


def flow_tones(rows: pd.DataFrame) -> Sequence[str]:
    """Trouble first (retransmissions, zero windows: a light red, not the packet list's
    black, which would paint most of a lossy link's table), then by protocol."""
    proto = rows["proto"].astype(object).to_numpy()
    bad = (rows["retransmissions"].to_numpy() > 0) | (rows["zero_windows"].to_numpy() > 0)
    tones: list[str] = np.select(
        [bad, proto == "TCP", proto == "UDP", np.isin(proto, ["ICMP", "ICMPv6"])],
        ["trouble", "tcp", "udp", "icmp"],
        "",
    ).tolist()
    return tones
