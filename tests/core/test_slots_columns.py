"""The pieces the live flow table stands on: Slots (columns with room to spare), the
numpy running maximum per group, and Columns over a DataFrame and a Batch alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

import netlab
from netlab.core.batch import Batch
from netlab.core.columns import FrameColumns, starts_with, texts_at
from netlab.core.slots import Slots
from netlab.core.tcp_sides import group_cummax


def test_slots_grow_keep_their_rows_and_give_room_back():
    t = Slots({"a": (np.int64, -1), "b": (object, None)}, capacity=4)
    first = t.append(3)
    t["a"][first] = [10, 11, 12]
    t["b"][first] = ["x", "y", "z"]
    grown = t.append(5)  # past the capacity: the arrays double, the rows stay
    assert (grown.start, grown.stop) == (3, 8) and len(t) == 8
    assert t["a"].tolist() == [10, 11, 12, -1, -1, -1, -1, -1]
    assert t["b"][:3].tolist() == ["x", "y", "z"] and t["b"][3] is None
    t.keep(np.array([0, 2]))
    assert t["a"].tolist() == [10, 12] and t["b"].tolist() == ["x", "z"]
    again = t.append(1)  # freed room starts from the column's start value again
    assert t["a"][again].tolist() == [-1] and t["b"][again].tolist() == [None]
    big = Slots({"a": (np.int64, 0)})
    big.append(10_000)
    before = big.nbytes
    big.keep(np.arange(10))
    assert big.nbytes < before / 10  # a flood's room is given back


VALUES = st.integers(-(2**62), 2**62) | st.integers(-1000, 1000) | st.just(-(2**63))


@given(st.lists(st.tuples(st.integers(0, 4), VALUES), max_size=60))
def test_group_cummax_is_pandas_groupby_cummax(pairs):
    # (small values take the lifted-span path, far-apart ones the ranks)
    pairs.sort(key=lambda p: p[0])  # rows sorted by group, as the callers have them
    group = np.array([g for g, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.int64)
    want = pd.Series(values, dtype=np.int64).groupby(group).cummax().to_numpy()
    assert group_cummax(values, group).tolist() == want.tolist()


def test_columns_read_a_batch_as_they_read_its_frame():
    df = netlab.read_pcap(netlab.demo_pcap("flows")).iloc[100:400]
    frame, batch = FrameColumns(df), Batch.from_frame(df)
    for name in ("ts", "length", "sport", "tcp_seq", "tcp_window", "icmp_id"):
        for missing in (-1, 0):
            assert (frame.ints(name, missing) == batch.ints(name, missing)).all(), name
    rows = np.arange(0, len(df), 7)
    for name in ("src", "proto", "dns_qname", "summary"):
        assert texts_at(frame, name, rows).tolist() == texts_at(batch, name, rows).tolist()
        want = df[name].astype(object).iloc[rows].where(df[name].iloc[rows].notna(), None)
        assert texts_at(batch, name, rows).tolist() == want.tolist()
    starts = ("Standard query",)
    want = df["summary"].astype(str).str.startswith(starts) & df["summary"].notna()
    assert (starts_with(batch, "summary", starts) == want.to_numpy()).all()
    assert (starts_with(frame, "summary", starts) == want.to_numpy()).all()
