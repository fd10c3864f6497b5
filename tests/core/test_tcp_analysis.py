"""The tcp_analysis flags agree with tshark's tcp.analysis.* fields (run here) on the corpus
and on the captures of real TCP trouble in tests/data/tcp_trouble."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import netlab
from netlab.core import tcp_flags
from netlab.core.flows import assign_flows_and_sides
from netlab.core.tcp_analysis import tcp_analysis

DATA = Path(__file__).resolve().parent.parent / "data"
TROUBLE = sorted((DATA / "tcp_trouble").glob("*.pcap"))
CORPUS = sorted((DATA / "corpus").glob("*.pcap*"))
NAMES = list(tcp_flags.FLAG_NAMES.values())

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def _read(path: Path) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", netlab.NetlabWarning)
        try:
            return netlab.read_pcap(path)
        except netlab.NetlabError:
            return None


def _tshark_masks(path: Path) -> list[int | None]:
    """tshark's flags per frame as a tcp_analysis mask (None: tshark saw a tunnelled or quoted
    TCP inside, which netlab does not analyse)."""
    args = ["tshark", "-r", str(path), "-T", "fields", "-e", "_ws.col.Protocol"]
    args += ["-e", "tcp.seq_raw"]
    for name in NAMES:
        args += ["-e", f"tcp.analysis.{name}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    masks: list[int | None] = []
    for line in out.splitlines():
        protocol, seq, *flags = line.split("\t")
        if protocol == "PCAPNG":  # tshark 4.0 shows pcapng custom blocks as frames
            continue
        mask = 0
        for bit, value in zip(tcp_flags.FLAG_NAMES, flags, strict=True):
            mask |= bit if value else 0
        masks.append(None if "," in seq else mask)
    return masks


def _agreement(paths: list[Path]) -> dict[str, tuple[int, int, int, list[str]]]:
    counts = {name: [0, 0, 0, []] for name in NAMES}
    for path in paths:
        df = _read(path)
        if df is None or df["tcp_flags"].isna().all():
            continue
        theirs = _tshark_masks(path)
        if len(theirs) != len(df):
            continue  # frame counts differ for reasons the conformance test covers
        ours = df["tcp_analysis"].to_numpy()  # read_pcap's column (core/annotate)
        flows, sides = assign_flows_and_sides(df)
        analysed = tcp_analysis(df, flows, sides)  # the same, less the reused-ports bit
        assert (analysed == ours & (0xFFFF ^ tcp_flags.REUSED_PORTS)).all(), path.name
        for k, (mine, ref) in enumerate(zip(ours.tolist(), theirs, strict=True)):
            if ref is None:
                continue
            for bit, name in tcp_flags.FLAG_NAMES.items():
                a, b = bool(mine & bit), bool(ref & bit)
                c = counts[name]
                if a and b:
                    c[0] += 1
                elif a or b:
                    c[1 if a else 2] += 1
                    c[3].append(f"{path.name} frame {k + 1}: netlab {a} tshark {b}")
    return {n: (c[0], c[1], c[2], c[3]) for n, c in counts.items()}


@needs_tshark
@pytest.mark.slow
def test_every_flag_agrees_with_tshark_on_real_trouble_and_the_corpus():
    result = _agreement(TROUBLE + CORPUS)
    for name, (tp, fp, fn, examples) in result.items():
        if name in ("zero_window_probe", "zero_window_probe_ack"):
            continue  # Linux probes look like keep-alives; none of these captures has one
        assert tp > 0, f"no {name} in the test captures: the test would not notice it break"
        f1 = 2 * tp / (2 * tp + fp + fn)
        assert f1 >= 0.995, (name, tp, fp, fn, examples[:8])


@needs_tshark
def test_sequence_numbers_that_wrap_past_2_32_change_nothing():
    plain = _agreement([DATA / "tcp_trouble" / "loss.pcap"])
    wrapped = _agreement([DATA / "tcp_trouble" / "wrapped.pcap"])
    assert wrapped == plain  # the same packets flagged, all agreeing with tshark
    assert all(fp == fn == 0 for _, fp, fn, _ in wrapped.values())


@needs_tshark
@pytest.mark.skipif(shutil.which("mergecap") is None, reason="needs mergecap (apt install tshark)")
def test_time_running_backwards_is_as_tsharks(tmp_path):
    """A capture holding the same connection twice (merged files): the second copy's times
    are behind the first's. tshark's time differences are unsigned there, so nothing is
    fast-retransmitted or out of order because it came 'soon'."""
    twice = tmp_path / "twice.pcap"
    reordered = str(DATA / "tcp_trouble" / "reordered.pcap")
    subprocess.run(
        ["mergecap", "-a", "-F", "pcap", "-w", str(twice), reordered, reordered], check=True
    )
    result = _agreement([twice])
    assert result["out_of_order"][0] > 0 and result["retransmission"][0] > 0
    assert all(fp == fn == 0 for _, fp, fn, _ in result.values()), {
        n: r[3][:3] for n, r in result.items() if r[1] or r[2]
    }


def test_names_are_tsharks():
    assert netlab.tcp_analysis_names(0) == []
    mask = tcp_flags.FAST_RETRANSMISSION | tcp_flags.RETRANSMISSION
    assert netlab.tcp_analysis_names(mask) == ["retransmission", "fast_retransmission"]
    assert set(tcp_flags.BY_NAME) == set(NAMES)
    assert len(set(tcp_flags.FLAG_NAMES)) == len(NAMES)  # one bit each
    assert max(tcp_flags.FLAG_NAMES) < 1 << 16  # fits the uint16 column


def test_no_tcp_gives_no_flags():
    df = netlab.read_pcap(DATA / "corpus" / "dpkt__dns_icmp.pcap")
    flows, sides = assign_flows_and_sides(df)
    assert not tcp_analysis(df, flows, sides).any()
    empty = df.iloc[:0]
    assert len(tcp_analysis(empty, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))) == 0


@pytest.mark.parametrize("size", [1, 3, 64])
def test_batch_by_batch_is_the_whole_file(size):
    # what a live capture does: each batch analysed with the context the earlier ones left
    from netlab.core.tcp_analysis import analyse_batch
    from netlab.core.tcp_context import Context

    for path in [*TROUBLE, netlab.demo_pcap("flows")]:
        df = netlab.read_pcap(path)
        flows, sides = assign_flows_and_sides(df)
        whole = tcp_analysis(df, flows, sides)
        context, got = Context.empty(), np.zeros(len(df), dtype=np.uint16)
        for a in range(0, len(df), size):
            b = min(len(df), a + size)
            got[a:b], newer = analyse_batch(df.iloc[a:b], flows[a:b], sides[a:b], context)
            context = context.updated(newer)
        assert (got == whole).all(), (path.name, np.flatnonzero(got != whole)[:5] + 1)
        tcp_flows = np.unique(flows[(df["proto"] == "TCP").fillna(False).to_numpy()])
        assert context.flows.key.tolist() == tcp_flows.tolist()  # one entry per TCP flow
