"""Archive: an archive directory read back, through DuckDB (SQL) or as netlab frames.

The dataset is plain hive-partitioned Parquet, so DuckDB, Dask, Spark or Polars read it as
it is; this module adds what netlab users expect on top: views named `packets`, `flows` and
`alerts`, frames typed as `read_pcap` and `flows()` give them, display filters, and broken
files skipped with a warning instead of failing every query.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..core.batch import batch_from_arrow, batch_to_arrow, empty_batch, empty_frame
from ..core.codecs import CODECS, Kind
from ..core.flow_table import typed
from ..display_filter import DisplayFilter, compile_filter
from ..errors import ArchiveError, NetlabWarning
from ..packets import ATTR, ArchivedPackets
from .layout import TABLES, part_files

Time = str | pd.Timestamp | None


class Archive:
    """An archive directory (see netlab/archive/layout.py), read while it may be written."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ArchiveError(f"{self.root}: no such archive directory")
        self._checked: dict[Path, tuple[int, int, bool]] = {}  # path -> (size, mtime, ok)
        self.skipped: list[str] = []  # files left out, each with the reason
        self._lock = threading.Lock()  # one query at a time in the session
        self._con: Any = None  # the DuckDB session of sql(), opened by the first query
        self._views: dict[str, tuple[Path, ...]] = {}  # the files each view reads now

    def __repr__(self) -> str:
        return f"<Archive {self.root}>"

    # files ---------------------------------------------------------------------------------
    def files(self, table: str) -> list[Path]:
        """The readable Parquet files of a table; a broken one (cut short, not Parquet) is
        left out with a NetlabWarning, once."""
        if table not in TABLES:
            raise ArchiveError(f"no table {table!r}: an archive has {', '.join(TABLES)}")
        good = []
        for path in part_files(self.root, table):
            try:
                stat = path.stat()
            except OSError:
                continue  # removed meanwhile (retention)
            seen = self._checked.get(path)
            if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
                seen = (stat.st_size, stat.st_mtime_ns, self._readable(path))
                self._checked[path] = seen
            if seen[2]:
                good.append(path)
        return good

    def _readable(self, path: Path) -> bool:
        try:
            pq.read_metadata(path)
            return True
        except (OSError, pa.ArrowException) as exc:
            reason = f"{path}: {exc}"
            self.skipped.append(reason)
            warnings.warn(f"archive: skipped a broken file, {reason}", NetlabWarning, stacklevel=3)
            return False

    @property
    def sensors(self) -> list[str]:
        """The sensors with something archived."""
        names = {
            part.name[len("sensor=") :]
            for table in TABLES
            for part in (self.root / table).glob("sensor=*")
            if part.is_dir()
        }
        return sorted(names)

    @property
    def span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last archived packet times (None without packets)."""
        got = self.sql("SELECT min(ts) AS first, max(ts) AS last FROM packets")
        if got.empty or pd.isna(got["first"].iloc[0]):
            return None
        return (_utc(got["first"].iloc[0]), _utc(got["last"].iloc[0]))

    # SQL -----------------------------------------------------------------------------------
    def sql(self, query: str, **params: Any) -> pd.DataFrame:
        """Run `query` in DuckDB, with views `packets`, `flows` and `alerts` over the
        archive's files as they are now (partition columns sensor, date and hour included);
        `$name` parameters come from `params`.

        The queries of one Archive share a DuckDB session (opened by the first, ended by
        `close()`): a view is made again only when its files changed, and what a query
        creates (a table, a macro) is there for the next."""
        import duckdb

        with self._lock:
            if self._con is None:
                self._con = duckdb.connect()
                self._views.clear()
            con = self._con
            for table in TABLES:
                files = tuple(self.files(table))
                if self._views.get(table) == files:
                    continue
                if files:  # (a view cannot take parameters: the paths are quoted here)
                    quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                    con.execute(
                        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet("
                        f"[{quoted}], hive_partitioning = true, union_by_name = true)"
                    )
                else:
                    con.register(f"_{table}_empty", _empty(table))
                    con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM _{table}_empty")
                self._views[table] = files
            try:
                result: pd.DataFrame = con.execute(query, params or None).df()
                return result
            except duckdb.Error as exc:
                self._views.clear()  # (the query may have dropped or replaced a view)
                raise ArchiveError(f"SQL: {exc}") from None

    def close(self) -> None:
        """End the DuckDB session of `sql()` (the next query opens another); idempotent."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                self._views.clear()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # frames --------------------------------------------------------------------------------
    def packets(
        self,
        start: Time = None,
        end: Time = None,
        *,
        filter: str | DisplayFilter | None = None,  # noqa: A002 - the word users know
        sensors: list[str] | None = None,
    ) -> pd.DataFrame:
        """Archived packet rows from `start` (inclusive) to `end` (exclusive), typed as
        `read_pcap` gives them, matching a display filter. The time and sensor are pushed
        down to the files (only the hours in range are read); the filter is applied after."""
        compiled = compile_filter(filter) if isinstance(filter, str) else filter
        table = self._read("packets", "ts", start, end, sensors)
        frame = batch_from_arrow(table).to_frame() if table is not None else empty_frame()
        frame = frame.reset_index(drop=True)  # the sensor column is the partition's
        if table is not None and table.num_rows and "pcap_file" in table.column_names:
            frame.attrs[ATTR] = _packets_of(self.root, table)
        return frame if compiled is None else frame[compiled.mask(frame)]

    def flows(
        self,
        start: Time = None,
        end: Time = None,
        *,
        filter: str | DisplayFilter | None = None,  # noqa: A002
        sensors: list[str] | None = None,
    ) -> pd.DataFrame:
        """Archived ended flows that began from `start` to `end`, typed as `netlab.flows()`
        rows, matching a display filter (for the fields a flow has)."""
        compiled = compile_filter(filter) if isinstance(filter, str) else filter
        table = self._read("flows", "first", start, end, sensors)
        if table is None:
            return pd.DataFrame()
        frame = typed(table.to_pandas(types_mapper=_nullable))
        for name, column in frame.items():  # counts without gaps: plain int64, as flows()
            if isinstance(column.dtype, pd.Int64Dtype | pd.Int32Dtype) and not column.isna().any():
                frame[name] = column.astype("int64")
        return frame if compiled is None else frame[compiled.mask(frame)]

    def alerts(self, start: Time = None, end: Time = None) -> pd.DataFrame:
        """Archived alerts from `start` to `end`."""
        table = self._read("alerts", "time", start, end, None)
        return pd.DataFrame() if table is None else table.to_pandas()

    def _read(
        self, table: str, column: str, start: Time, end: Time, sensors: list[str] | None
    ) -> pa.Table | None:
        files = self.files(table)
        if not files:
            return None
        dataset = ds.dataset(
            [str(f) for f in files],
            format="parquet",
            partitioning=ds.partitioning(flavor="hive"),
            partition_base_dir=str(self.root / table),
        )
        where = None
        for bound, test in ((start, "ge"), (end, "lt")):
            if bound is not None:
                value = pa.scalar(_utc(bound), pa.timestamp("ns", tz="UTC"))
                clause = getattr(ds.field(column), f"__{test}__")(value)
                where = clause if where is None else where & clause
        if sensors is not None:
            clause = ds.field("sensor").isin(sensors)
            where = clause if where is None else where & clause
        out = dataset.to_table(filter=where)
        if not out.num_rows:
            return out
        # files keep packets flow by flow: capture order is time, then frame number
        keys = [(column, "ascending")]
        keys += [("number", "ascending")] if "number" in out.column_names else []
        return out.sort_by(keys)


def _packets_of(root: Path, table: pa.Table) -> ArchivedPackets:
    """Where the bytes of the rows of `table` are (write_pcap, stream and dissect use it)."""
    files = CODECS[Kind.TEXT].from_arrow(table.column("pcap_file"), "")  # codes, -1: none
    index = table.column("pcap_index").fill_null(-1).to_numpy(zero_copy_only=False)
    index = np.where(files.values >= 0, index, -1).astype(np.int64)
    numbers = table.column("number").to_numpy(zero_copy_only=False).astype(np.int64)
    return ArchivedPackets(root, numbers, files.texts or [], files.values, index)


def open_archive(root: str | os.PathLike[str]) -> Archive:
    """An archive directory written by `Capture(..., archive=DIR)` (or `netlab capture
    --archive DIR`), for SQL through DuckDB and for typed frames."""
    return Archive(root)


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def _nullable(arrow_type: pa.DataType) -> Any:
    """Integer columns with gaps stay integers (pandas' nullable types), not floats."""
    return _NULLABLE.get(arrow_type)


def _empty(table: str) -> pa.Table:
    """A table with no rows and the columns a view of `table` has."""
    if table == "packets":
        return batch_to_arrow(empty_batch())
    return pa.table(
        {"time" if table == "alerts" else "first": pa.array([], pa.timestamp("ns", tz="UTC"))}
    )
