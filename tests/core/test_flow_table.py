"""netlab.flows(): one row per flow, checked against tshark where tshark has the figure."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tshark_reference import RAW_TIME_FILES

import netlab

DATA = Path(__file__).resolve().parent.parent / "data"
TROUBLE = DATA / "tcp_trouble"
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def _read(path: Path) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", netlab.NetlabWarning)
        try:
            return netlab.read_pcap(path)
        except netlab.NetlabError:
            return None


def _tshark(path: Path, *fields: str) -> pd.DataFrame:
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for field in ("_ws.col.Protocol", *fields):
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    df = pd.DataFrame([line.split("\t") for line in out.splitlines()], columns=["p", *fields])
    return df[df["p"] != "PCAPNG"].reset_index(drop=True)


def _captures() -> list[Path]:
    return sorted(TROUBLE.glob("*.pcap")) + sorted((DATA / "corpus").glob("*.pcap*"))


@needs_tshark
@pytest.mark.slow
def test_rtt_and_trouble_counts_are_tsharks_per_stream():
    fields = ("tcp.stream", "tcp.analysis.initial_rtt", "tcp.analysis.retransmission")
    fields += ("tcp.analysis.out_of_order", "tcp.analysis.duplicate_ack")
    fields += ("tcp.analysis.zero_window",)
    compared = with_rtt = 0
    for path in _captures():
        df = _read(path)
        if df is None or not (df["proto"] == "TCP").any():  # (times out of range: NaT)
            continue
        theirs = _tshark(path, *fields)
        if len(theirs) != len(df):
            continue
        table = netlab.flows(df, idle_timeout=None, active_timeout=None).set_index("flow")
        outer = (df["proto"] == "TCP").fillna(False).to_numpy()
        single = ~theirs["tcp.stream"].str.contains(",").to_numpy()  # no tunnelled TCP inside
        for flow, rows in pd.Series(np.arange(len(df))[outer & single]).groupby(
            df["flow"].to_numpy()[outer & single]
        ):
            got = theirs.iloc[rows.to_numpy()]
            row = table.loc[flow]
            rtts = got["tcp.analysis.initial_rtt"].replace("", np.nan).dropna()
            times_ok = path.name not in RAW_TIME_FILES and df["ts"].iloc[rows].notna().all()
            if len(rtts) and times_ok:
                assert row["rtt"] == pytest.approx(float(rtts.iloc[0]), abs=1e-9), (path, flow)
                with_rtt += 1
            elif not len(rtts):
                assert np.isnan(row["rtt"]), (path.name, flow)
            for col, field in (
                ("retransmissions", "tcp.analysis.retransmission"),
                ("out_of_order", "tcp.analysis.out_of_order"),
                ("dup_acks", "tcp.analysis.duplicate_ack"),
                ("zero_windows", "tcp.analysis.zero_window"),
            ):
                assert row[col] == (got[field] != "").sum(), (path.name, flow, col)
            compared += 1
    assert compared > 200 and with_rtt > 150, (compared, with_rtt)


def test_zeek_states_and_histories_of_real_endings():
    # endings.pcap: two connections from the same port closed by the client's RST, a SYN to a
    # closed port, a connection the server resets, a SYN nobody answers (and its retries)
    table = netlab.flows(netlab.read_pcap(TROUBLE / "endings.pcap"))
    assert table["state"].astype(str).tolist() == ["RSTO", "RSTO", "REJ", "RSTR", "S0"]
    hist = table["history"].tolist()
    assert hist[0] == hist[1] and hist[0].startswith("ShA") and hist[0].endswith("R")
    assert hist[2] == "Sr" and hist[4] == "S"  # retransmitted SYNs carry no payload: no T
    assert table["sport"].iloc[0] == table["sport"].iloc[1] == 40404  # the reused port
    assert table["flow"].tolist() == [0, 1, 2, 3, 4]
    # as tshark: a RST-ACK answering the SYN gives an RTT too; a SYN never answered has none
    assert table["rtt"].iloc[0] > 0 and table["rtt"].iloc[2] > 0
    assert np.isnan(table["rtt"].iloc[4])


def test_timeouts_cut_a_flow_into_parts():
    df = netlab.read_pcap(TROUBLE / "keep_alive.pcap")  # one connection, idle for seconds
    whole = netlab.flows(df, idle_timeout=None, active_timeout=None)
    assert len(whole) == 1 and whole["part"].tolist() == [0]
    idle = netlab.flows(df, idle_timeout=0.5, active_timeout=None)
    assert len(idle) > 1 and (idle["flow"] == 0).all()
    assert idle["part"].tolist() == list(range(len(idle)))
    packets = idle["orig_packets"] + idle["resp_packets"]
    assert packets.sum() == whole["orig_packets"].iloc[0] + whole["resp_packets"].iloc[0]
    gaps = (idle["first"].iloc[1:].to_numpy() - idle["last"].iloc[:-1].to_numpy()) / np.timedelta64(
        1, "s"
    )
    # packet times recorded in the file, compared with the timeout given: no clock is read
    assert (gaps > 0.5).all()  # each part starts after a silence longer than the timeout
    active = netlab.flows(df, idle_timeout=None, active_timeout=1.0)
    # durations are spans of the file's packet times, checked against the timeout given
    assert len(active) > 1 and (active["duration"] < 1.0).all()
    per_proto = netlab.flows(df, idle_timeout={"UDP": 0.1, "*": 1e9}, active_timeout=None)
    assert len(per_proto) == 1  # the TCP flow is not cut by the UDP timeout


def test_services_names_and_community_ids():
    df = netlab.read_pcap(DATA / "corpus" / "dpkt__http.pcap")
    table = netlab.flows(df)
    assert table["service"].astype(str).tolist() == ["http", "dns", "http"]
    assert table["server_name"].iloc[0] == "www.ethereal.com"
    tls = netlab.flows(netlab.read_pcap(DATA / "corpus" / "pcpp__SSL-ClientHello1.pcap"))
    assert tls["service"].astype(str).tolist() == ["tls"]
    for row in table.itertuples():
        number = {"TCP": 6, "UDP": 17}[row.proto]
        expected = netlab.community_id(number, row.src, row.dst, row.sport, row.dport)
        assert row.community_id == expected
        # the same flow seen from the other side has the same ID
        assert row.community_id == netlab.community_id(
            number, row.dst, row.src, row.dport, row.sport
        )


def test_a_flows_packets_are_a_frame_like_any_other(tmp_path):
    df = netlab.read_pcap(DATA / "corpus" / "dpkt__http.pcap")
    table = netlab.flows(df)
    busiest = int(table.sort_values("orig_bytes").iloc[-1]["flow"])
    packets = df[df["flow"] == busiest]
    netlab.write_pcap(packets, tmp_path / "flow.pcap")
    again = netlab.read_pcap(tmp_path / "flow.pcap")
    row = table[table["flow"] == busiest].iloc[0]
    assert len(again) == row["orig_packets"] + row["resp_packets"]
    assert again["length"].sum() == row["orig_bytes"] + row["resp_bytes"]


def test_conversations_are_a_view_of_flows():
    df = netlab.read_pcap(netlab.demo_pcap())
    conv = netlab.conversations(df)
    table = netlab.flows(df, idle_timeout=None, active_timeout=None)
    assert len(conv) == len(table)
    assert conv["packets"].sum() == (table["orig_packets"] + table["resp_packets"]).sum()
    assert conv["bytes"].is_monotonic_decreasing
    assert len(netlab.conversations(df, 3)) == 3


def test_frames_without_flows():
    empty = netlab.flows(netlab.read_pcap(DATA / "corpus" / "pcpp__ArpRequestPacket.pcap"))
    assert len(empty) == 0 and "community_id" in empty.columns
