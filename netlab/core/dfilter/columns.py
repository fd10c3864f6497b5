"""A frame's columns as the filter compiler wants them: numbers with a presence mask, text as
codes into its distinct values. Each column is read once per evaluation (cached), so a filter
naming `tcp.port` twice pays for the ports once.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Bools = npt.NDArray[np.bool_]


class MissingColumn(KeyError):
    """The frame lacks a column a field needs."""


@dataclass(frozen=True)
class Num:
    """One occurrence of a numeric field: values (int64, or float64) and where it is present."""

    values: npt.NDArray[Any]
    present: Bools


@dataclass(frozen=True)
class Cat:
    """One occurrence of a text or address field: codes (-1: none) into `cats`, and where the
    field is present. Predicates are worked out once per distinct value, then looked up."""

    codes: npt.NDArray[np.int64]
    cats: pd.Index
    present: Bools

    def lookup(self, per_value: Bools) -> Bools:
        """The per-row result of a per-distinct-value result (False where absent)."""
        table = np.append(np.asarray(per_value, dtype=bool), False)  # code -1 -> False
        out: Bools = self.present & table[self.codes]
        return out


Occurrence = Num | Cat


class _ByCategories:
    """Values worked out from a categorical's categories, kept while those categories live:
    filtering the same frame again (or a view of it) reuses them. Bounded."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: dict[tuple[str, int], tuple[weakref.ref[Any], Any]] = {}

    def get(self, kind: str, cats: pd.Index, make: Callable[[], Any]) -> Any:
        key = (kind, id(cats))
        hit = self._items.get(key)
        if hit is not None and hit[0]() is cats:
            return hit[1]
        value = make()
        if len(self._items) >= self.size:
            # filters may run in several threads at once (a server's subscriptions, a
            # notebook): losing a race here only drops an entry, it never raises
            with contextlib.suppress(RuntimeError, KeyError, StopIteration):
                self._items.pop(next(iter(self._items)))
        self._items[key] = (weakref.ref(cats), value)
        return value


BY_CATEGORIES = _ByCategories()


# The packets inside a frame's packets, level by level: (their decoded rows, the position in
# the frame of the row each one is inside). Given by the caller: finding them reads bytes.
InnerLevels = Callable[["Columns"], list[tuple[pd.DataFrame, npt.NDArray[np.int64]]]]


class Columns:
    """Read-once access to a DataFrame's columns, for one evaluation."""

    def __init__(self, df: pd.DataFrame, inner: InnerLevels | None = None) -> None:
        self.df = df
        self.n = len(df)
        self._cache: dict[tuple[str, str], Any] = {}
        self._find_inner = inner
        self._inner: list[Columns] | None = None

    def _series(self, name: str) -> pd.Series:
        if name not in self.df.columns:
            raise MissingColumn(name)
        return self.df[name]

    def inner(self) -> list[Columns]:
        """The packets inside these rows' packets (tunnelled, or quoted by an ICMP error),
        one Columns per level, aligned with these rows (missing where a row has none).
        Looked for once per evaluation, and only when a filter names a field they have."""
        if self._inner is None:
            levels = self._find_inner(self) if self._find_inner is not None else []
            self._inner = [PlacedColumns(frame, rows, self.n) for frame, rows in levels]
        return self._inner

    def ints(self, name: str) -> Num:
        key = ("ints", name)
        if key not in self._cache:
            s = self._series(name)
            if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
                values = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
                present = values != np.iinfo(np.int64).min
            elif pd.api.types.is_float_dtype(s.dtype):
                raw = s.to_numpy(dtype=float, na_value=np.nan)
                present = ~np.isnan(raw)
                values = raw
            else:
                present = ~s.isna().to_numpy()
                values = s.to_numpy(dtype=np.int64, na_value=0)
            self._cache[key] = Num(values, present)
        out: Num = self._cache[key]
        return out

    def text(self, name: str) -> Cat:
        key = ("text", name)
        if key not in self._cache:
            s = self._series(name)
            if isinstance(s.dtype, pd.CategoricalDtype):
                codes = s.cat.codes.to_numpy().astype(np.int64, copy=False)
                own = s.cat.categories
                cats = BY_CATEGORIES.get("text", own, lambda: _as_text(own))
            else:
                codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
                codes = codes.astype(np.int64, copy=False)
                cats = _as_text(pd.Index(uniques))
            self._cache[key] = Cat(codes, cats, codes >= 0)
        out: Cat = self._cache[key]
        return out

    def per_value(self, kind: str, cats: pd.Index, make: Callable[[], Any]) -> Any:
        """A value derived from distinct values, shared across evaluations (BY_CATEGORIES)."""
        return BY_CATEGORIES.get(kind, cats, make)

    def text_is(self, name: str, *values: str) -> Bools:
        """Rows whose text column is one of `values` (looked up through the categories)."""
        key = ("is:" + "\0".join(values), name)
        if key not in self._cache:
            t = self.text(name)
            self._cache[key] = t.lookup(t.cats.isin(values))
        out: Bools = self._cache[key]
        return out

    def memo(self, key: str, make: Any) -> Any:
        """A value derived from the columns, made once per evaluation."""
        if ("memo", key) not in self._cache:
            self._cache[("memo", key)] = make()
        return self._cache[("memo", key)]


def _as_text(cats: pd.Index) -> pd.Index:
    """The categories as an object Index of str (most already are: then as they are)."""
    if cats.dtype == object and pd.api.types.infer_dtype(cats, skipna=False) == "string":
        return cats
    out: pd.Index = pd.Index(np.asarray(cats.astype(str), dtype=object), dtype=object)
    return out


class PlacedColumns(Columns):
    """Columns of rows that stand at positions `rows` of a frame of `n` rows: each column is
    read as n values, missing where no row stands."""

    def __init__(self, df: pd.DataFrame, rows: npt.NDArray[np.int64], n: int) -> None:
        super().__init__(df)
        self.n = n
        self._rows = rows
        self._inner = []

    def _series(self, name: str) -> pd.Series:
        placed: pd.Series = super()._series(name).set_axis(self._rows).reindex(range(self.n))
        return placed
