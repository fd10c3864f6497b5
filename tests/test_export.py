"""netlab.write_pcap: rows back to the packets behind them, checked byte for byte and by tshark."""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import synth

import netlab
from netlab.core.pcapfile import parse_pcap_header, walk_pcap
from netlab.core.wire import to_rows

CORPUS = Path(__file__).parent / "data" / "corpus"


def _frames(path: Path) -> list[bytes]:
    """The frame bytes of a pcap file, by netlab's own walker (independent of the writer)."""
    data = path.read_bytes()
    rec = walk_pcap(data, 24, parse_pcap_header(data[:24])).records
    return [data[o : o + c] for o, c in zip(rec.offset.tolist(), rec.caplen.tolist(), strict=True)]


def _scapy_frames(path: Path) -> list[bytes]:
    from scapy.utils import PcapNgReader, PcapReader

    reader = PcapNgReader if path.suffix == ".pcapng" else PcapReader
    with reader(str(path)) as packets:
        return [bytes(p) for p in packets]


def test_rows_from_read_pcap_go_back_to_their_exact_packets(tmp_path):
    source = CORPUS / "pcpp__DnsPackets.pcap"
    df = netlab.read_pcap(source)
    picked = df[df["dns_qname"].notna()].iloc[::2]  # filtered: the store travels with the rows
    assert 3 <= len(picked) < len(df)
    out = tmp_path / "dns.pcap"
    assert netlab.write_pcap(picked, out) == len(picked)
    originals = _frames(source)
    assert _frames(out) == [originals[n - 1] for n in picked["number"]]
    again = netlab.read_pcap(out)
    for name in ("ts", "length", "src", "dst", "dns_qname", "info"):
        assert again[name].tolist() == picked[name].tolist(), name


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_the_written_files(tmp_path):
    df = netlab.read_pcap(CORPUS / "pcpp__four_ipv6_http_streams.pcap").iloc[10:60]
    for suffix in (".pcap", ".pcapng"):
        out = tmp_path / f"part{suffix}"
        netlab.write_pcap(df, out)
        fields = subprocess.run(
            ["tshark", "-r", str(out), "-T", "fields", "-e", "frame.len", "-e", "ipv6.src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert [line.split("\t") for line in fields] == [
            [str(n), s] for n, s in zip(df["length"], df["src"], strict=True)
        ]


def test_several_link_types_need_pcapng(tmp_path):
    a = netlab.read_pcap(CORPUS / "pcpp__SllPacket.pcap")
    b = netlab.read_pcap(CORPUS / "pcpp__DnsPackets.pcap")
    both = pd.concat([a, b], ignore_index=True)
    with pytest.raises(netlab.NetlabError, match="write .pcapng"):
        netlab.write_pcap(both, tmp_path / "mixed.pcap")
    assert not (tmp_path / "mixed.pcap").exists()
    # concat drops differing attrs: the caller says where the packets are
    with pytest.raises(netlab.NetlabError, match="packets="):
        netlab.write_pcap(both, tmp_path / "mixed.pcapng")
    written = 0
    for part, source in ((a, "pcpp__SllPacket.pcap"), (b, "pcpp__DnsPackets.pcap")):
        written += netlab.write_pcap(part, tmp_path / f"{source}.pcapng")
    assert written == len(both)
    assert _scapy_frames(tmp_path / "pcpp__SllPacket.pcap.pcapng") == _frames(
        CORPUS / "pcpp__SllPacket.pcap"
    )


def test_rows_without_bytes_get_a_clear_error_and_can_name_their_file(tmp_path):
    source = CORPUS / "pcpp__DnsPackets.pcap"
    df = netlab.read_pcap(source)
    netlab.write_frame(df, tmp_path / "rows.parquet")
    from_parquet = pd.read_parquet(tmp_path / "rows.parquet")
    with pytest.raises(netlab.NetlabError, match="packets="):
        netlab.write_pcap(from_parquet, tmp_path / "x.pcap")
    json_rows = to_rows(df.iloc[:5])
    assert netlab.write_pcap(json_rows, tmp_path / "x.pcap", packets=source) == 5
    assert _frames(tmp_path / "x.pcap") == _frames(source)[:5]
    assert netlab.write_pcap(from_parquet.iloc[-3:], tmp_path / "y.pcap", packets=source) == 3
    assert _frames(tmp_path / "y.pcap") == _frames(source)[-3:]


def test_a_capture_keeps_its_newest_bytes_and_says_what_it_lost(tmp_path):
    path = tmp_path / "replay.pcap"
    frames = [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(5000, 6000, bytes(900))))
        for _ in range(3000)
    ]
    synth.write_pcap(path, frames)
    settings = netlab.Settings.load(env_file=None, detectors="", keep_bytes_mb=1)
    with netlab.Capture(path, speed=None, settings=settings) as cap:
        assert cap.wait(60)
        snap = cap.frame.snapshot()
    assert len(snap) == 3000
    assert cap.packets.size <= 1 << 20 and cap.packets.oldest > 1  # bounded: old bytes went
    newest = snap.iloc[-100:]
    out = tmp_path / "newest.pcap"
    assert netlab.write_pcap(newest, out) == 100
    assert _frames(out) == _frames(path)[-100:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = netlab.write_pcap(snap, tmp_path / "all.pcap")
    assert written == 3001 - cap.packets.oldest
    assert any("does not have their bytes" in str(w.message) for w in caught)


def test_rows_handed_to_a_subscriber_know_their_packets(tmp_path):
    path = tmp_path / "replay.pcap"
    frames = [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(5000, 6000 + k, b"x" * k)))
        for k in range(200)
    ]
    synth.write_pcap(path, frames)
    written: list[int] = []
    out = tmp_path / "sub.pcap"
    cap = netlab.Capture(path, speed=None, settings=netlab.Settings.load(env_file=None))
    sub = cap.subscribe(lambda batch: written.append(netlab.write_pcap(batch, out)))
    with cap:
        assert cap.wait(60)
        deadline = time.monotonic() + 60
        while sum(written) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        sub.close()
    assert sum(written) == 200 and not sub.errors
    assert _frames(out)[-1] == _frames(path)[-1]  # the last batch's packets, byte for byte


def test_frames_that_know_their_packets_still_save_and_pickle(tmp_path):
    df = netlab.read_pcap(CORPUS / "pcpp__DnsPackets.pcap")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas warns when it cannot write attrs as JSON
        df.to_parquet(tmp_path / "rows.parquet")
        df.to_pickle(tmp_path / "rows.pkl")
    read_back = (pd.read_parquet(tmp_path / "rows.parquet"), pd.read_pickle(tmp_path / "rows.pkl"))
    for again in read_back:
        assert again["number"].tolist() == df["number"].tolist()
        with pytest.raises(netlab.NetlabError, match="packets="):  # a note, not a live link
            netlab.write_pcap(again, tmp_path / "x.pcap")
    # frames of two files do not share a store: a concat keeps none
    other = netlab.read_pcap(CORPUS / "pcpp__VlanPackets.pcap")
    assert "netlab_packets" not in pd.concat([df, other]).attrs


def test_empty_selections_and_rows_without_numbers(tmp_path):
    df = netlab.read_pcap(CORPUS / "pcpp__DnsPackets.pcap")
    for suffix in (".pcap", ".pcapng"):
        out = tmp_path / f"empty{suffix}"
        assert netlab.write_pcap(df.iloc[:0], out) == 0
        assert len(netlab.read_pcap(out)) == 0  # a valid capture file with no frames
    with pytest.raises(netlab.NetlabError, match="'number'"):
        netlab.write_pcap([{"src": "10.0.0.1"}], tmp_path / "x.pcap", packets=CORPUS / "x.pcap")


def test_a_recording_is_complete_when_the_capture_closes(tmp_path):
    import synth

    path = tmp_path / "forty.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * 40, step=0.001)
    out = tmp_path / "recorded.pcapng"
    cap = netlab.Capture(path, speed=None)
    recording = cap.record(out)
    assert isinstance(recording, netlab.Recording) and not recording.closed
    cap.start()
    assert cap.wait(60)
    cap.close()  # no call of the recording needed: it ends with the capture
    assert recording.closed and recording.frames == 40
    assert len(netlab.read_pcap(out)) == 40
    recording.close()  # idempotent
    again = netlab.Capture(path, speed=None)
    with again.record(tmp_path / "b.pcap") as rec, again:  # recording before reading starts
        assert again.wait(60)
    assert rec.closed and len(netlab.read_pcap(tmp_path / "b.pcap")) == 40


def test_a_paced_replay_keeps_every_frames_bytes_within_its_budget():
    # A paced replay hands out a few frames at a time from one read-ahead block: the store
    # kept copies of the whole block and had bytes for 1,997 of the 18,926 demo frames.
    from netlab.data import DEMO_PCAP

    settings = netlab.Settings.load(env_file=None, detectors="")
    cap = netlab.Capture(netlab.FileSource(DEMO_PCAP, speed=40.0), settings=settings)
    with cap:
        assert cap.wait(120)
    snap = cap.frame.snapshot()
    assert len(snap) == 18_926
    assert cap.packets.oldest == 1  # 64 MiB holds the whole 3 MB demo
    assert cap.packets.size < 2 * DEMO_PCAP.stat().st_size


def test_csv_rows_get_one_header_whatever_batches_come_and_replace_an_old_file(tmp_path):
    from netlab.core.batch import empty_frame
    from netlab.export import RowWriter

    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    out = tmp_path / "rows.csv"
    out.write_text("an old file\n")
    w = RowWriter(out)
    for part in (empty_frame(), df.iloc[:10], df.iloc[10:10], df.iloc[10:]):
        w.write(part)
    w.close()
    assert pd.read_csv(out)["number"].tolist() == df["number"].tolist()
    empty = tmp_path / "none.csv"
    w = RowWriter(empty)
    w.close()
    w.close()
    assert list(pd.read_csv(empty).columns)[:2] == ["number", "ts"]
