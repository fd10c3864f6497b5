"""Several netlab servers read as one source: `Capture(["ws://a:8765", "ws://b:8765"])`.

Each server names its rows with its sensor (NETLAB_SENSOR, default its host name), so the
merged frame has a `sensor` column; frame numbers stay each server's own (they match that
server's capture file and its /pcap), so a row's bytes are found by sensor and number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from ..core.batch import Batch, concat_batches, stamp_sensor
from ..errors import CaptureError, NetlabError
from ..lifecycle import Lifecycle
from ..packets import PacketStore, SensorPackets
from .base import Chunk, SourceBase, SourceCounters
from .remote import RemoteSource

I64 = npt.NDArray[np.int64]
POLL = 0.01  # seconds between looks at the servers' queues while none has rows


class MergedSource(SourceBase):
    """The rows of several `netlab serve` streams, each named by its server's sensor."""

    def __init__(self, urls: Sequence[str], bpf: str = "", *, token: str = "") -> None:
        if len(set(urls)) != len(urls):
            raise NetlabError("the same server is named twice: give each URL once")
        self.remotes = [RemoteSource(url, bpf, token=token) for url in urls]
        self.bpf = bpf
        self.description = "sensors " + ", ".join(urlsplit(u).netloc for u in urls)
        self.sensors: dict[str, RemoteSource] = {}  # sensor name -> the server that sent it
        self._life = Lifecycle("merged source")
        self._lock = threading.Lock()

    @property  # computed: SourceBase's plain attribute would go stale
    def problems(self) -> Sequence[str]:  # type: ignore[override]
        """Each server's problems, said with its address."""
        return [f"{r.url}: {p}" for r in self.remotes for p in r.problems]

    def open(self) -> None:
        """Connect to every server; if one cannot be reached, none stays connected."""
        if not self._life.begin():
            return
        try:
            for remote in self.remotes:
                remote.open()
        except BaseException:
            self.close()
            raise

    def read(self, timeout: float) -> Chunk | None:
        """The rows any server sent, each named by its sensor, waiting at most `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            batches = [self._named(r, c.batch) for r in self.remotes if (c := r.read(0.0))]
            got = [b for b in batches if b is not None and len(b)]
            if got:
                return Chunk(batch=concat_batches(got))
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(POLL, left))

    def _named(self, remote: RemoteSource, batch: Batch | None) -> Batch | None:
        if batch is None:
            return None
        # rows a server did not name (an older netlab) are named by its address
        address = urlsplit(remote.url).netloc
        batch = stamp_sensor(batch, address)
        codes, texts = batch.text("sensor")
        names = list(texts)
        for k in np.unique(codes[codes >= 0]).tolist():
            with self._lock:
                owner = self.sensors.setdefault(names[k], remote)
                if owner is not remote:  # two servers of one name (both the host's, say)
                    names[k] = f"{names[k]}@{address}"
                    self.sensors.setdefault(names[k], remote)
            if owner is not remote:
                remote._problem(
                    f"sensor {texts[k]!r} is also {owner.url}'s name: its rows are named "
                    f"{names[k]!r} here (give each server its own NETLAB_SENSOR)"
                )
        batch.categories["sensor"] = names
        return batch

    def counters(self, received: int) -> SourceCounters:
        """What every server dropped, together."""
        return SourceCounters(None, sum(r.counters(0).dropped for r in self.remotes))

    def set_filter(self, bpf: str) -> None:
        """Ask every server to change its capture filter (the first refusal raises)."""
        for remote in self.remotes:
            remote.set_filter(bpf)
        self.bpf = bpf

    def packet_store(self, budget: int) -> PacketStore:
        """Each server keeps its own bytes: a row's are fetched from its sensor's server."""
        stores = {}

        def store_of(sensor: str) -> PacketStore | None:
            remote = self.sensors.get(sensor)
            if remote is None:
                return None
            if remote.url not in stores:
                stores[remote.url] = remote.packet_store(budget)
            return stores[remote.url]

        return SensorPackets(self.description, store_of)

    @property
    def server_stats(self) -> dict[str, dict[str, Any]]:
        """Each sensor's server counters, by sensor name."""
        with self._lock:
            return {name: r.server_stats for name, r in self.sensors.items()}

    @property
    def exhausted(self) -> bool:
        """Server streams never end by themselves."""
        return False

    def close(self) -> None:
        """Disconnect from every server; idempotent."""
        self._life.end()
        for remote in self.remotes:
            remote.close()


def merged_source(urls: Sequence[str], bpf: str, token: str) -> MergedSource:
    """The source for a list of server URLs (anything else in the list is refused)."""
    if not urls:
        raise NetlabError("an empty list of sources: name at least one ws:// server")
    wrong = [u for u in urls if not (isinstance(u, str) and u.startswith(("ws://", "wss://")))]
    if wrong:
        raise CaptureError(
            f"a list of sources merges netlab servers (ws://host:port), not {wrong[0]!r}: "
            "capture several interfaces in one Capture each"
        )
    return MergedSource(list(urls), bpf, token=token)
