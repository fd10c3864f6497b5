"""LiveHandle: one activated libpcap capture, read from its memory-mapped ring into pcap bytes
(`pcap_dispatch` with libpcap's own `pcap_dump` as the callback, into an `open_memstream`
buffer: no Python runs per packet)."""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass, field

from ..errors import CaptureError, CaptureFilterError
from .libpcap import (
    COOKED_LINKTYPES,
    ERRBUF_SIZE,
    PCAP_ERROR_NO_SUCH_DEVICE,
    PCAP_NETMASK_UNKNOWN,
    PCAP_TSTAMP_PRECISION_NANO,
    SO_ATTACH_FILTER,
    SOL_SOCKET,
    BpfStruct,
    PcapStat,
    SockFprog,
    c_void_p,
    compile_lock,
    filter_bytes,
    lib,
    libc_lib,
)


@dataclass
class OpenError:
    """Why pcap_activate failed."""

    status: int
    message: str


@dataclass
class LiveHandle:
    """An activated libpcap handle writing pcap records into memory."""

    interface: str
    bpf: str
    linktype: int = 1
    _handle: int | None = None
    _file: int | None = None
    _dumper: int | None = None
    _buf: ctypes.c_void_p = field(default_factory=ctypes.c_void_p)
    _size: ctypes.c_size_t = field(default_factory=ctypes.c_size_t)
    _header_left: int = 24
    _closed: bool = False

    @classmethod
    def open(
        cls,
        interface: str,
        bpf: str = "",
        *,
        snaplen: int = 262_144,
        buffer_mb: int = 32,
        timeout_ms: int = 100,
        promisc: bool = False,
    ) -> LiveHandle | OpenError:
        """Activate a capture; return an OpenError (not raise) so callers choose the words."""
        pcap = lib()
        libc = libc_lib()
        if libc is None:
            raise CaptureError("this C library has no open_memstream; live capture unsupported")
        err = ctypes.create_string_buffer(ERRBUF_SIZE)
        handle = pcap.pcap_create(interface.encode(), err)
        if not handle:
            return OpenError(PCAP_ERROR_NO_SUCH_DEVICE, err.value.decode(errors="replace"))
        self = cls(interface, bpf, _handle=handle)
        try:
            pcap.pcap_set_snaplen(handle, snaplen)
            pcap.pcap_set_promisc(handle, int(promisc))
            # No immediate mode: it switches Linux to TPACKET_V2, whose fixed snaplen-sized
            # slots hold only a few hundred packets; V3 blocks are flushed after timeout_ms.
            pcap.pcap_set_timeout(handle, timeout_ms)
            pcap.pcap_set_buffer_size(handle, buffer_mb << 20)
            pcap.pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO)
            status = pcap.pcap_activate(handle)
            if status < 0:
                message = (pcap.pcap_geterr(handle) or b"").decode(errors="replace")
                if not message:
                    message = (pcap.pcap_statustostr(status) or b"").decode()
                self.close()
                return OpenError(status, message)
            self.linktype = pcap.pcap_datalink(handle)
            self._set_filter(bpf)
            if pcap.pcap_setnonblock(handle, 1, err) != 0:
                raise CaptureError(f"{interface}: cannot set non-blocking mode: {err.value!r}")
            self._file = libc.open_memstream(ctypes.byref(self._buf), ctypes.byref(self._size))
            self._dumper = pcap.pcap_dump_fopen(handle, self._file)
            if not self._dumper:
                raise CaptureError(f"{interface}: {pcap.pcap_geterr(handle)!r}")
        except BaseException:
            self.close()
            raise
        return self

    def set_filter(self, bpf: str) -> None:
        """Change the filter of the open handle (from the thread that reads it: a libpcap
        handle is not thread-safe), losing nothing.

        pcap_setfilter first attaches a reject-everything filter and drains the socket, so
        packets arriving meanwhile are lost and counted nowhere (18 of 20,000 over a few
        hundred changes). On Linux the kernel swaps a socket filter atomically: netlab
        compiles the program with libpcap and attaches it itself. Packets already in the
        ring under the old filter are still delivered. Cooked (SLL) handles, whose programs
        libpcap rewrites for the kernel, and other systems go through pcap_setfilter."""
        atomic = sys.platform.startswith("linux") and self.linktype not in COOKED_LINKTYPES
        self._set_filter(bpf, atomic=atomic)
        self.bpf = bpf

    def _set_filter(self, bpf: str, *, atomic: bool = False) -> None:
        """Compile `bpf` for this handle and install it: with pcap_setfilter, or (`atomic`)
        straight into the kernel with SO_ATTACH_FILTER, which swaps filters without a gap."""
        pcap = lib()
        prog = BpfStruct()
        with compile_lock:
            rc = pcap.pcap_compile(
                self._handle, ctypes.byref(prog), filter_bytes(bpf), 1, PCAP_NETMASK_UNKNOWN
            )
        if rc != 0:
            raise CaptureFilterError(bpf, (pcap.pcap_geterr(self._handle) or b"").decode())
        try:
            if atomic:
                fprog = SockFprog(prog.bf_len, prog.bf_insns)
                libc = ctypes.CDLL(None, use_errno=True)
                fd = int(pcap.pcap_fileno(self._handle))
                size = ctypes.sizeof(fprog)
                if libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, ctypes.byref(fprog), size):
                    reason = os.strerror(ctypes.get_errno())
                    raise CaptureFilterError(bpf, f"the kernel refused the filter: {reason}")
            elif pcap.pcap_setfilter(self._handle, ctypes.byref(prog)) != 0:
                raise CaptureFilterError(bpf, (pcap.pcap_geterr(self._handle) or b"").decode())
        finally:
            pcap.pcap_freecode(ctypes.byref(prog))

    @property
    def loopback(self) -> bool:
        """Whether the kernel shows this interface's packets twice (out and in)."""
        return self.interface == "lo" or self.interface.startswith("lo0")

    @property
    def fileno(self) -> int:
        """A descriptor to select() on for readability."""
        return int(lib().pcap_get_selectable_fd(self._handle))

    def read(self, max_rounds: int = 64) -> tuple[bytes, int]:
        """Drain what the ring holds (bounded): pcap record bytes and the packet count."""
        pcap = lib()
        libc = libc_lib()
        assert libc is not None and self._handle is not None
        dump = ctypes.cast(pcap.pcap_dump, c_void_p)
        count = 0
        for _ in range(max_rounds):
            n = pcap.pcap_dispatch(self._handle, -1, dump, self._dumper)
            if n < 0:
                raise CaptureError(f"{self.interface}: {pcap.pcap_geterr(self._handle)!r}")
            if n == 0:
                break
            count += n
        pcap.pcap_dump_flush(self._dumper)
        size = self._size.value
        data = ctypes.string_at(self._buf, size) if size else b""
        libc.fseek(self._file, 0, 0)  # the next records overwrite these from the start
        if self._header_left:
            data = data[self._header_left :]  # the pcap file header written at open
            self._header_left = 0
        return data, count

    def stats(self) -> tuple[int, int]:
        """(packets the kernel saw pass the filter, packets it dropped)."""
        st = PcapStat()
        if self._handle is None or lib().pcap_stats(self._handle, ctypes.byref(st)) != 0:
            return 0, 0
        return int(st.ps_recv), int(st.ps_drop) + int(st.ps_ifdrop)

    def close(self) -> None:
        """Release the handle, the dumper and the memory stream; idempotent."""
        if self._closed:
            return
        self._closed = True
        pcap = lib()
        if self._dumper:
            pcap.pcap_dump_close(self._dumper)  # also fcloses the memory stream
            self._dumper = None
            self._file = None
        if self._buf:
            libc = libc_lib()
            if libc is not None:
                libc.free(self._buf)
        if self._handle:
            pcap.pcap_close(self._handle)
            self._handle = None
