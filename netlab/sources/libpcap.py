"""libpcap through ctypes: interfaces, BPF compilation, and live capture into pcap bytes.

Capture uses libpcap's memory-mapped ring; `pcap_dispatch` is handed libpcap's own `pcap_dump`
as its callback, writing into an `open_memstream` buffer, so packets become pcap records
without any Python running per packet. The bytes are then walked and decoded in batches.
Only the libpcap shared library is needed (Debian: libpcap0.8), no compiler.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import sys
import threading
from dataclasses import dataclass
from functools import cache

from ..errors import CaptureError, CaptureFilterError, LibpcapMissing

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
        raise CaptureFilterError(expression, "a capture filter cannot contain a NUL character")
    try:
        return expression.encode()
    except UnicodeEncodeError:
        reason = "the filter is not valid text (a lone surrogate?)"
        raise CaptureFilterError(expression, reason) from None


# libpcap serialises pcap_compile internally only since 1.8; be safe on older ones.
compile_lock = threading.Lock()


class BpfStruct(ctypes.Structure):
    _fields_ = [("bf_len", c_uint), ("bf_insns", c_void_p)]


class SockFprog(ctypes.Structure):  # Linux's struct sock_fprog (SO_ATTACH_FILTER)
    _fields_ = [("len", ctypes.c_ushort), ("filter", c_void_p)]


SOL_SOCKET, SO_ATTACH_FILTER = 1, 26
COOKED_LINKTYPES = (113, 276)  # Linux SLL/SLL2: libpcap rewrites offsets for the kernel


class PcapStat(ctypes.Structure):
    _fields_ = [("ps_recv", c_uint), ("ps_drop", c_uint), ("ps_ifdrop", c_uint)]


class PktHdr(ctypes.Structure):
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
        "pcap_compile": (c_int, [c_void_p, ctypes.POINTER(BpfStruct), c_char_p, c_int, c_uint]),
        "pcap_setfilter": (c_int, [c_void_p, ctypes.POINTER(BpfStruct)]),
        "pcap_freecode": (None, [ctypes.POINTER(BpfStruct)]),
        "pcap_offline_filter": (
            c_int,
            [ctypes.POINTER(BpfStruct), ctypes.POINTER(PktHdr), c_char_p],
        ),
        "pcap_datalink": (c_int, [c_void_p]),
        "pcap_setnonblock": (c_int, [c_void_p, c_int, c_char_p]),
        "pcap_get_selectable_fd": (c_int, [c_void_p]),
        "pcap_fileno": (c_int, [c_void_p]),
        "pcap_dispatch": (c_int, [c_void_p, c_int, c_void_p, c_void_p]),
        "pcap_stats": (c_int, [c_void_p, ctypes.POINTER(PcapStat)]),
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
def libc_lib() -> ctypes.CDLL | None:
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
        self._prog = BpfStruct()
        dead = pcap.pcap_open_dead(linktype, snaplen)
        if not dead:
            raise CaptureError("libpcap could not create a handle to compile filters")
        try:
            with compile_lock:
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
            raise CaptureFilterError(expression, message or "invalid filter")
        self._compiled = True

    @property
    def instructions(self) -> int:
        """Length of the compiled program."""
        return int(self._prog.bf_len)

    def matches(self, data: bytes, wirelen: int) -> bool:
        """Whether one frame passes the filter (for offline replays)."""
        hdr = PktHdr(0, 0, len(data), wirelen)
        return bool(lib().pcap_offline_filter(ctypes.byref(self._prog), ctypes.byref(hdr), data))

    def __del__(self) -> None:
        if getattr(self, "_compiled", False):
            lib().pcap_freecode(ctypes.byref(self._prog))
            self._compiled = False
