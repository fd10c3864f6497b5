"""RollingFrame: a bounded, thread-safe ring of decoded rows that hands out typed DataFrames.

Rows live in one numpy array per column; text is stored as int32 codes into a string pool that
is compacted when it outgrows the rows, so memory is bounded and no Python object is kept per
packet. Each append bumps a version counter, so a consumer can ask for just the new rows.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .info import render_info
from .schema import STORED_COLUMNS, Column, Kind, empty_frame

I64 = npt.NDArray[np.int64]


class StringPool:
    """Interned strings addressed by int32 codes."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.strings)

    def codes_for(self, categories: pd.Index) -> npt.NDArray[np.int32]:
        """The pool code of each category, adding the new ones."""
        out = np.empty(len(categories), dtype=np.int32)
        index, strings = self._index, self.strings
        for k, text in enumerate(categories.tolist()):
            code = index.get(text)
            if code is None:
                code = index[text] = len(strings)
                strings.append(text)
            out[k] = code
        return out


class _Store:
    """The ring arrays of one column."""

    def __init__(self, col: Column, capacity: int) -> None:
        self.col = col
        if col.kind is Kind.TEXT:
            self.values: npt.NDArray[Any] = np.full(capacity, -1, dtype=np.int32)
        else:
            self.values = np.zeros(capacity, dtype=col.numpy_dtype)
        self.mask = np.zeros(capacity, dtype=bool) if col.kind is Kind.OPT_INT else None


class RollingFrame:
    """The newest `max_rows` rows (and optionally only those younger than `max_age` seconds)."""

    def __init__(self, max_rows: int = 100_000, max_age: float | None = None) -> None:
        if max_rows <= 0:
            raise ValueError(f"max_rows must be > 0, got {max_rows}")
        self.capacity = max_rows
        self.max_age_ns = int(max_age * 1e9) if max_age else 0
        self._lock = threading.Lock()
        self._stores = {c.name: _Store(c, max_rows) for c in STORED_COLUMNS}
        self._pool = StringPool()
        self._start = 0  # ring index of the oldest row
        self._count = 0
        self._version = 0  # rows ever appended
        self._evicted = 0  # rows dropped for room or age

    def __len__(self) -> int:
        return self._count

    @property
    def version(self) -> int:
        """How many rows were ever appended; the newest row has this version."""
        return self._version

    @property
    def evicted(self) -> int:
        """How many rows left the frame to keep it within its bounds."""
        return self._evicted

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the ring arrays (the string pool is bounded by the row count)."""
        total = 0
        for store in self._stores.values():
            total += store.values.nbytes + (store.mask.nbytes if store.mask is not None else 0)
        return total

    def append(self, batch: pd.DataFrame) -> int:
        """Append decoded rows (a DataFrame from the decoder); return the new version."""
        if len(batch) > self.capacity:
            batch = batch.iloc[len(batch) - self.capacity :]
        m = len(batch)
        if m == 0:
            return self._version
        with self._lock:
            columns = self._columns_of(batch)
            tail = (self._start + self._count) % self.capacity
            first = min(m, self.capacity - tail)
            for name, store in self._stores.items():
                values, mask = columns[name]
                store.values[tail : tail + first] = values[:first]
                store.values[: m - first] = values[first:]
                if store.mask is not None and mask is not None:
                    store.mask[tail : tail + first] = mask[:first]
                    store.mask[: m - first] = mask[first:]
            overflow = max(0, self._count + m - self.capacity)
            self._start = (self._start + overflow) % self.capacity
            self._count += m - overflow
            self._evicted += overflow
            self._version += m
            if self.max_age_ns:
                self._drop_older_than(int(columns["ts"][0][-1]) - self.max_age_ns)
            if len(self._pool) > 4 * self.capacity + 4096:
                self._compact_pool()
            return self._version

    def _columns_of(
        self, batch: pd.DataFrame
    ) -> dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]]:
        out: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]] = {}
        for name, store in self._stores.items():
            series = batch[name]
            kind = store.col.kind
            if kind is Kind.TEXT:
                cat = series.array
                assert isinstance(cat, pd.Categorical)
                codes = np.asarray(cat.codes, dtype=np.int64)
                # Intern only the categories in use (a sliced frame keeps all of its parent's).
                inverse, used = pd.factorize(codes)  # -1 (missing) is its own value here
                mapping = np.full(len(used), -1, dtype=np.int32)
                present = used >= 0
                mapping[present] = self._pool.codes_for(cat.categories[used[present]])
                out[name] = (mapping[inverse], None)
            elif kind is Kind.TIME:
                out[name] = (
                    series.array.asi8
                    if hasattr(series.array, "asi8")
                    else series.to_numpy().view(np.int64),
                    None,
                )
            elif kind is Kind.OPT_INT:
                mask = np.asarray(series.isna().to_numpy(), dtype=bool)
                out[name] = (series.to_numpy(dtype=store.col.numpy_dtype, na_value=0), mask)
            else:
                out[name] = (series.to_numpy(dtype=store.col.numpy_dtype), None)
        return out

    def _ordered(self, count: int) -> I64:
        """Ring indices of the newest `count` rows, oldest first."""
        first = (self._start + self._count - count) % self.capacity
        return (first + np.arange(count, dtype=np.int64)) % self.capacity

    def _drop_older_than(self, cutoff_ns: int) -> None:
        ts = self._stores["ts"].values
        idx = self._ordered(self._count)
        young = ts[idx] >= cutoff_ns
        old = int(np.argmax(young)) if young.any() else self._count
        if old:
            self._start = (self._start + old) % self.capacity
            self._count -= old
            self._evicted += old

    def _compact_pool(self) -> None:
        idx = self._ordered(self._count)
        text = [s for s in self._stores.values() if s.col.kind is Kind.TEXT]
        used = np.unique(np.concatenate([np.asarray(s.values[idx]) for s in text]))
        used = used[used >= 0]
        remap = np.full(len(self._pool) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        pool = StringPool()
        pool.strings = [self._pool.strings[k] for k in used.tolist()]
        pool._index = {text: k for k, text in enumerate(pool.strings)}
        for s in text:
            s.values[:] = remap[s.values]  # -1 indexes the final -1
        self._pool = pool

    def row(self, version: int) -> pd.Series | None:
        """The row with this version, or None if it has left the frame (or never existed)."""
        with self._lock:
            first = self._version - self._count + 1
            if not first <= version <= self._version:
                return None
            newer = self._version - version
        df = self.snapshot(since=version - 1)  # the row and the (few) newer ones
        del newer
        return df.iloc[0] if len(df) and df.index[0] == version else None

    def snapshot(self, since: int | None = None, last: int | None = None) -> pd.DataFrame:
        """A typed DataFrame copy of the rows (newer than version `since`, at most `last`)."""
        with self._lock:
            count = self._count
            if since is not None:
                count = min(count, max(self._version - since, 0))
            if last is not None:
                count = min(count, max(last, 0))
            if count == 0:
                return empty_frame()
            idx = self._ordered(count)
            first_version = self._version - count + 1
            gathered: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]] = {
                name: (s.values[idx], s.mask[idx] if s.mask is not None else None)
                for name, s in self._stores.items()
            }
            strings = self._pool.strings
            text = {
                name: _categorical(values, strings)
                for name, (values, _mask) in gathered.items()
                if self._stores[name].col.kind is Kind.TEXT
            }
        data: dict[str, object] = {}
        for name, (values, mask) in gathered.items():
            kind = self._stores[name].col.kind
            if kind is Kind.TEXT:
                data[name] = text[name]
            elif kind is Kind.TIME:
                data[name] = pd.DatetimeIndex(values.view("datetime64[ns]"), tz="UTC")
            elif kind is Kind.OPT_INT:
                assert mask is not None
                data[name] = pd.arrays.IntegerArray(values, mask)
            else:
                data[name] = values
        index = pd.RangeIndex(first_version, first_version + count)
        df = pd.DataFrame(data, index=index, copy=False)
        df["info"] = render_info(df)
        return df


def _categorical(codes: npt.NDArray[Any], strings: list[str]) -> pd.Categorical:
    # pool code -1 means missing: factorize sees it as a value, mapped back to -1 here
    inverse, used = pd.factorize(codes)
    keep = used >= 0
    remap = np.full(len(used) + 1, -1, dtype=np.int64)
    remap[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
    cats = [strings[k] for k in used[keep].tolist()]
    return pd.Categorical.from_codes(remap[inverse], categories=pd.Index(cats, dtype=object))
