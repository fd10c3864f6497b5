"""Deterministic synthetic traffic as raw frames and pcap files, for benchmarks, tests and demos.

Frames are built with struct (not scapy) so that hundreds of thousands take a second or two.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    """An IPv4 header (checksum left zero) followed by `payload`."""
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    return (
        struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, ttl, proto, 0, s, d)
        + payload
    )


def ipv6(src: bytes, dst: bytes, nxt: int, payload: bytes, hlim: int = 64) -> bytes:
    """An IPv6 header followed by `payload`."""
    return struct.pack(">IHBB16s16s", 0x60000000, len(payload), nxt, hlim, src, dst) + payload


def tcp(
    sport: int, dport: int, flags: int, payload: bytes = b"", seq: int = 1, ack: int = 0
) -> bytes:
    """A TCP header without options followed by `payload`."""
    return (
        struct.pack(">HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, 65535, 0, 0) + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP header followed by `payload`."""
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def ether(payload: bytes, ethertype: int = 0x0800, vlan: int | None = None) -> bytes:
    """An Ethernet II frame, optionally 802.1Q-tagged."""
    head = MAC_B + MAC_A
    if vlan is not None:
        head += struct.pack(">HH", 0x8100, vlan)
    return head + struct.pack(">H", ethertype) + payload


def dns_query(name: str, ident: int, qtype: int = 1) -> bytes:
    """A DNS query for `name`."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)


def tls_client_hello(sni: str) -> bytes:
    """A minimal TLS 1.2 ClientHello record carrying a server_name extension."""
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(sni_ext)) + sni_ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def http_get(host: str, path: str = "/") -> bytes:
    """An HTTP/1.1 GET request."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netlab-synth\r\n\r\n".encode()


def arp_request(spa: str, tpa: str) -> bytes:
    """An ARP who-has request."""
    s = bytes(int(x) for x in spa.split("."))
    t = bytes(int(x) for x in tpa.split("."))
    return struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, s, bytes(6), t)


def mixed_frames(count: int, seed: int = 7) -> Iterator[bytes]:
    """A deterministic mix: TCP with varied flags, UDP, DNS, TLS, HTTP, ICMP, IPv6, VLAN, ARP."""
    rnd = random.Random(seed)
    hosts = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(500)]
    names = [f"host{i}.example.com" for i in range(200)]
    v6 = [bytes.fromhex("20010db8" + "0" * 20) + i.to_bytes(4, "big") for i in range(64)]
    for k in range(count):
        r = rnd.random()
        a, b = rnd.choice(hosts), rnd.choice(hosts)
        sport = rnd.randrange(1024, 65535)
        if r < 0.40:
            flags = rnd.choice((0x02, 0x12, 0x10, 0x18, 0x11, 0x04))
            body = bytes(rnd.randrange(0, 400)) if flags in (0x10, 0x18) else b""
            yield ether(ipv4(a, b, 6, tcp(sport, rnd.choice((22, 80, 443, 8080)), flags, body)))
        elif r < 0.55:
            yield ether(
                ipv4(
                    a,
                    b,
                    17,
                    udp(sport, rnd.choice((123, 5000, 9999)), bytes(rnd.randrange(8, 200))),
                )
            )
        elif r < 0.67:
            yield ether(
                ipv4(a, "10.0.0.53", 17, udp(sport, 53, dns_query(rnd.choice(names), k & 0xFFFF)))
            )
        elif r < 0.75:
            yield ether(ipv4(a, b, 6, tcp(sport, 443, 0x18, tls_client_hello(rnd.choice(names)))))
        elif r < 0.82:
            yield ether(
                ipv4(a, b, 6, tcp(sport, 80, 0x18, http_get(rnd.choice(names), f"/p{k % 97}")))
            )
        elif r < 0.87:
            yield ether(ipv4(a, b, 1, struct.pack(">BBHHH", 8, 0, 0, k & 0xFFFF, 1) + bytes(32)))
        elif r < 0.94:
            yield ether(
                ipv6(
                    rnd.choice(v6),
                    rnd.choice(v6),
                    17,
                    udp(sport, 443, bytes(rnd.randrange(20, 300))),
                ),
                0x86DD,
            )
        elif r < 0.98:
            yield ether(
                ipv4(a, b, 6, tcp(sport, 3306, 0x10, bytes(64))), vlan=rnd.randrange(1, 4095)
            )
        else:
            yield ether(arp_request(a, b), 0x0806)


def pcap_bytes(
    frames: Iterable[bytes | tuple[bytes, int]],
    *,
    times: Iterable[float] | None = None,
    start: float = 1_700_000_000.0,
    step: float = 0.0001,
    linktype: int = 1,
    byte_order: str = "<",
    nanosecond: bool = False,
    modified: bool = False,
    snaplen: int = 262144,
) -> bytes:
    """A whole pcap file: microsecond or nanosecond, either byte order, or Kuznetzov's format."""
    magic = 0xA1B2CD34 if modified else 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(byte_order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    ts_iter = iter(times) if times is not None else None
    scale = 1_000_000_000 if nanosecond else 1_000_000
    for n, item in enumerate(frames):
        # a frame, or (the captured bytes, the length on the wire) for one the capture cut
        frame, wirelen = item if isinstance(item, tuple) else (item, len(item))
        ts = next(ts_iter) if ts_iter is not None else start + n * step
        ticks = round(ts * scale)
        out.append(
            struct.pack(byte_order + "IIII", ticks // scale, ticks % scale, len(frame), wirelen)
        )
        if modified:
            out.append(struct.pack(byte_order + "IHBB", 1, 0x0800, 0, 0))
        out.append(frame)
    return b"".join(out)


def write_pcap(
    path: str | Path, frames: Iterable[bytes | tuple[bytes, int]], **options: object
) -> int:
    """Write frames to a pcap file (options as for pcap_bytes); return how many were written."""
    frames = list(frames)
    Path(path).write_bytes(pcap_bytes(frames, **options))  # type: ignore[arg-type]
    return len(frames)


def pcapng_bytes(
    sections: list[list[tuple[int, list[tuple[float, bytes]]]]],
    byte_orders: list[str] | None = None,
) -> bytes:
    """A pcapng file: per section, a list of interfaces (linktype, [(time, frame), ...]).

    Each section also holds a name-resolution block, an interface-statistics block and a
    custom block, which readers must skip.
    """
    out = []

    def block(bo: str, btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return (
            struct.pack(bo + "II", btype, len(body) + 12)
            + body
            + struct.pack(bo + "I", len(body) + 12)
        )

    for k, interfaces in enumerate(sections):
        bo = (byte_orders or ["<"] * len(sections))[k]
        out.append(block(bo, 0x0A0D0D0A, struct.pack(bo + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
        for linktype, _packets in interfaces:
            opts = struct.pack(bo + "HHB3x", 9, 1, 9) + struct.pack(bo + "HH", 0, 0)  # ns ticks
            out.append(block(bo, 1, struct.pack(bo + "HHI", linktype, 0, 262144) + opts))
        out.append(block(bo, 4, struct.pack(bo + "HH", 0, 0)))  # empty name resolution block
        for iface, (_lt, packets) in enumerate(interfaces):
            for ts, frame in packets:
                ticks = round(ts * 1e9)
                body = (
                    struct.pack(
                        bo + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
                    )
                    + frame
                )
                out.append(block(bo, 6, body))
            out.append(block(bo, 5, struct.pack(bo + "III", iface, 0, 0)))  # statistics
        out.append(block(bo, 0x00000BAD, struct.pack(bo + "I", 32473) + b"custom"))
    return b"".join(out)


def tunnelled_frames() -> list[bytes]:
    """Frames that carry packets inside: VXLAN with a TCP SYN to 10.9.9.9, GRE in GRE, an
    ICMP port unreachable quoting a DNS query, and a plain datagram to 10.9.9.9."""
    inner_tcp = ipv4("10.9.9.9", "10.8.8.8", 6, tcp(1234, 443, 0x002))
    vxlan = struct.pack(">BBHI", 0x08, 0, 0, 42 << 8) + ether(inner_tcp)
    quoted = ipv4("10.7.7.7", "8.8.4.4", 17, udp(5555, 53, b"x" * 40))[:28]
    return [
        # 1: VXLAN (UDP 4789) carrying Ethernet, IPv4 and a TCP SYN
        ether(ipv4("192.0.2.1", "192.0.2.2", 17, udp(40000, 4789, vxlan))),
        # 2: GRE carrying IPv4 carrying GRE carrying IPv4 (two levels)
        ether(
            ipv4(
                "192.0.2.1",
                "192.0.2.3",
                47,
                struct.pack(">HH", 0, 0x0800)
                + ipv4(
                    "172.16.0.1",
                    "172.16.0.2",
                    47,
                    struct.pack(">HH", 0, 0x0800)
                    + ipv4("10.6.6.6", "10.5.5.5", 17, udp(1, 2, b"")),
                ),
            )
        ),
        # 3: an ICMP port unreachable quoting a DNS query's IP header and 8 bytes of UDP
        ether(ipv4("8.8.4.4", "10.7.7.7", 1, struct.pack(">BBHI", 3, 3, 0, 0) + quoted)),
        # 4: plain UDP to 10.9.9.9, for contrast
        ether(ipv4("192.0.2.9", "10.9.9.9", 17, udp(53, 53, b"y"))),
    ]
