"""Build netlab/data/demo.pcap: two minutes of office-like traffic with a burst and a port scan.

Deterministic (fixed seed): rerunning gives the same bytes. The burst starts at t=70 s and the
scan at t=100 s, so anomaly detectors have a minute of quiet history before them.
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synth  # noqa: E402

START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
OUT = Path(__file__).resolve().parent.parent / "netlab" / "data" / "demo.pcap"


def build(seed: int = 11) -> list[tuple[float, bytes]]:
    rnd = random.Random(seed)
    packets: list[tuple[float, bytes]] = []
    clients = [f"192.168.1.{i}" for i in range(10, 40)]
    servers = {
        "93.184.216.34": "example.com",
        "140.82.112.3": "github.com",
        "151.101.1.69": "pypi.org",
        "142.250.74.46": "www.google.com",
    }
    t = 0.0
    while t < 120.0:
        t += rnd.expovariate(100.0)  # ~100 packets/s of background
        client = rnd.choice(clients)
        server, name = rnd.choice(list(servers.items()))
        port = 40000 + clients.index(client) * 10 + rnd.randrange(4)  # a few connections each
        r = rnd.random()
        if r < 0.08:
            frame = synth.ipv4(
                client,
                "192.168.1.1",
                17,
                synth.udp(port, 53, synth.dns_query(name, rnd.randrange(65536))),
            )
        elif r < 0.14:
            frame = synth.ipv4(
                client, server, 6, synth.tcp(port, 443, 0x18, synth.tls_client_hello(name))
            )
        elif r < 0.18:
            frame = synth.ipv4(
                client, server, 6, synth.tcp(port, 80, 0x18, synth.http_get(name, "/index.html"))
            )
        elif r < 0.20:
            frame = synth.ipv4(
                client,
                server,
                1,
                struct.pack(">BBHHH", 8, 0, 0, 1, rnd.randrange(65536)) + bytes(48),
            )
        elif r < 0.21:
            packets.append((t, synth.ether(synth.arp_request(client, "192.168.1.1"), 0x0806)))
            continue
        elif r < 0.60:
            frame = synth.ipv4(
                server, client, 6, synth.tcp(443, port, 0x10, bytes(rnd.randrange(100, 600)))
            )
        else:
            frame = synth.ipv4(client, server, 6, synth.tcp(port, 443, 0x10))
        packets.append((t, synth.ether(frame)))
    # A burst: 6 s of a UDP flood at ~1,000 packets/s from one host.
    t = 70.0
    while t < 76.0:
        t += rnd.expovariate(1000.0)
        frame = synth.ipv4("192.168.1.66", "93.184.216.34", 17, synth.udp(5353, 9999, bytes(64)))
        packets.append((t, synth.ether(frame)))
    # A port scan: one host sends SYNs to 400 ports of another in 4 s; closed ports answer RST.
    for k, port in enumerate(range(1, 401)):
        t = 100.0 + k * 0.01
        packets.append(
            (
                t,
                synth.ether(
                    synth.ipv4("192.168.1.99", "192.168.1.20", 6, synth.tcp(61000, port, 0x02))
                ),
            )
        )
        packets.append(
            (
                t + 0.0004,
                synth.ether(
                    synth.ipv4("192.168.1.20", "192.168.1.99", 6, synth.tcp(port, 61000, 0x14))
                ),
            )
        )
    packets.sort(key=lambda p: p[0])
    return [(START + ts, frame) for ts, frame in packets]


if __name__ == "__main__":
    pkts = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(synth.pcap_bytes([f for _, f in pkts], times=[ts for ts, _ in pkts]))
    print(f"wrote {len(pkts)} packets to {OUT} ({OUT.stat().st_size:,} bytes)")
