"""`netlab archive DIR`: an archive described (--info) or queried with SQL (--sql)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..archive import Archive


def cmd_archive(args: argparse.Namespace) -> int:
    from ..archive import open_archive

    # ArchiveError (no such directory): main prints it
    with open_archive(args.dir) as archive:
        return _answer(archive, args)


def _answer(archive: Archive, args: argparse.Namespace) -> int:
    import pandas as pd

    if args.sql:
        result = archive.sql(args.sql)
        if args.format == "csv":
            print(result.to_csv(index=False), end="")
        elif args.format == "json":
            print(result.to_json(orient="records", date_format="iso"))
        else:
            with pd.option_context("display.max_rows", 200, "display.width", 200):
                print(result.to_string(index=False))
        return 0
    counts = archive.sql(
        "SELECT 'packets' AS table_name, count(*) AS n FROM packets UNION ALL "
        "SELECT 'flows', count(*) FROM flows UNION ALL SELECT 'alerts', count(*) FROM alerts"
    )
    span = archive.span
    size = sum(f.stat().st_size for t in ("packets", "flows", "alerts") for f in archive.files(t))
    print(f"archive {archive.root}")
    print(f"  sensors: {', '.join(archive.sensors) or '(none)'}")
    print(f"  span:    {f'{span[0]} .. {span[1]}' if span else '(no packets)'}")
    for name, n in zip(counts["table_name"], counts["n"], strict=True):
        print(f"  {name + ':':8} {int(n):,} rows")
    print(f"  size:    {size / 1e6:,.1f} MB", end="")
    packets = int(counts["n"].iloc[0])
    print(f" ({size / packets:.1f} bytes per packet row, all tables)" if packets else "")
    if archive.skipped:
        print(f"  skipped: {len(archive.skipped)} broken file(s)")
    return 0
