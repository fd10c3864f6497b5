#!/usr/bin/env python3
"""Record captures of real TCP trouble for the TCP-analysis conformance tests.

The vendored corpus has almost no retransmissions, zero windows or keep-alives, and this
machine's kernel has no netem, so the trouble is made by the real Linux TCP stack inside a
network namespace of our own (root needed; nothing leaves it): nftables drops every Nth data
segment before the capture point, a receiver that does not read fills its window, idle
sockets send keep-alives, a client reuses its port. tcpdump records the namespace's loopback.

Two files are then edited as a capture can go wrong on its own: packets the capture missed
(removed from the file, while the receiver got them) and packets reordered before the capture
point (two neighbours swapped, timestamps kept in order). Writes tests/data/tcp_trouble/.

    sudo .venv/bin/python scripts/make_tcp_trouble.py
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "tcp_trouble"
NS = "netlab-trouble"
HOST = "127.0.0.1"


def ns(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", "netns", "exec", NS, *cmd], check=check, capture_output=True)


def in_namespace() -> None:
    """Move this process into the namespace (setns), so sockets opened after are inside."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{NS}", os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)


class Recording:
    """tcpdump on the namespace's loopback into one file, for one scenario."""

    def __init__(self, name: str, port_filter: str) -> None:
        self.path = OUT / name
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                NS,
                "tcpdump",
                "-U",
                "--immediate-mode",
                "-B",
                "16384",
                "-i",
                "lo",
                "-s",
                "0",
                "-w",
                str(self.path),
                port_filter,
            ],
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        self.proc.stderr.readline()  # "listening on lo ..."

    def stop(self) -> None:
        time.sleep(1.0)
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        print(self.path.name, err.decode().strip().replace("\n", "; "))


def serve_once(port: int, handler, rcvbuf: int | None = None) -> threading.Thread:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind((HOST, port))
    srv.listen(4)

    def run() -> None:
        conn, _ = srv.accept()
        try:
            handler(conn)
        finally:
            conn.close()
            srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def drain(conn: socket.socket) -> None:
    while conn.recv(65536):
        pass


def bulk(port: int, size: int) -> None:
    t = serve_once(port, drain)
    c = socket.create_connection((HOST, port))
    chunk = bytes(range(256)) * 32
    for _ in range(size // len(chunk)):  # paced, so tcpdump keeps every packet
        c.sendall(chunk)
        time.sleep(0.0005)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    c.close()
    t.join(20)


def loss() -> None:
    """Every 23rd data segment to port 9001 lost after the capture point (dropped on input, so
    the sender's stack is not told): duplicate ACKs, fast retransmissions and timeouts, by the
    real stack. (A drop on output is reported to TCP, which just sends again, unseen.)"""
    ns("nft", "add", "table", "inet", "trouble")
    ns("nft", "add", "chain", "inet", "trouble", "in", "{ type filter hook input priority 0; }")
    ns(
        "nft",
        "add",
        "rule",
        "inet",
        "trouble",
        "in",
        "tcp",
        "dport",
        "9001",
        "meta",
        "length",
        "gt",
        "200",
        "numgen",
        "inc",
        "mod",
        "23",
        "0",
        "counter",
        "drop",
    )
    rec = Recording("loss.pcap", "tcp port 9001")
    bulk(9001, 400_000)
    rec.stop()
    print(ns("nft", "list", "ruleset").stdout.decode())
    ns("nft", "delete", "table", "inet", "trouble")


def zero_window() -> None:
    """A receiver with a small buffer that stops reading: window full, zero window, zero-window
    probes and their ACKs, then window updates when it reads again."""

    def slow(conn: socket.socket) -> None:
        time.sleep(2.5)
        while conn.recv(2048):
            time.sleep(0.002)

    t = serve_once(9002, slow, rcvbuf=4096)
    rec = Recording("zero_window.pcap", "tcp port 9002")
    c = socket.create_connection((HOST, 9002))
    c.sendall(b"z" * 200_000)
    c.shutdown(socket.SHUT_WR)
    t.join(30)
    c.close()
    rec.stop()


def keep_alive() -> None:
    """An idle connection with 1 s keep-alives: keep-alives and keep-alive ACKs."""

    def idle(conn: socket.socket) -> None:
        conn.recv(100)
        conn.sendall(b"pong")
        time.sleep(3.6)
        conn.sendall(b"bye")

    t = serve_once(9003, idle)
    rec = Recording("keep_alive.pcap", "tcp port 9003")
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.connect((HOST, 9003))
    c.sendall(b"ping")
    c.recv(4)
    c.recv(3)
    c.close()
    t.join(10)
    rec.stop()


def endings() -> None:
    """Port reuse (the same client port, new ISN, after an abortive close), a refused
    connection (RST to a SYN), a reset mid-stream and a SYN nobody answers."""
    rec = Recording("endings.pcap", "tcp portrange 9004-9007")
    for _ in range(2):
        t = serve_once(9004, lambda conn: conn.sendall(b"hello"))
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.bind((HOST, 40404))
        c.connect((HOST, 9004))
        c.recv(5)
        c.close()  # linger 0: RST, no TIME_WAIT, so the port can be used again at once
        t.join(5)
    try:
        socket.create_connection((HOST, 9005), timeout=2)
    except OSError:
        pass
    t = serve_once(
        9006,
        lambda conn: (
            conn.recv(10),
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
        ),
    )
    c = socket.create_connection((HOST, 9006))
    c.sendall(b"then reset")
    time.sleep(0.2)
    c.close()
    t.join(5)
    # a SYN nobody answers: the SYN-ACK is dropped, so the client retries its SYN
    ns("nft", "add", "table", "inet", "trouble")
    ns("nft", "add", "chain", "inet", "trouble", "out", "{ type filter hook output priority 0; }")
    ns("nft", "add", "rule", "inet", "trouble", "out", "tcp", "sport", "9007", "drop")
    srv = socket.socket()
    srv.bind((HOST, 9007))
    srv.listen(1)
    try:
        socket.create_connection((HOST, 9007), timeout=2.5)
    except OSError:
        pass
    srv.close()
    ns("nft", "delete", "table", "inet", "trouble")
    rec.stop()


def edited(source: str, name: str, every: int, swap: bool) -> None:
    """A copy of `source` in which the capture missed every `every`-th data packet (they reached
    the receiver), or in which each such packet swapped places with the one after it."""
    raw = (OUT / source).read_bytes()
    head, body = raw[:24], raw[24:]
    records = []
    while body:
        _, _, incl, _ = struct.unpack("<IIII", body[:16])
        records.append(body[: 16 + incl])
        body = body[16 + incl :]
    big = [i for i, r in enumerate(records) if len(r) > 16 + 200]
    chosen = set(big[every // 2 :: every])
    out = []
    i = 0
    while i < len(records):
        if i in chosen and swap and i + 1 < len(records):
            a, b = records[i], records[i + 1]
            # keep the timestamps in order: the packets swap, the clock does not
            out += [a[:8] + b[8:], b[:8] + a[8:]]
            i += 2
            continue
        if i in chosen and not swap:
            i += 1
            continue
        out.append(records[i])
        i += 1
    (OUT / name).write_bytes(head + b"".join(out))


def wrapped(source: str, name: str) -> None:
    """A copy of `source` with every sequence and acknowledgement number moved so that both
    sides wrap past 2**32 in the middle of the transfer (checksums are left as they were;
    tshark does not check them by default)."""
    raw = bytearray((OUT / source).read_bytes())
    at, isn = 24, {}
    while at < len(raw):
        incl = struct.unpack_from("<I", raw, at + 8)[0]
        ip = at + 16 + 14  # DLT_EN10MB on loopback
        ihl = (raw[ip] & 0x0F) * 4
        tcp = ip + ihl
        sport, dport = struct.unpack_from(">HH", raw, tcp)
        seq, ack = struct.unpack_from(">II", raw, tcp + 4)
        isn.setdefault(sport, seq)
        isn.setdefault(dport, ack - 1 if ack else 0)
        # move each side's numbers so that its start is 100 kB before the wrap
        shift = {port: (2**32 - 100_000 - first) % 2**32 for port, first in isn.items()}
        seq = (seq + shift[sport]) % 2**32
        if ack:
            ack = (ack + shift[dport]) % 2**32
        struct.pack_into(">II", raw, tcp + 4, seq, ack)
        at += 16 + incl
    (OUT / name).write_bytes(bytes(raw))


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (a network namespace, nftables, tcpdump)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        ns("ip", "link", "set", "lo", "mtu", "1500", "up")
        # segments of a real link's size, not 64 KB offload super-packets (ethtool, if present)
        ns("ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off", check=False)
        in_namespace()
        loss()
        zero_window()
        keep_alive()
        endings()
        bulk_clean = Recording("clean.pcap", "tcp port 9008")
        bulk(9008, 300_000)
        bulk_clean.stop()
        edited("clean.pcap", "capture_missed.pcap", every=17, swap=False)
        edited("clean.pcap", "reordered.pcap", every=13, swap=True)
        (OUT / "clean.pcap").unlink()
        wrapped("loss.pcap", "wrapped.pcap")
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    for path in sorted(OUT.glob("*.pcap")):
        print(path.name, path.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
