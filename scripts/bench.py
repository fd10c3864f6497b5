#!/usr/bin/env python3
"""netlab benchmarks, each against the reference tools in the same run.

  bench.py parse     read_pcap vs tshark -T fields -> pandas vs scapy rdpcap (200k packets)
  bench.py capture   live capture on loopback vs tcpdump at rising rates (root or CAP_NET_RAW)
  bench.py soak      10 minutes at 20k packets/s into a 100k-row frame, printing RSS
  bench.py ws        a server replaying 10k packets/s to 50 WebSocket clients: latency, CPU
  bench.py dashboard the dashboard's widgets fed at 10k packets/s: CPU and main-thread lag
  bench.py replay    real-time replay pacing: each inter-packet gap replayed vs captured
  bench.py restarts  filter changes under traffic: numbered datagrams lost or seen twice (root)
  bench.py lossless  netlab capture -r of 10^6 tiny records to pcap, Parquet and the terminal
  bench.py flows     read_pcap + flows against NFStream and tshark (500k packets)
  bench.py filter    display filters over a 10^6-row frame vs hand-written pandas and tshark -Y
  bench.py archive   capture with an archive (root); the writer; 10^7 rows: DuckDB, Dask, pandas

Results are printed as a Markdown table (packets/s and ratios), ready to paste on an issue.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synth  # noqa: E402

TSHARK_FIELDS = [
    "frame.time_epoch",
    "frame.len",
    "frame.cap_len",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "ip.proto",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "ip.ttl",
    "vlan.id",
    "dns.qry.name",
    "tls.handshake.extensions_server_name",
    "http.host",
    "_ws.col.Info",
]


def _timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _netlab(path: Path):
    import netlab

    return netlab.read_pcap(path)


def _tshark(path: Path):
    import pandas as pd

    cmd = [
        "tshark",
        "-n",
        "-r",
        str(path),
        "-T",
        "fields",
        "-E",
        "header=y",
        "-E",
        "separator=/t",
        "-o",
        "tcp.desegment_tcp_streams:FALSE",
    ]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    out = subprocess.run(
        cmd, capture_output=True, check=True, env={**os.environ, "LC_ALL": "C.UTF-8"}
    )
    return pd.read_csv(io.BytesIO(out.stdout), sep="\t", quoting=3, low_memory=False)


def _scapy(path: Path, limit: int | None):
    """scapy's way to the same kind of table: rdpcap, then one row per dissected packet."""
    import pandas as pd
    from scapy.layers.dns import DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    rows = []
    for pkt in rdpcap(str(path), count=limit or -1):
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP)
        q = pkt.getlayer(DNSQR)
        rows.append(
            (
                float(pkt.time),
                len(pkt),
                ip.src if ip else None,
                ip.dst if ip else None,
                (ip.proto if ip.version == 4 else ip.nh) if ip else None,
                (ip.ttl if ip.version == 4 else ip.hlim) if ip else None,
                l4.sport if l4 else None,
                l4.dport if l4 else None,
                int(pkt[TCP].flags) if pkt.haslayer(TCP) else None,
                q.qname.decode(errors="replace") if q else None,
                pkt.summary(),
            )
        )
    cols = [
        "ts",
        "length",
        "src",
        "dst",
        "proto",
        "ttl",
        "sport",
        "dport",
        "flags",
        "qname",
        "info",
    ]
    return pd.DataFrame(rows, columns=cols)


def cmd_parse(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    path = workdir / "mixed.pcap"
    n = synth.write_pcap(path, synth.mixed_frames(args.packets))
    print(f"capture: {n:,} packets, {path.stat().st_size / 1e6:.1f} MB (deterministic mix)\n")
    results: list[tuple[str, int, float]] = []
    t, df = _timed(lambda: _netlab(path), args.runs)
    results.append(("netlab.read_pcap (all columns)", n, t))
    filled = {
        c: f"{df[c].notna().mean():.0%}"
        for c in ("src", "sport", "dns_qname", "tls_sni", "http_host", "info")
    }
    if shutil.which("tshark"):
        t, _ = _timed(lambda: _tshark(path), 1)
        results.append(("tshark -T fields -> pandas", n, t))
    else:
        print("tshark not found: skipped (install Debian's tshark)")
    scapy_n = min(n, args.scapy_packets) if args.scapy_packets else n
    t, _ = _timed(lambda: _scapy(path, scapy_n), 1)
    results.append((f"scapy rdpcap -> pandas ({scapy_n:,} packets)", scapy_n, t))
    base = results[0][1] / results[0][2]
    print("| method | packets | seconds | packets/s | netlab is x faster |")
    print("|---|---|---|---|---|")
    for name, count, secs in results:
        rate = count / secs
        print(f"| {name} | {count:,} | {secs:.2f} | {rate:,.0f} | {base / rate:.1f} |")
    print(f"\nnetlab columns filled (share of rows): {filled}")
    shutil.rmtree(workdir, ignore_errors=True)


def _sender() -> list[str]:
    """The bounded C sender, compiled once into a temporary folder (or None without gcc)."""
    src = Path(__file__).with_name("udp_sender.c")
    exe = Path(tempfile.gettempdir()) / "netlab-udp-sender"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        if not shutil.which("gcc"):
            sys.exit("bench capture needs gcc to build scripts/udp_sender.c")
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
    return [str(exe)]


def _send(port: int, count: int, rate: int, size: int = 64) -> tuple[int, float]:
    out = subprocess.run(
        [*_sender(), str(port), str(count), str(rate), str(size), "30"],
        capture_output=True,
        text=True,
        check=True,
    )
    sent, achieved = out.stdout.split()
    return int(sent), float(achieved)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _netlab_capture(
    port: int, count: int, rate: int, archive: Path | None = None
) -> dict[str, float]:
    import resource

    import netlab

    cap = netlab.Capture(
        "lo", bpf=f"udp and dst port {port}", max_rows=max(count, 1000), archive=archive
    )
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with cap:
        sent, achieved = _send(port, count, rate)
        deadline = time.monotonic() + 10
        last = -1
        while time.monotonic() < deadline:  # drain: stop once nothing new arrives for 0.5 s
            time.sleep(0.5)
            s = cap.stats
            if s.received + s.dropped_kernel >= sent or s.received == last:
                break
            last = s.received
        stats = cap.stats
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "sent": sent,
        "rate": achieved,
        "captured": stats.decoded,
        "reported": stats.dropped_kernel + stats.dropped_netlab,
        "cpu_us": cpu / max(stats.decoded, 1) * 1e6,
        "archived": cap.archive.written["packets"] if cap.archive is not None else 0,
        "problems": len(stats.problems),
    }


def _tcpdump_capture(port: int, count: int, rate: int) -> dict[str, float]:
    import re

    proc = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-n", "-w", "/dev/null", "-B", "32768", f"udp and dst port {port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # tcpdump prints "listening" only when it gets a terminal
    sent, achieved = _send(port, count, rate)
    time.sleep(1.0)
    proc.terminate()
    err = proc.communicate(timeout=10)[1]
    captured = int(re.search(r"(\d+) packets? captured", err).group(1))  # type: ignore[union-attr]
    dropped = int(re.search(r"(\d+) packets? dropped by kernel", err).group(1))  # type: ignore[union-attr]
    return {
        "sent": sent,
        "rate": achieved,
        "captured": captured,
        "reported": dropped,
        "cpu_us": float("nan"),
    }


def cmd_capture(args: argparse.Namespace) -> None:
    import netlab

    ok, why = netlab.capture_permission()
    if not ok:
        sys.exit(why)
    rates = [int(r) for r in args.rates.split(",")]
    print(
        f"{args.packets:,} UDP datagrams of 64 bytes per run to 127.0.0.1, BPF on the port; "
        "rate 0 = as fast as the sender goes\n"
    )
    print(
        "| rate target | tool | sent | sender pps | captured | reported drops | "
        "captured+drops = sent | kept % | vs tcpdump | CPU µs/pkt |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rate in rates:
        ours = _netlab_capture(_free_port(), args.packets, rate)
        ref = (
            _tcpdump_capture(_free_port(), args.packets, rate) if shutil.which("tcpdump") else None
        )
        for tool, r in (("netlab", ours), ("tcpdump", ref)):
            if r is None:
                continue
            kept = r["captured"] / r["sent"] if r["sent"] else 0
            ratio = ""
            if tool == "netlab" and ref and ref["captured"]:
                ratio = f"{(r['captured'] / r['sent']) / (ref['captured'] / ref['sent']):.3f}"
            balanced = "yes" if r["captured"] + r["reported"] == r["sent"] else "NO"
            print(
                f"| {rate or 'max'} | {tool} | {r['sent']:,} | {r['rate']:,.0f} | "
                f"{r['captured']:,} | {r['reported']:,} | {balanced} | {kept:.2%} | {ratio} | "
                f"{r['cpu_us']:.2f} |"
            )


def _dir_bytes(path: Path, pattern: str = "*.parquet") -> int:
    return sum(f.stat().st_size for f in path.rglob(pattern))


def cmd_archive(args: argparse.Namespace) -> None:
    """Archiving: live capture with and without an archive at `rate` (what is kept, CPU,
    bytes per packet on disk), the writer alone on realistic flows (rows/s, bytes per row),
    then top talkers over a `packets`-row dataset by DuckDB, Dask and pandas."""
    import shutil

    import flowgen
    import pandas as pd

    import netlab
    from netlab.archive import ArchiveWriter
    from netlab.core.batch import Batch

    work = Path(tempfile.mkdtemp(prefix="netlab-bench-archive-"))
    try:
        ok, why = netlab.capture_permission()
        if ok:
            print(
                f"live capture: {args.live:,} UDP datagrams of 64 bytes to 127.0.0.1 at "
                f"{args.rate:,}/s, with and without an archive\n"
            )
            print(
                "| archive | sent | captured | kept % | archived | CPU µs/pkt | "
                "Parquet B/pkt | pcapng B/pkt |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for target in (None, work / "live"):
                r = _netlab_capture(_free_port(), args.live, args.rate, archive=target)
                rows = max(r["archived"], 1)
                disk = _dir_bytes(target) / rows if target else 0
                raw = _dir_bytes(target, "*.pcapng") / rows if target else 0
                print(
                    f"| {'on' if target else 'off'} | {r['sent']:,} | {r['captured']:,} | "
                    f"{r['captured'] / max(r['sent'], 1):.2%} | {r['archived']:,} | "
                    f"{r['cpu_us']:.2f} | {disk:.1f} | {raw:.1f} |"
                )
            print()
        else:
            print(f"live capture skipped: {why}\n")
        # the writer alone, on realistic flows (flowgen), batches as a capture hands them over
        path = work / "flows.pcap"
        n = flowgen.write(path, args.flows, seed=1)
        frame = netlab.read_pcap(path)
        batches = [Batch.from_frame(frame.iloc[a : a + 2000]) for a in range(0, n, 2000)]
        writer = ArchiveWriter(work / "one", sensor="bench", flush=3600).start()
        for batch in batches:
            writer.add_packets(batch)
        start = time.perf_counter()
        writer.close()
        took = time.perf_counter() - start
        size = _dir_bytes(work / "one" / "packets")
        print(
            f"writer: {n:,} packet rows of realistic flows in {took:.2f} s = "
            f"{n / took / 1e6:.2f} M rows/s; {size / n:.1f} bytes per packet row on disk\n"
        )
        # a bigger dataset: the same files copied under more sensors, to `packets` rows
        copies = max(1, round(args.packets / n))
        big = work / "big"
        for k in range(copies):
            shutil.copytree(
                work / "one" / "packets" / "sensor=bench", big / "packets" / f"sensor=s{k:03d}"
            )
        rows = n * copies
        print(
            f"top talkers by bytes over {rows:,} archived packet rows "
            f"({_dir_bytes(big) / 1e6:,.0f} MB, {copies} sensors):\n"
        )
        print("| engine | seconds | vs pandas |")
        print("|---|---|---|")
        archive = netlab.open_archive(big)
        query = (
            "SELECT src, sum(length) AS bytes FROM packets WHERE src IS NOT NULL "
            "GROUP BY src ORDER BY bytes DESC LIMIT 10"
        )
        archive.sql("SELECT 1")  # DuckDB loaded once, as in a session
        start = time.perf_counter()
        duck = archive.sql(query)
        t_duck = time.perf_counter() - start
        start = time.perf_counter()
        files = sorted((big / "packets").rglob("*.parquet"))
        parts = [pd.read_parquet(f, columns=["src", "length"]) for f in files]
        both = pd.concat(parts, ignore_index=True)
        by_pandas = both.groupby("src", observed=True)["length"].sum().nlargest(10)
        t_pandas = time.perf_counter() - start
        t_dask = float("nan")
        try:
            import dask.dataframe as dd
            from distributed import Client, LocalCluster

            with (
                LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c,
                Client(c),
            ):
                start = time.perf_counter()
                ddf = dd.read_parquet(str(big / "packets"), columns=["src", "length"])
                by_dask = ddf.groupby("src", observed=True)["length"].sum().nlargest(10).compute()
                t_dask = time.perf_counter() - start
            assert [int(v) for v in by_dask.values] == [int(v) for v in by_pandas.values]
        except ImportError:
            print("(dask not installed: pip install 'netlab[dask]')")
        assert [int(v) for v in duck["bytes"]] == [int(v) for v in by_pandas.values]
        for name, t in (("DuckDB", t_duck), ("Dask, 2 workers", t_dask), ("pandas", t_pandas)):
            print(f"| {name} | {t:.2f} | {t_pandas / t:.1f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cmd_soak(args: argparse.Namespace) -> None:
    import netlab

    port = _free_port()
    cap = netlab.Capture("lo", bpf=f"udp and dst port {port}", max_rows=100_000)
    total = int(args.rate * args.seconds)
    print(f"soak: {total:,} packets at {args.rate:,}/s into a 100,000-row frame\n")
    print("| elapsed s | rows | decoded | drops | RSS MB |")
    print("|---|---|---|---|---|")
    with cap:
        sender = subprocess.Popen(
            [*_sender(), str(port), str(total), str(args.rate), "64", str(args.seconds + 5)],
            stdout=subprocess.PIPE,
        )
        start = time.monotonic()
        while sender.poll() is None:
            time.sleep(args.every)
            s = cap.stats
            print(
                f"| {time.monotonic() - start:.0f} | {len(cap.frame):,} | {s.decoded:,} | "
                f"{s.dropped_kernel + s.dropped_netlab:,} | {_rss_mb():.0f} |",
                flush=True,
            )


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmd_ws(args: argparse.Namespace) -> None:
    import asyncio
    import gc
    from datetime import datetime

    import httpx
    import numpy as np
    from websockets.asyncio.client import connect

    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-ws-"))
    total = args.rate * args.seconds
    port = _free_port()
    data_port = _free_port()
    if args.live:
        if os.geteuid() != 0:
            sys.exit("bench ws --live captures on lo: run it as root")
        # a live capture of loopback datagrams, sent once every client is connected
        source = ["--source", "lo", "--bpf", f"udp and dst port {data_port}"]
    else:
        path = workdir / "ws.pcap"
        frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, bytes(32))))
        synth.write_pcap(path, [frame] * total, step=1 / args.rate)
        source = ["--source", str(path), "--no-loop"]
    env = {
        **os.environ,
        "NETLAB_DETECTORS": "",
        "NETLAB_MAX_ROWS": "200000",
        "NETLAB_SERVER_WS_INTERVAL": str(args.interval),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "netlab", "serve", *source, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        cpu0, wall0 = _proc_cpu(server.pid), time.monotonic()
        # Each client only records when each message arrived; everything is parsed after the
        # run, so parsing never delays a receipt (an independent client measured this way).
        arrivals: list[tuple[float, str]] = []

        async def client() -> None:
            async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                deadline = time.monotonic() + args.seconds + 3
                while time.monotonic() < deadline:
                    try:
                        text = await asyncio.wait_for(ws.recv(), timeout=1)
                    except TimeoutError:
                        continue
                    arrivals.append((time.time(), text))

        async def send() -> None:
            await asyncio.sleep(1)  # the clients connect first
            sender = await asyncio.create_subprocess_exec(
                *_sender(),
                str(data_port),
                str(total),
                str(args.rate),
                "64",
                str(args.seconds + 2),
                stdout=asyncio.subprocess.DEVNULL,
            )
            await sender.wait()

        load: subprocess.Popen[bytes] | None = None
        if args.observer:
            # The other clients read in a process of their own; one observer here records
            # arrivals (as an independent client would), so the load clients' own work is not
            # counted as the server's latency.
            code = (
                "import asyncio, sys, time\n"
                "from websockets.asyncio.client import connect\n"
                "async def one(url, until):\n"
                "    async with connect(url, max_size=None) as ws:\n"
                "        while time.monotonic() < until:\n"
                "            try:\n"
                "                await asyncio.wait_for(ws.recv(), timeout=1)\n"
                "            except TimeoutError:\n"
                "                pass\n"
                "async def main(url, n, seconds):\n"
                "    until = time.monotonic() + seconds\n"
                "    await asyncio.gather(*(one(url, until) for _ in range(n)))\n"
                "asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))\n"
            )
            load = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    code,
                    f"ws://127.0.0.1:{port}/ws",
                    str(args.clients - 1),
                    str(args.seconds + 4),
                ]
            )

        async def main() -> None:
            live = [send()] if args.live else []
            readers = 1 if args.observer else args.clients
            await asyncio.gather(*(client() for _ in range(readers)), *live)

        gc.collect()
        gc.freeze()  # the clients' own collections would count as latency
        asyncio.run(main())
        cpu = (_proc_cpu(server.pid) - cpu0) / (time.monotonic() - wall0)
        if load is not None:
            load.wait(30)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    import re

    stamp = re.compile(r'"ts":"([^"]+)"')
    latencies: list[float] = []  # the oldest row of each message
    newest: list[float] = []
    every_row: list[float] = []  # each row, as a packet-to-client latency
    receipts: dict[int, list[float]] = {}
    counts = {"messages": 0, "rows": 0, "dropped": 0}
    for now, text in arrivals:
        if '"type":"packets"' not in text[:80]:
            continue
        counts["messages"] += 1
        if text.startswith('{"dropped_messages"'):
            counts["dropped"] += int(text[20 : text.index(",")])
        v = int(text[text.index('"version":') + 10 : text.index(',"rows"')])
        receipts.setdefault(v, []).append(now)
        times = [datetime.fromisoformat(t[:26] + "+00:00").timestamp() for t in stamp.findall(text)]
        counts["rows"] += len(times)
        if times:
            latencies.append(now - times[0])
            newest.append(now - times[-1])
            every_row.extend(now - t for t in times)
    lat = np.array(latencies) * 1000
    late = np.array(newest) * 1000
    rows_ms = np.array(every_row) * 1000
    what = "live capture on lo" if args.live else "replay"
    print(
        f"{args.clients} clients, {what} at {args.rate:,} packets/s for {args.seconds} s, "
        f"a message at most every {args.interval} s\n"
    )
    print(
        "| latency p50 ms | p99 ms | max ms | messages/s (all clients) | rows/client | "
        "dropped messages | server CPU |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {np.percentile(lat, 50):.0f} | {np.percentile(lat, 99):.0f} | {lat.max():.0f} | "
        f"{counts['messages'] / (args.seconds + 3):,.0f} | "
        f"{counts['rows'] / (1 if args.observer else args.clients):,.0f} "
        f"| {counts['dropped']} | {cpu:.0%} of a core |"
    )
    print(
        f"\nnewest row of each message: p50 {np.percentile(late, 50):.0f} ms, "
        f"p99 {np.percentile(late, 99):.0f} ms"
    )
    print(
        f"every row, capture to client: p50 {np.percentile(rows_ms, 50):.0f} ms, "
        f"p99 {np.percentile(rows_ms, 99):.0f} ms, max {rows_ms.max():.0f} ms"
    )
    print("(latency: capture time of a message's oldest / newest row to its receipt by a client)")
    spread = np.array([max(t) - min(t) for t in receipts.values() if len(t) > 1]) * 1000
    gaps = np.diff(sorted(min(t) for t in receipts.values())) * 1000
    if not len(spread) or not len(gaps):  # --observer: one client here, the rest elsewhere
        return
    print(
        f"one message reaches all clients within p50 {np.percentile(spread, 50):.0f} ms, "
        f"p99 {np.percentile(spread, 99):.0f} ms; messages every p50 {np.percentile(gaps, 50):.0f} "
        f"ms, p99 {np.percentile(gaps, 99):.0f} ms"
    )


def cmd_dashboard(args: argparse.Namespace) -> None:
    """The dashboard fed at `rate` packets/s, each tab open in turn for `seconds`: the whole
    process's CPU (capture, decoder and widgets: what the kernel spends), the refresh rate
    reached, each refresh's duration and the main thread's lag; then the packets grid on
    100,000 rows (new data, a scroll, a sort), which is what the browser waits for."""
    import resource

    import flowgen
    import numpy as np

    import netlab
    from netlab.widgets import Dashboard
    from netlab.widgets.dashboard import TABS

    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-dash-"))
    path = workdir / "dash.pcap"
    # realistic flows (scripts/flowgen.py), replayed at `rate`: first the capture alone, then
    # with the dashboard on each tab in turn
    total = int(args.rate * args.seconds * (len(TABS) + 1.5))
    n = flowgen.write(path, total, seed=1)
    first = netlab.read_pcap(path, limit=100_000)["ts"]
    natural = len(first) / max((first.iloc[-1] - first.iloc[0]).total_seconds(), 1e-9)
    cap = netlab.Capture(
        path, speed=args.rate / natural, settings=netlab.Settings.load(env_file=None)
    )
    cap.start()

    def cpu_of(seconds: float) -> tuple[float, float]:
        before, start, decoded = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), 0
        decoded = cap.stats.decoded
        time.sleep(seconds)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - start
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return used / wall, (cap.stats.decoded - decoded) / wall

    time.sleep(1)
    alone, pps = cpu_of(args.seconds)
    dash = Dashboard(cap, idle_timeout=0)  # no browser here: keep refreshing
    refresher = dash.refresher
    ticks: list[float] = []
    tick = refresher.tick

    def timed_tick():  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return tick()
        finally:
            ticks.append(time.perf_counter() - t)

    refresher.tick = timed_tick  # type: ignore[method-assign]
    if args.freeze:
        import gc

        gc.collect()
        gc.freeze()
    print(
        f"dashboard fed by a replay of realistic flows at {pps:,.0f} packets/s, each tab "
        f"{args.seconds} s ({n:,} packets, refresher asked for {refresher.hz:g} Hz)\n"
    )
    print(
        "| tab | kernel CPU | of which the capture | refreshes/s | refresh p50 | p99 "
        "| main-thread lag p99 | rows |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(f"| (no dashboard) | {alone:.0%} | {alone:.0%} | | | | | |")
    for index, tab in enumerate(TABS):
        dash.tabs.selected_index = index
        ticks.clear()
        lags = []
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic()
        while time.monotonic() - start < args.seconds:
            t = time.monotonic()
            time.sleep(0.01)  # what a notebook cell waiting on the main thread sees
            lags.append(time.monotonic() - t - 0.01)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - start
        cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / wall
        took = np.array(ticks or [0.0]) * 1000
        print(
            f"| {tab} | {cpu:.0%} | {alone:.0%} | {len(ticks) / wall:.1f} "
            f"| {np.percentile(took, 50):.0f} ms "
            f"| {np.percentile(took, 99):.0f} ms | {np.percentile(np.array(lags) * 1000, 99):.1f}"
            f" ms | {dash.table.grid.total:,} |"
        )
    stats = cap.stats
    errors = list(refresher.errors)
    dash.close()
    print(f"\ndecoded {stats.decoded:,}, dropped {stats.dropped_netlab:,}; errors: {errors}")

    frame = netlab.read_pcap(path, limit=100_000)
    from netlab.widgets import PacketTable

    table = PacketTable(keep=100_000)
    t = time.perf_counter()
    table.rows = frame
    table.render()
    fill = time.perf_counter() - t
    t = time.perf_counter()
    for offset in range(0, 100_000, 1000):
        table.grid.offset = offset
    scroll = (time.perf_counter() - t) / 100
    t = time.perf_counter()
    table.grid.sort_by = "src"
    sort = time.perf_counter() - t
    print(
        f"\npackets grid on {len(frame):,} rows: new rows {fill * 1000:.0f} ms, a scroll "
        f"{scroll * 1000:.1f} ms, sort by src {sort * 1000:.0f} ms (the browser gets "
        f"{len(table.grid.window)} rows each time)"
    )
    shutil.rmtree(workdir, ignore_errors=True)


def cmd_replay(args: argparse.Namespace) -> None:
    """How exactly a real-time replay keeps the file's gaps (at the source and at a subscriber)."""
    import numpy as np

    import netlab

    rnd = np.random.default_rng(3)
    times = 1_700_000_000 + np.concatenate([[0], np.cumsum(rnd.uniform(0.005, 0.06, args.packets))])
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paced.pcap"
        synth.write_pcap(path, [frame] * len(times), times=times.tolist())
        emitted: list[tuple[float, np.ndarray]] = []
        arrivals: list[tuple[float, np.ndarray]] = []
        source = netlab.FileSource(path, speed=1.0)
        read = source.read

        def timed_read(timeout: float):  # type: ignore[no-untyped-def]
            chunk = read(timeout)
            if chunk is not None:
                emitted.append((time.monotonic(), chunk.records.ts_ns.copy()))
            return chunk

        source.read = timed_read  # type: ignore[method-assign]
        cap = netlab.Capture(source)
        cap.subscribe(lambda b: arrivals.append((time.monotonic(), b["ts"].array.asi8.copy())))
        with cap:
            cap.wait()
            time.sleep(0.2)

    def errors(events: list[tuple[float, np.ndarray]]) -> np.ndarray:
        got = np.concatenate([np.full(len(ts), t) for t, ts in events])
        ts = np.concatenate([ts for _, ts in events]) / 1e9
        return np.abs(np.diff(got) - np.diff(ts)) * 1000

    print(f"real-time replay of {len(times)} packets (gaps 5-60 ms): gap error in ms\n")
    print("| where | p50 | p99 | max |\n|---|---|---|---|")
    for name, events in (("source", emitted), ("subscriber", arrivals)):
        e = errors(events)
        print(
            f"| {name} | {np.percentile(e, 50):.2f} | {np.percentile(e, 99):.2f} | {e.max():.2f} |"
        )


def cmd_restarts(args: argparse.Namespace) -> None:
    """Numbered loopback datagrams while the capture's filter changes: none lost or doubled."""
    import socket
    import threading

    import numpy as np

    import netlab
    from netlab.core.pcapfile import parse_pcap_header, walk_pcap

    if os.geteuid() != 0:
        sys.exit("bench restarts captures on lo: run it as root")
    port = _free_port()
    filters = [f"udp and dst port {port}", f"udp dst port {port} and udp"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "restarts.pcap"
        sent = threading.Event()
        pause = args.seconds / (args.packets / 500)

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(args.packets):
                    s.sendto(b"n" + i.to_bytes(4, "big"), ("127.0.0.1", port))
                    if i % 500 == 0:
                        time.sleep(pause)
            sent.set()

        with netlab.Capture("lo", bpf=filters[0], max_rows=args.packets * 2) as cap:
            with cap.record(out):
                sender = threading.Thread(target=send)
                sender.start()
                restarts = 0
                every = args.seconds / args.restarts
                while not sent.is_set() and restarts < args.restarts:
                    cap.restart(bpf=filters[restarts % 2])
                    restarts += 1
                    time.sleep(max(0.0, every - 0.06))  # a change waits for the reader
                sender.join()
                deadline = time.monotonic() + 30
                while cap.stats.decoded < args.packets and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
                stats = cap.stats
        data = out.read_bytes()
    rec = walk_pcap(data, 24, parse_pcap_header(data[:24])).records
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = (rec.offset + rec.caplen).astype(np.int64)
    tail = buf[ends[:, None] - np.arange(4, 0, -1)[None, :]].astype(np.uint32)
    numbers = (tail * (1 << np.arange(24, -1, -8, dtype=np.uint32))).sum(axis=1)
    unique = len(np.unique(numbers))
    print(f"{args.packets:,} datagrams, {restarts} filter changes on lo\n")
    print("| missing | seen twice | dropped by the kernel | dropped by netlab |")
    print("|---|---|---|---|")
    print(
        f"| {args.packets - unique:,} | {len(numbers) - unique:,} | {stats.dropped_kernel:,} "
        f"| {stats.dropped_netlab:,} |"
    )


def cmd_lossless(args: argparse.Namespace) -> None:
    """`netlab capture -r` of a large file: every frame written or printed, none dropped."""
    import pandas as pd

    import netlab

    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"")))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tiny.pcap"
        synth.write_pcap(src, [frame] * args.packets, step=0.000001)
        print(f"netlab capture -r of {args.packets:,} records\n")
        print("| written to | frames out | seconds | summary |\n|---|---|---|---|")
        for suffix in (".pcap", ".parquet", ""):
            cmd = [sys.executable, "-m", "netlab", "capture", "-r", str(src), "-q"]
            out = Path(tmp) / f"out{suffix}"
            if suffix:
                cmd += ["-w", str(out)]
            started = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True)
            took = time.monotonic() - started
            if suffix == ".pcap":
                n = len(netlab.read_pcap(out))
            elif suffix == ".parquet":
                n = len(pd.read_parquet(out, columns=["number"]))
            else:
                n = done.stdout.count("\n")
            summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            print(f"| {suffix or 'terminal'} | {n:,} | {took:.1f} | {summary} |")


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _nfstream_python() -> str | None:
    """A Python that has nfstream (NETLAB_BENCH_NFSTREAM_PYTHON, or this one)."""
    for python in (os.environ.get("NETLAB_BENCH_NFSTREAM_PYTHON"), sys.executable):
        if (
            python
            and subprocess.run([python, "-c", "import nfstream"], capture_output=True).returncode
            == 0
        ):
            return python
    return None


_NFSTREAM = """
import sys, time
from nfstream import NFStreamer
t = time.perf_counter()
df = NFStreamer(source=sys.argv[1], statistical_analysis=False, n_dissections=0,
                idle_timeout=300, active_timeout=1800).to_pandas()
print(len(df), time.perf_counter() - t)
"""


def _tshark_flows(path: Path) -> int:
    """tshark's per-packet stream and analysis fields into pandas, grouped by stream: what a
    tshark user does to get a flow table with TCP health."""
    import pandas as pd

    fields = [
        "frame.len",
        "tcp.stream",
        "udp.stream",
        "tcp.analysis.retransmission",
        "tcp.analysis.duplicate_ack",
        "tcp.analysis.out_of_order",
        "ip.src",
    ]
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t"]
    for field in fields:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    df = pd.read_csv(io.StringIO(out), sep="\t", names=fields, header=None)
    df["stream"] = df["tcp.stream"].fillna(df["udp.stream"] + 10**9)
    table = df.groupby("stream").agg(
        packets=("frame.len", "size"),
        bytes=("frame.len", "sum"),
        retransmissions=("tcp.analysis.retransmission", "count"),
        dup_acks=("tcp.analysis.duplicate_ack", "count"),
        out_of_order=("tcp.analysis.out_of_order", "count"),
    )
    return len(table)


def cmd_flows(args: argparse.Namespace) -> None:
    import flowgen

    import netlab

    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    path = workdir / "flows.pcap"
    n = flowgen.write(path, args.packets, seed=1)
    print(f"capture: {n:,} packets, {path.stat().st_size / 1e6:.1f} MB (scripts/flowgen.py)\n")

    def ours() -> int:
        return len(netlab.flows(netlab.read_pcap(path)))

    results: list[tuple[str, float, int]] = []
    t, count = _timed(ours, args.runs)
    results.append(("netlab read_pcap + flows", t, int(count)))  # type: ignore[call-overload]
    python = _nfstream_python()
    if python:
        out = subprocess.run(
            [python, "-c", _NFSTREAM, str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        results.append(("NFStream (flows only, no DPI)", float(out[1]), int(out[0])))
    else:
        print(
            "nfstream not found: skipped (pip install nfstream, or set "
            "NETLAB_BENCH_NFSTREAM_PYTHON to a Python that has it)"
        )
    if shutil.which("tshark"):
        t, count = _timed(lambda: _tshark_flows(path), 1)
        results.append(("tshark fields -> pandas groupby", t, int(count)))  # type: ignore[call-overload]
    base = results[0][1]
    print("| method | seconds | packets/s | flows | netlab is x faster |")
    print("|---|---|---|---|---|")
    for name, secs, flows in results:
        print(f"| {name} | {secs:.2f} | {n / secs:,.0f} | {flows:,} | {secs / base:.1f} |")
    shutil.rmtree(workdir, ignore_errors=True)


# (display filter, the same selection written by hand in pandas)
_FILTERS = [
    ("tcp.port == 443", lambda d: d.proto.eq("TCP") & (d.sport.eq(443) | d.dport.eq(443))),
    ("frame.len > 1000", lambda d: d.length > 1000),
    (
        "ip.addr == 10.0.0.0/8",
        lambda d: (
            d.ip_version.eq(4)
            & (d.src.astype(str).str.startswith("10.") | d.dst.astype(str).str.startswith("10."))
        ),
    ),
    (
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        lambda d: d.proto.eq("TCP") & (d.tcp_flags & 0x12).eq(0x02),
    ),
    ("tcp.analysis.retransmission", lambda d: d.proto.eq("TCP") & (d.tcp_analysis & 1).gt(0)),
    (
        "ip.src == 10.0.0.0/8 && tcp.port in {80, 443} && tcp.len > 0 "
        "&& !tcp.analysis.retransmission && frame.len > 100",
        lambda d: (
            d.ip_version.eq(4)
            & d.src.astype(str).str.startswith("10.")
            & d.proto.eq("TCP")
            & (d.sport.isin([80, 443]) | d.dport.isin([80, 443]))
            & d.paylen.gt(0)
            & ~(d.tcp_analysis & 1).gt(0)
            & (d.length > 100)
        ),
    ),
    ('dns.qry.name contains "example"', lambda d: d.dns_qname.str.contains("example")),
]


def cmd_filter(args: argparse.Namespace) -> None:
    import flowgen
    import numpy as np

    import netlab
    from netlab.display_filter import DisplayFilter

    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    path = workdir / "filter.pcap"
    n = flowgen.write(path, args.packets, seed=1)
    df = netlab.read_pcap(path)
    print(f"frame: {len(df):,} rows (scripts/flowgen.py)\n")
    head = ["filter", "compile µs", "netlab M rows/s", "pandas by hand M rows/s"]
    print("| " + " | ".join([*head, "tshark -Y packets/s", "rows"]) + " |")
    print("|---|---|---|---|---|---|")
    for k, (expression, by_hand) in enumerate(_FILTERS):
        t0 = time.perf_counter()
        for _ in range(200):
            f = DisplayFilter(expression)  # not the cached compile_filter: parse and check
        compile_us = (time.perf_counter() - t0) / 200 * 1e6
        secs, mask = _timed(lambda f=f: f.mask(df), args.runs)
        hand_secs, hand = _timed(lambda h=by_hand: h(df).fillna(False).to_numpy(bool), args.runs)
        assert np.array_equal(mask, hand), expression  # the same rows, or the timing means nothing
        tshark = ""
        if shutil.which("tshark") and k < args.tshark_filters:
            t0 = time.perf_counter()
            subprocess.run(
                ["tshark", "-r", str(path), "-Y", expression, "-T", "fields", "-e", "frame.number"],
                capture_output=True,
                check=True,
            )
            tshark = f"{n / (time.perf_counter() - t0):,.0f}"
        print(
            f"| `{expression}` | {compile_us:.0f} | {len(df) / secs / 1e6:.1f} | "
            f"{len(df) / hand_secs / 1e6:.1f} | {tshark} | {int(mask.sum()):,} |"
        )
    shutil.rmtree(workdir, ignore_errors=True)


def _bulk_pcap(path: Path, megabytes: int) -> int:
    """One TCP connection carrying `megabytes` MB one way (1448-byte segments, an ACK every
    other one), written with struct; returns the payload bytes."""
    import synth

    total, seg = megabytes * 1_000_000, 1448
    a, b = "10.9.0.1", "10.9.0.2"
    pattern = bytes(range(256)) * 7

    def frame(
        src: str, dst: str, sport: int, dport: int, flags: int, data: bytes, seq: int, ack: int
    ) -> bytes:
        return synth.ether(synth.ipv4(src, dst, 6, synth.tcp(sport, dport, flags, data, seq, ack)))

    with open(path, "wb") as out:
        out.write(synth.pcap_bytes([]))
        frames = [
            frame(a, b, 40000, 5001, 0x002, b"", 999, 0),
            frame(b, a, 5001, 40000, 0x012, b"", 4999, 1000),
            frame(a, b, 40000, 5001, 0x010, b"", 1000, 5000),
        ]
        sent = 0
        while sent < total:
            n = min(seg, total - sent)
            frames.append(
                frame(a, b, 40000, 5001, 0x018, pattern[sent % 256 :][:n], 1000 + sent, 5000)
            )
            sent += n
            if len(frames) % 2 == 0:
                frames.append(frame(b, a, 5001, 40000, 0x010, b"", 5000, 1000 + sent))
            if len(frames) >= 10_000:
                out.write(synth.pcap_bytes(frames)[24:])  # the records, without a file header
                frames = []
        out.write(synth.pcap_bytes(frames)[24:])
    return total


def _tshark_follow(path: Path, streams: list[int]) -> float:
    """Seconds tshark takes to follow these TCP streams in one pass (raw bytes out)."""
    args = ["tshark", "-r", str(path), "-q"]
    for n in streams:
        args += ["-z", f"follow,tcp,raw,{n}"]
    t0 = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def cmd_stream(args: argparse.Namespace) -> None:
    import flowgen

    import netlab

    workdir = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    have_tshark = shutil.which("tshark") is not None
    bulk = workdir / "bulk.pcap"
    payload = _bulk_pcap(bulk, args.megabytes)
    df = netlab.read_pcap(bulk)
    print(f"bulk: one connection, {payload / 1e6:.0f} MB, {len(df):,} packets\n")
    secs, s = _timed(lambda: netlab.stream(df, 0, max_mb=args.megabytes * 2), args.runs)
    assert len(s.client) == payload and s.client[:4] == bytes(range(4))  # type: ignore[attr-defined]
    held = s.nbytes  # type: ignore[attr-defined]
    print("| bulk transfer | seconds | MB/s |")
    print("|---|---|---|")
    print(f"| netlab stream() | {secs:.2f} | {payload / secs / 1e6:,.0f} |")
    if have_tshark:
        t = _tshark_follow(bulk, [0])
        print(f"| tshark -z follow,tcp,raw,0 | {t:.2f} | {payload / t / 1e6:,.0f} |")
    print(
        f"\nmemory: the stream holds {held:,} bytes for {payload:,} of payload "
        f"(+{held / payload - 1:.2%})\n"
    )
    del s, df
    path = workdir / "flows.pcap"
    n = flowgen.write(path, args.packets, seed=1)
    df = netlab.read_pcap(path)
    secs, streams = _timed(lambda: list(netlab.streams(df)), args.runs)
    count = len(streams)  # type: ignore[arg-type]
    tcp = sorted(set(df.loc[df.proto.eq("TCP"), "flow"].dropna().astype(int)))
    volume = sum(len(x.client) + len(x.server) for x in streams)  # type: ignore[attr-defined]
    print(
        f"all streams of the flows capture: {n:,} packets, {count:,} streams "
        f"({len(tcp):,} TCP), {volume / 1e6:.0f} MB\n"
    )
    print("| all streams | seconds | streams/s |")
    print("|---|---|---|")
    print(f"| netlab streams() | {secs:.2f} | {count / secs:,.0f} |")
    if have_tshark:
        # tshark follows one stream per tap, and each tap filters every packet: time a pass
        # with no tap and one with `sample` taps, and scale the taps' part to every TCP stream
        sample = min(args.sample, len(tcp))
        base = _tshark_follow(path, [])
        part = max(_tshark_follow(path, list(range(sample))) - base, 0.0)
        total = base + part * len(tcp) / sample
        print(
            f"| tshark, one pass with every TCP stream's tap (from {sample} taps) | "
            f"{total:.0f} | {len(tcp) / total:,.1f} |"
        )
        print(
            f"| tshark, one run per TCP stream ({base:.2f} s a run) | {base * len(tcp):.0f} | "
            f"{1 / base:,.1f} |"
        )
        print(f"\nnetlab is {total / secs:,.0f}x tshark's faster way (which follows TCP only)")
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parse = sub.add_parser("parse", help="decode speed against tshark and scapy")
    parse.add_argument("--packets", type=int, default=200_000)
    parse.add_argument("--runs", type=int, default=5, help="netlab runs (median)")
    parse.add_argument(
        "--scapy-packets",
        type=int,
        default=0,
        help="time scapy on only the first N packets (0: all; it takes ~70 s)",
    )
    parse.set_defaults(run=cmd_parse)
    flows = sub.add_parser("flows", help="read_pcap + flows against NFStream and tshark")
    flows.add_argument("--packets", type=int, default=500_000)
    flows.add_argument("--runs", type=int, default=3, help="netlab runs (median)")
    flows.set_defaults(run=cmd_flows)
    follow = sub.add_parser("stream", help="follow a bulk stream and all streams vs tshark")
    follow.add_argument("--megabytes", type=int, default=200, help="the bulk transfer")
    follow.add_argument("--packets", type=int, default=200_000, help="the flows capture")
    follow.add_argument("--runs", type=int, default=3, help="netlab runs (median)")
    follow.add_argument("--sample", type=int, default=100, help="tshark taps timed")
    follow.set_defaults(run=cmd_stream)
    filt = sub.add_parser("filter", help="display filters vs pandas by hand and tshark -Y")
    filt.add_argument("--packets", type=int, default=1_000_000)
    filt.add_argument("--runs", type=int, default=5, help="runs of each (median)")
    filt.add_argument(
        "--tshark-filters", type=int, default=1, help="time tshark -Y on the first N (~150 s each)"
    )
    filt.set_defaults(run=cmd_filter)
    capture = sub.add_parser("capture", help="live capture vs tcpdump at rising rates")
    capture.add_argument("--rates", default="10000,50000,100000,200000,0")
    capture.add_argument("--packets", type=int, default=200_000)
    capture.set_defaults(run=cmd_capture)
    arch = sub.add_parser("archive", help="archiving: live capture, writer, DuckDB/Dask/pandas")
    arch.add_argument("--rate", type=int, default=100_000, help="live packets/s")
    arch.add_argument("--live", type=int, default=500_000, help="live datagrams sent")
    arch.add_argument("--flows", type=int, default=500_000, help="flowgen packets written")
    arch.add_argument("--packets", type=int, default=10_000_000, help="rows queried")
    arch.set_defaults(run=cmd_archive)
    soak = sub.add_parser("soak", help="memory stays flat over a long capture")
    soak.add_argument("--rate", type=int, default=20_000)
    soak.add_argument("--seconds", type=int, default=600)
    soak.add_argument("--every", type=float, default=30)
    soak.set_defaults(run=cmd_soak)
    ws = sub.add_parser("ws", help="server streaming to many WebSocket clients")
    ws.add_argument("--rate", type=int, default=10_000)
    ws.add_argument("--seconds", type=int, default=10)
    ws.add_argument("--clients", type=int, default=50)
    ws.add_argument(
        "--interval", type=float, default=0.05, help="NETLAB_SERVER_WS_INTERVAL for the server"
    )
    ws.add_argument(
        "--live", action="store_true", help="capture loopback datagrams live instead (root)"
    )
    ws.add_argument(
        "--observer",
        action="store_true",
        help="the other clients in a second process; one observing client records arrivals",
    )
    ws.set_defaults(run=cmd_ws)
    dash = sub.add_parser("dashboard", help="dashboard widgets at a high packet rate")
    dash.add_argument("--rate", type=int, default=10_000)
    dash.add_argument("--seconds", type=int, default=10, help="per tab")
    dash.add_argument(
        "--freeze", action="store_true", help="gc.freeze() after start-up, as a served kernel does"
    )
    dash.set_defaults(run=cmd_dashboard)
    lossless = sub.add_parser("lossless", help="capture -r of a large file loses nothing")
    lossless.add_argument("--packets", type=int, default=1_000_000)
    lossless.set_defaults(run=cmd_lossless)
    restarts = sub.add_parser("restarts", help="filter changes under traffic (root)")
    restarts.add_argument("--packets", type=int, default=120_000)
    restarts.add_argument("--restarts", type=int, default=200)
    restarts.add_argument("--seconds", type=float, default=10.0)
    restarts.set_defaults(run=cmd_restarts)
    replay = sub.add_parser("replay", help="real-time replay pacing")
    replay.add_argument("--packets", type=int, default=200)
    replay.set_defaults(run=cmd_replay)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
