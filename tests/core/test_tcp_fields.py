"""The TCP columns (and the payload length of TCP rows) agree with tshark (run here, on every
corpus capture that has TCP)."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

import netlab

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
FIELDS = {  # netlab column -> tshark field
    "tcp_seq": "tcp.seq_raw",
    "tcp_ack": "tcp.ack_raw",
    "tcp_window": "tcp.window_size_value",
    "tcp_mss": "tcp.options.mss_val",
    "tcp_wscale": "tcp.options.wscale.shift",
    "paylen": "tcp.len",  # on the wire, from the IP length, even where the capture cut it
}

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def _tshark(path: Path) -> pd.DataFrame:
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    args += ["-e", "frame.number", "-e", "_ws.col.Protocol"]
    for field in FIELDS.values():
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    df = pd.DataFrame(rows, columns=["number", "protocol", *FIELDS])
    # tshark 4.0 shows pcapng custom blocks as pseudo-frames of their own
    return df[df["protocol"] != "PCAPNG"].reset_index(drop=True)


def _read(path: Path) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", netlab.NetlabWarning)  # cut-short files: still read
        try:
            return netlab.read_pcap(path)
        except netlab.NetlabError:
            return None


@pytest.mark.slow
def test_tcp_columns_agree_with_tshark_on_the_corpus():
    checked = {c: 0 for c in FIELDS}
    wrong: dict[str, list[str]] = {c: [] for c in FIELDS}
    for path in sorted(CORPUS.glob("*.pcap*")):
        ours = _read(path)
        if ours is None or ours["tcp_flags"].isna().all():
            continue
        theirs = _tshark(path)
        if len(theirs) != len(ours):
            continue  # frame counts differ for reasons the main conformance test covers
        # The outermost transport only, as every column (tshark also shows the TCP of a
        # tunnelled packet, or one quoted in an ICMP error): there netlab must show nothing.
        outer_tcp = (ours["proto"] == "TCP").fillna(False).tolist()
        for col in FIELDS:
            mine = ["" if pd.isna(v) else str(int(v)) for v in ours[col]]
            for k, (a, b) in enumerate(zip(mine, theirs[col].tolist(), strict=True)):
                if not outer_tcp[k]:
                    b = ""
                    if col == "paylen":
                        a = ""  # tcp.len is TCP's; paylen is UDP's payload too
                if a or b:
                    checked[col] += 1
                    if a != b:
                        wrong[col].append(f"{path.name} frame {k + 1}: netlab {a!r} tshark {b!r}")
    for col in FIELDS:
        agreement = 1 - len(wrong[col]) / max(checked[col], 1)
        assert checked[col] > 0, f"no {col} values in the corpus"
        assert agreement >= 0.999, (col, checked[col], wrong[col][:10])


def _syn_with_options(options: bytes, cut: int | None = None) -> bytes:
    import struct

    import synth

    options += bytes(-len(options) % 4)
    offset = 5 + len(options) // 4
    head = struct.pack(">HHIIHHHH", 40000, 80, 7, 0, (offset << 12) | 0x002, 1024, 0, 0)
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 6, head + options))
    return frame[:cut] if cut else frame


def _decode(frames: list[bytes]) -> pd.DataFrame:
    import numpy as np

    from netlab.core.decode import decode_records
    from netlab.core.pcapfile import Records

    data = b"".join(frames)
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.cumsum(lens) - lens
    rec = Records(
        offsets,
        lens,
        lens,
        np.zeros(len(frames), dtype=np.int64),
        np.ones(len(frames), dtype=np.int32),
    )
    return decode_records(np.frombuffer(data, dtype=np.uint8), rec)


def test_tcp_options_bad_input_gives_what_could_be_read(tmp_path):
    import synth

    mss, ws, nop, eol = b"\x02\x04\x05\xb4", b"\x03\x03\x07", b"\x01", b"\x00"
    frames = [
        _syn_with_options(mss + nop + ws),  # the usual
        _syn_with_options(nop + nop + ws + eol + mss),  # after EOL nothing counts
        _syn_with_options(b"\x08\x00" + mss),  # a zero length ends the walk
        _syn_with_options(b"\x08\xff" + mss),  # a length past the header ends it too
        _syn_with_options(b"\x02\x03\x05" + ws),  # an MSS of the wrong length is not one
        _syn_with_options(mss + ws, cut=14 + 20 + 20 + 2),  # the options cut short
        _syn_with_options(b"", cut=14 + 20 + 10),  # half a TCP header
    ]
    df = _decode(frames)
    assert df["tcp_mss"].tolist()[:5] == [1460, pd.NA, pd.NA, pd.NA, pd.NA]
    assert df["tcp_wscale"].tolist()[:5] == [7, 7, pd.NA, pd.NA, 7]
    assert pd.isna(df["tcp_mss"].iloc[5]) and df["tcp_seq"].iloc[5] == 7
    assert df["tcp_seq"].isna().tolist()[6] and pd.isna(df["tcp_flags"].iloc[6])
    synth.write_pcap(tmp_path / "options.pcap", frames)  # and tshark reads them the same
    theirs = _tshark(tmp_path / "options.pcap")
    for col in FIELDS:
        mine = ["" if pd.isna(v) else str(int(v)) for v in df[col]]
        assert mine == theirs[col].tolist(), col
