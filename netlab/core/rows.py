"""Frames to JSON rows and back, driven by the column table (no second list of fields)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .info import render_info
from .schema import COLUMNS, Kind


def to_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: times as ISO 8601 (ns), integers, text; missing values as None."""
    columns: dict[str, list[Any]] = {}
    for col in COLUMNS:
        if col.name not in df:
            continue
        series = df[col.name]
        if col.kind is Kind.TIME:
            ns = series.array.asi8
            iso = series.dt.strftime("%Y-%m-%dT%H:%M:%S.").astype(object)
            values = [
                None if t is None or pd.isna(t) else f"{t}{n % 1_000_000_000:09d}Z"
                for t, n in zip(iso.tolist(), ns.tolist(), strict=True)
            ]
        elif col.kind in (Kind.INT, Kind.OPT_INT):
            values = series.astype(object).where(series.notna(), None).tolist()
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
        columns[col.name] = values
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


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
