"""Archives: a capture's packets, flows and alerts as a hive-partitioned Parquet dataset per
sensor, written from a thread of its own and read back through DuckDB or as netlab frames."""

from .layout import TABLES, default_sensor
from .reader import Archive, open_archive
from .writer import ArchiveWriter

__all__ = ["TABLES", "Archive", "ArchiveWriter", "default_sensor", "open_archive"]
