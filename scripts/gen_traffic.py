#!/usr/bin/env python3
"""A bounded traffic generator for demos and tests: loopback (or a test namespace) only.

  gen_traffic.py steady   --rate 200 --seconds 10          UDP datagrams at a steady rate
  gen_traffic.py burst    --rate 5000 --seconds 2          a short flood
  gen_traffic.py portscan --ports 1-500                    TCP connection attempts, one per port
  gen_traffic.py dns      --rate 300 --seconds 5           a DNS query storm: 50 names
                                                           under storm.example, to port 53

Every pattern stops after --count packets or --seconds, whichever comes first (both capped).
Destinations must be loopback (127.0.0.0/8, ::1) unless --namespace names a namespace the
caller created whose address --host is (checked against `ip -n NS addr`).
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import struct
import subprocess
import sys
import time

MAX_COUNT = 2_000_000
MAX_SECONDS = 600.0


def check_target(host: str, namespace: str | None) -> None:
    """Refuse any destination that is not loopback or an address of `namespace`."""
    ip = ipaddress.ip_address(host)
    if ip.is_loopback:
        return
    if namespace:
        out = subprocess.run(
            ["ip", "-n", namespace, "-o", "addr"], capture_output=True, text=True, check=True
        ).stdout
        if f" {host}/" in out:
            return
    sys.exit(
        f"gen_traffic: refusing to send to {host}: only loopback or an address of a "
        "test namespace you created (--namespace NS)"
    )


def paced(count: int, rate: float, seconds: float):  # type: ignore[no-untyped-def]
    """Yield packet indexes at `rate` per second, bounded by count and time."""
    start = time.monotonic()
    for k in range(min(count, MAX_COUNT)):
        due = start + k / rate
        now = time.monotonic()
        if now - start > min(seconds, MAX_SECONDS):
            return
        if due > now:
            time.sleep(due - now)
        yield k


def udp(host: str, port: int, count: int, rate: float, seconds: float, size: int = 64) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sent = 0
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for k in paced(count, rate, seconds):
            s.sendto(k.to_bytes(8, "big") + bytes(max(0, size - 8)), (host, port))
            sent += 1
    return sent


def dns(host: str, port: int, count: int, rate: float, seconds: float) -> int:
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for k in paced(count, rate, seconds):
            name = f"host{k % 50}.storm.example"
            qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
            s.sendto(
                struct.pack(">HHHHHH", k & 0xFFFF, 0x0100, 1, 0, 0, 0)
                + qname
                + struct.pack(">HH", 1, 1),
                (host, port),
            )
            sent += 1
    return sent


def portscan(host: str, first: int, last: int, rate: float, seconds: float) -> int:
    sent = 0
    ports = list(range(first, last + 1))
    for k in paced(len(ports), rate, seconds):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            s.connect_ex((host, ports[k]))  # a SYN; a closed port answers RST
        sent += 1
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pattern", choices=["steady", "burst", "portscan", "dns"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="UDP port (default 45454; dns: 53)")
    parser.add_argument("--rate", type=float, default=None, help="packets per second")
    parser.add_argument("--seconds", type=float, default=None, help="at most this long")
    parser.add_argument("--count", type=int, default=None, help="at most this many packets")
    parser.add_argument("--ports", default="1-500", help="port range for portscan")
    parser.add_argument("--namespace", help="a test namespace whose address --host may be")
    args = parser.parse_args()
    check_target(args.host, args.namespace)
    defaults = {"steady": (200, 10), "burst": (5000, 2), "portscan": (200, 10), "dns": (300, 5)}
    rate, seconds = defaults[args.pattern]
    rate = args.rate or rate
    seconds = min(args.seconds or seconds, MAX_SECONDS)
    count = min(args.count or int(rate * seconds), MAX_COUNT)
    if args.pattern in ("steady", "burst"):
        sent = udp(args.host, args.port or 45454, count, rate, seconds)
    elif args.pattern == "dns":
        sent = dns(args.host, args.port or 53, count, rate, seconds)
    else:
        first, last = (int(x) for x in args.ports.split("-"))
        sent = portscan(args.host, first, min(last, first + count - 1), rate, seconds)
    print(f"{args.pattern}: {sent} packets to {args.host}")


if __name__ == "__main__":
    main()
