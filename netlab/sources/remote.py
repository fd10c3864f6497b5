"""Frames from a netlab server's WebSocket stream (no capture rights needed here)."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from ..core.rows import from_rows
from ..errors import CaptureError, FilterError, InterfaceError
from .base import Chunk, SourceCounters
from .packetstore import parse_number_ranges


class RemoteSource:
    """Rows streamed by `netlab serve`, reconnecting with backoff when the server restarts."""

    def __init__(self, url: str, bpf: str = "", *, token: str = "") -> None:
        self.url = url
        self.token = token
        self.description = f"remote {urlsplit(url).netloc}"
        self.bpf = bpf
        self.server_settings: dict[str, Any] = {}
        self.server_stats: dict[str, Any] = {}
        self.connected = threading.Event()
        self.reconnects = 0
        self.dropped_messages = 0  # batches the server could not send us (we were slow)
        self._queue: queue.Queue[list[dict[str, Any]]] = queue.Queue(maxsize=256)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_version = 0

    def _ws_url(self) -> str:
        if not self.token:
            return self.url
        parts = urlsplit(self.url)
        query = (parts.query + "&" if parts.query else "") + urlencode({"token": self.token})
        return urlunsplit(parts._replace(query=query))

    def http_url(self, path: str) -> str:
        """The server's HTTP address for `path`."""
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return urlunsplit((scheme, parts.netloc, path, "", ""))

    def open(self) -> None:
        """Start the connection thread and wait briefly for the first connection."""
        self._thread = threading.Thread(target=self._run, name="netlab-remote", daemon=True)
        self._thread.start()
        if not self.connected.wait(5):
            raise CaptureError(
                f"cannot connect to {self.url} (is `netlab serve` running?); "
                "netlab keeps retrying in the background"
            )
        if self.bpf and self.bpf != self.server_settings.get("bpf_filter"):
            self.set_remote(bpf=self.bpf)

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        backoff = 0.2
        while not self._stop.is_set():
            try:
                with connect(self._ws_url(), open_timeout=5, max_size=64 << 20) as ws:
                    backoff = 0.2
                    self.connected.set()
                    while not self._stop.is_set():
                        try:
                            text = ws.recv(timeout=0.2)
                        except TimeoutError:
                            continue
                        self._handle(json.loads(text))
            except InvalidStatus as exc:
                self.connected.clear()
                if exc.response.status_code in (401, 403):
                    self._stop.wait(5)  # wrong token or origin: retrying fast will not help
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                self.connected.clear()
            if self._stop.is_set():
                return
            self.reconnects += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _handle(self, message: dict[str, Any]) -> None:
        self.dropped_messages += int(message.get("dropped_messages", 0))
        kind = message.get("type")
        if kind == "packets":
            rows = message.get("rows") or []
            if rows:
                try:
                    self._queue.put_nowait(rows)
                except queue.Full:
                    self.dropped_messages += 1
        elif kind == "settings":
            self.server_settings = message
            self.bpf = message.get("bpf_filter") or ""
        elif kind == "stats":
            self.server_stats = message

    def read(self, timeout: float) -> Chunk | None:
        """The next rows the server sent."""
        try:
            rows = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return Chunk(frame=from_rows(rows))

    def fetch_pcap(self, first: int, last: int) -> tuple[bytes, npt.NDArray[np.int64]]:
        """The server's packets of frames `first`..`last` (those it still keeps), as pcapng
        bytes and the frame numbers in them."""
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.get(
                self.http_url("/pcap"),
                params={"first": first, "last": last},
                headers=headers,
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise CaptureError(f"cannot reach {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise CaptureError(f"{self.url}: HTTP {response.status_code}: {response.text[:200]}")
        return response.content, parse_number_ranges(response.headers.get("x-netlab-numbers", ""))

    def counters(self, received: int) -> SourceCounters:
        """The server's own drop counters (the kernel's and netlab's over there)."""
        stats = self.server_stats
        dropped = int(stats.get("dropped_kernel", 0)) + int(stats.get("dropped_netlab", 0))
        return SourceCounters(None, dropped)

    def set_remote(self, *, interface: str | None = None, bpf: str | None = None) -> None:
        """Ask the server to switch interface or filter; its refusal raises here."""
        import httpx

        body = {k: v for k, v in (("interface", interface), ("bpf_filter", bpf)) if v is not None}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.post(
                self.http_url("/capture/settings"), json=body, headers=headers, timeout=15
            )
        except httpx.HTTPError as exc:
            raise CaptureError(f"cannot reach {self.url}: {exc}") from None
        if response.status_code == 422:
            detail = response.json().get("detail", "")
            if bpf is not None and "filter" in detail:
                raise FilterError(bpf, detail.split(": ", 1)[-1])
            raise InterfaceError(detail)
        if response.status_code >= 400:
            raise CaptureError(f"{self.url}: HTTP {response.status_code}: {response.text[:200]}")
        self.server_settings = response.json()
        self.bpf = self.server_settings.get("bpf_filter") or ""

    @property
    def exhausted(self) -> bool:
        """A server stream never ends by itself."""
        return False

    def close(self) -> None:
        """Stop the connection thread; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
