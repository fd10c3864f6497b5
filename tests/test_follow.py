"""stream(): the bytes of every TCP and UDP flow, against tshark's `-z follow,...,raw`."""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth

import netlab
from conftest import CORPUS, DATA
from netlab.core.stream import gap_marker

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
TROUBLE = DATA / "tcp_trouble"
Records = list[tuple[str, bytes]]


def tshark_run(
    path: Path, tcp: int, udp: int
) -> tuple[pd.DataFrame, dict[tuple[str, int], Records]]:
    """One tshark run: each frame's outermost tcp.stream and udp.stream (by frame number), and
    the follow records, (direction, bytes), of TCP streams 0..tcp-1 and UDP streams 0..udp-1.
    A gap is the text tshark writes for it (with its NUL)."""
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    args += ["-e", "frame.number", "-e", "tcp.stream", "-e", "udp.stream", "-e", "frame.protocols"]
    for proto, count in (("tcp", tcp), ("udp", udp)):
        for n in range(count):
            args += ["-z", f"follow,{proto},raw,{n}"]
    out = subprocess.run(args, capture_output=True, text=True).stdout  # broken files exit 2
    lines = out.splitlines()
    cut = next((i for i, line in enumerate(lines) if line.startswith("=====")), len(lines))
    fields = [line.split("\t") for line in lines[:cut] if line.strip()]
    frames = pd.DataFrame(fields, columns=["number", "tcp", "udp", "layers"]).astype(str)
    layers = frames.pop("layers").str.split(":")
    ip = layers.map(lambda names: sum(n in ("ip", "ipv6") for n in names))
    transport = layers.map(lambda names: sum(n in ("tcp", "udp") for n in names))
    frames["tunnel"] = (ip > 1) | (transport > 1)
    found: dict[tuple[str, int], Records] = {}
    current: Records | None = None
    for line in lines[cut:]:
        if line.startswith("Follow: "):
            proto = line.split()[1].split(",")[0]
        elif line.startswith("Filter: "):
            key = (proto, int(line.rsplit(" ", 1)[1]))
        elif line.startswith("Node 1: "):
            current = found.setdefault(key, [])
        elif line.startswith("====="):
            current = None
        elif current is not None and line.strip():
            current.append(("server" if line.startswith("\t") else "client", bytes.fromhex(line)))
    return frames.set_index("number"), found


def ours_as_tsharks(s: netlab.Stream) -> Records:
    """Our records as tshark prints them: a gap as its marker text."""
    return [
        (d, gap_marker(p).encode() + b"\0" if isinstance(p, int) else p) for d, p in s.records()
    ]


def compare_file(path: Path) -> tuple[int, int, list[str]]:
    """(streams equal to tshark's, streams compared, what differed). A flow is compared when
    tshark's stream holds the same frames and none of them carries another IP or transport
    header inside (a tunnel): tshark's follow then also writes the inner packets' payloads,
    and takes the inner addresses for the direction (its taps see the last layer's)."""
    df = netlab.read_pcap(path)
    flows = df["flow"].to_numpy(dtype=np.int64, na_value=-1)
    proto = df["proto"].astype(object).to_numpy()
    first = np.unique(flows[flows >= 0], return_index=True)[1]
    count = {p: int((proto[np.flatnonzero(flows >= 0)[first]] == p).sum()) for p in ("TCP", "UDP")}
    if not count["TCP"] + count["UDP"]:
        return 0, 0, []
    # tshark numbers tunnelled flows too: ask for more streams than there are flows here
    frames, expected = tshark_run(path, 2 * count["TCP"] + 4, 2 * count["UDP"] + 4)
    numbers = df["number"].astype(str).to_numpy()
    ours = {}
    for n in np.unique(flows[flows >= 0]).tolist():
        at = np.flatnonzero(flows == n)
        if proto[at[0]] not in ("TCP", "UDP") or numbers[at[0]] not in frames.index:
            continue
        col = str(proto[at[0]]).lower()
        outer = frames[col].str.split(",").str[0]
        theirs = outer.loc[numbers[at[0]]]
        if not theirs:
            continue
        if sorted(outer.index[outer == theirs], key=int) != numbers[at].tolist():
            continue
        if frames["tunnel"].loc[numbers[at]].any():
            continue
        key = (col, int(theirs))
        assert key in expected, (path.name, key)
        ours[key] = n
    # streams() (every flow at once) gives what stream() gives flow by flow
    together = {s.flow: s for s in netlab.streams(df, max_mb=64)}
    for n in together:
        alone = netlab.stream(df, n, max_mb=64)
        assert (together[n].client, together[n].server) == (alone.client, alone.server), n
        assert together[n].records() == alone.records(), n
    equal, problems = 0, []
    for key, n in ours.items():
        got = ours_as_tsharks(netlab.stream(df, n, max_mb=64))
        if got == expected.get(key, []):
            equal += 1
        else:
            problems.append(
                f"{path.name} {key}: ours {len(got)} records, tshark's {len(expected.get(key, []))}"
            )
    return equal, len(ours), problems


@needs_tshark
@pytest.mark.filterwarnings("ignore::netlab.NetlabWarning")  # the corpus's broken files
def test_every_stream_of_the_corpus_is_tsharks():
    equal = compared = 0
    problems: list[str] = []
    paths = sorted(CORPUS.glob("*.pcap*")) + sorted(TROUBLE.glob("*.pcap"))
    with ThreadPoolExecutor(4) as pool:  # most of the time is tshark's start, in its process
        for e, c, p in pool.map(compare_file, paths):
            equal, compared, problems = equal + e, compared + c, problems + p
    assert compared >= 600, compared
    assert not problems, problems


@needs_tshark
def test_gaps_are_where_tshark_marks_missing_bytes():
    path = TROUBLE / "capture_missed.pcap"
    df = netlab.read_pcap(path)
    s = netlab.stream(df, 0)
    assert len(s.gaps) == 13 and s.gaps["length"].gt(0).all()
    assert s.gaps["direction"].eq("client").all()
    # nothing is invented: the stream's bytes are the payload bytes the capture has
    payload = int(df.loc[df.flow.eq(0), "paylen"].sum())
    assert len(s.client) + len(s.server) <= payload
    assert compare_file(path)[:2] == (1, 1)


Event = tuple[str, int, bytes, int, int]  # side, seq, payload, ack (-1: none), flags to add


def _flow(
    port: int, events: list[Event], cut: dict[int, int] | None = None
) -> list[bytes | tuple[bytes, int]]:
    """Frames of one connection from events; `cut` keeps only the first bytes of some
    payloads (event index: bytes of payload captured), as a short snapshot length does."""
    a, b = "10.1.0.1", "10.1.0.2"
    out: list[bytes | tuple[bytes, int]] = []
    for i, (side, seq, data, ack, more) in enumerate(events):
        src, dst, sport, dport = (a, b, port, 80) if side == "c" else (b, a, 80, port)
        flags = ((0x18 if data else 0x10) if ack >= 0 else 0x08 if data else 0) | more
        segment = synth.tcp(sport, dport, flags, data, seq % (1 << 32), max(ack, 0) % (1 << 32))
        frame = synth.ether(synth.ipv4(src, dst, 6, segment))
        if cut and i in cut:
            out.append((frame[: len(frame) - len(data) + cut[i]], len(frame)))
        else:
            out.append(frame)
    return out


def _random_flow(rng: np.random.Generator, port: int) -> list[bytes | tuple[bytes, int]]:
    """A connection whose segments are resent, split, overlapped, reordered, lost and cut
    short, with sequence numbers that may wrap past 2^32, and perhaps a handshake first."""
    base = {"c": int(rng.integers(0, 1 << 32)), "s": int(rng.integers(0, 1 << 32))}
    sent = {"c": 0, "s": 0}
    events: list[Event] = []
    if rng.random() < 0.3:
        events += [
            ("c", base["c"] - 1, b"", -1, 0x002),
            ("s", base["s"] - 1, b"", base["c"], 0x002),
        ]
    for _ in range(int(rng.integers(5, 40))):
        side = "c" if rng.random() < 0.6 else "s"
        other = "s" if side == "c" else "c"
        size = int(rng.integers(1, 40))
        start = sent[side]
        r = rng.random()
        if r < 0.15 and start:  # resend something old, maybe longer than before
            start = int(rng.integers(0, start))
        elif r < 0.25:  # skip ahead: a hole
            start += int(rng.integers(1, 30))
        data = bytes(int(x) for x in rng.integers(65, 91, size))
        ack = base[other] + int(rng.integers(0, sent[other] + 40)) if rng.random() < 0.9 else -1
        events.append((side, base[side] + start, data, ack, 0))
        sent[side] = max(sent[side], start + size)
    order = np.arange(len(events))
    for i in range(len(order) - 1):  # some neighbours swapped: reordering
        if rng.random() < 0.15:
            order[i], order[i + 1] = order[i + 1], order[i]
    events = [events[i] for i in order]
    if rng.random() < 0.5:
        events = [e for e in events if rng.random() > 0.1]  # lost in the capture
    cut = {}
    if rng.random() < 0.2:
        cut = {
            i: int(rng.integers(0, len(e[2]) + 1))
            for i, e in enumerate(events)
            if e[2] and rng.random() < 0.2
        }
    return _flow(port, events, cut)


@needs_tshark
def test_resent_overlapping_reordered_lost_and_wrapped_segments_as_tshark(tmp_path):
    """Random trouble, 200 connections, each checked against tshark."""
    rng = np.random.default_rng(17)
    frames: list[bytes | tuple[bytes, int]] = []
    for k in range(200):
        frames += _random_flow(rng, 20000 + k)
    path = tmp_path / "trouble.pcap"
    synth.write_pcap(path, frames)
    equal, compared, problems = compare_file(path)
    assert compared == 200 and not problems, problems


@needs_tshark
def test_a_capture_cut_short_and_a_syn_with_data(tmp_path):
    syn = synth.ether(synth.ipv4("10.1.0.1", "10.1.0.2", 6, synth.tcp(1000, 80, 0x002, b"TFO", 99)))
    events = [("c", 103, b"abcdefgh", 5, 0), ("s", 4, b"ok", 111, 0)]
    events += [("c", 111, b"0123456789", 6, 0), ("c", 121, b"tail", 6, 0)]
    frames = [syn, *_flow(1000, events, cut={2: 4})]
    path = tmp_path / "cut.pcap"
    synth.write_pcap(path, frames)
    assert compare_file(path)[:2] == (1, 1)
    s = netlab.stream(netlab.read_pcap(path), 0)
    assert s.client.startswith(b"TFOabcdefgh0123")


def test_text_and_hexdump_show_both_sides_in_time():
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    s = netlab.stream(df, 0)
    assert s.proto == "TCP" and str(s.client_endpoint) == "145.254.160.237:3372"
    text = s.text()
    assert text.startswith("GET /download.html HTTP/1.1\r\n")
    assert text.index("HTTP/1.1 200 OK") > text.index("GET /download.html")
    assert s.text("server").startswith("HTTP/1.1 200 OK")
    dump = s.hexdump().splitlines()
    assert dump[0].startswith(
        "00000000  47 45 54 20 2f 64 6f 77  6e 6c 6f 61 64 2e 68 74  GET /dow"
    )
    assert any(line.startswith("    00000000  48 54 54 50") for line in dump)
    assert 'class="netlab-stream"' in s._repr_html_()
    assert s.segments.columns.tolist() == ["record", "direction", "offset", "length", "frame"]
    assert s.segments["length"].sum() == len(s.client) + len(s.server)


def test_a_flow_row_or_a_packet_row_names_the_stream():
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    by_number = netlab.stream(df, 0)
    assert netlab.stream(df, netlab.flows(df).iloc[0]).client == by_number.client
    assert netlab.stream(df, df.iloc[5]).server == by_number.server


def test_a_stream_is_cut_at_its_limit_and_says_so():
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    whole = netlab.stream(df, 0)
    cut = netlab.stream(df, 0, max_mb=10_000 / (1 << 20))
    assert cut.truncated and not whole.truncated
    assert len(cut.client) + len(cut.server) == 10_000
    assert whole.client.startswith(cut.client) and whole.server.startswith(cut.server)


def test_mistakes_are_clear_errors():
    df = netlab.read_pcap(CORPUS / "dpkt__dns_icmp.pcap")
    icmp = int(df.loc[df.proto.eq("ICMP"), "flow"].iloc[0])
    with pytest.raises(netlab.NetlabError, match="is ICMP: stream\\(\\) follows TCP and UDP"):
        netlab.stream(df, icmp)
    with pytest.raises(netlab.NetlabError, match="flow 999 has no packets"):
        netlab.stream(df, 999)
    with pytest.raises(netlab.NetlabError, match="needs the frame"):
        netlab.stream(df.iloc[0])
    rows = df.copy()
    rows.attrs.clear()  # as rows read back from Parquet: the fields without the packets
    with pytest.raises(netlab.NetlabError, match="do not say where their packets are"):
        netlab.stream(rows, 0)


def test_a_capture_file_that_changed_is_refused(tmp_path):
    path = tmp_path / "http.pcap"
    path.write_bytes((CORPUS / "dpkt__http.pcap").read_bytes())
    df = netlab.read_pcap(path)
    path.write_bytes(b"")
    with pytest.raises(netlab.NetlabError, match="changed or went away"):
        netlab.stream(df, 0)


def _captured(path: Path, **settings) -> pd.DataFrame:
    cap = netlab.Capture(
        path, speed=None, settings=netlab.Settings.load(env_file=None, detectors="", **settings)
    )
    with cap:
        deadline = time.monotonic() + 60
        while len(cap.frame) < len(netlab.read_pcap(path)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return cap.frame.snapshot()


def test_a_capture_follows_while_it_keeps_the_bytes():
    path = CORPUS / "dpkt__http.pcap"
    want = netlab.stream(netlab.read_pcap(path), 0)
    got = netlab.stream(_captured(path), 0)
    assert (got.client, got.server) == (want.client, want.server)
    with pytest.warns(netlab.NetlabWarning, match="frames of flow 0 are left out"):
        none_kept = netlab.stream(_captured(path, keep_bytes_mb=0), 0)
    frames = netlab.read_pcap(path).query("flow == 0")
    assert none_kept.frames_unavailable == len(frames) and none_kept.client == b""


def test_streams_gives_every_flow_as_stream_does():
    df = netlab.read_pcap(CORPUS / "pcpp__four_ipv6_http_streams.pcap")
    each = [netlab.stream(df, n) for n in range(4)]
    together = list(netlab.streams(df))
    assert [s.flow for s in together] == [0, 1, 2, 3]
    assert [(s.client, s.server) for s in together] == [(s.client, s.server) for s in each]
    assert [s.flow for s in netlab.streams(df, flows=[2, 0])] == [0, 2]
