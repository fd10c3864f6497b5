"""Frames from a netlab server's WebSocket stream (no capture rights needed here)."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from ..core.batch import Batch
from ..core.wire import batch_from_json, parse_number_ranges
from ..errors import CaptureError, CaptureFilterError, InterfaceError
from ..lifecycle import Lifecycle
from ..packets import PacketStore, RemotePackets
from .base import Chunk, SourceBase, SourceCounters


class RemoteSource(SourceBase):
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
        self._queue: queue.Queue[Batch] = queue.Queue(maxsize=256)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._life = Lifecycle("remote source")
        self._last_version = 0
        self.problems: list[str] = []  # why the connection failed or a message was skipped

    def _headers(self) -> dict[str, str]:
        # In a header, never in the URL: URLs end up in access logs.
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _problem(self, text: str) -> None:
        if not self.problems or self.problems[-1] != text:
            self.problems = [*self.problems[-9:], text]

    def http_url(self, path: str) -> str:
        """The server's HTTP address for `path`."""
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return urlunsplit((scheme, parts.netloc, path, "", ""))

    def open(self) -> None:
        """Start the connection thread and wait briefly for the first connection (once: a
        second call returns at once, a call after close() raises ClosedError)."""
        if not self._life.begin():
            return
        self._thread = threading.Thread(target=self._run, name="netlab-remote", daemon=True)
        self._thread.start()
        if not self.connected.wait(5):
            why = self.problems[-1] if self.problems else "is `netlab serve` running?"
            self.close()
            raise CaptureError(f"cannot connect to {self.url}: {why}")
        if self.bpf and self.bpf != self.server_settings.get("bpf_filter"):
            self.set_remote(bpf=self.bpf)

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        backoff = 0.2
        while not self._stop.is_set():
            try:
                with connect(
                    self.url,
                    open_timeout=5,
                    max_size=64 << 20,
                    additional_headers=self._headers(),
                ) as ws:
                    backoff = 0.2
                    self.connected.set()
                    while not self._stop.is_set():
                        try:
                            text = ws.recv(timeout=0.2)
                        except TimeoutError:
                            continue
                        self._receive(text)
            except InvalidStatus as exc:
                self.connected.clear()
                status = exc.response.status_code
                if status in (401, 403):
                    self._problem(
                        "the server refused the token (HTTP 403): set NETLAB_SERVER_TOKEN to "
                        "the server's token"
                        if self.token
                        else "the server requires a token (HTTP 403): set NETLAB_SERVER_TOKEN"
                    )
                    self._stop.wait(5)  # wrong token or origin: retrying fast will not help
                else:
                    self._problem(f"the server answered HTTP {status}")
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                self.connected.clear()
                self._problem(f"{type(exc).__name__}: {exc} (is `netlab serve` running?)")
            if self._stop.is_set():
                return
            self.reconnects += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _receive(self, text: str | bytes) -> None:
        """One message from the server; a malformed one is counted and skipped, never fatal."""
        try:
            message = json.loads(text)
            if not isinstance(message, dict):
                raise ValueError(f"a JSON {type(message).__name__}, not an object")
            self._handle(message)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._problem(f"skipped a malformed message from the server: {exc}")

    def _handle(self, message: dict[str, Any]) -> None:
        dropped = message.get("dropped_messages", 0)
        if isinstance(dropped, int) and dropped > 0:
            self.dropped_messages += dropped
        kind = message.get("type")
        if kind == "packets":
            rows = message.get("rows") or []
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValueError("'rows' is not a list of objects")
            if rows:
                batch = batch_from_json(rows)  # a row that cannot be typed is refused here
                try:
                    self._queue.put_nowait(batch)
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
            batch = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return Chunk(batch=batch)

    def fetch_pcap(self, first: int, last: int) -> tuple[bytes, npt.NDArray[np.int64]]:
        """The server's packets of frames `first`..`last` (those it still keeps), as pcapng
        bytes and the frame numbers in them."""
        import httpx

        headers = self._headers()
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
        dropped = 0
        for key in ("dropped_kernel", "dropped_netlab"):
            value = stats.get(key, 0)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                dropped += value  # a nonsense counter from the server is ignored
        return SourceCounters(None, dropped)

    def set_remote(self, *, interface: str | None = None, bpf: str | None = None) -> None:
        """Ask the server to switch interface or filter; its refusal raises here."""
        import httpx

        body = {k: v for k, v in (("interface", interface), ("bpf_filter", bpf)) if v is not None}
        headers = self._headers()
        try:
            response = httpx.post(
                self.http_url("/capture/settings"), json=body, headers=headers, timeout=15
            )
        except httpx.HTTPError as exc:
            raise CaptureError(f"cannot reach {self.url}: {exc}") from None
        if response.status_code == 422:
            detail = response.json().get("detail", "")
            if bpf is not None and "filter" in detail:
                raise CaptureFilterError(bpf, detail.split(": ", 1)[-1])
            raise InterfaceError(detail)
        if response.status_code >= 400:
            raise CaptureError(f"{self.url}: HTTP {response.status_code}: {response.text[:200]}")
        self.server_settings = response.json()
        self.bpf = self.server_settings.get("bpf_filter") or ""

    def set_filter(self, bpf: str) -> None:
        """Ask the server to change its filter (it validates; its refusal raises here)."""
        self.set_remote(bpf=bpf)

    def switch(self, interface: str, bpf: str) -> bool:
        """Ask the server to switch interface (and filter): a remote source always can."""
        self.set_remote(interface=interface, bpf=bpf)
        return True

    def packet_store(self, budget: int) -> PacketStore:
        """The server keeps the bytes: they are fetched from its /pcap when asked for."""
        return RemotePackets(self.description, self.fetch_pcap)

    @property
    def exhausted(self) -> bool:
        """A server stream never ends by itself."""
        return False

    def close(self) -> None:
        """Stop the connection thread; idempotent."""
        self._life.end()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
