"""Many sensors, one archive: three `netlab serve` processes on loopback, each archiving its
own capture under its sensor name, queried together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

import netlab

TROUBLE = Path(__file__).resolve().parent.parent / "data" / "tcp_trouble"
SENSORS = {
    "edge-a": netlab.demo_pcap("flows"),
    "edge-b": TROUBLE / "loss.pcap",
    "edge-c": TROUBLE / "zero_window.pcap",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_three_servers_archive_under_their_sensor_names(tmp_path):
    root = tmp_path / "archive"
    servers = []
    try:
        for sensor, path in SENSORS.items():
            port = _free_port()
            env = {**os.environ, "NETLAB_SENSOR": sensor, "NETLAB_ARCHIVE_FLUSH": "0.3"}
            command = [sys.executable, "-m", "netlab", "serve", "--source", str(path)]
            command += ["--port", str(port), "--speed", "0", "--no-loop", "--archive", str(root)]
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            servers.append((sensor, port, process, len(netlab.read_pcap(path))))
        for sensor, port, process, frames in servers:
            deadline = time.monotonic() + 120
            while True:  # each server has read its file and archived every row
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, f"{sensor} did not archive its capture"
                try:
                    stats = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue
                if stats["archive"] and stats["archive"]["written"]["packets"] == frames:
                    break
                time.sleep(0.2)
            assert stats["sensor"] == sensor and stats["archive"]["root"] == str(root)
            assert not stats["problems"]
    finally:
        for _, _, process, _ in servers:
            process.send_signal(signal.SIGTERM)  # stops as Ctrl-C: the last flows written
        for _, _, process, _ in servers:
            process.wait(60)
    archive = netlab.open_archive(root)
    assert archive.sensors == sorted(SENSORS)
    counts = archive.sql("SELECT sensor, count(*) AS n FROM packets GROUP BY 1 ORDER BY 1")
    assert dict(zip(counts["sensor"], counts["n"], strict=True)) == {
        sensor: frames for sensor, _, _, frames in servers
    }
    # one question over every sensor, against pandas on the three files
    frames = [netlab.read_pcap(path) for path in SENSORS.values()]
    both = pd.concat([f[["src", "length"]].astype({"src": object}) for f in frames])
    want = both.groupby("src")["length"].sum().sort_values(ascending=False).head(5)
    got = archive.sql(
        "SELECT src, sum(length)::BIGINT AS bytes FROM packets WHERE src IS NOT NULL "
        "GROUP BY src ORDER BY bytes DESC, src LIMIT 5"
    )
    assert got["bytes"].tolist() == [int(v) for v in want.to_numpy()]
    flows = archive.sql("SELECT sensor, count(*) AS n FROM flows GROUP BY 1 ORDER BY 1")
    assert dict(zip(flows["sensor"], flows["n"], strict=True)) == {
        sensor: len(netlab.flows(frame)) for sensor, frame in zip(SENSORS, frames, strict=True)
    }
