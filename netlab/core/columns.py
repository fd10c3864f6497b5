"""Columns: a frame's columns as numpy arrays, be it a DataFrame or a decoder Batch.

The live flow tracker runs on every batch of a capture, a few hundred rows each. Building a
DataFrame for it cost ~2 ms a batch and each pandas call tens of microseconds, which made
pandas' overhead, not the rows, most of a capture's CPU. The flow and TCP-analysis code reads
its inputs through this small protocol instead: `flows()` hands it a DataFrame (wrapped by
`columns`), the tracker a Batch as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

I64 = npt.NDArray[np.int64]
Objects = npt.NDArray[np.object_]


class Columns(Protocol):
    """Rows of netlab columns, each read as one numpy array."""

    def __len__(self) -> int: ...

    def ints(self, name: str, missing: int = -1) -> I64:
        """An integer or time column as int64 (times in ns), `missing` where missing."""
        ...

    def text(self, name: str) -> tuple[I64, Sequence[str]]:
        """A text column as codes (-1: missing) and the texts they index."""
        ...


class FrameColumns:
    """A netlab DataFrame's columns through `Columns`."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def __len__(self) -> int:
        return len(self.df)

    def ints(self, name: str, missing: int = -1) -> I64:
        column = self.df[name]
        if column.dtype.kind == "M":
            return np.asarray(column.array.asi8, dtype=np.int64)
        return column.to_numpy(dtype=np.int64, na_value=missing)

    def text(self, name: str) -> tuple[I64, Sequence[str]]:
        column = self.df[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = np.asarray(column.cat.codes, dtype=np.int64)
            return codes, cast(Sequence[str], column.cat.categories)
        codes, uniques = pd.factorize(column)
        return codes.astype(np.int64), cast(Sequence[str], uniques)


def columns(data: pd.DataFrame | Columns) -> Columns:
    """`data` through `Columns` (a DataFrame is wrapped, anything else is taken as it is)."""
    return FrameColumns(data) if isinstance(data, pd.DataFrame) else data


def _pick(texts: Sequence[str], used: I64) -> Objects:
    """The texts at codes `used` (all >= 0) as an object array."""
    return np.asarray(texts, dtype=object)[used]


def has_text(cols: Columns, name: str) -> bool:
    """Whether `cols` has the text column `name` (a user's frame may lack the sensor)."""
    try:
        cols.text(name)
    except KeyError:
        return False
    return True


def texts_at(cols: Columns, name: str, rows: I64) -> Objects:
    """The texts of a text column at positions `rows`, None where missing."""
    codes, texts = cols.text(name)
    picked = codes[rows]
    out = np.full(len(rows), None, dtype=object)
    has = picked >= 0
    if has.any():
        used, inverse = np.unique(picked[has], return_inverse=True)
        out[has] = _pick(texts, used)[inverse]
    return out


def starts_with(cols: Columns, name: str, starts: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """Which rows' text starts with one of `starts` (missing: False), tested once per
    distinct text in use, not per row."""
    codes, texts = cols.text(name)
    if len(texts) > 4 * len(codes) + 64:  # a big pool behind few rows: find the codes used
        used, inverse = np.unique(codes, return_inverse=True)
        hit = np.zeros(len(used), dtype=bool)
        known = np.flatnonzero(used >= 0)
        hit[known] = _starting(_pick(texts, used[known]), starts)
        return hit[inverse.reshape(-1)]
    # a table over the whole pool, marked where used: no sort of the rows (np.unique's
    # argsort was most of flows() on a 500k-row frame)
    in_use = np.zeros(len(texts) + 1, dtype=bool)  # the last entry stands for code -1
    in_use[codes] = True
    in_use[-1] = False
    known = np.flatnonzero(in_use)
    table = np.zeros(len(texts) + 1, dtype=bool)
    table[known] = _starting(_pick(texts, known), starts)
    return table[codes]


def _starting(picked: Objects, starts: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    if len(picked) <= 256:  # a pandas call costs more than a few hundred tests
        return np.asarray([str(t).startswith(starts) for t in picked], dtype=bool)
    return np.asarray(pd.Index(picked).str.startswith(starts), dtype=bool)
