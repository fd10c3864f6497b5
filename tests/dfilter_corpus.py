"""The corpus as one capture for display-filter comparisons with tshark, and the filters.

tshark takes one filter per run, so the captures both tools read alike are joined into one
pcapng (mergecap -a) and each filter is one tshark run over all of them; the frame numbers
tell the captures apart again. tshark runs with netlab's per-packet semantics, as for the
corpus's reference fields: no IP defragmentation, no TCP reassembly (PER_PACKET). Captures
where tshark sees a second IP header (tunnels, ICMP errors quoting a packet) or IP fragments
go last: their tunnelled TCP streams would shift the `tcp.stream` numbers of captures after.
"""

from __future__ import annotations

import subprocess
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import netlab

DATA = Path(__file__).parent / "data"
# capture_missed.pcap is reordered.pcap with frames taken out: merged, its connections would
# be the same ones twice
SKIP = {"capture_missed.pcap"}
_NESTED_FIELDS = ("frame.protocols", "ip.flags.mf", "ip.frag_offset", "ipv6.fragment", "icmp.type")
_ICMP_ERRORS = {"3", "4", "5", "11", "12"}


PER_PACKET = (
    *("-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"),
    *("-o", "tcp.desegment_tcp_streams:FALSE"),
)


@dataclass
class Merged:
    path: Path
    frame: pd.DataFrame
    names: list[str]
    sources: list[Path]  # the capture behind each name
    bounds: np.ndarray  # capture k holds frame numbers bounds[k] + 1 .. bounds[k + 1]
    plain: set[str]  # captures with only outermost headers and no fragments

    def split(self, numbers: np.ndarray) -> dict[str, set[int]]:
        which = np.searchsorted(self.bounds, numbers, side="left") - 1
        return {n: set(numbers[which == k].tolist()) for k, n in enumerate(self.names)}


def _tshark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=300)


def _look(path: Path) -> tuple[Path, int, bool] | None:
    """(path, frames, nested) for a capture both read whole and alike; None otherwise."""
    if path.name in SKIP:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a capture read with a warning is left out
        try:
            n = len(netlab.read_pcap(path))
        except (netlab.NetlabError, netlab.NetlabWarning):
            return None
    args = ["-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;"]
    for f in _NESTED_FIELDS:
        args += ["-e", f]
    r = _tshark(*args)
    errors = [line for line in r.stderr.splitlines() if line.strip() and "Running as" not in line]
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    if r.returncode or errors or len(rows) != n or not n:
        return None
    nested = False
    for protocols, more, offset, fragment, icmp in rows:
        layers = protocols.split(":")
        nested |= sum(p in ("ip", "ipv6") for p in layers) > 1
        nested |= bool({"gre", "vxlan", "geneve"} & set(layers))
        nested |= "1" in more.split(";") or "True" in more.split(";") or bool(fragment)
        nested |= any(o not in ("", "0") for o in offset.split(";"))
        nested |= bool(_ICMP_ERRORS & set(icmp.split(";")))
    return path, n, nested


def build(directory: Path, sources: list[Path]) -> Merged:
    """The merged capture of those `sources` netlab and tshark both read whole and alike."""
    with ThreadPoolExecutor(max_workers=4) as pool:  # each look is mostly a tshark run
        looks = [x for x in pool.map(_look, sources) if x is not None]
    order = [p for p, _, nested in looks if not nested] + [p for p, _, nested in looks if nested]
    counts = {p: n for p, n, _ in looks}
    out = directory / "corpus.pcapng"
    subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", str(out), *map(str, order)], check=True)
    frame = netlab.read_pcap(out)
    bounds = np.cumsum([0] + [counts[p] for p in order])
    assert len(frame) == bounds[-1]
    plain = {p.name for p, _, nested in looks if not nested}
    return Merged(out, frame, [p.name for p in order], order, bounds, plain)


def frames_of_each(path: Path, expressions: list[str]) -> dict[str, np.ndarray]:
    """`tshark_frames` of many filters, four tshark runs at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda e: tshark_frames(path, e), expressions)
        return dict(zip(expressions, found, strict=True))


def tshark_frames(path: Path, expression: str) -> np.ndarray:
    """The frame numbers `tshark -Y expression` selects, with per-packet semantics."""
    args = ("-r", str(path), "-Y", expression, "-T", "fields", "-e", "frame.number")
    r = _tshark(*PER_PACKET, *args)
    assert r.returncode == 0, (expression, r.stderr[-300:])
    return np.array(sorted(int(x) for x in r.stdout.split()), dtype=np.int64)


# Typical filters, one or more per field and operator netlab has.
FILTERS = """
frame.len > 100
frame.cap_len < 60
frame.number <= 10
frame.time_epoch > 1300000000
ip
ipv6
tcp
udp
icmp
icmpv6
arp
slarp
vlan
dns
ip.src == 10.0.0.0/8
ip.addr == 192.168.0.0/16
ip.dst == 8.8.8.8
ip.addr != 10.0.0.1
!(ip.addr == 10.0.0.1)
ip.addr === 10.0.0.1
ip.addr !== 10.0.0.1
ip.addr ~= 192.168.1.1
ip.src > 10.0.0.0 && ip.src < 11.0.0.0
ip.ttl < 64
ip.ttl == 64
ip.ttl ge 128
ip.proto == 6
ip.proto == 17
ip.version == 4
ipv6.src == fe80::/10
ipv6.addr == 2001::/16
ipv6.dst == ff02::1
ipv6.hlim == 255
tcp.port == 80
tcp.port in {80, 443, 8080}
tcp.port in {1..1024}
tcp.srcport == 443 || tcp.dstport == 443
tcp.dstport >= 1024
tcp.srcport > tcp.dstport
udp.port == 53
udp.srcport == udp.dstport
udp.dstport in {53, 67..68, 123, 5353}
udp.length > 100
udp.stream == 1
tcp.stream == 0
tcp.stream in {2..5}
tcp.flags.syn == 1
tcp.flags.syn == 1 && tcp.flags.ack == 0
tcp.flags.syn
tcp.flags.reset == 1
tcp.flags.fin == 1
tcp.flags.push == 1 && tcp.len > 0
tcp.flags & 0x12 == 0x12
tcp.flags & 0x04
tcp.flags == 0x002
tcp.flags.ack eq 1 and not tcp.flags.push eq 1
tcp.len > 0
tcp.len == 0 && tcp.flags.ack == 1
tcp.seq_raw > 1000000000
tcp.ack_raw == 0
tcp.window_size_value == 0
tcp.window_size_value < 1000
tcp.options.mss_val == 1460
tcp.options.mss_val
tcp.options.wscale.shift >= 7
tcp.analysis.flags
tcp.analysis.retransmission
tcp.analysis.fast_retransmission
tcp.analysis.spurious_retransmission
tcp.analysis.out_of_order
tcp.analysis.duplicate_ack
tcp.analysis.zero_window
tcp.analysis.window_full
tcp.analysis.keep_alive
tcp.analysis.keep_alive_ack
tcp.analysis.lost_segment
tcp.analysis.ack_lost_segment
tcp.analysis.window_update
tcp.analysis.zero_window_probe
tcp.analysis.reused_ports
tcp && !tcp.analysis.retransmission
icmp.type == 8
icmp.type == 0 || icmp.type == 8
icmp.code == 3
icmp.ident == 1
icmp.type & 8
icmpv6.type == 135
icmpv6.echo.identifier
vlan.id == 1
dns.qry.name contains "google"
dns.qry.name matches "^WWW\\\\."
dns.qry.name == "www.google.com"
dns.qry.name
http.host contains "."
http.host matches "^[0-9.]+$"
tls.handshake.extensions_server_name
tls.handshake.extensions_server_name matches "com$"
ip.src == ip.dst
not tcp and not udp
tcp or udp and ip.ttl > 100
ip.addr == 10.0.0.0/8 && tcp.port in {80, 443} && !tcp.analysis.retransmission
(tcp.port == 80 || udp.port == 53) && frame.len > 60
frame.time_relative >= 0
""".strip().splitlines()

# Protocols netlab recognises only by the message it reads: `http` is a frame with an HTTP
# request, `tls` one with a ClientHello (tshark's also match responses and every record).
APPROXIMATE = ["http", "tls"]
