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
import pytest

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


def _serve(sensor: str, path: Path, *extra: str) -> tuple[int, subprocess.Popen[str]]:
    port = _free_port()
    env = {**os.environ, "NETLAB_SENSOR": sensor}
    command = [sys.executable, "-m", "netlab", "serve", "--source", str(path), "--port", str(port)]
    process = subprocess.Popen(
        [*command, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while True:  # up and answering
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, f"{sensor} did not start"
        try:
            httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5)
            return port, process
        except httpx.HTTPError:
            time.sleep(0.2)


def test_one_capture_merges_three_servers_with_a_sensor_column(tmp_path):
    # the same capture replayed by three servers: only the sensor tells their rows apart
    demo = netlab.demo_pcap()
    names = ["north", "south", "west"]
    servers = [_serve(name, demo, "--speed", "4", "--no-loop") for name in names]
    urls = [f"ws://127.0.0.1:{port}/ws" for port, _ in servers]
    try:
        with netlab.Capture(urls) as cap:
            deadline = time.monotonic() + 120
            while True:
                seen = cap.frame.snapshot()["sensor"].value_counts()
                if all(seen.get(name, 0) >= 300 for name in names):
                    break
                assert time.monotonic() < deadline, f"rows by sensor: {seen.to_dict()}"
                time.sleep(0.2)
            frame = cap.frame.snapshot()
            flows = cap.flows.snapshot()
            assert not cap.stats.problems
            whole = netlab.read_pcap(demo).set_index("number")
            for name in names:
                mine = frame[frame["sensor"] == name]
                want = whole.loc[mine["number"]]
                # (times are not compared: a server replays a file in its own present)
                for column in ("length", "src", "dst", "sport", "dport", "tcp_seq"):
                    assert (
                        mine[column].astype(object).tolist() == want[column].astype(object).tolist()
                    ), (name, column)
            # one flow table: the same connection seen by three sensors is three flows
            assert (frame.groupby("flow", observed=True)["sensor"].nunique() == 1).all()
            assert set(flows["sensor"]) == set(names)
            per_sensor = flows.groupby("sensor", observed=True).size()
            assert per_sensor.min() > 0
            # the same packets three times over are no retransmissions
            bit = netlab.TCP_ANALYSIS_FLAGS["retransmission"]
            retransmitted = (frame["tcp_analysis"] & bit) != 0
            assert retransmitted.sum() <= ((whole["tcp_analysis"] & bit) != 0).sum()
            # each row's bytes come from its own sensor's server
            rows = pd.concat([frame[frame["sensor"] == n].tail(20) for n in names])
            out = tmp_path / "merged.pcap"
            netlab.write_pcap(rows, out)
            back = netlab.read_pcap(out)
            assert back["length"].tolist() == rows["length"].tolist()
            assert back["src"].astype(object).tolist() == rows["src"].astype(object).tolist()
            assert netlab.dissect(rows.iloc[-1]).layers
    finally:
        for _, process in servers:
            process.send_signal(signal.SIGTERM)
        for _, process in servers:
            process.wait(60)


def test_a_list_of_sources_must_be_servers():
    with pytest.raises(netlab.CaptureError, match="ws://"):
        netlab.Capture(["ws://127.0.0.1:1/ws", "eth0"])
    with pytest.raises(netlab.NetlabError, match="at least one"):
        netlab.Capture([])


def test_servers_joined_by_commas_are_one_merged_source():
    from netlab.config import Settings
    from netlab.sources.factory import make_source
    from netlab.sources.merged import MergedSource

    source = make_source("ws://127.0.0.1:1/ws, ws://127.0.0.1:2/ws", "", Settings(), None, False)
    assert isinstance(source, MergedSource)
    assert [r.url for r in source.remotes] == ["ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws"]
    with pytest.raises(netlab.CaptureError, match="cannot connect"):
        source.open()  # nothing listens there: said, and nothing is left connected
    assert all(r._thread is None for r in source.remotes)


def test_two_servers_of_one_name_are_told_apart():
    from netlab.core.batch import Batch, stamp_sensor
    from netlab.sources.merged import MergedSource

    source = MergedSource(["ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws"])
    rows = netlab.read_pcap(TROUBLE / "loss.pcap").head(5)
    first, second = source.remotes
    got_first = source._named(first, stamp_sensor(Batch.from_frame(rows), "host"))
    got_second = source._named(second, stamp_sensor(Batch.from_frame(rows), "host"))
    assert set(got_first.to_frame()["sensor"]) == {"host"}
    assert set(got_second.to_frame()["sensor"]) == {"host@127.0.0.1:2"}
    assert source.sensors == {"host": first, "host@127.0.0.1:2": second}
    assert "NETLAB_SENSOR" in source.problems[-1]
    # rows a server did not name are named by its address
    unnamed = source._named(first, Batch.from_frame(rows))
    assert set(unnamed.to_frame()["sensor"]) == {"127.0.0.1:1"}
