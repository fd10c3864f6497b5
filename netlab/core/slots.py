"""Slots: columns that share rows, in arrays with room to spare.

A live table gains a few rows with every batch. Concatenating every column each time copies
the whole table, which at 100,000 flows cost more than the batch itself. Here the arrays
double when full, so appending m rows costs O(m) amortised, and a row keeps its position
(its slot) until the table is compacted with `keep`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


class Slots:
    """Named columns of `len(self)` rows; `self[name]` is a view of the rows in use."""

    def __init__(self, columns: Mapping[str, tuple[Any, Any]], capacity: int = 64) -> None:
        """`columns`: name -> (dtype, the value new rows start with)."""
        self._spec = dict(columns)
        self._size = 0
        self._arrays = {name: self._blank(name, capacity) for name in self._spec}

    def _blank(self, name: str, count: int) -> npt.NDArray[Any]:
        dtype, default = self._spec[name]
        return np.full(count, default, dtype=dtype)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self._arrays[name][: self._size]

    def __setitem__(self, name: str, values: Any) -> None:
        self._arrays[name][: self._size] = values

    @property
    def names(self) -> list[str]:
        return list(self._spec)

    @property
    def nbytes(self) -> int:
        """Bytes the columns take (the spare room included; an object column: its pointers)."""
        return sum(a.nbytes for a in self._arrays.values())

    def append(self, count: int) -> slice:
        """`count` new rows with the columns' start values; returns where they are."""
        start, end = self._size, self._size + count
        capacity = len(next(iter(self._arrays.values())))
        if end > capacity:
            grown = max(end, 2 * capacity)
            for name, old in self._arrays.items():
                new = self._blank(name, grown)
                new[:start] = old[:start]
                self._arrays[name] = new
        self._size = end
        return slice(start, end)

    def keep(self, rows: I64) -> None:
        """Keep only the rows at `rows` (in that order). The freed room is reset for reuse, or
        given back when more than half of the arrays would stand empty (after a flood)."""
        count = len(rows)
        capacity = len(next(iter(self._arrays.values())))
        smaller = max(64, count + count // 8) if capacity > 2 * max(count, 64) else 0
        for name, array in self._arrays.items():
            if smaller:
                self._arrays[name] = new = self._blank(name, smaller)
                new[:count] = array[rows]
            else:
                array[:count] = array[rows]
                array[count : self._size] = self._spec[name][1]
        self._size = count
