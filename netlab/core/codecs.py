"""How each kind of column is stored, joined, cut, typed for pandas and Arrow and spelled in
JSON: one codec per Kind. Code that handles columns loops over the column table (schema.py)
and asks the codec; it never asks `kind is ...`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from json.encoder import encode_basestring_ascii as _quote  # the C encoder json.dumps uses
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa


class Kind(Enum):
    """How a column is stored and typed."""

    TIME = "time"  # int64 nanoseconds since the epoch -> datetime64[ns, UTC]
    INT = "int"  # always present unsigned integer
    OPT_INT = "opt_int"  # nullable unsigned integer (values + mask)
    TEXT = "text"  # categorical text (codes into a string pool), may be missing
    DERIVED = "derived"  # text computed from the other columns when a DataFrame is made


I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Take = slice | npt.NDArray[np.int64]
NAT = np.iinfo(np.int64).min  # pandas' NaT as int64 nanoseconds


@dataclass(frozen=True)
class Part:
    """One column of a batch: its values, and for an optional integer the mask (True where
    missing), for text the distinct texts its codes (-1: missing) index."""

    values: npt.NDArray[Any]
    mask: Mask | None = None
    texts: list[str] | None = None


def compact_codes(codes: npt.NDArray[Any], texts: Sequence[Any]) -> tuple[I64, list[Any]]:
    """Codes into `texts` as codes into just the texts they use (-1 stays missing)."""
    inverse, used = pd.factorize(codes)  # -1 (missing) is a value of its own here
    keep = used >= 0
    remap = np.full(len(used) + 1, -1, dtype=np.int64)
    remap[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
    return remap[inverse], [texts[k] for k in used[keep].tolist()]


def code_table(texts: Sequence[str], index: dict[str, int], pool: list[str]) -> I64:
    """The code of each text in a shared pool (`index`: text -> code, `pool`: code -> text),
    adding new texts; one more entry, -1, so `table[codes]` keeps missing as -1."""
    table = np.empty(len(texts) + 1, dtype=np.int64)
    table[-1] = -1
    for k, text in enumerate(texts):
        code = index.get(text)
        if code is None:
            code = index[text] = len(pool)
            pool.append(text)
        table[k] = code
    return table


class Codec:
    """The operations every Kind provides; `masked` and `coded` say which parts it has."""

    masked = False  # has a mask (OPT_INT)
    coded = False  # values are codes into texts (TEXT)

    def pandas_dtype(self, numpy_dtype: str) -> str:
        return numpy_dtype

    def empty(self, numpy_dtype: str) -> Part:
        return Part(np.zeros(0, dtype=numpy_dtype or "int64"))

    def from_decoded(self, raw: Any, numpy_dtype: str) -> Part:
        """From what the decoder made: an array (OPT_INT: -1 where missing), or for text a
        pair (codes, texts)."""
        return Part(np.asarray(raw).astype(numpy_dtype))

    def concat(self, parts: list[Part]) -> Part:
        return Part(np.concatenate([p.values for p in parts]))

    def take(self, part: Part, which: Take) -> Part:
        return Part(part.values[which])

    def to_pandas(self, part: Part) -> Any:
        return part.values

    def from_pandas(self, series: pd.Series, numpy_dtype: str) -> Part:
        return Part(series.to_numpy(dtype=numpy_dtype))

    def json_fields(self, key: str, part: Part) -> list[str | None]:
        """`"name":value` for each row, None where missing (the field is left out)."""
        return [f"{key}{v}" for v in part.values.tolist()]

    def from_json(self, values: list[Any], numpy_dtype: str) -> Part:
        return Part(np.asarray([v or 0 for v in values], dtype=numpy_dtype))

    def to_arrow(self, part: Part) -> pa.Array:
        """An Arrow array of the column (Parquet archives)."""
        return pa.array(part.values)

    def from_arrow(self, array: pa.Array | pa.ChunkedArray, numpy_dtype: str) -> Part:
        return Part(np.asarray(array.to_numpy(zero_copy_only=False), dtype=numpy_dtype))


class TimeCodec(Codec):
    """int64 nanoseconds since the epoch -> datetime64[ns, UTC]; ISO 8601 in JSON."""

    def pandas_dtype(self, numpy_dtype: str) -> str:
        return "datetime64[ns, UTC]"

    def to_pandas(self, part: Part) -> Any:
        return pd.DatetimeIndex(part.values.view("datetime64[ns]"), tz="UTC")

    def from_pandas(self, series: pd.Series, numpy_dtype: str) -> Part:
        array = series.array
        if hasattr(array, "asi8"):
            return Part(array.asi8)
        return Part(series.to_numpy().view(np.int64))

    def to_arrow(self, part: Part) -> pa.Array:
        return pa.array(part.values, type=pa.timestamp("ns", tz="UTC"))

    def from_arrow(self, array: pa.Array | pa.ChunkedArray, numpy_dtype: str) -> Part:
        ns = array.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        return Part(np.asarray(ns.to_numpy(zero_copy_only=False), dtype=np.int64))

    def json_fields(self, key: str, part: Part) -> list[str | None]:
        stamps = np.datetime_as_string(part.values.view("datetime64[ns]"), "ns")
        return [None if t == "NaT" else f'{key}"{t}Z"' for t in stamps.tolist()]

    def from_json(self, values: list[Any], numpy_dtype: str) -> Part:
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        return Part(np.asarray(pd.DatetimeIndex(stamps.dt.as_unit("ns")).asi8, dtype=np.int64))


class OptIntCodec(Codec):
    """A nullable unsigned integer: values plus a mask (True where missing)."""

    masked = True

    def pandas_dtype(self, numpy_dtype: str) -> str:
        return numpy_dtype.capitalize().replace("Uint", "UInt")

    def empty(self, numpy_dtype: str) -> Part:
        return Part(np.zeros(0, dtype=numpy_dtype), np.zeros(0, dtype=bool))

    def from_decoded(self, raw: Any, numpy_dtype: str) -> Part:
        values = np.asarray(raw)
        missing = values < 0
        return Part(np.where(missing, 0, values).astype(numpy_dtype), missing)

    def concat(self, parts: list[Part]) -> Part:
        return Part(
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.mask for p in parts if p.mask is not None]),
        )

    def take(self, part: Part, which: Take) -> Part:
        assert part.mask is not None
        return Part(part.values[which], part.mask[which])

    def to_pandas(self, part: Part) -> Any:
        assert part.mask is not None
        return pd.arrays.IntegerArray(part.values, part.mask)

    def from_pandas(self, series: pd.Series, numpy_dtype: str) -> Part:
        return Part(
            series.to_numpy(dtype=numpy_dtype, na_value=0),
            np.asarray(series.isna().to_numpy(), dtype=bool),
        )

    def json_fields(self, key: str, part: Part) -> list[str | None]:
        assert part.mask is not None
        values, missing = part.values.tolist(), part.mask.tolist()
        return [None if m else f"{key}{v}" for v, m in zip(values, missing, strict=True)]

    def from_json(self, values: list[Any], numpy_dtype: str) -> Part:
        array = pd.Series(values, dtype=self.pandas_dtype(numpy_dtype)).array
        return Part(
            array.to_numpy(dtype=numpy_dtype, na_value=0), np.asarray(array.isna(), dtype=bool)
        )

    def to_arrow(self, part: Part) -> pa.Array:
        return pa.array(part.values, mask=part.mask)

    def from_arrow(self, array: pa.Array | pa.ChunkedArray, numpy_dtype: str) -> Part:
        missing = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values = array.fill_null(0).to_numpy(zero_copy_only=False)
        return Part(np.asarray(values, dtype=numpy_dtype), missing)


class TextCodec(Codec):
    """Categorical text: int64 codes (-1: missing) into a list of distinct texts."""

    coded = True

    def pandas_dtype(self, numpy_dtype: str) -> str:
        return "category"

    def empty(self, numpy_dtype: str) -> Part:
        return Part(np.zeros(0, dtype=np.int64), texts=[])

    def from_decoded(self, raw: Any, numpy_dtype: str) -> Part:
        codes, texts = raw
        return Part(codes, texts=texts)

    def concat(self, parts: list[Part]) -> Part:
        index: dict[str, int] = {}
        pool: list[str] = []
        pieces = [code_table(p.texts or [], index, pool)[p.values] for p in parts]
        return Part(np.concatenate(pieces), texts=pool)

    def take(self, part: Part, which: Take) -> Part:
        return Part(part.values[which], texts=part.texts)

    def to_pandas(self, part: Part) -> Any:
        cats = pd.Index(part.texts or [], dtype=object)
        return pd.Categorical.from_codes(part.values, categories=cats)

    def from_pandas(self, series: pd.Series, numpy_dtype: str) -> Part:
        cat = series.array
        assert isinstance(cat, pd.Categorical)
        # keep only the categories in use (a sliced frame keeps all of its parent's)
        categories = cast(Sequence[Any], cat.categories)  # indexed by position only
        codes, texts = compact_codes(np.asarray(cat.codes, dtype=np.int64), categories)
        return Part(codes, texts=[str(t) for t in texts])

    def json_fields(self, key: str, part: Part) -> list[str | None]:
        table: list[str | None] = [key + _quote(t) for t in part.texts or []]
        table.append(None)  # code -1
        return [table[c] for c in part.values.tolist()]

    def from_json(self, values: list[Any], numpy_dtype: str) -> Part:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        texts = [str(u) for u in uniques]
        for text in texts:
            text.encode()  # a lone surrogate raises here (UnicodeError is a ValueError), not
            # later in every snapshot that renders Info
        return Part(np.asarray(codes, dtype=np.int64), texts=texts)

    def to_arrow(self, part: Part) -> pa.Array:
        # a dictionary array: Parquet keeps it dictionary-encoded, pandas reads a category
        indices = pa.array(part.values.astype(np.int32), mask=part.values < 0)
        return pa.DictionaryArray.from_arrays(indices, pa.array(part.texts or [], pa.string()))

    def from_arrow(self, array: pa.Array | pa.ChunkedArray, numpy_dtype: str) -> Part:
        if isinstance(array, pa.ChunkedArray):  # several files: one dictionary for all
            if pa.types.is_dictionary(array.type):
                array = array.unify_dictionaries()
            array = array.combine_chunks() if array.num_chunks else pa.array([], pa.string())
        if not pa.types.is_dictionary(array.type):
            array = array.dictionary_encode()
        codes = array.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return Part(np.asarray(codes, dtype=np.int64), texts=array.dictionary.to_pylist())


class DerivedCodec(Codec):
    """Text computed from the other columns (Info), never stored: only written out."""

    def pandas_dtype(self, numpy_dtype: str) -> str:
        return "string"

    def json_fields(self, key: str, part: Part) -> list[str | None]:
        return [None if t is None else key + _quote(t) for t in part.values.tolist()]


CODECS: dict[Kind, Codec] = {
    Kind.TIME: TimeCodec(),
    Kind.INT: Codec(),
    Kind.OPT_INT: OptIntCodec(),
    Kind.TEXT: TextCodec(),
    Kind.DERIVED: DerivedCodec(),
}
