"""One capture to N WebSocket clients, each with its own bounded queue.

Messages are serialised once and the same text goes to every client. A client whose queue is
full loses messages (counted and told in its next message) and is disconnected when it stays
behind; it never slows the capture or the other clients.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..capture import Capture
from ..core.anomaly import Alert
from ..core.rows import to_rows
from ..subscription import Subscription

CLIENT_QUEUE = 64  # messages waiting for one client
MAX_BEHIND = 256  # messages a client may lose in a row before it is disconnected


def stats_dict(capture: Capture) -> dict[str, Any]:
    """A capture's counters as JSON-ready values."""
    s = capture.stats
    return {
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
        "version": capture.frame.version,
        "problems": list(s.problems),
    }


@dataclass(eq=False)  # identity, so clients can live in a set
class Client:
    """One connected WebSocket client."""

    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: int = 0  # messages lost since the last one delivered
    behind: int = 0  # messages lost in a row
    disconnect: asyncio.Event = field(default_factory=asyncio.Event)


class Broadcaster:
    """Fans a capture's rows, alerts, stats and settings out to WebSocket clients."""

    def __init__(
        self, capture: Capture, loop: asyncio.AbstractEventLoop, interval: float = 0.25
    ) -> None:
        self.capture = capture
        self.loop = loop
        self.clients: set[Client] = set()
        self.sent_batches = 0
        self._sub: Subscription | None = None
        self._unalert: Callable[[], None] | None = None
        self._interval = interval

    def start(self) -> None:
        """Subscribe to the capture (batches merged to a few messages per second)."""
        self._sub = self.capture.subscribe(self._on_batch, maxsize=256, every=self._interval)
        self._unalert = self.capture.on_alert(self._on_alert)

    def stop(self) -> None:
        """Unsubscribe and tell every client to go."""
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if self._unalert is not None:
            self._unalert()
            self._unalert = None
        for client in list(self.clients):
            client.disconnect.set()

    def _on_batch(self, batch: pd.DataFrame) -> None:  # runs in the subscription's thread
        # Missing fields are left out of each row (most rows have no VLAN, DNS name, ...):
        # clients read an absent field as null. Compact separators; serialised once for all.
        rows = [{k: v for k, v in row.items() if v is not None} for row in to_rows(batch)]
        message = {"type": "packets", "version": int(batch.index[-1]), "rows": rows}
        text = json.dumps(message, separators=(",", ":"))
        self.sent_batches += 1
        self.publish_threadsafe(text)

    def _on_alert(self, alert: Alert) -> None:  # runs in the detector thread
        self.publish_threadsafe(json.dumps({"type": "alert", **alert.to_dict()}, default=str))

    def publish_threadsafe(self, text: str) -> None:
        """Queue a message for every client from any thread."""
        try:
            self.loop.call_soon_threadsafe(self.publish, text)
        except RuntimeError:
            pass  # the event loop is closing

    def publish(self, text: str) -> None:
        """Queue a message for every client (event-loop thread)."""
        for client in list(self.clients):
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
