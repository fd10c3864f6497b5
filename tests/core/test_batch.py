"""Batch (the pandas-free form of decoded rows) and its JSON rows, against pandas references."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import netlab
from netlab.core.batch import Batch, concat_batches
from netlab.core.schema import COLUMNS
from netlab.core.wire import rows_json

CORPUS = Path(__file__).parent.parent / "data" / "corpus"
SAMPLES = [
    "pcpp__nanosecs.pcap",  # ns timestamps must survive into JSON
    "pcpp__DnsPackets.pcap",
    "pcpp__VlanPackets.pcap",
    "pcpp__four_ipv6_http_streams.pcap",
    "dpkt__dns_icmp.pcap",
    "ndpi__malformed_dns.pcap",
]


def _reference_rows(df: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as the JSON API promises them, cell by cell from the DataFrame (missing: absent)."""
    rows = []
    for _, row in df.iterrows():
        out: dict[str, object] = {}
        for col in COLUMNS:
            value = row[col.name]
            if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
                continue
            if isinstance(value, pd.Timestamp):
                whole = value.strftime("%Y-%m-%dT%H:%M:%S")
                value = f"{whole}.{value.value % 1_000_000_000:09d}Z"
            elif not isinstance(value, str):
                value = int(value)
            out[col.name] = value
        rows.append(out)
    return rows


@pytest.mark.parametrize("name", SAMPLES)
def test_rows_json_agrees_with_the_frame_cell_by_cell(name):
    df = netlab.read_pcap(CORPUS / name)
    assert len(df)
    assert json.loads(rows_json(Batch.from_frame(df))) == _reference_rows(df)


def test_nanoseconds_reach_json():
    df = netlab.read_pcap(CORPUS / "pcpp__nanosecs.pcap")
    stamps = [r["ts"] for r in json.loads(rows_json(Batch.from_frame(df)))]
    assert any(not s.endswith("000Z") for s in stamps)  # sub-microsecond digits kept


@pytest.mark.parametrize("name", SAMPLES)
def test_frame_round_trip(name):
    df = netlab.read_pcap(CORPUS / name)
    again = Batch.from_frame(df).to_frame()
    pd.testing.assert_frame_equal(again, df, check_categorical=False)


def test_concat_merges_texts_from_different_batches():
    a = netlab.read_pcap(CORPUS / "pcpp__DnsPackets.pcap")
    b = netlab.read_pcap(CORPUS / "pcpp__VlanPackets.pcap")
    merged = concat_batches([Batch.from_frame(a), Batch.from_frame(b)]).to_frame()
    expected = pd.concat([a, b], ignore_index=True)
    for name in ("src", "dst", "proto", "dns_qname", "info", "number", "sport"):
        left = merged[name].astype(object).where(merged[name].notna(), None).tolist()
        right = expected[name].astype(object).where(expected[name].notna(), None).tolist()
        assert left == right, name


def test_tail_and_versions():
    df = netlab.read_pcap(CORPUS / "pcpp__DnsPackets.pcap")
    batch = Batch.from_frame(df).with_first_version(101)
    tail = batch.tail(5)
    assert len(tail) == 5 and tail.first_version == 101 + len(df) - 5
    frame = tail.to_frame()
    assert list(frame.index) == list(range(tail.first_version, tail.first_version + 5))
    assert frame["number"].tolist() == df["number"].tolist()[-5:]


def test_empty_batch_encodes_and_frames():
    df = netlab.read_pcap(CORPUS / "pcpp__DnsPackets.pcap").iloc[:0]
    batch = Batch.from_frame(df)
    assert rows_json(batch) == "[]" and len(batch.to_frame()) == 0
