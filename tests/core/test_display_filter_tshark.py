"""Display filters select the frames `tshark -Y` selects, on the corpus (tshark is the oracle).

Each filter is evaluated by tshark over the merged corpus (dfilter_corpus) and by netlab over
the same frames; a (capture, filter) pair agrees when both pick the same frames of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from dfilter_corpus import (
    DATA,
    FILTERS,
    Merged,
    build,
    frames_of_each,
    tshark_frames,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netlab

pytestmark = [
    pytest.mark.skipif(
        shutil.which("tshark") is None or shutil.which("mergecap") is None,
        reason="needs tshark and mergecap (apt install tshark)",
    ),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Merged:
    sources = sorted((DATA / "corpus").glob("*.pcap*")) + sorted(
        (DATA / "tcp_trouble").glob("*.pcap")
    )
    return build(tmp_path_factory.mktemp("dfilter"), sources)


def _disagreements(
    m: Merged, expression: str, tshark: np.ndarray | None = None
) -> dict[str, tuple[set[int], set[int]]]:
    ours = m.split(netlab.filter(m.frame, expression)["number"].to_numpy())
    theirs = m.split(tshark_frames(m.path, expression) if tshark is None else tshark)
    return {n: (ours[n], theirs[n]) for n in m.names if ours[n] != theirs[n]}


def _alone(m: Merged, name: str, expression: str) -> bool:
    """Whether both tools pick the same frames of this capture read alone. Merged, tshark
    carries a connection's state from one capture into the next that reuses its addresses
    and ports (a TLS or HTTP conversation it decodes differently then)."""
    path = m.sources[m.names.index(name)]
    ours = netlab.filter(netlab.read_pcap(path), expression)["number"].to_numpy()
    return np.array_equal(ours, tshark_frames(path, expression))


def test_typical_filters_select_tsharks_frames(merged: Merged) -> None:
    pairs = {"plain": 0, "nested": 0}
    wrong: dict[str, list[str]] = {"plain": [], "nested": []}
    alone = []
    matched = 0
    tshark = frames_of_each(merged.path, FILTERS)
    for expression in FILTERS:
        bad = _disagreements(merged, expression, tshark[expression])
        matched += len(netlab.filter(merged.frame, expression))
        for name in merged.names:
            kind = "plain" if name in merged.plain else "nested"
            pairs[kind] += 1
            if name not in bad:
                continue
            if _alone(merged, name, expression):
                alone.append(f"{expression!r} on {name}")
                continue
            ours, theirs = bad[name]
            extra, missing = sorted(ours - theirs)[:3], sorted(theirs - ours)[:3]
            wrong[kind].append(f"{expression!r} on {name}: +{extra} -{missing}")
    assert matched > 50_000  # the filters do select frames: this is not a test of empty sets
    plain = 1 - len(wrong["plain"]) / pairs["plain"]
    overall = 1 - (len(wrong["plain"]) + len(wrong["nested"])) / sum(pairs.values())
    print(
        f"\nplain captures: {plain:.4%} of {pairs['plain']} pairs; all: {overall:.4%} of "
        f"{sum(pairs.values())}; {len(alone)} pairs agree only on the capture alone: {alone}"
        f"\ndisagreeing: {wrong['plain'] + wrong['nested']}"
    )
    # What still differs (see the README): headers tshark names that netlab does not read
    # (6LoWPAN, a bad IPv4 version, an IPv6 link type carrying IPv4), DNS tshark finds by
    # heuristics or despite a bad label, QUIC's encrypted ClientHello, a UDP length field
    # that contradicts the IP length, and times past 2106.
    assert overall >= 0.999, wrong["plain"] + wrong["nested"]
    assert plain >= 0.998, wrong["plain"]


# -- generated filters ------------------------------------------------------------------------
_NUMERIC = {
    "frame.len": (40, 1600),
    "ip.ttl": (0, 255),
    "tcp.port": (0, 65535),
    "tcp.srcport": (0, 65535),
    "udp.port": (0, 65535),
    "tcp.len": (0, 1500),
    "tcp.window_size_value": (0, 65535),
    "tcp.flags": (0, 0xFFF),
    "tcp.stream": (0, 40),
    "icmp.type": (0, 20),
}
_LABELS = ["tcp", "udp", "ip", "ipv6", "icmp", "dns", "tcp.analysis.flags", "tcp.flags.syn"]
_ADDRESSES = ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "8.8.8.8", "0.0.0.0/1"]


@st.composite
def _test(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["num", "num", "set", "label", "addr", "bits"]))
    if kind == "label":
        return draw(st.sampled_from(_LABELS))
    if kind == "addr":
        field = draw(st.sampled_from(["ip.src", "ip.dst", "ip.addr"]))
        op = draw(st.sampled_from(["==", "!="]))
        return f"{field} {op} {draw(st.sampled_from(_ADDRESSES))}"
    field = draw(st.sampled_from(sorted(_NUMERIC)))
    low, high = _NUMERIC[field]
    value = draw(st.integers(low, high))
    if kind == "set":
        other = draw(st.integers(low, high))
        return f"{field} in {{{value}, {min(value, other)}..{max(value, other)}}}"
    if kind == "bits":
        return f"tcp.flags & {draw(st.integers(1, 0xFFF)):#x}"
    op = draw(st.sampled_from(["==", "!=", "<", ">", "<=", ">=", "eq", "gt", "le"]))
    return f"{field} {op} {value}"


_expressions = st.recursive(
    _test(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["&&", "||", "and", "or"]), inner).map(" ".join),
        inner.map(lambda e: f"!({e})"),
        inner.map(lambda e: f"({e})"),
    ),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Merged:
    names = ["dpkt__http.pcap", "dpkt__dns_icmp.pcap", "pcpp__VlanPackets.pcap"]
    sources = [DATA / "corpus" / n for n in names] + [DATA / "tcp_trouble" / "endings.pcap"]
    return build(tmp_path_factory.mktemp("small"), sources)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expression=_expressions)
def test_generated_filters_select_tsharks_frames(small: Merged, expression: str) -> None:
    ours = netlab.filter(small.frame, expression)["number"].to_numpy()
    assert np.array_equal(ours, tshark_frames(small.path, expression)), expression
    # the canonical text means the same
    again = netlab.filter(small.frame, str(netlab.compile_filter(expression)))["number"]
    assert np.array_equal(ours, again.to_numpy())


def test_merged_corpus_keeps_every_capture(merged: Merged) -> None:
    assert len(merged.names) > 80 and len(merged.plain) > 60
    assert Path(merged.path).stat().st_size > 0
