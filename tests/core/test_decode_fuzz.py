"""The decoder never raises, never hangs and always returns one row per frame."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netlab
from conftest import CORPUS
from netlab.core.decode import decode_records
from netlab.core.pcapfile import Records

LINKTYPES = [
    0,
    1,
    9,
    12,
    50,
    101,
    104,
    105,
    107,
    108,
    113,
    127,
    129,
    178,
    192,
    226,
    228,
    229,
    239,
    242,
    258,
    276,
    160,
    65535,
]


def _decode(frames: list[bytes], linktypes: list[int]) -> int:
    buf = np.frombuffer(b"".join(frames), dtype=np.uint8)
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    rec = Records(
        offsets,
        lens,
        lens,
        np.zeros(len(frames), dtype=np.int64),
        np.array(linktypes, dtype=np.int32),
    )
    df = decode_records(buf, rec)
    assert len(df) == len(frames)
    assert df["info"].notna().all()
    return len(df)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.binary(max_size=200), st.sampled_from(LINKTYPES)), min_size=1, max_size=30
    )
)
def test_random_frames(frames):
    _decode([f for f, _ in frames], [lt for _, lt in frames])


def _corpus_frames() -> list[tuple[bytes, int]]:
    out = []
    for name in (
        "dpkt__http.pcap",
        "pcpp__DnsPackets.pcap",
        "pcpp__tls.pcap",
        "pcpp__VlanPackets.pcap",
        "pcpp__ipv6_options.pcap",
        "pcpp__MplsPackets.pcap",
        "pcpp__one_http_stream_rst.pcap",
        "tcpdump__nflog.pcap",
    ):
        path = CORPUS / name
        raw = path.read_bytes()
        df = netlab.read_pcap(path, limit=20)
        data_offsets = _offsets(raw)
        for (off, cap), lt in zip(data_offsets, df["linktype"].tolist(), strict=False):
            out.append((raw[off : off + cap], lt))
    return out


def _offsets(raw: bytes) -> list[tuple[int, int]]:
    from netlab.core import pcapfile

    if pcapfile.detect_format(raw[:4]) is pcapfile.Format.PCAP:
        walk = pcapfile.walk_pcap(raw, 24, pcapfile.parse_pcap_header(raw[:24]), 20)
    else:
        walk = pcapfile.walk_pcapng(raw, 0, pcapfile.PcapngState(), 20)
    return list(zip(walk.records.offset.tolist(), walk.records.caplen.tolist(), strict=True))


REAL = _corpus_frames()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(REAL),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8),
    st.integers(0, 2000),
)
def test_mutated_real_frames(frame_lt, flips, cut):
    frame, lt = frame_lt
    data = bytearray(frame)
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    _decode([bytes(data[: max(cut, 0)]) if cut < len(data) else bytes(data)], [lt])
