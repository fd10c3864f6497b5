"""Live capture from an interface through libpcap."""

from __future__ import annotations

import os
import select
import sys
import threading
import time

from ..core.pcapfile import PcapHeader, walk_pcap
from ..errors import CaptureError, CapturePermissionError, InterfaceError
from . import libpcap
from .base import Chunk, SourceBase, SourceCounters
from .livehandle import LiveHandle, OpenError


def permission_fix() -> str:
    """The exact command that gives this interpreter capture rights on this platform."""
    if sys.platform == "darwin":
        return (
            "give your user read access to /dev/bpf* (install Wireshark's ChmodBPF, or run "
            "`sudo chmod o+r /dev/bpf*` until reboot), or run `netlab serve` with sudo and "
            "connect to it with netlab.Capture('ws://127.0.0.1:8765/ws')"
        )
    if sys.platform.startswith("win"):
        return "install Npcap (https://npcap.com) and run as a user allowed to capture"
    # Least privilege: rights on a copy of the interpreter made for netlab, or only on the
    # server process, never on the system python (every program of every user would capture).
    if sys.prefix != sys.base_prefix:  # a virtual environment: scripts/setcap.sh copies into it
        copy = os.path.join(sys.prefix, "bin", "python-capture")
        return (
            f"run `scripts/setcap.sh {sys.prefix}` (it copies this interpreter to {copy} "
            "and gives capture rights to that copy only), then run netlab through it "
            f"(`{copy} -m netlab ...`); or run only the server with rights (`sudo "
            f"{os.path.join(sys.prefix, 'bin', 'netlab')} serve --source IFACE`) and capture "
            "from it with netlab.Capture('ws://127.0.0.1:8765/ws')"
        )
    return (
        "run only the server with rights (`sudo netlab serve --source IFACE`) and capture from "
        "it with netlab.Capture('ws://127.0.0.1:8765/ws'); or install netlab in a virtual "
        "environment and run scripts/setcap.sh, which gives rights to a copy of its interpreter "
        "only (setcap on the system python would let every Python program of every user "
        "capture)"
    )


BLOCK_TIMEOUT = 0.01  # seconds before the kernel hands over a ring block that is not full


class LiveSource(SourceBase):
    """Packets from a network interface, read from libpcap's memory-mapped ring."""

    def __init__(
        self,
        interface: str,
        bpf: str = "",
        *,
        snaplen: int = 262_144,
        buffer_mb: int = 32,
        timeout: float = 0.1,
    ) -> None:
        self._interface = interface
        self.bpf = bpf
        self.description = f"live {interface}"
        self._snaplen = snaplen
        self._buffer_mb = buffer_mb
        # The kernel hands a ring block over once it is full or BLOCK_TIMEOUT old; the reader
        # drains at most every `timeout`. Tying both to `timeout` made a quiet packet wait for
        # both in turn (capture to client p99 ~150 ms at 10,000 packets/s): a short block
        # timeout costs only more, smaller blocks per drain.
        self._timeout_ms = max(1, int(min(timeout, BLOCK_TIMEOUT) * 1000))
        self._handle: LiveHandle | None = None
        self._header: PcapHeader | None = None
        # Drain the ring at most this often: each batch has a fixed cost in pandas, so
        # fewer, larger batches keep up with more packets (the kernel ring holds them meanwhile).
        self._min_interval = timeout
        self._last_read = 0.0
        # held while reading the handle: a filter change from another thread waits for it
        self._reading = threading.Lock()

    def open(self) -> None:
        """Activate the capture, or raise the error that says what to do."""
        result = LiveHandle.open(
            self.interface,
            self.bpf,
            snaplen=self._snaplen,
            buffer_mb=self._buffer_mb,
            timeout_ms=self._timeout_ms,
        )
        if isinstance(result, OpenError):
            if result.status in (
                libpcap.PCAP_ERROR_PERM_DENIED,
                libpcap.PCAP_ERROR_PROMISC_PERM_DENIED,
            ):
                raise CapturePermissionError(
                    f"no permission to capture on {self.interface} ({result.message}). "
                    f"To fix: {permission_fix()}"
                )
            if result.status == libpcap.PCAP_ERROR_NO_SUCH_DEVICE:
                raise InterfaceError(
                    f"no interface named {self.interface!r} ({result.message}); "
                    "`netlab interfaces` lists the ones there are"
                )
            if result.status == libpcap.PCAP_ERROR_IFACE_NOT_UP:
                raise InterfaceError(f"interface {self.interface!r} is down: {result.message}")
            raise CaptureError(f"cannot capture on {self.interface}: {result.message}")
        self._handle = result
        self._header = PcapHeader(
            "<" if sys.byteorder == "little" else ">", True, False, result.linktype, self._snaplen
        )

    @property
    def interface(self) -> str:
        """The interface captured on."""
        return self._interface

    @property
    def linktype(self) -> int:
        """The interface's link type (valid once open)."""
        return self._handle.linktype if self._handle else 1

    def check_bpf(self, expression: str) -> None:
        """Raise FilterError if `expression` does not compile for this interface."""
        from .libpcap import BpfProgram

        BpfProgram(expression, self.linktype)

    def set_filter(self, bpf: str) -> None:
        """Change the filter on the open handle, keeping its ring (no packet lost or seen
        twice): validated first, then applied between two reads of the ring."""
        self.check_bpf(bpf)
        with self._reading:
            if self._handle is not None:
                self._handle.set_filter(bpf)
            self.bpf = bpf

    def read(self, timeout: float) -> Chunk | None:
        """Wait up to `timeout` for the ring to have packets, then drain it."""
        handle = self._handle
        if handle is None:
            raise CaptureError("the live source is not open")
        wait = self._last_read + self._min_interval - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, timeout))
            if wait > timeout:
                return None
        select.select([handle.fileno], [], [], timeout)
        self._last_read = time.monotonic()
        with self._reading:
            if self._handle is None:
                return None
            data, count = self._handle.read()
        if not count:
            return None
        assert self._header is not None
        walk = walk_pcap(data, 0, self._header)
        if walk.partial or walk.problems or len(walk.records) != count:
            raise CaptureError(f"libpcap wrote {count} packets but {len(walk.records)} parsed")
        return Chunk(data=data, records=walk.records)

    def counters(self, received: int) -> SourceCounters:
        """Kernel counters; on loopback each packet is counted twice (out and in)."""
        if self._handle is None:
            return SourceCounters(None, 0)
        seen, dropped = self._handle.stats()
        if self._handle.loopback:
            # Only the inbound copies reach netlab. Whatever arrived and was not read was
            # dropped (or still waits in the ring, so this is exact once drained); the kernel's
            # own counter also counts lost outgoing copies, which cost nothing, so cap by both.
            arrived = seen // 2
            return SourceCounters(arrived, min(dropped, max(0, arrived - received)))
        return SourceCounters(seen, dropped)

    @property
    def exhausted(self) -> bool:
        """A live interface never runs out."""
        return False

    def close(self) -> None:
        """Close the libpcap handle; idempotent."""
        with self._reading:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
