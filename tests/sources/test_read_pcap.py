"""read_pcap / iter_pcap: formats, link types, VLANs, bad input."""

from __future__ import annotations

import struct
import warnings

import pandas as pd
import pytest
import synth

import netlab
from conftest import CORPUS

T0 = 1_700_000_000.123456


def _frames():
    dns = synth.udp(53, 5353, synth.dns_query("a.example", 7))
    v6 = synth.ipv6(bytes(15) + b"\1", bytes(15) + b"\2", 6, synth.tcp(5, 443, 0x12))
    return [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 6, synth.tcp(1234, 80, 0x02))),
        synth.ether(synth.ipv4("10.0.0.2", "10.0.0.1", 17, dns)),
        synth.ether(v6, 0x86DD),
    ]


@pytest.mark.parametrize("byte_order", ["<", ">"])
@pytest.mark.parametrize("nanosecond, modified", [(False, False), (True, False), (False, True)])
def test_pcap_variants_read_the_same(tmp_path, byte_order, nanosecond, modified):
    path = tmp_path / "v.cap"
    times = [T0, T0 + 0.5, T0 + 1.000001]
    path.write_bytes(
        synth.pcap_bytes(
            _frames(), times=times, byte_order=byte_order, nanosecond=nanosecond, modified=modified
        )
    )
    df = netlab.read_pcap(path)
    assert df["src"].astype(str).tolist() == ["10.0.0.1", "10.0.0.2", "::1"]
    assert df["sport"].tolist() == [1234, 53, 5]
    assert df["proto"].astype(str).tolist() == ["TCP", "UDP", "TCP"]
    assert df["dns_qname"].astype(object).tolist()[1] == "a.example"
    expected = pd.to_datetime(pd.Series(times) * 1e9, unit="ns", utc=True)
    assert (df["ts"] - expected).abs().max() < pd.Timedelta(microseconds=1)


def test_format_is_told_by_magic_not_extension(tmp_path):
    path = tmp_path / "really-pcapng.pcap"
    path.write_bytes(synth.pcapng_bytes([[(1, [(T0, _frames()[0])])]]))
    assert netlab.read_pcap(path)["dport"].tolist() == [80]


def test_pcapng_sections_byte_orders_and_link_types(tmp_path):
    ip_only = synth.ipv4("192.0.2.1", "192.0.2.2", 17, synth.udp(1, 2, b"x"))
    null_frame = struct.pack("<I", 2) + ip_only
    data = synth.pcapng_bytes(
        [
            [(1, [(T0, _frames()[0])]), (0, [(T0 + 1, null_frame)])],
            [(101, [(T0 + 2, ip_only)]), (1, [(T0 + 3, _frames()[2])])],
        ],
        byte_orders=["<", ">"],
    )
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    df = netlab.read_pcap(path)
    assert df["linktype"].tolist() == [1, 0, 101, 1]
    assert df["src"].astype(str).tolist() == ["10.0.0.1", "192.0.2.1", "192.0.2.1", "::1"]
    assert df["ts"].iloc[3] == pd.Timestamp((T0 + 3) * 1e9, unit="ns", tz="UTC").round("ns")


@pytest.mark.parametrize(
    "name, linktype",
    [
        ("pcpp__SllPacket.pcap", 113),
        ("pcpp__sll2.pcap", 276),
        ("pcpp__null_loopback.pcap", 0),
        ("pcpp__raw_ip.pcap", 101),
        ("pcpp__four_ipv6_http_streams.pcap", 12),
        ("tcpdump__LINKTYPE_IPV4.pcap", 228),
        ("tcpdump__LINKTYPE_IPV6.pcap", 229),
        ("tcpdump__ipoib.pcap", 242),
        ("tcpdump__OSPFv3_NBMA_adjacencies.pcap", 107),
        ("tcpdump__nflog.pcap", 239),
    ],
)
def test_link_types_give_ip_rows(name, linktype):
    df = netlab.read_pcap(CORPUS / name)
    assert (df["linktype"] == linktype).all()
    assert df["ip_version"].notna().any()


def test_unknown_link_type_still_gives_time_and_lengths():
    df = netlab.read_pcap(CORPUS / "tcpdump__unsupported-link-type-160.pcap")
    assert len(df) == 1 and df["length"].iloc[0] > 0 and df["ts"].notna().all()
    assert df["src"].isna().all()
    assert df["info"].iloc[0] == "link type 160 frame"


def test_vlan_tags():
    df = netlab.read_pcap(CORPUS / "pcpp__VlanPackets.pcap")
    assert df["vlan"].iloc[0] == 118
    qinq = netlab.read_pcap(CORPUS / "tcpdump__802.1ad_QinQ.pcap")
    assert qinq["proto"].astype(str).tolist() == ["ARP", "ARP"]


def test_later_fragment_has_no_ports_first_has_them():
    df = netlab.read_pcap(CORPUS / "pcpp__IPv4Frag.pcap")
    assert df["sport"].notna().iloc[0]
    assert df["sport"].isna().iloc[1:].all()
    assert df["info"].iloc[1].startswith("Fragmented IP protocol")


def test_truncated_file_keeps_every_complete_frame_and_warns(tmp_path):
    whole = synth.pcap_bytes(_frames())
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:-10])
    with pytest.warns(netlab.NetlabWarning, match="cut short"):
        df = netlab.read_pcap(path)
    assert len(df) == 3
    assert df["caplen"].iloc[2] == len(_frames()[2]) - 10
    assert df["length"].iloc[2] == len(_frames()[2])


def test_corrupt_record_length_stops_with_a_warning(tmp_path):
    data = bytearray(synth.pcap_bytes(_frames()))
    first_len = len(_frames()[0])
    hdr2 = 24 + 16 + first_len
    struct.pack_into("<II", data, hdr2 + 8, 0x7FFFFFFF, 0x7FFFFFFF)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    with pytest.warns(netlab.NetlabWarning, match="corrupt"):
        df = netlab.read_pcap(path)
    assert len(df) == 1


def test_cut_short_corpus_files_return_their_complete_frames():
    for name, frames in (
        ("dpkt__truncated_dns_2.pcap", 1),
        ("scapy__bad_rsn_parsing_overrides_ssid.pcap", 1),
    ):
        with pytest.warns(netlab.NetlabWarning):
            assert len(netlab.read_pcap(CORPUS / name)) >= frames


@pytest.mark.parametrize("content", [b"", b"hello world, not a capture", b"\xd4\xc3\xb2"])
def test_not_a_capture_raises_a_clear_error(tmp_path, content):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(netlab.CaptureFileError, match="x.pcap"):
        netlab.read_pcap(path)


def test_missing_file_raises_capture_file_error(tmp_path):
    with pytest.raises(netlab.CaptureFileError, match="No such file"):
        netlab.read_pcap(tmp_path / "nope.pcap")


def test_empty_captures_give_an_empty_typed_frame():
    for name in (
        "tcpdump__empty.pcap",
        "tcpdump__empty.pcapng",
        "pngtg__le_difficult_test200.pcapng",
    ):
        df = netlab.read_pcap(CORPUS / name)
        assert len(df) == 0 and list(df.columns) == list(netlab.core.schema.COLUMN_NAMES)


def test_limit_and_iterator_agree_with_whole_read(mixed_pcap):
    whole = netlab.read_pcap(mixed_pcap)
    assert len(netlab.read_pcap(mixed_pcap, limit=123)) == 123
    chunks = list(netlab.iter_pcap(mixed_pcap, chunk=1000))
    assert [len(c) for c in chunks] == [1000] * 5
    joined = pd.concat([c.astype({"info": object}) for c in chunks], ignore_index=True)
    assert joined["number"].tolist() == whole["number"].tolist() == list(range(1, 5001))
    for name in ("src", "dns_qname", "info"):
        assert (
            joined[name].astype(object).fillna("").tolist()
            == whole[name].astype(object).fillna("").tolist()
        )


def test_invalid_timestamps_keep_the_raw_record_values():
    # usec >= 1e6: tshark prints nonsense; netlab keeps sec * 1e9 + usec * 1e3 as written.
    raw = (CORPUS / "tcpdump__timestamp_invalid_micro.pcap").read_bytes()
    sec, usec = struct.unpack_from("<II", raw, 24)
    df = netlab.read_pcap(CORPUS / "tcpdump__timestamp_invalid_micro.pcap")
    assert df["ts"].iloc[0].value == sec * 1_000_000_000 + usec * 1_000


def test_app_fields_and_info():
    http = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    assert http["http_host"].iloc[3] == "www.ethereal.com"
    assert http["info"].iloc[3] == "GET /download.html HTTP/1.1"
    assert http["info"].iloc[0] == "3372 → 80 [SYN] Len=0"
    tls = netlab.read_pcap(CORPUS / "pcpp__SSL-ClientHello1.pcap")
    assert tls["tls_sni"].notna().all()
    dns = netlab.read_pcap(CORPUS / "tcpdump__dns_udp.pcap")
    assert dns["info"].iloc[0].startswith("Standard query 0x")
    arp = netlab.read_pcap(CORPUS / "pcpp__ArpRequestPacket.pcap")
    assert arp["info"].iloc[0].startswith("Who has ")


def test_reading_never_warns_on_the_clean_corpus_files():
    clean = [p for p in CORPUS.glob("pcpp__*.pcap") if "malformed" not in p.name]
    assert len(clean) > 30
    with warnings.catch_warnings():
        warnings.simplefilter("error", netlab.NetlabWarning)  # any warning fails the test
        rows = sum(len(netlab.read_pcap(path)) for path in clean)
    assert rows > 5000


def test_a_pcapng_interface_block_too_short_warns_and_does_not_hang(tmp_path):
    import struct

    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<III", 1, 12, 12)  # 12 bytes: no room for link type and snaplen
    path = tmp_path / "short-idb.pcapng"
    path.write_bytes(shb + idb)
    assert len(path.read_bytes()) == 40
    with pytest.warns(netlab.NetlabWarning, match="too short"):
        assert len(netlab.read_pcap(path)) == 0
    cap = netlab.Capture(path, speed=None)
    with cap:
        assert cap.wait(60)  # ends, instead of retrying the same error forever


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fifo_or_directory_is_refused_before_opening(tmp_path, kind):
    import os

    path = tmp_path / "capture.pcap"
    if kind == "fifo":
        os.mkfifo(path)  # open() would block until a writer came: forever
    else:
        path.mkdir()
    for call in (netlab.read_pcap, lambda p: list(netlab.iter_pcap(p))):
        with pytest.raises(netlab.CaptureFileError, match=f"(?i)is a {kind}"):
            call(path)
    with pytest.raises(netlab.CaptureFileError, match=f"(?i)is a {kind}"):
        netlab.Capture(path).start()


def test_reading_more_than_memory_allows_is_a_clear_error(tmp_path, monkeypatch):
    import synth

    import netlab.sources.pcapreader as reader

    path = tmp_path / "zeros.pcap"
    synth.write_pcap(path, [b""] * 300_000, step=0.0)  # zero-length records: rows, no bytes
    monkeypatch.setattr(reader, "memory_budget", lambda: 8 << 20)  # as if 16 MiB were free
    with pytest.raises(netlab.CaptureFileError, match="memory available") as err:
        netlab.read_pcap(path)
    assert "iter_pcap" in str(err.value)
    assert sum(len(p) for p in netlab.iter_pcap(path, chunk=100_000)) == 300_000
