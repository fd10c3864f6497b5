"""Dashboard: every widget on one capture, a refresher, and a heartbeat from the browser.

Voilà 0.5 leaks a kernel per page view (its shutdown beacon is refused for lack of an XSRF
token) and a kernel whose threads keep sending widget updates is never culled. So the page
proves it is open: a hidden Play widget ticks in the browser every few seconds. When the ticks
stop (tab closed, browser gone), the dashboard stops its capture and refresher; the kernel
goes idle and the culler `netlab dashboard` configures shuts it down. No XSRF check is relaxed.
"""

from __future__ import annotations

import html
import os
import threading
import time
from typing import Any

import ipywidgets as w

from ..capture import Capture
from ..config import Settings
from ..core.stream import Stream
from ..errors import NetlabError
from ..follow import stream
from .alert_list import AlertList
from .alerts import AlertBanner
from .controls import CaptureControls
from .detail import PacketDetail
from .explain import ExplainPanel
from .flow_table import FlowTable
from .protocols import ProtocolHierarchy
from .refresher import Refresher, Update
from .sensors import Sensors
from .sparkline import RateSparkline
from .stream_view import StreamView
from .table import PacketTable
from .talkers import Talkers

TABS = ("Packets", "Flows", "Talkers", "Protocols", "Alerts", "Sensors")
SUMMARY_EVERY = 1.0  # seconds between recounts of the talkers and protocols on view


def default_source(settings: Settings | None = None) -> tuple[str, str]:
    """(source, sentence for the banner): NETLAB_SOURCE, else live if permitted, else the demo."""
    from ..data import DEMO_PCAP
    from ..sources.interfaces import capture_permission, interfaces

    settings = settings or Settings.load()
    if settings.source == "demo":
        return str(DEMO_PCAP), "Demo capture replayed in a loop (NETLAB_SOURCE=demo)"
    if settings.source:
        return settings.source, f"Source: {settings.source} (NETLAB_SOURCE)"
    try:
        up = [i.name for i in interfaces() if i.up and not i.loopback and i.name != "any"]
        allowed, why = capture_permission(up[0]) if up else (False, "no interface is up")
    except Exception as exc:  # noqa: BLE001 - any failure means: show the demo instead
        allowed, why, up = False, str(exc), []
    if allowed:
        return up[0], f"Live capture on {up[0]}"
    return str(DEMO_PCAP), (
        "Demo capture replayed in a loop: live capture is not available "
        f"here ({why.split('. To fix')[0]}). Run scripts/setcap.sh, or set "
        "NETLAB_SOURCE to a capture file or a ws:// netlab server."
    )


class Dashboard(w.VBox):  # type: ignore[misc]
    """An analyst's workbench on one capture: a header (source, capture filter, rates, drops,
    alerts), the IO graph, then tabs: Packets (grid, display filter, the selected packet's
    layers, its stream, explain), Flows (with TCP health; the selected one's stream),
    Talkers, Protocols (hierarchy), Alerts (with evidence, explained on demand) and Sensors
    (a merged capture's sensors side by side)."""

    def __init__(
        self,
        capture: Capture,
        *,
        note: str = "",
        hz: float | None = None,
        idle_timeout: float | None = None,
        own_capture: bool = True,
    ) -> None:
        self._closed = threading.Event()
        self.capture = capture
        self.own_capture = own_capture
        settings = capture.settings
        self.idle_timeout = (
            idle_timeout
            if idle_timeout is not None
            else float(os.environ.get("NETLAB_DASHBOARD_IDLE", "90"))
        )
        self.table = PacketTable(max_rows=14)
        self.sparkline = RateSparkline()
        self.alerts = AlertBanner()
        self.controls = CaptureControls(capture, live=False)
        self.explain = ExplainPanel(
            lambda: self.table.selected_row,
            lambda: capture.alerts[-1] if capture.alerts else None,
            lambda: capture.frame.snapshot(),
            settings,
        )
        self.detail = PacketDetail()
        self.stream_view = StreamView(self._follow_selected)
        self.flows = FlowTable()
        self.flows.watch(capture)  # its live table, and the flows it ends
        self.talkers = Talkers()
        self.protocols = ProtocolHierarchy()
        self.sensors = Sensors()
        self.alert_list = AlertList(lambda: capture.frame.snapshot(), settings)
        self._summarised = 0.0
        # the selected packet's layers, dissected from the bytes the capture keeps
        self.table.observe(
            lambda _c: self.detail.show_row(self.table.selected_row), names="selected"
        )
        note = note or f"Source: {capture.source.description}"
        self.banner = banner = w.HTML(
            f'<div class="netlab-banner"><b>netlab</b> · {html.escape(note)}</div>'
        )
        banner.add_class("netlab-source-banner")
        # The heartbeat: the browser advances this every 2 s while the page is open.
        self.heartbeat = w.Play(
            interval=2000,
            max=10**9,
            repeat=True,
            playing=False,  # started by _watch: the timer only starts on a false->true change
            show_repeat=False,
            # shown (1 px, invisible): a view that is not displayed runs no timer
            layout=w.Layout(visibility="hidden", height="1px", width="1px"),
        )
        self.heartbeat.observe(self._beat, names="value")
        self._last_beat = time.monotonic()
        self._beats = 0
        self._last_kick = 0.0
        packets = w.VBox([self.table, self.detail, self.stream_view, self.explain])
        packets.add_class("netlab-tab-packets")
        self.tabs = w.Tab(
            children=[
                packets,
                self.flows,
                self.talkers,
                self.protocols,
                self.alert_list,
                self.sensors,
            ],
            titles=TABS,
        )
        self.tabs.add_class("netlab-tabs")
        self.tabs.observe(lambda _c: self._fill_tab(), names="selected_index")
        header = w.VBox([banner, self.controls, self.alerts])
        header.add_class("netlab-header")
        super().__init__([header, self.sparkline, self.tabs, self.heartbeat])
        self.add_class("netlab-dashboard")
        # every new row reaches the table (which keeps its newest `keep`)
        self.refresher = Refresher(capture, hz=hz or settings.refresh_hz, max_rows=self.table.keep)
        self.refresher.targets += [
            self.table.refresh,
            self.sparkline.refresh,
            self.alerts.refresh,
            self.controls.refresh,
            self._tab_refresh,
            self._watch,
        ]
        if not capture.running:
            capture.start()
        self.refresher.start()

    def _tab_refresh(self, update: Update) -> None:
        """Feed the tab on view (the others wait until they are opened): flows and alerts
        every tick, talkers and protocols at most once a second (they read every kept row)."""
        tab = TABS[self.tabs.selected_index or 0]
        if tab == "Flows":
            self.flows.refresh(update)
        elif tab == "Alerts":
            self.alert_list.refresh(update)
        elif tab in ("Talkers", "Protocols", "Sensors"):
            now = time.monotonic()
            if now - self._summarised >= SUMMARY_EVERY:
                self._fill_tab()

    def _fill_tab(self) -> None:
        """Fill the tab on view now (it has just been opened, or its recount is due)."""
        self._summarised = time.monotonic()
        tab = TABS[self.tabs.selected_index or 0]
        rows = self.table.rows
        none = rows.iloc[:0]
        if tab == "Talkers":
            self.talkers.show(rows)
        elif tab == "Protocols":
            self.protocols.show(rows)
        elif tab == "Sensors":
            self.sensors.show(rows)
        elif tab == "Flows":
            self.flows.refresh(Update(none, None, [], none, 0))
        elif tab == "Alerts":
            self.alert_list.refresh(Update(none, None, list(self.capture.alerts), none, 0))

    def _follow_selected(self) -> Stream | None:
        """The stream of the selected packet's flow, from the capture's frame and kept bytes."""
        row = self.table.selected_row
        if row is None:
            raise NetlabError("select a packet first: its flow is the stream followed")
        return stream(self.capture.frame.snapshot(), row)

    @classmethod
    def for_source(cls, source: str | None = None, **options: Any) -> Dashboard:
        """A dashboard on `source` (default: NETLAB_SOURCE, live if permitted, else the demo)."""
        settings = Settings.load()
        note = options.pop("note", "")
        if source is None:
            source, note = default_source(settings)
        is_file = os.path.exists(source)
        capture = Capture(source, speed=1.0, loop=is_file, settings=settings)
        return cls(capture, note=note or f"Source: {source}", **options)

    def _beat(self, _change: dict[str, Any]) -> None:
        self._last_beat = time.monotonic()
        self._beats += 1

    def _watch(self, _update: Any) -> None:
        now = time.monotonic()
        if now - self._last_beat > 3 and now - self._last_kick > 3:
            # (Re)start the browser's timer: the page may have rendered after the last kick.
            self._last_kick = now
            self.heartbeat.playing = False
            self.heartbeat.playing = True
        if self.idle_timeout and now - self._last_beat > self.idle_timeout:
            # Nobody has been looking for a while: stop producing updates so the kernel can
            # go idle and be culled. (Runs in the refresher thread, which then ends.)
            threading.Thread(target=self.close, name="netlab-dashboard-close", daemon=True).start()

    def close(self) -> None:
        """Stop the refresher, (if it owns it) the capture, and close the widget and its
        children; idempotent."""
        closed = getattr(self, "_closed", None)
        if closed is None or closed.is_set():
            return
        closed.set()
        refresher = getattr(self, "refresher", None)  # None: __init__ failed before it
        if refresher is not None:
            refresher.close()
        if self.own_capture:
            self.capture.close()
        for child in self.children:
            _close_tree(child)
        super().close()


def _close_tree(widget: w.Widget) -> None:
    """Close a widget and every widget inside it (ipywidgets closes only the one asked)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
