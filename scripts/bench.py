#!/usr/bin/env python3
"""netlab benchmarks, each against the reference tools in the same run.

  bench.py parse     read_pcap vs tshark -T fields -> pandas vs scapy rdpcap (200k packets)

Results are printed as a Markdown table (packets/s and ratios), ready to paste on an issue.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synth  # noqa: E402

TSHARK_FIELDS = ["frame.time_epoch", "frame.len", "frame.cap_len", "ip.src", "ip.dst",
                 "ipv6.src", "ipv6.dst", "ip.proto", "tcp.srcport", "tcp.dstport",
                 "udp.srcport", "udp.dstport", "tcp.flags", "ip.ttl", "vlan.id",
                 "dns.qry.name", "tls.handshake.extensions_server_name", "http.host",
                 "_ws.col.Info"]  # fmt: skip


def _timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _netlab(path: Path):
    import netlab

    return netlab.read_pcap(path)


def _tshark(path: Path):
    import pandas as pd

    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "header=y", "-E", "separator=/t",
           "-o", "tcp.desegment_tcp_streams:FALSE"]  # fmt: skip
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    out = subprocess.run(
        cmd, capture_output=True, check=True, env={**os.environ, "LC_ALL": "C.UTF-8"}
    )
    return pd.read_csv(io.BytesIO(out.stdout), sep="\t", quoting=3, low_memory=False)


def _scapy(path: Path, limit: int | None):
    """scapy's way to the same kind of table: rdpcap, then one row per dissected packet."""
    import pandas as pd
    from scapy.layers.dns import DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    rows = []
    for pkt in rdpcap(str(path), count=limit or -1):
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP)
        q = pkt.getlayer(DNSQR)
        rows.append((
            float(pkt.time), len(pkt), ip.src if ip else None, ip.dst if ip else None,
            (ip.proto if ip.version == 4 else ip.nh) if ip else None,
            (ip.ttl if ip.version == 4 else ip.hlim) if ip else None,
            l4.sport if l4 else None, l4.dport if l4 else None,
            int(pkt[TCP].flags) if pkt.haslayer(TCP) else None,
            q.qname.decode(errors="replace") if q else None, pkt.summary(),
        ))  # fmt: skip
    cols = [
        "ts",
        "length",
        "src",
        "dst",
        "proto",
        "ttl",
        "sport",
        "dport",
        "flags",
        "qname",
        "info",
    ]
    return pd.DataFrame(rows, columns=cols)


def cmd_parse(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    path = workdir / "mixed.pcap"
    n = synth.write_pcap(path, synth.mixed_frames(args.packets))
    print(f"capture: {n:,} packets, {path.stat().st_size / 1e6:.1f} MB (deterministic mix)\n")
    results: list[tuple[str, int, float]] = []
    t, df = _timed(lambda: _netlab(path), args.runs)
    results.append(("netlab.read_pcap (all columns)", n, t))
    filled = {
        c: f"{df[c].notna().mean():.0%}"
        for c in ("src", "sport", "dns_qname", "tls_sni", "http_host", "info")
    }
    if shutil.which("tshark"):
        t, _ = _timed(lambda: _tshark(path), 1)
        results.append(("tshark -T fields -> pandas", n, t))
    else:
        print("tshark not found: skipped (install Debian's tshark)")
    scapy_n = min(n, args.scapy_packets) if args.scapy_packets else n
    t, _ = _timed(lambda: _scapy(path, scapy_n), 1)
    results.append((f"scapy rdpcap -> pandas ({scapy_n:,} packets)", scapy_n, t))
    base = results[0][1] / results[0][2]
    print("| method | packets | seconds | packets/s | netlab is x faster |")
    print("|---|---|---|---|---|")
    for name, count, secs in results:
        rate = count / secs
        print(f"| {name} | {count:,} | {secs:.2f} | {rate:,.0f} | {base / rate:.1f} |")
    print(f"\nnetlab columns filled (share of rows): {filled}")
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parse = sub.add_parser("parse", help="decode speed against tshark and scapy")
    parse.add_argument("--packets", type=int, default=200_000)
    parse.add_argument("--runs", type=int, default=5, help="netlab runs (median)")
    parse.add_argument(
        "--scapy-packets",
        type=int,
        default=0,
        help="time scapy on only the first N packets (0: all; it takes ~70 s)",
    )
    parse.set_defaults(run=cmd_parse)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
