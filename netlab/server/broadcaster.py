"""One capture to N WebSocket clients, each with its own bounded queue.

Messages are serialised once and the same text goes to every client. A client whose queue is
full loses messages (counted and told in its next message) and is disconnected when it stays
behind; it never slows the capture or the other clients.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..archive import default_sensor
from ..capture import Capture
from ..capture.subscription import Subscription
from ..core.alerts import Alert
from ..core.batch import Batch
from ..core.wire import rows_json
from ..display_filter import DisplayFilter
from ..errors import DisplayFilterError

CLIENT_QUEUE = 64  # messages waiting for one client
MAX_BEHIND = 256  # messages a client may lose in a row before it is disconnected


def stats_dict(capture: Capture) -> dict[str, Any]:
    """A capture's counters as JSON-ready values."""
    s = capture.stats
    archive = capture.archive
    return {
        "sensor": default_sensor(capture.settings.sensor),
        "source": s.source,
        "filter": s.filter,
        "started": s.started.isoformat() if s.started else None,
        "running": s.running,
        "received": s.received,
        "decoded": s.decoded,
        "dropped_kernel": s.dropped_kernel,
        "dropped_netlab": s.dropped_netlab,
        "arrived": s.arrived,
        "packets_per_second": round(s.packets_per_second, 1),
        "bytes_per_second": round(s.bytes_per_second, 1),
        "subscriber_drops": s.subscriber_drops,
        "rows": len(capture.frame),
        "flows_active": capture.flows.active,
        "flows_ended": capture.flows.ended,
        "flows_evicted": capture.flows.evicted,
        "version": capture.frame.version,
        "problems": list(s.problems),
        "archive": None
        if archive is None
        else {
            "root": str(archive.root),
            "written": dict(archive.written),
            "files": archive.files,
            "pending": archive.pending,
            "dropped": archive.dropped,
        },
    }


@dataclass(eq=False)  # identity, so clients can live in a set
class Client:
    """One connected WebSocket client."""

    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: int = 0  # messages lost since the last one delivered
    behind: int = 0  # messages lost in a row
    disconnect: asyncio.Event = field(default_factory=asyncio.Event)
    display_filter: DisplayFilter | None = None  # only the rows it matches (?filter=)


class Broadcaster:
    """Fans a capture's rows, alerts, stats and settings out to WebSocket clients.

    Each decoded batch is encoded as it arrives (in the subscription's thread, so the cost is
    spread); the event loop joins what is pending into one message at most every `interval`
    seconds. A quiet capture's rows go out at once; a busy one's are paced. Clients with a
    display filter get only the rows it matches: each distinct filter is evaluated and
    encoded once per batch, however many clients share it.
    """

    def __init__(
        self, capture: Capture, loop: asyncio.AbstractEventLoop, interval: float = 0.05
    ) -> None:
        self.capture = capture
        self.loop = loop
        self.clients: set[Client] = set()
        self.sent_batches = 0
        self._sub: Subscription | None = None
        self._unalert: Callable[[], None] | None = None
        self._unflows: Callable[[], None] | None = None
        self._interval = interval
        # encoded rows (JSON array texts without brackets), per display filter (None: all)
        self._pending: dict[str | None, list[str]] = {}
        self._filters: dict[str, tuple[DisplayFilter, int]] = {}  # text -> (filter, clients)
        self._filters_lock = threading.Lock()  # read in the subscription's thread
        self._pending_version = 0
        self._flush_at: asyncio.TimerHandle | None = None
        self._last_flush = 0.0

    def add(self, client: Client) -> None:
        """A client joins (event-loop thread)."""
        self.clients.add(client)
        f = client.display_filter
        if f is not None:
            with self._filters_lock:
                _, count = self._filters.get(str(f), (f, 0))
                self._filters[str(f)] = (f, count + 1)

    def discard(self, client: Client) -> None:
        """A client leaves (event-loop thread); idempotent."""
        if client not in self.clients:
            return
        self.clients.discard(client)
        f = client.display_filter
        if f is not None:
            with self._filters_lock:
                _, count = self._filters[str(f)]
                if count <= 1:
                    del self._filters[str(f)]
                else:
                    self._filters[str(f)] = (f, count - 1)

    def start(self) -> None:
        """Subscribe to the capture."""
        self._sub = self.capture.subscribe_batches(self._on_batch, maxsize=256)
        self._unalert = self.capture.on_alert(self._on_alert)
        self._unflows = self.capture.subscribe_flows(self._on_flows)

    def stop(self) -> None:
        """Unsubscribe and tell every client to go."""
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if self._unalert is not None:
            self._unalert()
            self._unalert = None
        if self._unflows is not None:
            self._unflows()
            self._unflows = None
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        for client in list(self.clients):
            client.disconnect.set()

    def _on_batch(self, batch: Batch) -> None:  # runs in the subscription's thread
        if not len(batch):
            return
        texts: dict[str | None, str] = {None: rows_json(batch)[1:-1]}
        with self._filters_lock:
            filters = [f for f, _ in self._filters.values()]
        if filters:
            frame = batch.to_frame()
            # the capture's packet store: a filter also matches packets inside tunnels
            frame.attrs.update(self.capture.frame.attrs)
            for f in filters:
                try:
                    picked = np.flatnonzero(f.mask(frame))
                except DisplayFilterError:  # checked when the client came; never its rows
                    continue
                texts[str(f)] = rows_json(batch.take(picked))[1:-1] if len(picked) else ""
        last_version = batch.first_version + len(batch) - 1
        try:
            self.loop.call_soon_threadsafe(self._add_rows, texts, last_version)
        except RuntimeError:
            pass  # the event loop is closing

    def _add_rows(self, texts: dict[str | None, str], version: int) -> None:  # event loop
        for key, rows in texts.items():
            if rows:
                self._pending.setdefault(key, []).append(rows)
        self._pending_version = version
        if self._flush_at is None:
            due = max(self.loop.time(), self._last_flush + self._interval)
            self._flush_at = self.loop.call_at(due, self._flush)

    def _flush(self) -> None:  # event-loop thread
        self._flush_at = None
        self._last_flush = self.loop.time()
        if not self._pending:
            return
        # One text for all clients of a filter; missing fields are left out of each row (most
        # rows have no VLAN, DNS name, ...), and clients read an absent field as null.
        pending, self._pending = self._pending, {}
        self.sent_batches += 1
        for key, parts in pending.items():
            rows = ",".join(parts)
            text = f'{{"type":"packets","version":{self._pending_version},"rows":[{rows}]}}'
            self.publish(text, only=key)

    def _on_flows(self, ended: pd.DataFrame) -> None:  # runs in the decoder thread
        rows = ended.to_json(orient="records", date_format="iso", date_unit="ns")
        self.publish_threadsafe(f'{{"type":"flows","flows":{rows}}}')

    def _on_alert(self, alert: Alert) -> None:  # runs in the detector thread
        self.publish_threadsafe(json.dumps({"type": "alert", **alert.to_dict()}, default=str))

    def publish_threadsafe(self, text: str) -> None:
        """Queue a message for every client from any thread."""
        try:
            self.loop.call_soon_threadsafe(self.publish, text)
        except RuntimeError:
            pass  # the event loop is closing

    def publish(self, text: str, only: str | None | bool = False) -> None:
        """Queue a message for every client (event-loop thread); with `only`, for the clients
        of that display filter's text (None: the clients without one)."""
        for client in list(self.clients):
            if only is not False:
                mine = client.display_filter
                if (None if mine is None else str(mine)) != only:
                    continue
            try:
                client.queue.put_nowait(text)
                client.behind = 0
            except asyncio.QueueFull:
                client.dropped += 1
                client.behind += 1
                if client.behind >= MAX_BEHIND:
                    client.disconnect.set()

    def publish_json(self, message: dict[str, Any]) -> None:
        """Queue a JSON message for every client (event-loop thread)."""
        self.publish(json.dumps(message, default=str))
