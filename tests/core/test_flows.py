"""Flow assignment against tshark's tcp.stream and udp.stream."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import netlab
from netlab.core.flows import assign_flows

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def _streams(path: Path) -> pd.DataFrame:
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    args += ["-e", "_ws.col.Protocol", "-e", "tcp.stream", "-e", "udp.stream"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    df = pd.DataFrame([line.split("\t") for line in out.splitlines()], columns=["p", "TCP", "UDP"])
    return df[df["p"] != "PCAPNG"].reset_index(drop=True)  # tshark 4.0's pseudo-frames


def _same_partition(ours: np.ndarray, theirs: pd.Series) -> bool:
    pairs = pd.DataFrame({"ours": ours, "theirs": theirs.to_numpy()})
    one = pairs.groupby("ours")["theirs"].nunique().max() == 1
    return bool(one and pairs.groupby("theirs")["ours"].nunique().max() == 1)


def _corpus_with_ports() -> Iterator[tuple[Path, pd.DataFrame]]:
    """Each corpus capture netlab reads that has TCP or UDP, with its frame."""
    for path in sorted(CORPUS.glob("*.pcap*")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", netlab.NetlabWarning)  # cut-short files: still read
            try:
                df = netlab.read_pcap(path)
            except netlab.NetlabError:
                continue
        if len(df) and df["proto"].isin(["TCP", "UDP"]).any():
            yield path, df


def _check(path: Path, df: pd.DataFrame) -> dict[str, int]:
    theirs = _streams(path)
    assert len(theirs) == len(df), path.name
    flows = assign_flows(df)
    # read_pcap's flow column is that numbering (missing where there is no flow)
    assert df["flow"].fillna(-1).tolist() == flows.tolist(), path.name
    seen = {}
    for proto in ("TCP", "UDP"):
        # the outermost transport only (tshark also numbers tunnelled ones)
        rows = (df["proto"] == proto).fillna(False).to_numpy() & (theirs[proto] != "").to_numpy()
        if rows.any():
            assert _same_partition(flows[rows], theirs[proto][rows]), (path.name, proto)
        seen[proto] = int(rows.sum())
    return seen


@needs_tshark
@pytest.mark.slow
def test_flows_are_tsharks_streams_on_the_corpus():
    total = {"TCP": 0, "UDP": 0}
    for path, df in _corpus_with_ports():
        for proto, count in _check(path, df).items():
            total[proto] += count
    assert total["TCP"] > 4000 and total["UDP"] > 500, total


@needs_tshark
def test_port_reuse_and_retransmitted_syns(tmp_path):
    import synth

    def seg(src, dst, sport, dport, flags, seq):
        return synth.ether(synth.ipv4(src, dst, 6, synth.tcp(sport, dport, flags, seq=seq)))

    a, b = "10.0.0.1", "10.0.0.2"
    frames = [
        seg(a, b, 40000, 80, 0x002, 1000),  # SYN
        seg(a, b, 40000, 80, 0x002, 1000),  # the same SYN again: same flow
        seg(b, a, 80, 40000, 0x012, 5000),  # SYN-ACK
        seg(a, b, 40000, 80, 0x011, 1001),  # FIN
        seg(a, b, 40000, 80, 0x002, 9000),  # a new SYN, another ISN: a new flow
        seg(b, a, 80, 40000, 0x012, 7000),
        seg(a, b, 40001, 80, 0x002, 9000),  # another port: another flow
        synth.ether(synth.ipv4(a, b, 17, synth.udp(5353, 53, b"x"))),
        synth.ether(synth.ipv4(b, a, 17, synth.udp(53, 5353, b"y"))),  # its answer: same
        synth.ether(synth.ipv4(a, b, 1, b"\x08\x00\x00\x00\x00\x01\x00\x01")),  # ICMP: by pair
    ]
    path = tmp_path / "reuse.pcap"
    synth.write_pcap(path, frames)
    df = netlab.read_pcap(path)
    assert assign_flows(df).tolist() == [0, 0, 0, 0, 1, 1, 2, 3, 3, 4]
    assert _check(path, df) == {"TCP": 7, "UDP": 2}


def test_flows_of_rows_without_addresses_or_ports():
    df = netlab.read_pcap(netlab.demo_pcap())
    flows = assign_flows(df)
    assert (flows[df["src"].isna().to_numpy()] == -1).all()  # ARP: no IP addresses, no flow
    assert flows.max() + 1 == len(np.unique(flows[flows >= 0]))  # numbered 0.. without gaps
    firsts = pd.Series(np.arange(len(df)))[flows >= 0].groupby(flows[flows >= 0]).min()
    assert firsts.is_monotonic_increasing  # in order of each flow's first packet


def _direction_sums(path: Path, df: pd.DataFrame) -> tuple[int, int, int]:
    """(flows whose per-direction packets and bytes equal tshark's, flows compared, flows not
    comparable: tshark put other packets in the stream, reassembling IP fragments)."""
    theirs = _streams(path)
    flows = assign_flows(df)
    table = netlab.flows(df, idle_timeout=None, active_timeout=None).set_index("flow")
    sender = (df["src"].astype(str) + ":" + df["sport"].astype(str)).to_numpy()
    length = df["length"].to_numpy()
    same = compared = skipped = 0
    for proto in ("TCP", "UDP"):
        stream = theirs[proto].to_numpy()
        rows = (df["proto"] == proto).fillna(False).to_numpy() & (stream != "")
        for flow in np.unique(flows[rows]):
            mine = np.flatnonzero(flows == flow)
            in_stream = np.flatnonzero(stream == stream[mine[0]])
            if len(mine) != len(in_stream) or (mine != in_stream).any():
                skipped += 1
                continue
            counts = pd.DataFrame({"s": sender[in_stream], "n": length[in_stream]})
            theirs_sums = sorted(
                (len(g), int(g["n"].sum())) for _, g in counts.groupby("s", sort=False)
            )
            row = table.loc[flow]
            ours = sorted(
                (int(row[f"{side}_packets"]), int(row[f"{side}_bytes"]))
                for side in ("orig", "resp")
                if row[f"{side}_packets"]
            )
            compared += 1
            same += ours == theirs_sums
    return same, compared, skipped


@needs_tshark
@pytest.mark.slow
def test_per_direction_counts_are_tsharks_on_the_corpus():
    same = compared = skipped = 0
    for path, df in _corpus_with_ports():
        s, c, k = _direction_sums(path, df)
        same, compared, skipped = same + s, compared + c, skipped + k
    assert compared > 500 and same == compared, (same, compared)
    assert skipped <= 0.01 * compared, skipped  # fragmented flows: tshark reassembles them


def test_a_flow_counts_sum_to_its_packets():
    df = netlab.read_pcap(netlab.demo_pcap())
    flows = assign_flows(df)
    table = netlab.flows(df, idle_timeout=None, active_timeout=None)
    counts = np.bincount(flows[flows >= 0])
    assert ((table["orig_packets"] + table["resp_packets"]).to_numpy() == counts).all()
    assert (table["orig_bytes"] + table["resp_bytes"]).sum() == df["length"][flows >= 0].sum()
    # the span between a flow's first and last packet (packet times, not the clock)
    span = (table["last"] - table["first"]).dt.total_seconds()
    assert (table["last"] >= table["first"]).all() and np.allclose(table["duration"], span)
    syn = table[(table["proto"] == "TCP") & (table["dport"] == 443)]
    assert len(syn) and (syn["orig_packets"] > 0).all()  # the client, who sent the SYN, first


ICMP_QUERIES = {"ICMP": {0, 8, 13, 14, 15, 16, 17, 18}, "ICMPv6": {128, 129}}


def _icmp(path: Path) -> pd.DataFrame:
    fields = ["_ws.col.Protocol", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
    fields += ["icmp.type", "icmp.ident", "icmp.resp_to"]
    fields += ["icmpv6.type", "icmpv6.echo.identifier", "icmpv6.resp_to"]
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    df = pd.DataFrame([line.split("\t") for line in out.splitlines()], columns=fields)
    return df[df["_ws.col.Protocol"] != "PCAPNG"].reset_index(drop=True)


@needs_tshark
@pytest.mark.slow
def test_icmp_queries_are_flows_by_identifier_as_tshark_pairs_them():
    """icmp_id is tshark's icmp.ident (icmpv6.echo.identifier); a query and the reply tshark
    pairs it with (icmp.resp_to) share a flow; query flows are tshark's (address pair, id)."""
    checked = replies = 0
    for path in sorted(CORPUS.glob("*.pcap*")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", netlab.NetlabWarning)
            try:
                df = netlab.read_pcap(path)
            except netlab.NetlabError:
                continue
        if not df["proto"].isin(["ICMP", "ICMPv6"]).any():
            continue
        theirs = _icmp(path)
        assert len(theirs) == len(df), path.name
        flow = df["flow"].fillna(-1).to_numpy()
        key = []
        for k, proto in enumerate(df["proto"].tolist()):
            v6 = proto == "ICMPv6"
            if proto not in ICMP_QUERIES:
                continue
            kind = theirs.at[k, "icmpv6.type" if v6 else "icmp.type"]
            if not kind or int(kind) not in ICMP_QUERIES[proto]:
                assert pd.isna(df.at[k, "icmp_id"]), (path.name, k + 1)
                continue
            ident = theirs.at[k, "icmpv6.echo.identifier" if v6 else "icmp.ident"]
            assert df.at[k, "icmp_id"] == int(ident, 0), (path.name, k + 1)
            checked += 1
            ends = ["ipv6.src", "ipv6.dst"] if v6 else ["ip.src", "ip.dst"]
            pair = frozenset(theirs.loc[k, ends])
            key.append((k, (proto, pair, int(ident, 0))))
            reply = theirs.at[k, "icmpv6.resp_to" if v6 else "icmp.resp_to"]
            if reply:
                replies += 1
                assert flow[int(reply) - 1] == flow[k], (path.name, k + 1, reply)
        if key:
            rows = [k for k, _ in key]
            labels = pd.Series(pd.factorize(pd.Series([v for _, v in key]))[0])
            assert _same_partition(flow[rows], labels), path.name
    assert checked > 100 and replies > 20, (checked, replies)
