"""Flows and TCP analysis never raise on bad input, and a flow's counts always sum to its
packets: random and mutated frames (hypothesis), and a SYN flood."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netlab
from netlab.core.annotate import annotate
from netlab.core.decode import decode_records
from netlab.core.pcapfile import Records

TROUBLE = Path(__file__).resolve().parent.parent / "data" / "tcp_trouble"


def _frames(path: Path, limit: int) -> list[bytes]:
    raw = path.read_bytes()
    out, at = [], 24
    while at < len(raw) and len(out) < limit:
        incl = struct.unpack_from("<I", raw, at + 8)[0]
        out.append(raw[at + 16 : at + 16 + incl])
        at += 16 + incl
    return out


REAL = _frames(TROUBLE / "loss.pcap", 80) + _frames(TROUBLE / "zero_window.pcap", 40)


def _frame(frames: list[bytes], times: list[int]) -> pd.DataFrame:
    buf = np.frombuffer(b"".join(frames), dtype=np.uint8)
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    rec = Records(
        offsets, lens, lens, np.array(times, dtype=np.int64), np.ones(len(frames), dtype=np.int32)
    )
    return annotate(decode_records(buf, rec))


def _check(df: pd.DataFrame) -> None:
    assert df["tcp_analysis"].dtype == np.uint16
    table = netlab.flows(df)
    flows = df["flow"].dropna().astype(int)
    counts = flows.value_counts()
    assert (
        table.groupby("flow")[["orig_packets", "resp_packets"]]
        .sum()
        .sum(axis=1)
        .reindex(counts.index)
        .to_numpy()
        == counts.to_numpy()
    ).all()
    assert ((table["orig_packets"] + table["resp_packets"]) > 0).all()
    assert (table["orig_bytes"] + table["resp_bytes"]).sum() == df.loc[flows.index, "length"].sum()
    assert (table["retransmissions"] <= table["orig_packets"] + table["resp_packets"]).all()
    # duration is the span of the flow's packet times (the capture's clock, not the test's)
    if len(table):
        timed = table["first"].notna() & table["last"].notna()
        span = (table["last"] - table["first"])[timed].dt.total_seconds().to_numpy()
        assert np.allclose(table["duration"][timed].to_numpy(dtype=float), span)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(REAL),
            st.lists(st.tuples(st.integers(0, 1600), st.integers(0, 255)), max_size=4),
            st.integers(0, 1600),
        ),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(0, 10**10), min_size=60, max_size=60),
)
def test_mutated_tcp_never_raises_and_counts_add_up(picks, steps):
    frames = []
    for frame, flips, cut in picks:  # real segments, reordered, repeated, bit-flipped, cut
        data = bytearray(frame)
        for pos, value in flips:
            data[pos % len(data)] = value
        frames.append(bytes(data[:cut] if cut < len(data) else data))
    times = np.cumsum(steps[: len(frames)]).tolist()  # times jump by up to 10 s
    _check(_frame(frames, times))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=120), min_size=1, max_size=40))
def test_random_bytes_never_raise(frames):
    _check(_frame(frames, list(range(len(frames)))))


def test_a_syn_flood_is_a_row_per_syn():
    n = 100_000
    head = bytearray(REAL[0][: 14 + 20])  # the capture's first frame: Ethernet, IPv4, a SYN
    struct.pack_into(">H", head, 16, 40)  # IPv4 total length: a header without options
    head = bytes(head)
    tcp = bytearray(REAL[0][34:54])
    frames = []
    for k in range(n):
        struct.pack_into(">HI", tcp, 0, 1024 + k % 60000, k)
        struct.pack_into(">H", tcp, 12, (5 << 12) | 0x002)
        frames.append(head[:26] + struct.pack(">I", 0x0A000000 + k // 60000) + head[30:] + tcp)
    df = _frame(frames, list(range(n)))
    table = netlab.flows(df)
    assert len(table) == n and (table["state"] == "S0").all()
    assert (table["history"] == "S").all() and table["rtt"].isna().all()
