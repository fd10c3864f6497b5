"""The row currency: a Batch to JSON rows and back loses nothing, and every column's codec is
exercised through the one loop over the table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import netlab
from netlab.core.batch import Batch, concat_batches, empty_batch
from netlab.core.schema import COLUMNS, STORED_COLUMNS, Kind, compact_codes
from netlab.core.wire import (
    batch_from_json,
    from_rows,
    number_ranges,
    parse_number_ranges,
    rows_json,
)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_categorical=False
    )


def test_json_rows_round_trip_every_column(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    text = rows_json(Batch.from_frame(df))
    back = batch_from_json(json.loads(text))
    assert rows_json(back) == text  # the same JSON again, byte for byte
    _same(back.to_frame(), df)
    assert [str(t) for t in back.to_frame().dtypes] == [c.pandas_dtype for c in COLUMNS]


def test_missing_fields_and_non_ascii_text_survive():
    df = from_rows(
        [
            {"number": 1, "ts": "2024-01-02T03:04:05.123456789Z", "dns_qname": "bücher.de"},
            {"number": 2, "ts": "2024-01-02T03:04:06Z", "sport": 53, "summary": "☃ snow"},
        ]
    )
    assert df["sport"].isna().tolist() == [True, False] and df["dns_qname"].iloc[1] is np.nan
    again = batch_from_json(json.loads(rows_json(Batch.from_frame(df))))
    _same(again.to_frame(), df)
    assert json.loads(rows_json(again))[0]["ts"] == "2024-01-02T03:04:05.123456789Z"


@pytest.mark.parametrize(
    "row",
    [
        {"number": 1, "sport": -1},
        {"number": 1, "sport": "http"},
        {"number": 1, "ts": [1]},
        {"number": 1, "summary": "\ud800"},  # a lone surrogate: no UTF-8 for it
    ],
    ids=["negative port", "text port", "list time", "lone surrogate"],
)
def test_a_row_that_cannot_be_typed_is_refused(row):
    with pytest.raises(ValueError):
        batch_from_json([row])


def test_concat_tail_and_empty_agree_with_pandas(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    parts = [Batch.from_frame(df.iloc[k : k + 700]) for k in range(0, len(df), 700)]
    joined = concat_batches(parts)
    _same(joined.to_frame(), df)
    _same(joined.tail(10).to_frame(), df.iloc[-10:])
    empty = empty_batch().to_frame()
    assert list(empty.columns) == [c.name for c in COLUMNS] and len(empty) == 0


def test_every_kind_has_its_codec_and_only_the_table_names_kinds():
    assert {c.kind for c in COLUMNS} == set(Kind)
    for col in STORED_COLUMNS:
        part = col.codec.empty(col.numpy_dtype)
        assert len(part.values) == 0
        assert (part.mask is not None) == col.codec.masked
        assert (part.texts is not None) == col.codec.coded


def test_compact_codes_keeps_only_the_texts_in_use():
    codes, texts = compact_codes(np.array([3, -1, 3, 0]), ["a", "b", "c", "d"])
    assert texts == ["d", "a"] and codes.tolist() == [0, -1, 0, 1]


def test_number_ranges_round_trip():
    numbers = np.array([1, 2, 3, 7, 9, 10], dtype=np.int64)
    assert number_ranges(numbers) == "1-3,7,9-10"
    assert parse_number_ranges("1-3,7,9-10").tolist() == numbers.tolist()
    assert number_ranges(np.zeros(0, dtype=np.int64)) == "" and not len(parse_number_ranges(""))
