"""The live flow table: batch by batch it is netlab.flows() of the whole capture; it ends
flows by the timeouts and stays within its bound under a SYN flood."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import netlab
from netlab.core.batch import Batch
from netlab.core.flow_tracker import FlowTracker

TROUBLE = Path(__file__).resolve().parent.parent / "data" / "tcp_trouble"


def _feed(tracker: FlowTracker, df: pd.DataFrame, size: int, as_batches: bool = False):
    flows, flags, ended = [], [], []
    for a in range(0, len(df), size):
        part = df.iloc[a : a + size]
        # a live capture hands the tracker its decoder's Batch, with its own text codes
        f, fl, done = tracker.update(Batch.from_frame(part) if as_batches else part)
        flows.append(f)
        flags.append(fl)
        ended.append(done)
    return np.concatenate(flows), np.concatenate(flags), ended


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    table = table.drop(columns=["part"]).sort_values("flow").reset_index(drop=True)
    return table.astype(object).where(table.notna(), None)


@pytest.mark.parametrize(
    ("size", "limit", "as_batches"), [(1, 250, False), (7, 2000, True), (500, None, False)]
)
def test_batch_by_batch_it_is_flows_of_the_whole_capture(size, limit, as_batches):
    # (a batch costs some milliseconds whatever its size: the tiny ones on a prefix only)
    for path in [*sorted(TROUBLE.glob("*.pcap")), netlab.demo_pcap("flows")]:
        df = netlab.read_pcap(path, limit=limit)
        tracker = FlowTracker(10**6, idle_timeout=None, active_timeout=None)
        flows, flags, ended = _feed(tracker, df, size, as_batches)
        assert (flows == df["flow"].fillna(-1).to_numpy()).all(), path.name
        assert (flags == df["tcp_analysis"].to_numpy()).all(), path.name
        got = _comparable(pd.concat([*ended, tracker.snapshot()]))
        want = _comparable(netlab.flows(df, idle_timeout=None, active_timeout=None))
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_idle_flows_end_and_come_back_as_new_flows():
    df = netlab.read_pcap(TROUBLE / "keep_alive.pcap")  # one connection, quiet for seconds
    tracker = FlowTracker(100, idle_timeout=0.5, active_timeout=None)
    flows, _, ended = _feed(tracker, df, 1)
    done = pd.concat(ended)
    assert len(done) >= 2 and done["flow"].is_monotonic_increasing
    assert len(np.unique(flows)) == len(done) + len(tracker)  # each quiet spell: a new flow
    assert done["history"].iloc[0].startswith("ShAD")  # the first one saw the handshake
    assert tracker.ended == len(done) and tracker.evicted == 0


def test_flows_no_packet_touches_end_within_a_second_of_packet_time():
    df = netlab.read_pcap(netlab.demo_pcap("flows"))  # 2 s of 521 flows
    tracker = FlowTracker(10**6, idle_timeout=0.3, active_timeout=None)
    _, _, ended = _feed(tracker, df, 50)
    # when the last batch began, every flow idle for longer than its timeout plus one scan
    # period (1 s) had ended
    last_batch = df["ts"].iloc[(len(df) - 1) // 50 * 50]
    idle = (last_batch - tracker.snapshot()["last"]).dt.total_seconds()
    assert len(idle) and (idle <= 0.3 + 1.0).all()
    done = pd.concat(ended)
    assert len(done) and tracker.ended == len(done)
    # and none ended before it had been idle for its timeout
    assert (done["last"] <= df["ts"].iloc[-1] - pd.Timedelta(seconds=0.3)).all()


def test_a_syn_flood_against_a_bounded_table():
    syn = netlab.read_pcap(netlab.demo_pcap("flows")).iloc[:1]  # a real SYN, as a template
    n = 100_000
    frames = []
    head = bytearray(b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00")
    for k in range(n):
        ip = struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            40,
            0,
            0,
            64,
            6,
            0,
            struct.pack(">I", 0x0A000000 + k // 50000),
            bytes([192, 0, 2, 1]),
        )
        tcp = struct.pack(">HHIIHHHH", 1024 + k % 50000, 80, k, 0, (5 << 12) | 0x002, 1024, 0, 0)
        frames.append(bytes(head) + ip + tcp)
    import synth

    path = Path(pytest.importorskip("tempfile").mkdtemp()) / "flood.pcap"
    synth.write_pcap(path, frames, step=1e-5)
    df = netlab.read_pcap(path)
    assert len(syn) == 1 and len(df) == n
    tracker = FlowTracker(1000)
    flows, flags, ended = _feed(tracker, df, 10_000)
    assert len(tracker) <= 1000 and tracker.evicted == n - len(tracker)
    assert len(np.unique(flows)) == n and not flags.any()
    done = pd.concat(ended)
    assert (done["state"] == "S0").all() and (done["history"] == "S").all()
    assert tracker.nbytes / len(tracker) < 400  # numbers and pointers (the strings are shared)


def test_the_sensor_is_part_of_a_flow():
    # one capture seen by two sensors, packets interleaved: each sensor's flows are the
    # capture's own, offline and live, and no packet is taken for the other's retransmission
    df = netlab.read_pcap(TROUBLE / "loss.pcap")
    copies = []
    for k, name in enumerate(["a", "b"]):
        copy = df.copy()
        copy["sensor"] = pd.Categorical([name] * len(df))
        copy.index = np.arange(len(df)) * 2 + k
        copies.append(copy)
    both = pd.concat(copies).sort_index().reset_index(drop=True)
    both = both.drop(columns=["flow"])  # assigned again, with the sensor in the key
    both["sensor"] = both["sensor"].astype("category")
    want = _comparable(netlab.flows(df)).drop(columns=["flow", "sensor"])
    tracker = FlowTracker(10**6)
    _, flags, ended = _feed(tracker, both.assign(flow=pd.NA), 50, as_batches=True)
    live = pd.concat([*ended, tracker.snapshot()])
    for table in (netlab.flows(both), live):
        assert sorted(table["sensor"].astype(str).unique()) == ["a", "b"]
        for name in ["a", "b"]:
            mine = table[table["sensor"] == name].drop(columns=["sensor"])
            mine = _comparable(mine.assign(part=0)).drop(columns=["flow"])
            pd.testing.assert_frame_equal(mine, want.reset_index(drop=True), check_dtype=False)
    assert (flags[0::2] == df["tcp_analysis"].to_numpy()).all()
    assert (flags[1::2] == df["tcp_analysis"].to_numpy()).all()


def test_a_snapshot_of_the_busiest_flows_is_those_rows_of_the_whole_one():
    df = netlab.read_pcap(netlab.demo_pcap("flows"))
    tracker = FlowTracker(10**6, idle_timeout=None, active_timeout=None)
    _feed(tracker, df, 500)
    whole = tracker.snapshot()
    volume = whole["orig_bytes"] + whole["resp_bytes"]
    assert volume.nunique() > 10  # the cut below is not a tie
    k = 7
    cut = volume.nlargest(k).min()
    want = whole[volume > cut]  # the ones above the cut, and some at it
    got = tracker.snapshot(busiest=k)
    assert len(got) == k and got["flow"].is_monotonic_increasing  # flow order, as whole
    assert set(want["flow"]) <= set(got["flow"])
    at_cut = got["orig_bytes"] + got["resp_bytes"]
    assert (at_cut >= cut).all()
    pd.testing.assert_frame_equal(
        _comparable(got), _comparable(whole[whole["flow"].isin(got["flow"])])
    )
    assert len(tracker.snapshot(busiest=0)) == 0 and len(tracker.snapshot(10**6)) == len(whole)
