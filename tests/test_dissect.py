"""dissect(): layers and field offsets, against tshark's PDML (`pos`, `size`)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import netlab
from conftest import CORPUS
from netlab.dissect import dissect_bytes

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
# tshark shows a bit field as the whole word it masks (IPv6's traffic class: 4 bytes from the
# header's start; 802.1Q's priority: the 2-byte tag); netlab as the bytes its bits are in.
WORD_MASKED = {"ipv6.tclass", "vlan.priority"}
FILES = (
    "dpkt__http.pcap",  # Ethernet, IPv4, TCP, HTTP
    "dpkt__dns_icmp.pcap",  # UDP, DNS, ICMP
    "pcpp__four_ipv6_http_streams.pcap",  # IPv6
    "pcpp__VlanPackets.pcap",  # 802.1Q
    "pcpp__ArpRequestPacket.pcap",  # ARP
    "pcpp__TcpPacketWithOptions.pcap",  # TCP options
    "pcpp__SllPacket.pcap",  # Linux cooked capture
)


def _pdml(path: Path, count: int) -> list[dict[str, list[tuple[int, int]]]]:
    """Per frame: every field tshark shows, by name, as (pos, size), outermost first."""
    args = ["tshark", "-r", str(path), "-c", str(count), "-T", "pdml"]
    root = ET.fromstring(subprocess.run(args, capture_output=True, check=True).stdout)
    frames = []
    for packet in root.iter("packet"):
        fields: dict[str, list[tuple[int, int]]] = {}
        for f in packet.iter("field"):
            if f.get("pos") is not None and f.get("size") is not None:
                fields.setdefault(f.get("name", ""), []).append(
                    (int(f.get("pos")), int(f.get("size")))
                )
        frames.append(fields)
    return frames


@needs_tshark
@pytest.mark.parametrize("name", FILES)
def test_field_offsets_are_tsharks(name):
    path = CORPUS / name
    df = netlab.read_pcap(path).head(40)
    expected = _pdml(path, len(df))
    checked = 0
    for i in range(len(df)):
        d = netlab.dissect(df.iloc[i])
        assert d.number == df.number.iloc[i] and len(d.data) == df.caplen.iloc[i]
        for layer in d.layers:
            for f in layer.fields:
                if f.tshark is None or f.tshark in WORD_MASKED:
                    continue
                theirs = expected[i].get(f.tshark)
                if f.tshark == "vlan.etype" and not theirs:  # below 0x600 it is a length
                    theirs = expected[i].get("vlan.len")
                if f.tshark.startswith("http.") and not theirs:
                    continue  # tshark shows a message split over segments on its last one
                assert theirs, f"frame {d.number}: tshark shows no {f.tshark}"
                assert (f.offset, f.length) in theirs, (
                    d.number,
                    f.tshark,
                    f.offset,
                    f.length,
                    theirs,
                )
                checked += 1
    assert checked >= 10 * len(df)


def test_a_dissection_is_plain_data_and_marks_a_fields_bytes():
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    d = netlab.dissect(df.iloc[3])
    assert [layer.tshark for layer in d.layers] == ["eth", "ip", "tcp", "http"]
    assert d.field("http.host").shown == "www.ethereal.com"
    src = d.field("ip.src")
    assert src is d.field("IP.src") and src.shown == "145.254.160.237"
    assert d.data[src.offset : src.offset + src.length] == bytes([145, 254, 160, 237])
    lines = d.hexdump("ip.src").splitlines()
    assert lines[2].index("^^") == lines[1].index("91 fe a0 ed")  # under the field's bytes
    assert lines[2].count("^^") == 4
    as_json = d.to_dict()
    assert as_json["data"] == d.data.hex() and as_json["layers"][1]["fields"][10]["name"] == "src"
    assert 'class="netlab-detail"' in d._repr_html_() and "data-offset=" in d._repr_html_()
    with pytest.raises(KeyError):
        d.hexdump("no.such")


def test_broken_frames_show_what_could_be_read():
    d = dissect_bytes(b"\x00" * 12 + b"\x08\x00" + b"\x45\x00\x01", 1, 7)
    assert d.layers[0].name == "Ethernet" and d.data.endswith(b"\x45\x00\x01")
    assert dissect_bytes(b"", 1).layers is not None
    odd = dissect_bytes(b"\xff" * 30, 999, 1)  # a link type scapy does not know: raw bytes
    assert odd.layers[0].name == "Raw"


def test_a_row_without_its_bytes_is_a_clear_error(tmp_path):
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    row = df.iloc[0].copy()
    row.attrs = {}
    with pytest.raises(netlab.NetlabError, match="do not say where their packets are"):
        netlab.dissect(row)
    assert netlab.dissect(row, packets=CORPUS / "dpkt__http.pcap").number == 1
    with pytest.raises(netlab.NetlabError, match="one packet row"):
        netlab.dissect(df)
