"""Where an archive keeps what: one hive-partitioned Parquet dataset per table.

    DIR/packets/sensor=NAME/date=YYYY-MM-DD/hour=HH/part-<first ns>-<id>.parquet
    DIR/flows/...   (ended flows, by their first packet's hour)
    DIR/alerts/...  (by the alert's time)
    DIR/pcap/...    (the packets' bytes: pcapng; a packet row names its file and index)

Hours are UTC, by packet time: a replay of an old capture files its rows under their own
hours. Files appear whole: they are written under a hidden name and renamed.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

TABLES = ("packets", "flows", "alerts")
FOLDERS = (*TABLES, "pcap")  # pcap: the packets' bytes, one pcapng file per packets file
HOUR_NS = 3_600_000_000_000


def default_sensor(name: str = "") -> str:
    """The sensor name: `name`, else the host name (in the characters a path takes)."""
    chosen = name or socket.gethostname() or "sensor"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in chosen)[:64]


def hour_dir(root: Path, table: str, sensor: str, hour: int) -> Path:
    """The partition of an hour (hours since the epoch, UTC)."""
    when = datetime.fromtimestamp(hour * 3600, UTC)
    return root / table / f"sensor={sensor}" / f"date={when:%Y-%m-%d}" / f"hour={when:%H}"


def new_file(directory: Path, first_ns: int, suffix: str = ".parquet") -> tuple[Path, Path]:
    """A new part file's final name and the hidden name it is written under."""
    name = f"part-{first_ns}-{uuid.uuid4().hex[:12]}{suffix}"
    return directory / name, directory / f".{name}.tmp"


@dataclass(frozen=True)
class Partition:
    """One hour of one table of one sensor."""

    path: Path
    table: str
    sensor: str
    hour: int  # hours since the epoch

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.path.glob("part-*") if f.is_file())


def partitions(root: Path) -> list[Partition]:
    """Every partition under `root`, oldest hour first (unreadable names are left alone)."""
    out = []
    for table in FOLDERS:
        for path in root.glob(f"{table}/sensor=*/date=*/hour=*"):
            try:
                day = datetime.strptime(path.parent.name[5:], "%Y-%m-%d").replace(tzinfo=UTC)
                hour = int(day.timestamp()) // 3600 + int(path.name[5:])
            except ValueError:
                continue
            out.append(Partition(path, table, path.parent.parent.name[7:], hour))
    return sorted(out, key=lambda p: (p.hour, p.table, p.sensor))


def part_files(root: Path, table: str) -> list[Path]:
    """The finished files of a table, in path order (hidden ones being written are not)."""
    return sorted(root.glob(f"{table}/sensor=*/date=*/hour=*/*.parquet"))


def expired(
    found: list[Partition], now_hours: float, max_age_hours: float, max_bytes: float
) -> list[Partition]:
    """The partitions retention removes, oldest first: those older than `max_age_hours`
    (0: no limit), then more of the oldest while the rest is over `max_bytes` (0: no limit)."""
    drop = [p for p in found if max_age_hours and p.hour + 1 <= now_hours - max_age_hours]
    if max_bytes:
        rest = [p for p in found if p not in drop]
        sizes = [p.size for p in rest]
        total = sum(sizes)
        for p, size in zip(rest, sizes, strict=True):
            if total <= max_bytes:
                break
            drop.append(p)
            total -= size
    return drop


def remove(partition: Partition) -> None:
    """Delete a partition, then its date directory if that is left empty."""
    shutil.rmtree(partition.path, ignore_errors=True)
    date = partition.path.parent
    try:
        os.rmdir(date)
    except OSError:
        pass  # other hours remain (or it is gone already)
