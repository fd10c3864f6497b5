"""Frames to JSON rows and back, driven by the column table (no second list of fields)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _quote  # the C encoder json.dumps uses
from typing import Any

import numpy as np
import pandas as pd

from .batch import Batch
from .info import render_info
from .schema import COLUMNS, Kind


def rows_json(batch: Batch) -> str:
    """The rows as a JSON array text: times as ISO 8601 (ns, UTC), integers, text. A missing
    field is left out of its row (read it as null): most rows have no VLAN, DNS name, ...

    Built from the batch's numpy columns, without pandas: each distinct text is quoted once,
    each row is one join."""
    if not len(batch):
        return "[]"
    fields: list[list[str | None]] = []
    for col in COLUMNS:
        key = f'"{col.name}":'
        if col.kind is Kind.TIME:
            stamps = np.datetime_as_string(batch.values[col.name].view("datetime64[ns]"), "ns")
            fields.append([None if t == "NaT" else f'{key}"{t}Z"' for t in stamps.tolist()])
        elif col.kind is Kind.TEXT:
            codes, texts = batch.text(col.name)
            table: list[str | None] = [key + _quote(t) for t in texts]
            table.append(None)  # code -1
            fields.append([table[c] for c in codes.tolist()])
        elif col.kind is Kind.DERIVED:
            fields.append([None if t is None else key + _quote(t) for t in batch.info.to_pylist()])
        elif col.kind is Kind.OPT_INT:
            values = batch.values[col.name].tolist()
            missing = batch.masks[col.name].tolist()
            fields.append(
                [None if m else f"{key}{v}" for v, m in zip(values, missing, strict=True)]
            )
        else:
            fields.append([f"{key}{v}" for v in batch.values[col.name].tolist()])
    rows = [
        "{" + ",".join([f for f in row if f is not None]) + "}" for row in zip(*fields, strict=True)
    ]
    return "[" + ",".join(rows) + "]"


def to_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows of a netlab frame, as the server sends them: a missing field is left
    out of its row (read it as null)."""
    rows: list[dict[str, Any]] = json.loads(rows_json(Batch.from_frame(df)))
    return rows


def from_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed netlab frame from JSON rows (missing columns become missing values)."""
    from .schema import empty_frame

    if not rows:
        return empty_frame()
    data: dict[str, Any] = {}
    n = len(rows)
    for col in COLUMNS:
        if col.kind is Kind.DERIVED:
            continue
        values = [r.get(col.name) for r in rows]
        if col.kind is Kind.TIME:
            data[col.name] = pd.to_datetime(
                pd.Series(values), utc=True, format="ISO8601"
            ).dt.as_unit("ns")
        elif col.kind is Kind.INT:
            data[col.name] = np.asarray([v or 0 for v in values], dtype=col.numpy_dtype)
        elif col.kind is Kind.OPT_INT:
            data[col.name] = pd.Series(values, dtype=col.pandas_dtype).array
        else:
            data[col.name] = pd.Categorical(values)
    df = pd.DataFrame(data, index=pd.RangeIndex(n))
    df["info"] = render_info(df)
    return df
