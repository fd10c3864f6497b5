"""The vectorised HTTP and ARP readers agree with the one-packet parsers on awkward input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import synth

from netlab.core.app import payload as appfields
from netlab.core.decode import decode_records
from netlab.core.pcapfile import parse_pcap_header, walk_pcap

LONG = b"X-Filler: " + b"a" * 400 + b"\r\n"
REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /a HTTP/1.1\r\nUser-Agent: x\r\nhOsT:   spaced.example  \r\nAccept: */*\r\n\r\n",
    b"POST /form HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",  # no Host
    b"GET / HTTP/1.1\r\n\r\nHost: in-the-body.example\r\n",  # after the head: not a header
    b"GET / HTTP/1.1\r\n Host: folded.example\r\n\r\n",  # a continuation line, not Host
    b"GET / HTTP/1.1\r\nHost : spaced-name.example\r\n\r\n",  # whitespace before the colon
    b"GET / HTTP/1.1\nHost: bare-lf.example\n\n",
    b"GET / HTTP/1.1\r\nHost: first.example\r\nHost: second.example\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: cut-short.exam",  # the segment ends inside the Host line
    b"GET / HTTP/1.1\r\nHost:\r\n\r\n",  # empty value
    b"GET / HTTP/1.1\r\n" + LONG + b"Host: after-a-long-header.example\r\n\r\n",
    b"GET /" + b"p" * 300 + b" HTTP/1.1\r\nHost: long-line.example\r\n\r\n",
    b"GET /caf\xe9 HTTP/1.1\r\nHost: h\xf4te.example\r\n\r\n",  # latin-1
    b"GET /not-http-at-all\r\nHost: x.example\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: options.example\r\n\r\n",
    b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: \x00\x01\r\nHost: after-binary.example\r\n\r\n",
]


def _decode(frames: list[bytes]):
    data = synth.pcap_bytes(frames)
    walk = walk_pcap(data, 24, parse_pcap_header(data[:24]))
    return decode_records(np.frombuffer(data, dtype=np.uint8), walk.records)


def _text(value: object) -> str | None:
    return None if value is None or not isinstance(value, str) else value


def test_http_requests_match_the_one_packet_parser():
    frames = []
    for k, payload in enumerate(REQUESTS):
        if payload.startswith(b"M-SEARCH"):
            transport = synth.udp(40000 + k, 1900, payload)
            frames.append(synth.ether(synth.ipv4("10.0.0.1", "239.255.255.250", 17, transport)))
        else:
            transport = synth.tcp(40000 + k, 80, 0x18, payload)
            frames.append(synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 6, transport)))
    df = _decode(frames * 3)  # repeated: vector paths see many rows at once
    for i, payload in enumerate(REQUESTS * 3):
        expected = appfields.parse_http_request(payload)
        row = df.iloc[i]
        host = _text(row["http_host"]) if row["http_host"] == row["http_host"] else None
        summary = _text(row["summary"]) if row["summary"] == row["summary"] else None
        if expected is None:
            assert host is None and summary is None, payload
        else:
            assert (summary, host) == (expected.request_line, expected.host), payload


def _arp(op: int, spa: str, tpa: str, sha: bytes = b"\x02\x00\x00\x00\x00\x01") -> bytes:
    body = struct.pack(">HHBBH", 1, 0x0800, 6, 4, op) + sha
    body += bytes(map(int, spa.split("."))) + bytes(6) + bytes(map(int, tpa.split(".")))
    return body


@pytest.mark.parametrize(
    "body",
    [
        _arp(1, "10.0.0.1", "10.0.0.2"),
        _arp(1, "10.0.0.9", "10.0.0.9"),  # gratuitous
        _arp(2, "192.168.1.1", "192.168.1.20", b"\xaa\xbb\xcc\xdd\xee\xff"),
        _arp(7, "10.0.0.1", "10.0.0.2"),  # an unknown opcode
        _arp(1, "10.0.0.1", "10.0.0.2")[:20],  # cut short
        _arp(1, "10.0.0.1", "10.0.0.2")[:6],  # too short for an opcode
        struct.pack(">HHBBH", 6, 0x86DD, 6, 16, 1) + bytes(44),  # not Ethernet/IPv4
    ],
)
def test_arp_summaries_match_the_one_packet_parser(body):
    df = _decode([synth.ether(body, ethertype=0x0806)] * 3)
    assert df["summary"].tolist() == [appfields.arp_info(body)] * 3
