"""Batch: decoded rows in storage form, one numpy array per column, before any DataFrame.

The decoder makes batches, the rolling frame stores them and the server encodes them to JSON
without pandas: building a typed DataFrame costs ~1.5 ms whatever the row count, which at a
hundred small batches a second was most of a capture's CPU. A DataFrame is made only for whoever
asks for one (`to_frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from .info import render_info_array
from .schema import STORED_COLUMNS, Column, Kind, Part

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass
class Batch:
    """Rows of the stored columns: TIME as int64 ns, INT and OPT_INT in their storage dtype
    (OPT_INT with a mask, True where missing), TEXT as int64 codes (-1: missing) into a list of
    distinct texts. `first_version` is the index of the first row in frames made from it."""

    n: int
    values: dict[str, npt.NDArray[Any]]
    masks: dict[str, Mask]
    categories: dict[str, list[str]]
    first_version: int = 0
    _info: pa.Array | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return self.n

    def ints(self, name: str, missing: int = -1) -> I64:
        """An integer or time column as int64 (times in ns), `missing` where missing."""
        values = self.values[name].astype(np.int64)
        mask = self.masks.get(name)
        return values if mask is None else np.where(mask, missing, values)

    def text(self, name: str) -> tuple[I64, list[str]]:
        """A text column as codes (-1: missing) and the texts they index."""
        return self.values[name], self.categories[name]

    def part(self, name: str) -> Part:
        """One column; the derived Info column too (as its texts, None where empty)."""
        if name not in self.values:
            return Part(np.asarray(self.info.to_pylist(), dtype=object))
        return Part(self.values[name], self.masks.get(name), self.categories.get(name))

    @classmethod
    def from_parts(cls, n: int, parts: dict[str, Part], first_version: int = 0) -> Batch:
        """A batch of `n` rows from one Part per stored column."""
        values = {name: p.values for name, p in parts.items()}
        masks = {name: p.mask for name, p in parts.items() if p.mask is not None}
        texts = {name: p.texts for name, p in parts.items() if p.texts is not None}
        return cls(n, values, masks, texts, first_version)

    @property
    def info(self) -> pa.Array:
        """The Info text of every row (rendered once, when first asked for)."""
        if self._info is None:
            self._info = render_info_array(self.n, self.ints, self.text)
        return self._info

    def with_first_version(self, first_version: int) -> Batch:
        """The same rows, indexed from `first_version`."""
        return replace(self, first_version=first_version)

    def tail(self, count: int) -> Batch:
        """The last `count` rows."""
        start = max(self.n - count, 0)
        keep = slice(start, None)
        parts = {c.name: c.codec.take(self.part(c.name), keep) for c in STORED_COLUMNS}
        return Batch.from_parts(self.n - start, parts, self.first_version + start)

    def take(self, rows: I64) -> Batch:
        """The rows at positions `rows` (in that order), indexed from the first one's version."""
        parts = {c.name: c.codec.take(self.part(c.name), rows) for c in STORED_COLUMNS}
        first = self.first_version + int(rows[0]) if len(rows) else self.first_version
        return Batch.from_parts(len(rows), parts, first)

    def to_frame(self) -> pd.DataFrame:
        """A typed netlab DataFrame of these rows, indexed from `first_version`."""
        data = {c.name: c.codec.to_pandas(self.part(c.name)) for c in STORED_COLUMNS}
        index = pd.RangeIndex(self.first_version, self.first_version + self.n)
        df = pd.DataFrame(data, index=index, copy=False)
        df["info"] = pd.Series(pd.arrays.ArrowStringArray(self.info), index=index)
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Batch:
        """The stored columns of a netlab DataFrame (its own index is not kept). A column
        that may be missing and is absent (`read_pcap` gives no `sensor`) is missing in
        every row."""
        parts = {c.name: c.codec.from_pandas(_column(df, c), c.numpy_dtype) for c in STORED_COLUMNS}
        first = df.index[0] if len(df) and isinstance(df.index[0], int | np.integer) else 0
        return cls.from_parts(len(df), parts, int(first))


def _column(df: pd.DataFrame, c: Column) -> pd.Series:
    if c.name in df.columns or c.kind not in (Kind.OPT_INT, Kind.TEXT):
        return df[c.name]
    return pd.Series([None] * len(df), dtype=c.pandas_dtype, index=df.index)


def batch_to_arrow(batch: Batch) -> pa.Table:
    """The stored columns of a batch as an Arrow table (Info is not stored: it is derived)."""
    return pa.table({c.name: c.codec.to_arrow(batch.part(c.name)) for c in STORED_COLUMNS})


def batch_from_arrow(table: pa.Table) -> Batch:
    """A batch of an Arrow table with the stored columns (as `batch_to_arrow` writes them)."""
    parts = {
        c.name: c.codec.from_arrow(table.column(c.name), c.numpy_dtype) for c in STORED_COLUMNS
    }
    return Batch.from_parts(table.num_rows, parts)


def empty_batch() -> Batch:
    """A batch with no rows."""
    return Batch.from_parts(0, {c.name: c.codec.empty(c.numpy_dtype) for c in STORED_COLUMNS})


def empty_frame() -> pd.DataFrame:
    """A DataFrame with every column, correctly typed, and no rows."""
    return empty_batch().to_frame()


def concat_batches(parts: list[Batch]) -> Batch:
    """One batch of the rows of `parts`, in order (texts merged into one list per column)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return empty_batch()
    joined = {c.name: c.codec.concat([p.part(c.name) for p in parts]) for c in STORED_COLUMNS}
    return Batch.from_parts(sum(p.n for p in parts), joined, parts[0].first_version)


def stamp_sensor(batch: Batch, sensor: str) -> Batch:
    """The batch with `sensor` in every row that names none (rows from a netlab server come
    named by it; rows decoded here are this capture's)."""
    codes = batch.values["sensor"]
    if not sensor or not len(codes) or codes.min() >= 0:
        return batch
    texts = batch.categories["sensor"]
    if sensor in texts:
        own = texts.index(sensor)
    else:
        texts = [*texts, sensor]
        own = len(texts) - 1
    batch.values["sensor"] = np.where(codes < 0, own, codes)
    batch.categories["sensor"] = texts
    return batch
