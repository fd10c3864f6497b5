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
from .schema import STORED_COLUMNS, Kind

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

    def ints(self, name: str) -> I64:
        """An integer column as int64, -1 where missing."""
        values = self.values[name].astype(np.int64)
        mask = self.masks.get(name)
        return values if mask is None else np.where(mask, -1, values)

    def text(self, name: str) -> tuple[I64, list[str]]:
        """A text column as codes (-1: missing) and the texts they index."""
        return self.values[name], self.categories[name]

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
        return Batch(
            self.n - start,
            {k: v[start:] for k, v in self.values.items()},
            {k: m[start:] for k, m in self.masks.items()},
            self.categories,
            self.first_version + start,
        )

    def to_frame(self) -> pd.DataFrame:
        """A typed netlab DataFrame of these rows, indexed from `first_version`."""
        data: dict[str, object] = {}
        for col in STORED_COLUMNS:
            values = self.values[col.name]
            if col.kind is Kind.TIME:
                data[col.name] = pd.DatetimeIndex(values.view("datetime64[ns]"), tz="UTC")
            elif col.kind is Kind.TEXT:
                cats = pd.Index(self.categories[col.name], dtype=object)
                data[col.name] = pd.Categorical.from_codes(values, categories=cats)
            elif col.kind is Kind.OPT_INT:
                data[col.name] = pd.arrays.IntegerArray(values, self.masks[col.name])
            else:
                data[col.name] = values
        index = pd.RangeIndex(self.first_version, self.first_version + self.n)
        df = pd.DataFrame(data, index=index, copy=False)
        df["info"] = pd.Series(pd.arrays.ArrowStringArray(self.info), index=index)
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Batch:
        """The stored columns of a netlab DataFrame (its own index is not kept)."""
        values: dict[str, npt.NDArray[Any]] = {}
        masks: dict[str, Mask] = {}
        categories: dict[str, list[str]] = {}
        for col in STORED_COLUMNS:
            series = df[col.name]
            if col.kind is Kind.TEXT:
                cat = series.array
                assert isinstance(cat, pd.Categorical)
                codes = np.asarray(cat.codes, dtype=np.int64)
                # Keep only the categories in use (a sliced frame keeps all of its parent's).
                inverse, used = pd.factorize(codes)  # -1 (missing) is its own value here
                keep = used >= 0
                remap = np.full(len(used), -1, dtype=np.int64)
                remap[keep] = np.arange(int(keep.sum()))
                values[col.name] = remap[inverse]
                categories[col.name] = [str(c) for c in cat.categories[used[keep]]]
            elif col.kind is Kind.TIME:
                array = series.array
                values[col.name] = (
                    array.asi8 if hasattr(array, "asi8") else series.to_numpy().view(np.int64)
                )
            elif col.kind is Kind.OPT_INT:
                masks[col.name] = np.asarray(series.isna().to_numpy(), dtype=bool)
                values[col.name] = series.to_numpy(dtype=col.numpy_dtype, na_value=0)
            else:
                values[col.name] = series.to_numpy(dtype=col.numpy_dtype)
        first = df.index[0] if len(df) and isinstance(df.index[0], int | np.integer) else 0
        return cls(len(df), values, masks, categories, int(first))


def empty_batch() -> Batch:
    """A batch with no rows."""
    values: dict[str, npt.NDArray[Any]] = {}
    masks: dict[str, Mask] = {}
    categories: dict[str, list[str]] = {}
    for col in STORED_COLUMNS:
        if col.kind is Kind.TEXT:
            values[col.name] = np.zeros(0, dtype=np.int64)
            categories[col.name] = []
        else:
            values[col.name] = np.zeros(0, dtype=col.numpy_dtype or "int64")
        if col.kind is Kind.OPT_INT:
            masks[col.name] = np.zeros(0, dtype=bool)
    return Batch(0, values, masks, categories)


def concat_batches(parts: list[Batch]) -> Batch:
    """One batch of the rows of `parts`, in order (texts merged into one list per column)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return empty_batch()
    values: dict[str, npt.NDArray[Any]] = {}
    masks: dict[str, Mask] = {}
    categories: dict[str, list[str]] = {}
    for col in STORED_COLUMNS:
        name = col.name
        if col.kind is Kind.TEXT:
            index: dict[str, int] = {}
            pieces = []
            for part in parts:
                cats = part.categories[name]
                remap = np.empty(len(cats) + 1, dtype=np.int64)
                remap[-1] = -1
                for k, text in enumerate(cats):
                    remap[k] = index.setdefault(text, len(index))
                pieces.append(remap[part.values[name]])
            values[name] = np.concatenate(pieces)
            categories[name] = list(index)
        else:
            values[name] = np.concatenate([p.values[name] for p in parts])
            if col.kind is Kind.OPT_INT:
                masks[name] = np.concatenate([p.masks[name] for p in parts])
    return Batch(sum(p.n for p in parts), values, masks, categories, parts[0].first_version)
