"""Packets inside packets (tunnels, ICMP errors quoting one) are further occurrences of a
display filter's fields, as in tshark; checked here on frames made for it (the corpus test,
test_display_filter_tshark, checks real captures against tshark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import synth

import netlab
from netlab.inner_packets import inner_levels


def _read(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "inner.pcap"
    synth.write_pcap(path, synth.tunnelled_frames())
    return path, netlab.read_pcap(path)


def _numbers(df, expression: str) -> list[int]:  # type: ignore[no-untyped-def]
    return netlab.filter(df, expression)["number"].tolist()


def test_fields_match_the_headers_inside(tmp_path):
    _, df = _read(tmp_path)
    assert _numbers(df, "ip.addr == 10.9.9.9") == [1, 4]
    assert _numbers(df, "tcp") == [1]  # the VXLAN frame's inner SYN
    assert _numbers(df, "tcp.flags.syn == 1 && tcp.dstport == 443") == [1]
    assert _numbers(df, "ip.src == 10.6.6.6") == [2]  # two tunnels deep
    assert _numbers(df, "ip.dst == 172.16.0.2 && ip.dst == 10.5.5.5") == [2]
    assert _numbers(df, "udp.dstport == 53") == [3, 4]  # the quoted query, and the plain one
    assert _numbers(df, "icmp && udp") == [3]
    # Wireshark's multi-value rules hold across layers: != is "no occurrence equals"
    assert _numbers(df, "ip.addr != 10.9.9.9") == [2, 3]
    assert _numbers(df, "ip.src === 192.0.2.1") == []  # the inner sources differ
    # every answer above is tshark's on this file; this one differs by design: tshark also
    # numbers the inner connection as a TCP stream, netlab's streams are outermost flows
    assert _numbers(df, "tcp.stream == 0") == []


def test_the_levels_say_which_row_each_inner_packet_is_in(tmp_path):
    _, df = _read(tmp_path)
    levels = inner_levels(df)
    assert [level.rows.tolist() for level in levels] == [[0, 1, 2], [1]]
    first = levels[0].frame
    assert first["src"].astype(str).tolist() == ["10.9.9.9", "172.16.0.1", "10.7.7.7"]
    assert first["proto"].astype(str).tolist() == ["TCP", "GRE", "UDP"]
    assert levels[1].frame["dport"].tolist() == [2]


def test_without_the_packets_bytes_only_the_outermost_headers_match(tmp_path):
    path, df = _read(tmp_path)
    bare = df.copy()
    bare.attrs.clear()  # a frame that lost its packet store (built by hand, say)
    assert _numbers(bare, "ip.addr == 10.9.9.9") == [4]
    path.write_bytes(path.read_bytes() + b"\0")  # the file changed since it was read
    assert _numbers(df, "ip.addr == 10.9.9.9") == [4]
    assert _numbers(df, "tcp") == []


def test_a_frame_without_tunnels_reads_no_bytes(tmp_path, monkeypatch):
    path = tmp_path / "plain.pcap"
    frames = [synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"z")))] * 5
    synth.write_pcap(path, frames)
    df = netlab.read_pcap(path)
    import netlab.inner_packets as inner

    def no_bytes(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("bytes were read for a frame that carries nothing")

    monkeypatch.setattr(inner, "locate", no_bytes)
    assert _numbers(df, "ip.addr == 10.0.0.1") == [1, 2, 3, 4, 5]
    assert np.array_equal(inner.candidates(df), np.zeros(0, dtype=np.int64))


def test_a_store_that_fails_leaves_the_outer_headers_and_says_so(tmp_path, monkeypatch):
    import pytest

    import netlab.inner_packets as inner

    _, df = _read(tmp_path)

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the server went away")

    monkeypatch.setattr(inner, "locate", broken)
    with pytest.warns(netlab.NetlabWarning, match="server went away"):
        assert _numbers(df, "ip.addr == 10.9.9.9") == [4]
