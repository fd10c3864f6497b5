"""`netlab capture`: capture or read packets; print them, or write a file or an archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_capture(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from ..capture import Capture
    from ..config import Settings
    from ..export import PcapWriter, RowWriter

    if bool(args.interface) == bool(args.read):
        print("netlab: give either -i INTERFACE or -r FILE", file=sys.stderr)
        return 2
    shown = None
    if args.display_filter is not None:
        from ..display_filter import compile_filter
        from ..errors import DisplayFilterError

        try:
            shown = compile_filter(args.display_filter)
        except DisplayFilterError as e:
            print(f"netlab: invalid display filter: {e}", file=sys.stderr)
            return 2
        if args.write and Path(args.write).suffix.lower() in (".pcap", ".pcapng"):
            print(
                "netlab: -Y with a .pcap/.pcapng output is not supported yet: write .parquet "
                "or .csv, or filter the written capture with netlab.filter",
                file=sys.stderr,
            )
            return 2
    settings = Settings.load(detectors="")
    source = args.interface or args.read
    cap = Capture(
        source, bpf=args.filter or "", speed=None, settings=settings, archive=args.archive
    )
    left = {"frames": args.count, "rows": args.count}
    raw: PcapWriter | None = None
    rows: RowWriter | None = None
    if args.write:
        suffix = Path(args.write).suffix.lower()
        if suffix in (".pcap", ".pcapng"):
            raw = PcapWriter(args.write)

            def record(chunk: Any) -> None:
                assert raw is not None
                if left["frames"] is None:
                    raw.write(chunk)
                elif left["frames"] > 0:
                    raw.write(chunk, limit=left["frames"])
                    left["frames"] = max(0, left["frames"] - len(chunk))

            cap.on_frames(record)
        else:
            rows = RowWriter(args.write)  # refuses other extensions with a clear error
    done = {"rows": 0}

    def on_rows(batch: Any) -> None:
        if left["rows"] is not None:
            batch = batch.iloc[: left["rows"]]
            left["rows"] -= len(batch)
        if shown is not None:  # -c counts packets read, as tshark's; -Y picks what is shown
            batch = batch[shown.mask(batch)]
        if rows is not None:
            rows.write(batch)
        elif raw is None and not args.archive:  # (an archive is written as -w writes)
            lines = [_line(r) for r in batch.itertuples()]
            if lines:
                tqdm.write("\n".join(lines))
        done["rows"] += len(batch)

    # lossless: reading a file waits for the printer/writer; live, the kernel counts drops
    sub = cap.subscribe(on_rows, maxsize=64, lossless=True)
    bar: Any = None
    started = time.monotonic()
    try:
        cap.start()  # a mistake (no rights, no such interface or file, bad filter) ends here
        # one rate (netlab's own, over the last 2 s) and the drops; the bar goes when done and
        # the summary line stays, as tshark's packet count does
        bar = tqdm(
            total=args.count,
            unit=" packets",
            disable=args.quiet,
            dynamic_ncols=True,
            leave=False,
            bar_format="{n_fmt}{unit} [{elapsed}{postfix}]"
            if not args.count
            else "{n_fmt}/{total_fmt}{unit} |{bar}| [{elapsed}{postfix}]",
        )
        while True:
            time.sleep(0.2)
            s = cap.stats
            bar.n = min(s.decoded, args.count or s.decoded)
            bar.set_postfix_str(
                f"{s.packets_per_second:,.0f} packets/s, "
                f"{s.dropped_kernel + s.dropped_netlab:,} dropped",
                refresh=False,
            )
            bar.refresh()
            if args.count and s.decoded >= args.count:
                break
            if args.duration and time.monotonic() - started >= args.duration:
                break
            if args.read and cap.wait(0):
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C: stop cleanly, keep what was written
    finally:
        cap.stop()  # the decoder finishes what it read
        sub.flush(timeout=60)
        sub.close()  # ... and every decoded row reaches the printer or the file
        cap.close()
        if bar is not None:
            bar.close()
        if raw is not None:
            raw.close()
        if rows is not None:
            rows.close()
    s = cap.stats
    where = f" to {args.write}" if args.write else ""
    where += f" to the archive {args.archive}" if args.archive else ""
    kept = raw.frames if raw is not None else done["rows"]
    print(
        f"{kept:,} packets{where}; {s.dropped_kernel:,} dropped by the kernel, "
        f"{s.dropped_netlab:,} by netlab",
        file=sys.stderr,
    )
    return 0


def _line(r: Any) -> str:
    """One row as `netlab capture` prints it (addresses only where the frame has IP)."""
    src, dst = _text(r.src), _text(r.dst)
    who = f"{src} → {dst} " if src or dst else ""
    return f"{r.number:>8} {r.ts:%H:%M:%S.%f} {who}{_text(r.proto)} {r.info}"


def _text(value: object) -> str:
    """A cell as text: missing (None, NaN, <NA>) as nothing."""
    import pandas as pd

    return "" if value is None or bool(pd.isna(value)) else str(value)  # type: ignore[call-overload]
