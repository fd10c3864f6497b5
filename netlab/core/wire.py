"""The row currency between a server and its clients: a Batch as JSON rows and back, driven by
the column table (no second list of fields), and frame numbers as range text ("11-30,35")."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .batch import Batch, empty_frame
from .schema import COLUMNS, STORED_COLUMNS

__all__ = [
    "batch_from_json",
    "from_rows",
    "number_ranges",
    "parse_number_ranges",
    "rows_json",
    "to_rows",
]


def rows_json(batch: Batch) -> str:
    """The rows as a JSON array text: times as ISO 8601 (ns, UTC), integers, text. A missing
    field is left out of its row (read it as null): most rows have no VLAN, DNS name, ...

    Built from the batch's numpy columns, without pandas: each distinct text is quoted once,
    each row is one join."""
    if not len(batch):
        return "[]"
    fields = [c.codec.json_fields(f'"{c.name}":', batch.part(c.name)) for c in COLUMNS]
    rows = [
        "{" + ",".join([f for f in row if f is not None]) + "}" for row in zip(*fields, strict=True)
    ]
    return "[" + ",".join(rows) + "]"


def batch_from_json(rows: list[dict[str, Any]]) -> Batch:
    """The Batch of JSON rows, the inverse of `rows_json` (a missing field is a missing
    value; the derived Info is made again). A row that cannot be typed raises ValueError."""
    try:
        parts = {
            c.name: c.codec.from_json([r.get(c.name) for r in rows], c.numpy_dtype)
            for c in STORED_COLUMNS
        }
    except (OverflowError, TypeError) as exc:  # e.g. -1 as a port, a list as a time
        raise ValueError(f"a row that cannot be typed: {exc}") from None
    return Batch.from_parts(len(rows), parts)


def to_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows of a netlab frame, as the server sends them: a missing field is left
    out of its row (read it as null)."""
    rows: list[dict[str, Any]] = json.loads(rows_json(Batch.from_frame(df)))
    return rows


def from_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed netlab frame from JSON rows (missing columns become missing values)."""
    if not rows:
        return empty_frame()
    return batch_from_json(rows).to_frame()


def number_ranges(numbers: npt.NDArray[np.int64]) -> str:
    """Ascending frame numbers as ranges: "11-30,35,40-41"."""
    if not len(numbers):
        return ""
    breaks = np.flatnonzero(np.diff(numbers) != 1)
    starts = np.concatenate([[numbers[0]], numbers[breaks + 1]]).tolist()
    ends = np.concatenate([numbers[breaks], [numbers[-1]]]).tolist()
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, ends, strict=True))


def parse_number_ranges(text: str) -> npt.NDArray[np.int64]:
    """The numbers of `number_ranges` text."""
    parts = []
    for item in filter(None, text.split(",")):
        first, _, last = item.partition("-")
        parts.append(np.arange(int(first), int(last or first) + 1, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
