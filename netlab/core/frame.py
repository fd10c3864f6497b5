"""RollingFrame: a bounded, thread-safe ring of decoded rows that hands out typed DataFrames.

Rows live in one numpy array per column (the missing-value masks of the nullable ones as bits
of one uint16 per row); text is stored as int32 codes into a string pool that is compacted
when it outgrows the rows, so memory is bounded and no Python object is kept per
packet. Each append bumps a version counter, so a consumer can ask for just the new rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .batch import Batch, empty_batch, empty_frame
from .schema import STORED_COLUMNS, Column, code_table, compact_codes

I64 = npt.NDArray[np.int64]


class StringPool:
    """Interned strings addressed by codes."""

    def __init__(self, strings: list[str] | None = None) -> None:
        self.strings: list[str] = strings or []
        self.index: dict[str, int] = {text: k for k, text in enumerate(self.strings)}

    def __len__(self) -> int:
        return len(self.strings)

    def codes_for(self, texts: list[str]) -> npt.NDArray[np.int32]:
        """The pool code of each text, adding the new ones; a final -1 for missing values."""
        return code_table(texts, self.index, self.strings).astype(np.int32)


class _Store:
    """The ring arrays of one column; a nullable column's mask is one bit (`bit`) of the
    frame's shared `missing` array rather than a byte of its own. A text column with a code
    dtype of its own (the sensor: a few names) keeps its own small pool."""

    def __init__(self, col: Column, capacity: int, bit: int | None) -> None:
        self.col = col
        self.coded = col.codec.coded  # values are codes into a string pool
        self.pool: StringPool | None = None  # None: the frame's shared pool
        if self.coded:
            code_dtype = np.dtype(col.numpy_dtype or np.int32)
            self.values: npt.NDArray[Any] = np.full(capacity, -1, dtype=code_dtype)
            if col.numpy_dtype:
                self.pool = StringPool()
                self.limit = int(np.iinfo(code_dtype).max)
        else:
            self.values = np.zeros(capacity, dtype=col.numpy_dtype)
        self.bit = bit

    def own_codes(self, texts: list[str], live: Callable[[], I64]) -> npt.NDArray[np.int32]:
        """Codes for `texts` in this column's own pool. When it would outgrow its code dtype,
        the pool first keeps only the texts of the rows still in the ring (`live()`); texts
        that still find no room are stored as missing (never a wrapped code)."""
        assert self.pool is not None
        if len(self.pool) + len(texts) > self.limit:
            rows = live()
            codes, strings = compact_codes(self.values[rows].astype(np.int64), self.pool.strings)
            self.pool = StringPool(strings)
            self.values[:] = -1
            self.values[rows] = codes
        table = self.pool.codes_for(texts)
        table[table > self.limit] = -1
        return table


MASKED = [c.name for c in STORED_COLUMNS if c.codec.masked]
assert len(MASKED) <= 16, "the missing-bits array is uint16: one bit per nullable column"


class RollingFrame:
    """The newest `max_rows` rows (and optionally only those younger than `max_age` seconds)."""

    def __init__(self, max_rows: int = 100_000, max_age: float | None = None) -> None:
        if max_rows <= 0:
            raise ValueError(f"max_rows must be > 0, got {max_rows}")
        self.capacity = max_rows
        self.max_age_ns = int(max_age * 1e9) if max_age else 0
        self._lock = threading.Lock()
        bits = {name: k for k, name in enumerate(MASKED)}
        self._stores = {c.name: _Store(c, max_rows, bits.get(c.name)) for c in STORED_COLUMNS}
        self._missing = np.zeros(max_rows, dtype=np.uint16)  # bit k: MASKED[k] is missing
        self._pool = StringPool()
        self._start = 0  # ring index of the oldest row
        self._count = 0
        self._version = 0  # rows ever appended
        self._evicted = 0  # rows dropped for room or age
        self.attrs: dict[str, Any] = {}  # put on every snapshot's DataFrame.attrs

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
        return self._missing.nbytes + sum(s.values.nbytes for s in self._stores.values())

    def append(self, rows: pd.DataFrame | Batch) -> int:
        """Append decoded rows (a batch, or a netlab DataFrame); return the new version."""
        batch = rows if isinstance(rows, Batch) else Batch.from_frame(rows)
        if len(batch) > self.capacity:
            batch = batch.tail(self.capacity)
        m = len(batch)
        if m == 0:
            return self._version
        with self._lock:
            tail = (self._start + self._count) % self.capacity
            first = min(m, self.capacity - tail)
            missing = np.zeros(m, dtype=np.uint16)
            for name, store in self._stores.items():
                values = batch.values[name]
                if store.pool is not None:
                    texts = batch.categories[name]
                    values = store.own_codes(texts, lambda: self._ordered(self._count))[values]
                elif store.coded:
                    values = self._pool.codes_for(batch.categories[name])[values]
                store.values[tail : tail + first] = values[:first]
                store.values[: m - first] = values[first:]
                if store.bit is not None:
                    missing |= batch.masks[name].astype(np.uint16) << store.bit
            self._missing[tail : tail + first] = missing[:first]
            self._missing[: m - first] = missing[first:]
            overflow = max(0, self._count + m - self.capacity)
            self._start = (self._start + overflow) % self.capacity
            self._count += m - overflow
            self._evicted += overflow
            self._version += m
            if self.max_age_ns:
                self._drop_older_than(int(batch.values["ts"][-1]) - self.max_age_ns)
            if len(self._pool) > 4 * self.capacity + 4096:
                self._compact_pool()
            return self._version

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
        text = [s for s in self._stores.values() if s.coded and s.pool is None]
        codes, strings = compact_codes(
            np.concatenate([s.values[idx] for s in text]), self._pool.strings
        )
        self._pool = StringPool(strings)
        for k, s in enumerate(text):
            s.values[:] = -1
            s.values[idx] = codes[k * len(idx) : (k + 1) * len(idx)]

    def row(self, version: int) -> pd.Series | None:
        """The row with this version, or None if it has left the frame (or never existed)."""
        with self._lock:
            first = self._version - self._count + 1
            if not first <= version <= self._version:
                return None
        df = self.snapshot(since=version - 1)  # the row and the (few) newer ones
        return df.iloc[0] if len(df) and df.index[0] == version else None

    def snapshot(self, since: int | None = None, last: int | None = None) -> pd.DataFrame:
        """A typed DataFrame copy of the rows (newer than version `since`, at most `last`)."""
        batch = self.batch(since, last)
        df = batch.to_frame() if len(batch) else empty_frame()
        df.attrs.update(self.attrs)
        return df

    def batch(self, since: int | None = None, last: int | None = None) -> Batch:
        """A copy of the rows as a Batch (newer than version `since`, at most `last`)."""
        with self._lock:
            count = self._count
            if since is not None:
                count = min(count, max(self._version - since, 0))
            if last is not None:
                count = min(count, max(last, 0))
            if count == 0:
                return empty_batch()
            idx = self._ordered(count)
            values: dict[str, npt.NDArray[Any]] = {}
            masks: dict[str, npt.NDArray[np.bool_]] = {}
            categories: dict[str, list[str]] = {}
            missing = self._missing[idx]
            for name, store in self._stores.items():
                values[name] = store.values[idx]
                if store.bit is not None:
                    masks[name] = ((missing >> store.bit) & 1).astype(bool)
                if store.coded:
                    pool = store.pool or self._pool
                    values[name], categories[name] = compact_codes(values[name], pool.strings)
            first_version = self._version - count + 1
        return Batch(count, values, masks, categories, first_version)
