"""Capture from capture files: lifecycle, replay speed and timing, loops, subscriptions, filters."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
import synth

import netlab
from netlab import Capture


def test_fast_replay_reads_every_frame(mixed_pcap):
    with Capture(mixed_pcap, speed=None) as cap:
        assert cap.wait(60)
        stats = cap.stats
    assert stats.decoded == stats.received == 5000 and stats.dropped_netlab == 0
    assert stats.received + stats.dropped_kernel == stats.arrived == 5000
    snap = cap.frame.snapshot()
    assert snap["number"].tolist() == list(range(1, 5001))
    whole = netlab.read_pcap(mixed_pcap)
    assert snap["info"].tolist() == whole["info"].tolist()
    assert not cap.running


def test_start_stop_close_are_idempotent(mixed_pcap):
    cap = Capture(mixed_pcap, speed=None)
    assert cap.start() is cap and cap.start() is cap
    cap.stop()
    cap.stop()
    cap.close()
    cap.close()
    with pytest.raises(netlab.ClosedError, match="capture is closed; create a new one"):
        cap.start()


def test_missing_or_bad_file_raises_at_start(tmp_path):
    with pytest.raises(netlab.CaptureFileError, match="No such file"):
        Capture(tmp_path / "missing.pcap").start()
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture")
    with pytest.raises(netlab.CaptureFileError, match="not a pcap"):
        Capture(bad).start()


def test_real_time_replay_never_hands_out_a_frame_before_it_is_due(tmp_path):
    # Lateness depends on how busy the machine is (scripts/bench.py replay measures it);
    # earliness is a pacing bug whatever the load, and every frame must come, in order.
    rnd = np.random.default_rng(3)
    gaps = rnd.uniform(0.005, 0.06, 40)
    times = 1_700_000_000 + np.concatenate([[0], np.cumsum(gaps)])
    path = tmp_path / "paced.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * len(times), times=times.tolist())
    emitted: list[tuple[float, np.ndarray]] = []
    source = netlab.FileSource(path, speed=1.0)
    read = source.read

    def timed_read(timeout):
        chunk = read(timeout)
        if chunk is not None:
            emitted.append((time.monotonic(), chunk.records.ts_ns.copy()))
        return chunk

    source.read = timed_read
    first_read = time.monotonic()
    with Capture(source) as cap:
        assert cap.wait(60)
    got = np.concatenate([np.full(len(ts), t) for t, ts in emitted])
    ts = np.concatenate([ts for _, ts in emitted]) / 1e9
    assert len(ts) == len(times) and np.all(np.diff(ts) > 0)
    assert len(cap.frame) == len(times)
    # each frame leaves no earlier than its offset from the first (a few ms of look-ahead)
    offset_wanted = ts - ts[0]
    offset_real = got - got[0]
    assert np.all(offset_real >= offset_wanted - 0.004), np.round(
        (offset_real - offset_wanted) * 1000, 1
    )
    assert got[0] >= first_read


def test_retime_stamps_frames_with_the_replay_time(mixed_pcap):
    start = pd.Timestamp.now(tz="UTC")
    with Capture(netlab.FileSource(mixed_pcap, speed=10.0, retime=True)) as cap:
        assert cap.wait(60)
    ts = cap.frame.snapshot()["ts"]
    assert ts.min() >= start - pd.Timedelta(seconds=1) and ts.is_monotonic_increasing
    span = (ts.max() - ts.min()).total_seconds()
    assert 0.04 < span < 0.1  # 0.5 s of capture at 10x


def test_half_speed_takes_twice_as_long(tmp_path):
    path = tmp_path / "slow.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * 11, step=0.02)  # 0.2 s of traffic
    start = time.monotonic()
    with Capture(path, speed=0.5) as cap:
        assert cap.wait(60)
    assert time.monotonic() - start >= 0.39  # never faster than asked; slower only if loaded


def test_loop_replays_forever_with_time_moving_forward(tmp_path):
    path = tmp_path / "short.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * 100, step=0.0001)
    with Capture(path, speed=None, loop=True, max_rows=100_000) as cap:
        deadline = time.monotonic() + 60
        while cap.frame.version < 450 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not cap.wait(0.01)  # a looping source never finishes
    ts = cap.frame.snapshot()["ts"]
    assert len(ts) >= 450 and ts.is_monotonic_increasing


class TrickleSource(netlab.SourceBase):
    """A test source: `chunks` chunks of `per` frames each, as fast as they are asked for."""

    description, bpf = "trickle", ""

    def __init__(self, chunks: int, per: int, pause: float = 0.0) -> None:
        self._pause = pause
        frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
        self._data = frame * per
        n = len(frame)
        offsets = np.arange(per, dtype=np.int64) * n
        lens = np.full(per, n, dtype=np.int64)
        self._records = netlab.core.pcapfile.Records(
            offsets, lens, lens, np.arange(per, dtype=np.int64), np.ones(per, dtype=np.int32)
        )
        self._left = chunks

    def open(self) -> None:
        pass

    def read(self, timeout: float):
        if self._left == 0:
            return None
        self._left -= 1
        time.sleep(self._pause)
        return netlab.Chunk(data=self._data, records=self._records)

    def counters(self, received: int):
        return netlab.sources.base.SourceCounters(None, 0)

    @property
    def exhausted(self) -> bool:
        return self._left == 0

    def close(self) -> None:
        pass


def test_a_slow_subscriber_loses_only_its_own_batches():
    got: list[int] = []
    slow_seen: list[int] = []
    merged_index_ok = True

    release = threading.Event()

    def slow(batch):
        nonlocal merged_index_ok
        # held up until the fast subscriber has every row: its queue of 4 must overflow then,
        # however fast or loaded the machine is (a sleep here raced the decoder)
        release.wait(60)
        slow_seen.append(len(batch))
        merged_index_ok = merged_index_ok and batch["number"].tolist() == batch.index.tolist()

    # many small batches (the decoder gathers for 10 ms, not the default 200): enough of them
    # to overflow a queue of 4
    settings = netlab.Settings.load(env_file=None, decode_interval=0.01)
    cap = Capture(
        TrickleSource(chunks=500, per=10, pause=0.002), max_rows=10_000, settings=settings
    )
    fast = cap.subscribe(lambda b: got.extend(b.index.tolist()), maxsize=1000)
    lagging = cap.subscribe(slow, maxsize=4, every=0.05)  # merged batches, at most 20 a second
    with cap:
        deadline = time.monotonic() + 60
        while len(got) < 5000 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        assert cap.wait(60)  # the end of the source, through every subscriber
    # Had the slow subscriber held the capture up, its queue would never overflow: it lost
    # batches of its own (lagging.dropped, below) while the capture kept every row.
    assert cap.stats.decoded == 5000 and cap.stats.dropped_netlab == 0
    assert got == list(range(1, 5001))  # the fast subscriber saw every row, in order
    assert lagging.dropped > 0 and sum(slow_seen) < 5000
    assert merged_index_ok  # merged batches keep their rows' versions
    assert cap.stats.subscriber_drops == lagging.dropped + fast.dropped
    assert cap.stats.decoded == 5000 and len(cap.frame) == 5000


def test_backlog_overflow_is_counted_never_silent(monkeypatch):
    real = netlab.capture.pipeline.decode_batch

    def slow_decode(*args, **kwargs):  # a decoder slower than the source, whatever the machine
        time.sleep(0.002)
        return real(*args, **kwargs)

    monkeypatch.setattr(netlab.capture.pipeline, "decode_batch", slow_decode)
    settings = netlab.Settings.load(backlog_batches=2)
    cap = Capture(TrickleSource(chunks=500, per=10), settings=settings, max_rows=10_000)
    with cap:
        assert cap.wait(60)
        stats = cap.stats
    assert stats.received == 5000
    assert stats.dropped_netlab > 0
    assert stats.decoded + stats.dropped_netlab == stats.received
    assert len(cap.frame) == stats.decoded


def test_iterator_subscription_and_broken_callback(mixed_pcap):
    cap = Capture(mixed_pcap, speed=None)
    sub = cap.subscribe(maxsize=1000)
    broken = cap.subscribe(lambda b: 1 / 0)
    with cap:
        assert cap.wait(60)
        total = 0
        while total < 5000:
            batch = sub.get(timeout=2)
            assert batch is not None
            total += len(batch)
    assert total == 5000
    assert broken.errors and "ZeroDivisionError" in broken.errors[0]
    assert cap.stats.decoded == 5000  # the broken subscriber did not stop the capture


def test_bpf_on_a_replay_and_restart_with_a_new_filter(mixed_pcap):
    with Capture(mixed_pcap, speed=None, bpf="udp port 53") as cap:
        assert cap.wait(60)
    snap = cap.frame.snapshot()
    assert len(snap) > 100 and (snap["dport"] == 53).all()
    whole = netlab.read_pcap(mixed_pcap)
    assert len(snap) == int((whole["dport"] == 53).sum())


def _until(condition, timeout: float = 60.0) -> bool:
    """Poll `condition()` until true or `timeout` s have passed; its last value."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def _settled(value, quiet: float = 0.5, timeout: float = 60.0):
    """`value()` once it has not changed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.05)
        now = value()
        if now != last:
            last, since = now, time.monotonic()
    return last


def test_invalid_filter_on_restart_keeps_the_running_capture(tmp_path):
    path = tmp_path / "long.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * 2000, step=0.001)  # 2 s at real time
    with Capture(path, speed=1.0) as cap:
        before = cap.frame.version
        with pytest.raises(netlab.FilterError, match="syntax error") as err:
            cap.restart(bpf="udp and and")
        assert err.value.expression == "udp and and"
        assert cap.source.bpf == ""
        assert _until(lambda: cap.frame.version > before)  # rows keep arriving
        cap.restart(bpf="tcp")  # nothing in the file is TCP: rows stop growing
        frozen = _settled(lambda: cap.frame.version)  # what was read before the switch
        time.sleep(0.3)
        assert cap.frame.version == frozen and cap.stats.filter == "tcp"
        assert len(cap.frame) == frozen  # nothing captured before was lost


def test_stats_after_close_and_repr(mixed_pcap):
    cap = Capture(mixed_pcap, speed=None)
    with cap:
        cap.wait(60)
    assert "decoded=5000" in repr(cap) and "stopped" in repr(cap)
    first = cap.stats
    time.sleep(0.3)
    later = cap.stats
    assert not later.running and later.decoded == first.decoded == 5000  # frozen after close
    assert len(cap.frame) == 5000  # the rows stay for analysis


def test_a_retimed_real_time_replay_loops(tmp_path):
    # `netlab serve` replays a file retimed and looped: it played once and went silent
    path = tmp_path / "short.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * 50, step=0.004)  # 0.2 s of traffic
    source = netlab.FileSource(path, speed=1.0, loop=True, retime=True)
    with Capture(source, max_rows=10_000) as cap:
        assert _until(lambda: cap.frame.version >= 150)  # three passes
        assert not cap.wait(0.01)
    ts = cap.frame.snapshot()["ts"]
    assert ts.is_monotonic_increasing
    assert ts.iloc[-1] - ts.iloc[0] < pd.Timedelta(minutes=1)  # stamped with the replay time
