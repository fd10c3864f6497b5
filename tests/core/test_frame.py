"""RollingFrame: bounds, versions, age, thread safety, bounded memory."""

from __future__ import annotations

import re
import threading

import numpy as np
import pandas as pd
import pytest

import netlab
from netlab import RollingFrame


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for name in a.columns:
        left = a[name].astype(object).where(a[name].notna(), None).tolist()
        right = b[name].astype(object).where(b[name].notna(), None).tolist()
        assert left == right, name


def test_keeps_the_newest_rows_exactly(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    frame = RollingFrame(max_rows=1500)
    for start in range(0, len(df), 700):
        frame.append(df.iloc[start : start + 700])
    assert len(frame) == 1500 and frame.version == 5000 and frame.evicted == 3500
    snap = frame.snapshot()
    _same(snap.reset_index(drop=True), df.iloc[-1500:].reset_index(drop=True))
    assert snap.index[0] == 3501 and snap.index[-1] == 5000  # the index is the row version
    assert [str(t) for t in snap.dtypes] == [str(t) for t in df.dtypes]


def test_rows_since_a_version(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    frame = RollingFrame(max_rows=10_000)
    frame.append(df.iloc[:1000])
    seen = frame.version
    frame.append(df.iloc[1000:1200])
    new = frame.snapshot(since=seen)
    _same(new.reset_index(drop=True), df.iloc[1000:1200].reset_index(drop=True))
    assert len(frame.snapshot(since=frame.version)) == 0
    assert len(frame.snapshot(last=10)) == 10


def test_batch_larger_than_capacity_keeps_its_tail(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    frame = RollingFrame(max_rows=100)
    frame.append(df)
    _same(frame.snapshot().reset_index(drop=True), df.iloc[-100:].reset_index(drop=True))


def test_age_bound(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)  # 0.1 ms apart: 5000 rows span 0.5 s
    frame = RollingFrame(max_rows=10_000, max_age=0.1)
    frame.append(df)
    snap = frame.snapshot()
    span = snap["ts"].iloc[-1] - snap["ts"].iloc[0]
    assert span <= pd.Timedelta(seconds=0.1) and len(snap) in (1000, 1001)
    assert frame.evicted == 5000 - len(snap)


def test_empty_and_invalid():
    assert len(RollingFrame(10).snapshot()) == 0
    with pytest.raises(ValueError, match="max_rows must be > 0"):
        RollingFrame(0)


def test_concurrent_append_and_snapshot(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    frame = RollingFrame(max_rows=2000)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for _ in range(20):
                for start in range(0, 5000, 500):
                    frame.append(df.iloc[start : start + 500])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer, name="writer")
    thread.start()
    while not done.is_set():
        snap = frame.snapshot()
        # every snapshot is internally consistent: consecutive frame numbers, typed columns
        steps = np.diff(snap["number"].to_numpy())
        assert len(snap) <= 2000
        assert np.all((steps == 1) | (steps == -4999))  # 5000 wraps back to 1
    thread.join()
    assert not errors
    assert frame.version == 100_000


def test_string_pool_stays_bounded():
    import synth

    frames = [
        synth.ether(
            synth.ipv4(
                "10.0.0.1", "10.0.0.2", 17, synth.udp(1000, 53, synth.dns_query(f"n{k}.example", k))
            )
        )
        for k in range(3000)
    ]
    from netlab.core.decode import decode_records
    from netlab.core.pcapfile import Records

    buf = np.frombuffer(b"".join(frames), dtype=np.uint8)
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    rec = Records(
        np.concatenate([[0], np.cumsum(lens)[:-1]]),
        lens,
        lens,
        np.arange(3000, dtype=np.int64),
        np.ones(3000, dtype=np.int32),
    )
    batch = decode_records(buf, rec)
    frame = RollingFrame(max_rows=100)
    for _ in range(20):
        frame.append(batch)  # every DNS name (and summary) unique: 6,000 new strings a pass
    assert len(frame._pool) <= 4 * 100 + 4096 + 6000
    assert frame.snapshot()["dns_qname"].iloc[-1] == "n2999.example"


def test_memory_per_row_is_small():
    frame = RollingFrame(max_rows=100_000)
    assert frame.memory_bytes / frame.capacity < 100  # documented in the README: 79 bytes


def test_a_row_costs_at_most_100_bytes():
    # issue 15's budget: the new flow and tcp_analysis columns fit because the nullable
    # columns' masks share one uint16 of bits per row
    frame = RollingFrame(max_rows=10_000)
    assert frame.memory_bytes / 10_000 <= 100


def test_missing_values_survive_the_packed_masks():
    df = netlab.read_pcap(netlab.demo_pcap())
    frame = RollingFrame(max_rows=len(df) + 5)
    frame.append(df)
    back = frame.snapshot()
    for col in [c.name for c in netlab.COLUMNS if c.codec.masked]:
        assert back[col].isna().tolist() == df[col].isna().tolist(), col
        assert back[col].dropna().tolist() == df[col].dropna().tolist(), col


def test_the_sensor_keeps_its_own_small_pool():
    # 40,000 sensor names in all, more than its int16 codes can tell apart at once: the pool
    # keeps the names of the rows still in the frame, and every row keeps its own name
    from netlab.core.batch import Batch

    rows = netlab.read_pcap(netlab.demo_pcap()).head(100)
    frame = RollingFrame(max_rows=150)
    for k in range(400):
        part = rows.copy()
        part["sensor"] = pd.Categorical([f"s{k}-{i}" for i in range(100)])
        frame.append(Batch.from_frame(part))
    store = frame._stores["sensor"]
    assert store.pool is not None and len(store.pool) <= store.limit
    got = frame.snapshot()["sensor"].astype(str).tolist()
    assert got == [f"s398-{i}" for i in range(50, 100)] + [f"s399-{i}" for i in range(100)]
    # the shared pool of the other text columns never holds a sensor name
    assert not any(re.fullmatch(r"s\d+-\d+", name) for name in frame._pool.strings)
