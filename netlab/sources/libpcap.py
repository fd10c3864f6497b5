"""libpcap through ctypes: interfaces, BPF compilation, and live capture into pcap bytes.

Capture uses libpcap's memory-mapped ring; `pcap_dispatch` is handed libpcap's own `pcap_dump`
as its callback, writing into an `open_memstream` buffer, so packets become pcap records
without any Python running per packet. The bytes are then walked and decoded in batches.
Only the libpcap shared library is needed (Debian: libpcap0.8), no compiler.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from functools import cache

from ..errors import CaptureError, FilterError

c_void_p, c_int, c_uint, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p
ERRBUF_SIZE = 512
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
PCAP_TSTAMP_PRECISION_NANO = 1
PCAP_ERROR_NO_SUCH_DEVICE = -5
PCAP_ERROR_PERM_DENIED = -8
PCAP_ERROR_IFACE_NOT_UP = -9
PCAP_ERROR_PROMISC_PERM_DENIED = -11
PCAP_IF_LOOPBACK, PCAP_IF_UP, PCAP_IF_RUNNING, PCAP_IF_WIRELESS = 1, 2, 4, 8


def filter_bytes(expression: str) -> bytes:
    """The filter as libpcap reads it (a C string), or FilterError: libpcap stops at a NUL,
    so "\x00anything" would compile as no filter at all while netlab showed the whole text."""
    if "\x00" in expression:
        raise FilterError(expression, "a capture filter cannot contain a NUL character")
    try:
        return expression.encode()
    except UnicodeEncodeError:
        raise FilterError(expression, "the filter is not valid text (a lone surrogate?)") from None


# libpcap serialises pcap_compile internally only since 1.8; be safe on older ones.
_compile_lock = threading.Lock()


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", c_uint), ("bf_insns", c_void_p)]


class _SockFprog(ctypes.Structure):  # Linux's struct sock_fprog (SO_ATTACH_FILTER)
    _fields_ = [("len", ctypes.c_ushort), ("filter", c_void_p)]


SOL_SOCKET, SO_ATTACH_FILTER = 1, 26
COOKED_LINKTYPES = (113, 276)  # Linux SLL/SLL2: libpcap rewrites offsets for the kernel


class _Stat(ctypes.Structure):
    _fields_ = [("ps_recv", c_uint), ("ps_drop", c_uint), ("ps_ifdrop", c_uint)]


class _PktHdr(ctypes.Structure):
    _fields_ = [
        ("tv_sec", ctypes.c_long),
        ("tv_usec", ctypes.c_long),
        ("caplen", ctypes.c_uint32),
        ("len", ctypes.c_uint32),
    ]


class _Addr(ctypes.Structure):
    pass


_Addr._fields_ = [
    ("next", ctypes.POINTER(_Addr)),
    ("addr", c_void_p),
    ("netmask", c_void_p),
    ("broadaddr", c_void_p),
    ("dstaddr", c_void_p),
]


class _If(ctypes.Structure):
    pass


_If._fields_ = [
    ("next", ctypes.POINTER(_If)),
    ("name", c_char_p),
    ("description", c_char_p),
    ("addresses", ctypes.POINTER(_Addr)),
    ("flags", c_uint),
]


class LibpcapMissing(CaptureError):
    """The libpcap shared library could not be loaded."""


@cache
def lib() -> ctypes.CDLL:
    """The loaded libpcap, with the signatures netlab uses."""
    names = [ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8", "libpcap.dylib"]
    last: OSError | None = None
    for name in filter(None, names):
        try:
            pcap = ctypes.CDLL(name, use_errno=True)
            break
        except OSError as exc:
            last = exc
    else:
        raise LibpcapMissing(
            "libpcap is not installed (Debian/Ubuntu: sudo apt-get install libpcap0.8; "
            f"macOS has it built in): {last}"
        )
    sig = {
        "pcap_lib_version": (c_char_p, []),
        "pcap_create": (c_void_p, [c_char_p, c_char_p]),
        "pcap_set_snaplen": (c_int, [c_void_p, c_int]),
        "pcap_set_promisc": (c_int, [c_void_p, c_int]),
        "pcap_set_timeout": (c_int, [c_void_p, c_int]),
        "pcap_set_buffer_size": (c_int, [c_void_p, c_int]),
        "pcap_set_immediate_mode": (c_int, [c_void_p, c_int]),
        "pcap_set_tstamp_precision": (c_int, [c_void_p, c_int]),
        "pcap_activate": (c_int, [c_void_p]),
        "pcap_geterr": (c_char_p, [c_void_p]),
        "pcap_statustostr": (c_char_p, [c_int]),
        "pcap_open_dead": (c_void_p, [c_int, c_int]),
        "pcap_compile": (c_int, [c_void_p, ctypes.POINTER(_BpfProgram), c_char_p, c_int, c_uint]),
        "pcap_setfilter": (c_int, [c_void_p, ctypes.POINTER(_BpfProgram)]),
        "pcap_freecode": (None, [ctypes.POINTER(_BpfProgram)]),
        "pcap_offline_filter": (
            c_int,
            [ctypes.POINTER(_BpfProgram), ctypes.POINTER(_PktHdr), c_char_p],
        ),
        "pcap_datalink": (c_int, [c_void_p]),
        "pcap_setnonblock": (c_int, [c_void_p, c_int, c_char_p]),
        "pcap_get_selectable_fd": (c_int, [c_void_p]),
        "pcap_fileno": (c_int, [c_void_p]),
        "pcap_dispatch": (c_int, [c_void_p, c_int, c_void_p, c_void_p]),
        "pcap_stats": (c_int, [c_void_p, ctypes.POINTER(_Stat)]),
        "pcap_close": (None, [c_void_p]),
        "pcap_dump_fopen": (c_void_p, [c_void_p, c_void_p]),
        "pcap_dump_flush": (c_int, [c_void_p]),
        "pcap_dump_close": (None, [c_void_p]),
        "pcap_findalldevs": (c_int, [ctypes.POINTER(ctypes.POINTER(_If)), c_char_p]),
        "pcap_freealldevs": (None, [ctypes.POINTER(_If)]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(pcap, name)
        fn.restype, fn.argtypes = restype, argtypes
    return pcap


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.open_memstream.restype = c_void_p
        libc.open_memstream.argtypes = [ctypes.POINTER(c_void_p), ctypes.POINTER(ctypes.c_size_t)]
        libc.fseek.argtypes = [c_void_p, ctypes.c_long, c_int]
        return libc
    except (OSError, AttributeError):
        return None


def version() -> str:
    """libpcap's own version string."""
    return (lib().pcap_lib_version() or b"").decode()


@dataclass(frozen=True)
class Interface:
    """A capture interface as libpcap reports it."""

    name: str
    description: str
    addresses: tuple[str, ...]
    up: bool
    running: bool
    loopback: bool
    wireless: bool = False


def _sockaddr_text(ptr: int | None) -> str | None:
    if not ptr:
        return None
    raw = ctypes.string_at(ptr, 28)
    # Linux: 16-bit family first; BSD/macOS: a length byte, then an 8-bit family.
    family = raw[1] if sys.platform == "darwin" or "bsd" in sys.platform else raw[0] | raw[1] << 8
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


def find_all_devices() -> list[Interface]:
    """Every interface libpcap can capture on."""
    pcap = lib()
    devs = ctypes.POINTER(_If)()
    err = ctypes.create_string_buffer(ERRBUF_SIZE)
    if pcap.pcap_findalldevs(ctypes.byref(devs), err) != 0:
        raise CaptureError(f"cannot list interfaces: {err.value.decode(errors='replace')}")
    out = []
    try:
        node = devs
        while node:
            dev = node.contents
            addrs = []
            a = dev.addresses
            while a:
                text = _sockaddr_text(a.contents.addr)
                if text:
                    addrs.append(text)
                a = a.contents.next
            flags = dev.flags
            out.append(
                Interface(
                    name=(dev.name or b"").decode(errors="replace"),
                    description=(dev.description or b"").decode(errors="replace"),
                    addresses=tuple(addrs),
                    up=bool(flags & PCAP_IF_UP),
                    running=bool(flags & PCAP_IF_RUNNING),
                    loopback=bool(flags & PCAP_IF_LOOPBACK),
                    wireless=bool(flags & PCAP_IF_WIRELESS),
                )
            )
            node = dev.next
    finally:
        pcap.pcap_freealldevs(devs)
    return out


class BpfProgram:
    """A compiled BPF filter; raises FilterError with libpcap's message when it is invalid."""

    def __init__(self, expression: str, linktype: int = 1, snaplen: int = 262_144) -> None:
        pcap = lib()
        self.expression = expression
        self.linktype = linktype
        self._prog = _BpfProgram()
        dead = pcap.pcap_open_dead(linktype, snaplen)
        if not dead:
            raise CaptureError("libpcap could not create a handle to compile filters")
        try:
            with _compile_lock:
                rc = pcap.pcap_compile(
                    dead,
                    ctypes.byref(self._prog),
                    filter_bytes(expression),
                    1,
                    PCAP_NETMASK_UNKNOWN,
                )
                message = (pcap.pcap_geterr(dead) or b"").decode(errors="replace")
        finally:
            pcap.pcap_close(dead)
        if rc != 0:
            raise FilterError(expression, message or "invalid filter")
        self._compiled = True

    @property
    def instructions(self) -> int:
        """Length of the compiled program."""
        return int(self._prog.bf_len)

    def matches(self, data: bytes, wirelen: int) -> bool:
        """Whether one frame passes the filter (for offline replays)."""
        hdr = _PktHdr(0, 0, len(data), wirelen)
        return bool(lib().pcap_offline_filter(ctypes.byref(self._prog), ctypes.byref(hdr), data))

    def __del__(self) -> None:
        if getattr(self, "_compiled", False):
            lib().pcap_freecode(ctypes.byref(self._prog))
            self._compiled = False


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
        libc = _libc()
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
        prog = _BpfProgram()
        with _compile_lock:
            rc = pcap.pcap_compile(
                self._handle, ctypes.byref(prog), filter_bytes(bpf), 1, PCAP_NETMASK_UNKNOWN
            )
        if rc != 0:
            raise FilterError(bpf, (pcap.pcap_geterr(self._handle) or b"").decode())
        try:
            if atomic:
                fprog = _SockFprog(prog.bf_len, prog.bf_insns)
                libc = ctypes.CDLL(None, use_errno=True)
                fd = int(pcap.pcap_fileno(self._handle))
                size = ctypes.sizeof(fprog)
                if libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, ctypes.byref(fprog), size):
                    reason = os.strerror(ctypes.get_errno())
                    raise FilterError(bpf, f"the kernel refused the filter: {reason}")
            elif pcap.pcap_setfilter(self._handle, ctypes.byref(prog)) != 0:
                raise FilterError(bpf, (pcap.pcap_geterr(self._handle) or b"").decode())
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
        libc = _libc()
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
        st = _Stat()
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
            libc = _libc()
            if libc is not None:
                libc.free(self._buf)
        if self._handle:
            pcap.pcap_close(self._handle)
            self._handle = None
