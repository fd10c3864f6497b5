"""A deterministic capture of realistic flows, for the flow benchmark (`bench.py flows`).

TCP connections with handshakes (MSS, window scale), a request, a response of several
segments with delayed ACKs, and endings by FIN or RST; some lose a segment (the receiver's
duplicate ACKs, then the sender's fast retransmission), some have two segments swapped; SYNs
nobody answers; DNS queries and answers over UDP. Flows overlap in time as on a busy link.
Built with struct, seeded, so the same arguments give the same bytes.

    python scripts/flowgen.py out.pcap --packets 500000
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1448


def _tcp(
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    win: int,
    data: bytes = b"",
    options: bytes = b"",
) -> bytes:
    options += bytes(-len(options) % 4)
    off = 5 + len(options) // 4
    head = struct.pack(
        ">HHIIHHHH", sport, dport, seq % 2**32, ack % 2**32, (off << 12) | flags, win, 0, 0
    )
    return head + options + data


class Flow:
    """The packets of one TCP connection, as (time, frame)."""

    def __init__(self, rng: random.Random, k: int, t0: float) -> None:
        self.rng = rng
        self.client = f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255 or 1}"
        self.server = f"192.0.2.{rng.randrange(1, 250)}"
        self.cport = 1024 + rng.randrange(60000)
        self.sport = rng.choice((80, 443, 8080, 22, 3306))
        self.rtt = rng.uniform(0.0005, 0.08)
        self.t = t0
        self.out: list[tuple[float, bytes]] = []

    def send(
        self,
        from_client: bool,
        seq: int,
        ack: int,
        flags: int,
        data: bytes = b"",
        options: bytes = b"",
        win: int = 1024,
    ) -> None:
        if from_client:
            seg = _tcp(self.cport, self.sport, seq, ack, flags, win, data, options)
            frame = synth.ether(synth.ipv4(self.client, self.server, 6, seg))
        else:
            seg = _tcp(self.sport, self.cport, seq, ack, flags, win, data, options)
            frame = synth.ether(synth.ipv4(self.server, self.client, 6, seg))
        self.out.append((self.t, frame))

    def build(self) -> list[tuple[float, bytes]]:
        rng = self.rng
        c, s = rng.randrange(2**32), rng.randrange(2**32)
        syn_opts = b"\x02\x04\x05\xb4\x01\x03\x03\x07"  # MSS 1460, NOP, window scale 7
        self.send(True, c, 0, SYN, options=syn_opts, win=64240)
        if rng.random() < 0.03:  # nobody answers: the SYN is sent again, then given up
            self.t += 1.0
            self.send(True, c, 0, SYN, options=syn_opts, win=64240)
            return self.out
        half = self.rtt / 2
        self.t += half
        self.send(False, s, c + 1, SYN | ACK, options=syn_opts, win=65160)
        self.t += half
        c += 1
        s += 1
        self.send(True, c, s, ACK, win=502)
        request = bytes(rng.randrange(60, 400))
        self.send(True, c, s, PSH | ACK, request, win=502)
        c += len(request)
        self.t += half
        self.send(False, s, c, ACK, win=509)
        size = rng.choice((0, 1, 2, 3, 6, 12, 40)) * MSS + rng.randrange(MSS)
        chunks = [bytes(min(MSS, size - i)) for i in range(0, size, MSS)]
        lost = rng.randrange(len(chunks)) if len(chunks) > 3 and rng.random() < 0.1 else -1
        swap = rng.randrange(len(chunks) - 1) if len(chunks) > 3 and rng.random() < 0.05 else -1
        order = list(range(len(chunks)))
        if swap >= 0:
            order[swap], order[swap + 1] = order[swap + 1], order[swap]
        starts = [s + i * MSS for i in range(len(chunks))]
        delivered = 0  # the client's cumulative ACK, in chunks
        got: set[int] = set()
        for n, i in enumerate(order):
            self.t += 0.00012
            self.send(False, starts[i], c, ACK, chunks[i], win=509)
            if i == lost:
                continue  # lost after the capture point: the client never gets it
            got.add(i)
            while delivered in got:
                delivered += 1
            if n % 2 == 1 or delivered < len(got) or n == len(order) - 1:
                self.t += half
                ack = starts[delivered] if delivered < len(chunks) else s + size
                self.send(True, c, ack, ACK, win=502)
                self.t -= half
        if lost >= 0:  # the duplicate ACKs made the server send it again
            self.t += self.rtt
            self.send(False, starts[lost], c, ACK, chunks[lost], win=509)
            got.add(lost)
            while delivered in got:
                delivered += 1
            self.t += half
            self.send(True, c, s + size, ACK, win=502)
        s += size
        self.t = max(t for t, _ in self.out)  # the close comes after the client's last ACK
        self.t += rng.uniform(0.001, 2.0)
        if rng.random() < 0.15:
            self.send(True, c, s, RST | ACK, win=0)
            return self.out
        self.send(True, c, s, FIN | ACK, win=502)
        self.t += half
        self.send(False, s, c + 1, FIN | ACK, win=509)
        self.t += half
        self.send(True, c + 1, s + 1, ACK, win=502)
        return self.out


def _dns(rng: random.Random, k: int, t0: float) -> list[tuple[float, bytes]]:
    client = f"10.200.{(k >> 8) & 255}.{k & 255 or 1}"
    port = 1024 + rng.randrange(60000)
    name = f"host{rng.randrange(5000)}.example.com"
    query = synth.dns_query(name, k & 0xFFFF)
    answer = bytearray(query)
    answer[2] |= 0x80  # a response (no answer records: enough for flows)
    q = synth.ether(synth.ipv4(client, "192.0.2.53", 17, synth.udp(port, 53, query)))
    a = synth.ether(synth.ipv4("192.0.2.53", client, 17, synth.udp(53, port, bytes(answer))))
    return [(t0, q), (t0 + rng.uniform(0.001, 0.05), a)]


def realistic(
    packets: int, seed: int = 1, start: float = 1_700_000_000.0
) -> list[tuple[float, bytes]]:
    """About `packets` (time, frame) pairs, sorted by time."""
    rng = random.Random(seed)
    out: list[tuple[float, bytes]] = []
    k = 0
    t = start
    while len(out) < packets:
        t += rng.expovariate(2000.0)  # a new flow every 0.5 ms on average
        k += 1
        if rng.random() < 0.3:
            out += _dns(rng, k, t)
        else:
            out += Flow(rng, k, t).build()
    out.sort(key=lambda pair: pair[0])
    return out[:packets]


def write(path: str | Path, packets: int, seed: int = 1, snaplen: int = 0) -> int:
    """Write the capture; `snaplen` > 0 keeps only that many bytes of each frame (the
    lengths on the wire stay), as a capture with a snapshot length does."""
    pairs = realistic(packets, seed)
    if not snaplen:
        return synth.write_pcap(path, (f for _, f in pairs), times=[t for t, _ in pairs])
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)]
    for t, frame in pairs:
        ticks = round(t * 1_000_000)
        kept = frame[:snaplen]
        out.append(
            struct.pack("<IIII", ticks // 1_000_000, ticks % 1_000_000, len(kept), len(frame))
        )
        out.append(kept)
    Path(path).write_bytes(b"".join(out))
    return len(pairs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--snaplen", type=int, default=0, help="bytes kept per frame (0: all)")
    args = ap.parse_args()
    print(write(args.out, args.packets, args.seed, args.snaplen), "packets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
