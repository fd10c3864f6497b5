"""The `netlab` command."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ..data import DEMO_PCAP
from ..errors import NetlabError
from .archive import cmd_archive
from .capture import cmd_capture


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..core.summary import describe_capture
    from ..sources.pcapreader import read_pcap

    path = Path(args.file) if args.file else DEMO_PCAP
    df = read_pcap(path)
    print(f"netlab demo: {path}\n")
    print(describe_capture(df))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import report, run_checks

    checks = run_checks()
    print(report(checks))
    return 0 if all(c.ok or not c.essential for c in checks) else 1


def _cmd_interfaces(args: argparse.Namespace) -> int:
    from ..sources.interfaces import interfaces

    for i in interfaces():
        flags = ",".join(f for f, on in (("up", i.up), ("loopback", i.loopback)) if on)
        addresses = " ".join(i.addresses)
        print(f"{i.name:20} {flags:12} {addresses}  {i.description}".rstrip())
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..ai import explain
    from ..sources.pcapreader import read_pcap

    if args.number < 1:
        print("netlab: frame numbers start at 1 (as in Wireshark and tshark)", file=sys.stderr)
        return 2
    df = read_pcap(args.file, limit=args.number)
    if len(df) < args.number:
        print(
            f"netlab: {args.file} has {len(df)} frames; frame {args.number} does not exist",
            file=sys.stderr,
        )
        return 2
    row = df.iloc[args.number - 1]
    result = explain(row)
    print(f"Frame {args.number}: {row['info']}\n")
    print(result.text)
    if result.note:
        print(f"\n({result.note})")
    print(
        f"\n[{result.source}{' ' + result.model if result.model else ''}, {result.latency:.2f} s]"
    )
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from ..config import Settings, env_name, safe_url

    settings = Settings.load()
    for name, value in settings.model_dump().items():
        if "key" in name or "token" in name:
            secret = getattr(settings, name).get_secret_value()
            value = "(set, hidden)" if secret else "(not set)"
        elif name.endswith("_url") and value:
            value = safe_url(str(value))
        print(f"{env_name(name)}={value}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..server import serve

    serve(
        args.source,
        bpf=args.bpf,
        host=args.host,
        port=args.port,
        speed=None if args.speed == 0 else args.speed,
        loop=not args.no_loop,
        retime=not args.original_times,
        archive=args.archive,
    )
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from ..config import Settings
    from ..dashboard.voila import start, stop, wait_ready

    settings = Settings.load()
    token = settings.dashboard_token.get_secret_value()
    process = start(
        args.source,
        host=args.host,
        port=args.port,
        idle=args.idle,
        cull=args.cull,
        token=token,
        max_kernels=settings.dashboard_max_kernels,
    )
    try:
        url = wait_ready(args.host, args.port, process)
        page = f"{url}?token={token}" if token else url
        if args.check:
            import httpx

            answer = httpx.get(page, timeout=120)  # runs the notebook once, as a browser would
            ok = answer.status_code == 200 and "netlab" in answer.text
            print(f"netlab dashboard answered at {url}: {'ok' if ok else answer.status_code}")
            return 0 if ok else 1
        print(f"netlab dashboard: {page}  (Ctrl-C to stop)", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        print("netlab dashboard: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        stop(process)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="netlab", description="Watch and understand network traffic from Jupyter."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="summarise the bundled demo capture (or FILE)")
    demo.add_argument("file", nargs="?", help="a pcap/pcapng file instead of the demo capture")
    demo.set_defaults(run=_cmd_demo)
    doctor = sub.add_parser("doctor", help="check libpcap, tools, capture rights, settings")
    doctor.set_defaults(run=_cmd_doctor)
    ifaces = sub.add_parser("interfaces", help="list the interfaces netlab can capture on")
    ifaces.set_defaults(run=_cmd_interfaces)
    explain = sub.add_parser("explain", help="explain frame N of a capture file")
    explain.add_argument("file", help="a pcap/pcapng file")
    explain.add_argument("number", type=int, help="the frame number (from 1, as in Wireshark)")
    explain.set_defaults(run=_cmd_explain)
    serve = sub.add_parser("serve", help="run the capture server (REST + WebSocket)")
    serve.add_argument(
        "--source", help="interface or capture file (default: NETLAB_SOURCE, else the demo capture)"
    )
    serve.add_argument("--bpf", help="capture filter")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8765)")
    serve.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="file replay speed (1 = real time, 0 = as fast as possible)",
    )
    serve.add_argument("--no-loop", action="store_true", help="replay a file only once")
    serve.add_argument(
        "--original-times",
        action="store_true",
        help="keep a replayed file's own timestamps (default: the replay time)",
    )
    serve.add_argument(
        "--archive", metavar="DIR", help="also write the capture to this archive (Parquet)"
    )
    serve.set_defaults(run=_cmd_serve)
    dash = sub.add_parser("dashboard", help="start the Voilà dashboard and print its URL")
    dash.add_argument(
        "--source",
        help="interface, capture file, ws:// server, or ws:// servers joined by commas "
        "(merged, a sensor column says whose each row is; default: "
        "NETLAB_SOURCE, live if permitted, else the demo capture)",
    )
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8866)
    dash.add_argument(
        "--idle",
        type=float,
        default=90.0,
        help="seconds without a browser before a page's capture stops",
    )
    dash.add_argument(
        "--cull",
        type=float,
        default=60.0,
        help="seconds an idle kernel lives before it is shut down",
    )
    dash.add_argument(
        "--check",
        action="store_true",
        help="start, load the page once, report and exit (for set-up checks)",
    )
    dash.set_defaults(run=_cmd_dashboard)
    cap = sub.add_parser("capture", help="capture or read packets, print or write them")
    cap.add_argument("-i", "--interface", help="interface to capture on (`netlab interfaces`)")
    cap.add_argument("-r", "--read", metavar="FILE", help="capture file to read")
    cap.add_argument("-f", "--filter", metavar="BPF", help="capture filter (BPF, as tcpdump)")
    cap.add_argument(
        "-Y",
        "--display-filter",
        metavar="EXPR",
        help="show or write only the packets this Wireshark display filter matches",
    )
    cap.add_argument("-c", "--count", type=int, help="stop after COUNT packets")
    cap.add_argument("-d", "--duration", type=float, help="stop after DURATION seconds")
    cap.add_argument(
        "-w", "--write", metavar="OUT", help="write to OUT: .pcap, .pcapng, .parquet or .csv"
    )
    cap.add_argument(
        "--archive",
        metavar="DIR",
        help="write packets, flows and alerts to this archive (Parquet, by sensor and hour)",
    )
    cap.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    cap.set_defaults(run=cmd_capture)
    arch = sub.add_parser("archive", help="query an archive with SQL, or describe it")
    arch.add_argument("dir", help="the archive directory (netlab capture --archive DIR)")
    arch.add_argument(
        "--sql", metavar="QUERY", help="a DuckDB query over the views packets, flows, alerts"
    )
    arch.add_argument("--info", action="store_true", help="sensors, time span, rows and size")
    arch.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="how --sql prints"
    )
    arch.set_defaults(run=cmd_archive)
    config = sub.add_parser("config", help="show the effective settings (secrets hidden)")
    config.set_defaults(run=_cmd_config)
    return parser


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; user mistakes print one line, not a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (kill, systemd, a test's timeout) stops as Ctrl-C does: files closed, children
    # stopped. Python's default would end the process at once and orphan Voilà and kernels.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.run(args))
    except NetlabError as exc:
        print(f"netlab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `netlab interfaces | head`
        sys.stderr.close()
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
