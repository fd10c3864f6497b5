"""The seam between a Capture and where its frames come from: the Source protocol.

The protocol is total: a capture, the server and the widgets ask a source what they need
(its interface, its problems, a filter change, where its packets' bytes will live) and never
which class it is. Adding a kind of source touches `sources/` and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.chunk import Chunk, merge_chunks
from ..errors import CaptureError
from ..packets import CapturePackets, PacketStore

__all__ = ["Chunk", "Source", "SourceBase", "SourceCounters", "merge_chunks"]


@dataclass(frozen=True)
class SourceCounters:
    """What the source itself knows about packets that never reached netlab."""

    arrived: int | None  # packets that passed the filter in the kernel, if known
    dropped: int  # packets the kernel (or remote server) dropped


@runtime_checkable
class Source(Protocol):
    """Where a Capture reads frames from. Opened and read by the capture's reader thread."""

    description: str  # for stats and status lines, e.g. "live eth0" or "file demo.pcap"
    bpf: str  # the capture filter in force ("" for none)
    # True when the source loses nothing while the capture makes it wait (a file): the
    # capture then waits for room instead of dropping.
    can_wait: bool

    @property
    def interface(self) -> str:
        """What a source picker shows as this source: the interface name, else the
        description."""
        ...

    @property
    def problems(self) -> Sequence[str]:
        """What went wrong without stopping the source (newest last)."""
        ...

    def open(self) -> None:
        """Acquire the resources; raise NetlabError subclasses with what to do."""

    def read(self, timeout: float) -> Chunk | None:
        """The next frames, waiting at most `timeout` seconds; None when nothing came."""

    def counters(self, received: int) -> SourceCounters:
        """Drop counters, given how many packets netlab has read so far."""

    @property
    def exhausted(self) -> bool:
        """True when no frame will ever come again (a file replayed to its end)."""
        ...

    def set_filter(self, bpf: str) -> None:
        """Change the capture filter, validating it first: on FilterError the old one stays.
        Safe to call while the capture's reader thread reads."""

    def switch(self, interface: str, bpf: str) -> bool:
        """Switch to `interface` (with filter `bpf`) in place, if this source can (a remote
        server does): True. False when the capture must open a new source instead."""
        ...

    def packet_store(self, budget: int) -> PacketStore:
        """Where the bytes of this source's frames will be kept (at most `budget` bytes
        held here)."""
        ...

    def close(self) -> None:
        """Release everything; idempotent."""


class SourceBase:
    """Defaults for the optional parts of the protocol: a source that loses what it cannot
    hand over, has one fixed filter and keeps its packets' bytes in the capture."""

    description: str = "source"
    bpf: str = ""
    can_wait: bool = False

    @property
    def interface(self) -> str:
        """See Source.interface."""
        return self.description

    problems: Sequence[str] = ()  # see Source.problems

    def set_filter(self, bpf: str) -> None:
        """See Source.set_filter (this one cannot change it)."""
        if bpf != self.bpf:
            raise CaptureError(f"{self.description} cannot change its filter")

    def switch(self, interface: str, bpf: str) -> bool:
        """See Source.switch."""
        return False

    def packet_store(self, budget: int) -> PacketStore:
        """See Source.packet_store: the newest `budget` bytes, kept by the capture."""
        return CapturePackets(budget, self.description)
