"""Archives: a capture written as a Parquet dataset and read back through DuckDB, as frames,
by Dask on a LocalCluster and by pandas, with the same answers; broken files, a removed
directory, a killed writer and retention."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import netlab
from netlab.archive import ArchiveWriter, open_archive
from netlab.core.batch import Batch

TROUBLE = Path(__file__).resolve().parent.parent / "data" / "tcp_trouble"


def _settings(sensor: str, **extra: object) -> netlab.Settings:
    return netlab.Settings.load(env_file=None, sensor=sensor, **extra)


SENSORS = {"edge": netlab.demo_pcap("flows"), "core": TROUBLE / "loss.pcap"}


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Two sensors' captures in one archive (the demo flows, a lossy TCP transfer), and
    their frames as read_pcap gives them, one after the other with a sensor column."""
    root = tmp_path_factory.mktemp("archive")
    frames = []
    for sensor, path in SENSORS.items():
        with netlab.Capture(path, speed=None, archive=root, settings=_settings(sensor)) as cap:
            assert cap.wait(60)
        assert not cap.stats.problems and cap.archive is not None
        assert cap.archive.written["packets"] == cap.stats.decoded
        frame = netlab.read_pcap(path)
        frame["sensor"] = sensor
        frames.append(frame)
    return root, pd.concat(frames, ignore_index=True)


def test_packets_come_back_as_read_pcap_gives_them(archived):
    root, whole = archived
    archive = open_archive(root)
    assert archive.sensors == ["core", "edge"]
    for sensor, path in SENSORS.items():
        want = netlab.read_pcap(path)
        got = archive.packets(sensors=[sensor]).sort_values("number").reset_index(drop=True)
        assert (got["sensor"] == sensor).all()
        want["sensor"] = pd.Categorical([sensor] * len(want))  # the capture named its rows
        pd.testing.assert_frame_equal(got, want, check_categorical=False, check_dtype=True)
    # times are pushed down; a display filter is applied as netlab.filter would
    edge = netlab.read_pcap(SENSORS["edge"])
    t0, t1 = edge["ts"].iloc[1000], edge["ts"].iloc[5000]
    got = archive.packets(t0, t1, sensors=["edge"], filter="tcp.flags.syn == 1")
    inside = edge[(edge["ts"] >= t0) & (edge["ts"] < t1)]
    assert got["number"].tolist() == netlab.filter(inside, "tcp.flags.syn == 1")["number"].tolist()
    assert archive.span == (whole["ts"].min(), whole["ts"].max())


def test_archived_rows_know_their_packets(archived, tmp_path):
    root, _ = archived
    archive = open_archive(root)
    for sensor, path in SENSORS.items():
        want = netlab.read_pcap(path)
        rows = archive.packets(sensors=[sensor]).sort_values("number")
        out = tmp_path / f"{sensor}.pcapng"
        assert netlab.write_pcap(rows, out) == len(want)
        again = netlab.read_pcap(out)  # the same frames, decoded alike
        for column in ("ts", "length", "caplen", "src", "dst", "info"):
            assert again[column].astype(object).tolist() == want[column].astype(object).tolist()
    rows = archive.packets(sensors=["core"])
    want = netlab.read_pcap(SENSORS["core"])
    got, expected = netlab.stream(rows, 0), netlab.stream(want, 0)
    assert got.client == expected.client and got.server == expected.server
    assert len(got.client) > 1000
    layers = netlab.dissect(rows.iloc[10]).layers
    assert [layer.name for layer in layers] == [
        layer.name for layer in netlab.dissect(want.iloc[10]).layers
    ]
    # two sensors' rows share frame numbers: which bytes is not guessed
    with pytest.raises(netlab.NetlabError, match="several sensors or capture sessions"):
        netlab.write_pcap(archive.packets(), tmp_path / "both.pcapng")


def test_flows_and_alerts_are_archived(archived):
    root, whole = archived
    archive = open_archive(root)
    got = archive.flows(sensors=["edge"]).sort_values("flow").reset_index(drop=True)
    want = netlab.flows(netlab.read_pcap(SENSORS["edge"]))
    assert len(got) == len(want)
    for column in ("flow", "src", "dst", "orig_bytes", "resp_bytes", "history", "community_id"):
        assert got[column].astype(object).tolist() == want[column].astype(object).tolist(), column
    lossy = archive.flows(filter="tcp", sensors=["core"])
    assert lossy["retransmissions"].sum() > 0
    counted = archive.sql("SELECT count(*) AS n FROM flows")["n"].iloc[0]
    assert counted == len(archive.flows())
    mine = archive.sql("SELECT count(*) AS n FROM flows WHERE sensor = $s", s="core")
    assert mine["n"].iloc[0] == len(archive.flows(sensors=["core"])) > 0


def _top_talkers_pandas(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("src", observed=True)["length"].sum().sort_values(ascending=False)


TOP_TALKERS_SQL = """
    SELECT src, sum(length) AS bytes FROM packets
    WHERE src IS NOT NULL GROUP BY src ORDER BY bytes DESC, src"""
RETRANSMISSIONS_SQL = """
    SELECT dst AS server, sum(retransmissions) AS retransmissions FROM flows
    WHERE retransmissions > 0 GROUP BY dst ORDER BY retransmissions DESC, dst"""


def _as_dict(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True)}


@pytest.mark.slow
def test_the_same_questions_through_duckdb_dask_and_pandas(archived):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    root, whole = archived
    archive = open_archive(root)
    # pandas, on the frames read_pcap and flows() give
    talkers = _top_talkers_pandas(whole)
    by_pandas = {str(k): int(v) for k, v in talkers.items()}
    flows = pd.concat(
        [netlab.flows(netlab.read_pcap(path)) for path in SENSORS.values()], ignore_index=True
    )
    lossy = flows[flows["retransmissions"] > 0]
    retrans_pandas = lossy.groupby("dst", observed=True)["retransmissions"].sum()
    # DuckDB, in-process, on the archive's files
    assert _as_dict(archive.sql(TOP_TALKERS_SQL)) == by_pandas
    assert _as_dict(archive.sql(RETRANSMISSIONS_SQL)) == {
        str(k): int(v) for k, v in retrans_pandas.items()
    }
    # Dask, two worker processes, reading the same directory as plain Parquet
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        packets = dd.read_parquet(str(root / "packets"))
        sums = packets.groupby("src", observed=True)["length"].sum().compute()
        assert {str(k): int(v) for k, v in sums.items()} == by_pandas
        assert set(packets["sensor"].unique().compute()) == {"core", "edge"}
        flows_dd = dd.read_parquet(str(root / "flows"))
        lossy_dd = flows_dd[flows_dd["retransmissions"] > 0]
        retrans = lossy_dd.groupby("dst", observed=True)["retransmissions"].sum().compute()
        assert {str(k): int(v) for k, v in retrans.items() if v} == {
            str(k): int(v) for k, v in retrans_pandas.items()
        }


def test_a_broken_file_is_skipped_with_a_warning(archived, tmp_path):
    root, whole = archived
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root, copy)
    victim = sorted((copy / "packets").rglob("*.parquet"))[0]
    kept = pq.read_metadata(victim).num_rows
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # cut short
    (victim.parent / "part-0-notparquet.parquet").write_text("not parquet at all")
    archive = open_archive(copy)
    with pytest.warns(netlab.NetlabWarning, match="skipped a broken file"):
        n = archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0]
    assert n == len(whole) - kept and len(archive.skipped) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file, not on every query
        assert len(archive.packets()) == n


def test_an_archive_that_cannot_be_made_stops_the_start_cleanly(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cap = netlab.Capture(netlab.demo_pcap(), speed=None, archive=blocker / "archive")
    with pytest.raises(netlab.CaptureError, match="archive .*a-file"):
        cap.start()
    assert not cap.running  # and the thread guard finds nothing left running


def test_sql_mistakes_and_missing_archives_are_clear(tmp_path, archived):
    with pytest.raises(netlab.ArchiveError, match="no such archive directory"):
        open_archive(tmp_path / "nothing")
    archive = open_archive(archived[0])
    with pytest.raises(netlab.ArchiveError, match="SQL: .*nosuchcolumn"):
        archive.sql("SELECT nosuchcolumn FROM packets")
    # after a mistake the views are still there; a session keeps what a query made
    assert archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0] > 0
    archive.sql("CREATE TABLE talkers AS SELECT src, count(*) AS n FROM packets GROUP BY 1")
    assert len(archive.sql("SELECT * FROM talkers")) > 0
    archive.sql("DROP VIEW packets")  # a view a query dropped is made again after the error
    with pytest.raises(netlab.ArchiveError, match="packets"):
        archive.sql("SELECT count(*) FROM packets")
    assert archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0] > 0
    archive.close()
    archive.close()  # idempotent; the next query opens another session
    with pytest.raises(netlab.ArchiveError, match="talkers"):
        archive.sql("SELECT * FROM talkers")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert open_archive(empty).sql("SELECT count(*) AS n FROM flows")["n"].iloc[0] == 0
    assert open_archive(empty).span is None and len(open_archive(empty).packets()) == 0


def _batches(frame: pd.DataFrame, size: int = 500) -> list[Batch]:
    return [Batch.from_frame(frame.iloc[a : a + size]) for a in range(0, len(frame), size)]


def test_a_removed_directory_is_made_again_and_nothing_flushed_is_lost(tmp_path):
    frame = netlab.read_pcap(netlab.demo_pcap("flows"))
    problems: list[str] = []
    root = tmp_path / "arch"
    writer = ArchiveWriter(root, sensor="s", flush=3600, report=problems.append).start()
    half = len(frame) // 2
    for batch in _batches(frame.iloc[:half]):
        writer.add_packets(batch)
    assert writer.flush()
    import shutil

    shutil.rmtree(root)  # removed while the capture runs
    for batch in _batches(frame.iloc[half:]):
        writer.add_packets(batch)
    writer.close()
    assert not problems  # the directory was simply made again
    assert writer.written["packets"] == len(frame)
    got = open_archive(root).packets()  # the first half went with the directory; the rest
    # (handed over after the removal) is all there
    assert got["number"].tolist() == frame["number"].iloc[half:].tolist()


def test_a_write_that_fails_is_reported_and_tried_again(tmp_path, monkeypatch):
    frame = netlab.read_pcap(netlab.demo_pcap("flows"))
    problems: list[str] = []
    writer = ArchiveWriter(tmp_path, sensor="s", flush=3600, report=problems.append).start()
    for batch in _batches(frame):
        writer.add_packets(batch)
    real = pq.write_table

    def full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    assert not writer.flush()
    assert problems and "No space left on device" in problems[0]
    assert writer.pending == len(frame) and not list(tmp_path.rglob("*.parquet"))
    assert not list(tmp_path.rglob(".*.tmp"))  # nothing half-written is left behind
    monkeypatch.setattr(pq, "write_table", real)
    writer.close()  # the space is back: all of it is written, once
    got = open_archive(tmp_path).packets()
    assert got["number"].tolist() == frame["number"].tolist()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_loses_nothing_flushed_and_the_capture_goes_on(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)])
    if done.returncode:
        pytest.skip("this machine cannot mount a tmpfs (a container without the right)")
    try:
        settings = _settings("full", archive_flush=0.2)
        path = Path(__file__).resolve().parent.parent / "data" / "tcp_trouble" / "loss.pcap"
        with netlab.Capture(path, speed=None, loop=True, archive=mount, settings=settings) as cap:
            deadline = time.monotonic() + 120
            while not any("No space" in p for p in cap.stats.problems):
                assert time.monotonic() < deadline, "the disk never filled"
                time.sleep(0.1)
            decoded = cap.stats.decoded
            while cap.stats.decoded < decoded + 10_000:  # the capture goes on regardless
                assert time.monotonic() < deadline and cap.running
                time.sleep(0.1)
            assert cap.archive is not None
            written = cap.archive.written["packets"]
        archive = open_archive(mount)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", netlab.NetlabWarning)
            got = archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0]
        assert got >= written > 0  # each file counted as written is whole and readable
        assert not list(mount.rglob(".*.tmp"))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_killed_writer_leaves_only_whole_files(tmp_path):
    root = tmp_path / "arch"
    script = (
        "import sys, time, netlab\n"
        "s = netlab.Settings.load(env_file=None, sensor='k', archive_flush=0.2)\n"
        "cap = netlab.Capture(netlab.demo_pcap('flows'), speed=1.0, loop=True,"
        f" archive={str(root)!r}, settings=s).start()\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().startswith(b"started")
        deadline = time.monotonic() + 120
        while len(list(root.rglob("*.parquet"))) < 3:
            assert time.monotonic() < deadline, "no files written"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    packets = list((root / "packets").rglob("*.parquet"))
    rows = sum(pq.read_metadata(f).num_rows for f in packets)  # every file reads whole
    archive = open_archive(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no broken file to skip
        assert archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0] == rows > 0


def test_a_reader_while_the_writer_runs_sees_whole_files_only(tmp_path):
    settings = _settings("busy", archive_flush=0.1)
    path = netlab.demo_pcap("flows")
    seen: list[int] = []
    with netlab.Capture(path, speed=1.0, loop=True, archive=tmp_path, settings=settings) as cap:
        deadline = time.monotonic() + 120
        archive = None
        while len(set(seen)) < 4:  # the archive grew under the reader several times
            assert time.monotonic() < deadline and cap.running, seen
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # never a half-written file
                # one Archive, one DuckDB session: its views follow the new files
                archive = archive or open_archive(tmp_path)
                n = int(archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0])
                assert len(archive.packets()) >= n
            assert not seen or n >= seen[-1]
            seen.append(n)
            time.sleep(0.05)
        assert archive is not None
        archive.close()


def _hours_frame(hours: list[int], per_hour: int = 200) -> pd.DataFrame:
    """Demo rows re-stamped into the given hours (hours since the epoch)."""
    demo = netlab.read_pcap(netlab.demo_pcap("flows")).iloc[:per_hour]
    parts = []
    for hour in hours:
        part = demo.copy()
        offset = np.arange(per_hour, dtype=np.int64) * 1_000_000
        part["ts"] = pd.to_datetime(hour * 3_600_000_000_000 + offset, utc=True)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_retention_removes_the_oldest_hours_first(tmp_path):
    now_hour = int(time.time() // 3600)
    hours = [now_hour - 30, now_hour - 20, now_hour - 10, now_hour - 1]
    frame = _hours_frame(hours)
    by_age = ArchiveWriter(tmp_path / "age", sensor="s", max_age_hours=12).start()
    for batch in _batches(frame, 200):
        by_age.add_packets(batch)
    by_age.close()
    # (in time order: the two hours kept may lie either side of midnight)
    kept = open_archive(tmp_path / "age").sql(
        "SELECT DISTINCT date, hour FROM packets ORDER BY date, hour"
    )
    assert [int(h) for h in kept["hour"]] == [(now_hour - 10) % 24, (now_hour - 1) % 24]
    one_hour = ArchiveWriter(tmp_path / "one", sensor="s").start()
    for batch in _batches(frame.iloc[:200], 200):
        one_hour.add_packets(batch)
    one_hour.close()
    size = sum(f.stat().st_size for f in (tmp_path / "one").rglob("*.parquet"))
    by_size = ArchiveWriter(tmp_path / "size", sensor="s", max_gb=2.5 * size / 1e9).start()
    for batch in _batches(frame, 200):
        by_size.add_packets(batch)
    by_size.close()
    got = open_archive(tmp_path / "size").packets()
    assert got["ts"].dt.floor("h").nunique() == 2  # the two newest hours fit in the limit
    assert got["ts"].min() >= pd.Timestamp((now_hour - 10) * 3600, unit="s", tz="UTC")


def test_read_pcap_into_an_archive_and_the_command_line(tmp_path):
    path = TROUBLE / "loss.pcap"
    archive = netlab.read_pcap(path, archive=tmp_path / "a", settings=_settings("cli"))
    frame = netlab.read_pcap(path)
    assert archive.sql("SELECT count(*) AS n FROM packets")["n"].iloc[0] == len(frame)
    netlab_cmd = [sys.executable, "-m", "netlab"]
    out = subprocess.run(
        [*netlab_cmd, "capture", "-r", str(path), "--archive", str(tmp_path / "b"), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NETLAB_SENSOR": "cmd"},
    )
    assert out.returncode == 0, out.stderr
    assert f"{len(frame):,} packets to the archive" in out.stderr and not out.stdout
    info = subprocess.run(
        [*netlab_cmd, "archive", str(tmp_path / "b"), "--info"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0 and "sensors: cmd" in info.stdout
    assert f"packets: {len(frame):,} rows" in info.stdout
    sql = subprocess.run(
        [
            *netlab_cmd,
            "archive",
            str(tmp_path / "b"),
            "--format",
            "csv",
            "--sql",
            "SELECT count(*) AS n, sum(length)::BIGINT AS bytes FROM packets",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sql.stdout.splitlines() == ["n,bytes", f"{len(frame)},{int(frame['length'].sum())}"]
    bad = subprocess.run(
        [*netlab_cmd, "archive", str(tmp_path / "b"), "--sql", "SELEKT 1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("netlab: SQL:")
    assert "Traceback" not in bad.stderr
