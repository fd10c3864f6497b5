"""Display filters: the language, its errors, multi-valued fields and flow tables (the
agreement with tshark is in test_display_filter_tshark)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netlab
from netlab.core.dfilter.fields import FIELDS

CORPUS_HTTP = "dpkt__http.pcap"


@pytest.fixture(scope="module")
def http(corpus_dir):
    return netlab.read_pcap(corpus_dir / CORPUS_HTTP)


@pytest.fixture(scope="module")
def mixed():
    return netlab.read_pcap(netlab.demo_pcap())


@pytest.fixture(scope="module")
def corpus_dir():
    from conftest import CORPUS

    return CORPUS


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        (
            "ip.addr == 10.0.0.0/8 && tcp.port in {80 443}",
            "ip.addr == 10.0.0.0/8 && tcp.port in {80, 443}",
        ),
        ("tcp.port eq 80 and not tcp.flags.ack == 1", "tcp.port == 80 && !tcp.flags.ack == 1"),
        ("a or b and c", "a || b && c"),
        ("(a or b) and c", "(a || b) && c"),
        ("not (a xor b)", "!(a ^^ b)"),
        (
            'dns.qry.name ~ "x" || http.host contains r"a\\b"',
            'dns.qry.name matches "x" || http.host contains "a\\\\b"',
        ),
        (
            "ip.addr ~= 1.2.3.4 || ip.addr any_ne 1.2.3.4",
            "ip.addr !== 1.2.3.4 || ip.addr !== 1.2.3.4",
        ),
        ("tcp.flags & 0x12 == 0x12", "tcp.flags & 0x12 == 0x12"),
    ],
)
def test_canonical_text(written, canonical):
    from netlab.core.dfilter.syntax import parse, render

    assert render(parse(written)) == canonical
    assert render(parse(canonical)) == canonical  # canonical text is a fixed point


@pytest.mark.parametrize(
    ("expression", "says", "at"),
    [
        ("tcp.port == 99999", "99999 is too big for a 16-bit field (at most 65535)", 12),
        ("tcp.prot == 80", "no field 'tcp.prot'; did you mean tcp.port?", 0),
        ('ip.src == "10.0.0.1"', "a quoted string cannot be one", 10),
        ("ip.src == 10.0.0.300", "is not an IPv4 address or a CIDR block", 10),
        ("ipv6.src == 10.0.0.1", "is not an IPv6 address", 12),
        ("tcp.analysis.retransmission == 1", "it can only be tested alone", 0),
        ('tcp contains "GET"', "netlab keeps no packet bytes", 0),
        ('frame.len matches "1"', "'matches' needs a text field", 10),
        ('dns.qry.name matches "("', "not a regular expression", 22),
        ('dns.qry.name == "abc', "a string is not closed", 16),
        ("(tcp", "expected ')'", 4),
        ("tcp ==", "ends too soon", 6),
        ("tcp udp", "'udp' was unexpected", 4),
        ("tcp.port in {80", "a set is not closed", 12),
        ("tcp.port in {}", "an empty set", 12),
        ("tcp.port == -1", "negative", 12),
        ("tcp.port == 0x1g", "not an unsigned integer", 12),
        ("tcp.flags.syn == 2", "not a boolean", 17),
        ("tcp.flags.syn > 0", "no order", 14),
        ("ip.src == tcp.port", "cannot be compared", 7),
        ("frame.time_epoch > soon", "not a number of seconds", 19),
        ("ip.addr & 1", "'&' needs an unsigned integer field", 0),
        ("tcp.port == 80 $ 1", "is not part of the filter language", 15),
        ("", "the filter is empty", 0),
        ("   ", "the filter is empty", 0),
        ("(" * 5000 + "tcp" + ")" * 5000, "nested more than 100 deep", 100),
        ("!" * 300 + "tcp", "nested more than 100 deep", 100),
    ],
)
def test_errors_say_what_and_where(expression, says, at):
    with pytest.raises(netlab.DisplayFilterError) as info:
        netlab.compile_filter(expression)
    e = info.value
    assert isinstance(e, netlab.FilterError) and isinstance(e, ValueError)
    assert says in e.message and e.position == at, (e.message, e.position)
    lines = str(e).splitlines()
    assert lines[0] == e.message
    if len(expression) <= 200:  # the caret sits under the position in the filter's own line
        assert lines[1] == "  " + expression and lines[2].index("^") == at + 2


def test_a_long_filter_is_evaluated_and_a_huge_one_refused(http):
    long = " || ".join(f"tcp.srcport == {p}" for p in range(1000))  # ~20,000 characters
    tcp = http["proto"].astype(object).eq("TCP")
    assert len(netlab.filter(http, long)) == len(http[tcp & (http["sport"] < 1000)])
    with pytest.raises(netlab.DisplayFilterError, match="longer than"):
        netlab.compile_filter("tcp || " * 20_000 + "tcp")


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('tcpudip.=!<>&|^(){},~" 0123456789abcx/:')), max_size=60)
)
def test_any_text_compiles_or_raises_a_display_filter_error(text):
    try:
        f = netlab.compile_filter(text)
    except netlab.DisplayFilterError:
        return
    f.mask(netlab.read_pcap(netlab.demo_pcap()).head(50))


def test_multi_valued_fields_follow_wireshark_4(http):
    df = netlab.read_pcap(netlab.demo_pcap())
    arp = df["proto"].eq("ARP").fillna(False).to_numpy()
    assert arp.any()
    ne = netlab.compile_filter("ip.addr != 10.0.0.1").mask(df)
    not_eq = netlab.compile_filter("!(ip.addr == 10.0.0.1)").mask(df)
    assert not ne[arp].any() and not_eq[arp].all()  # != needs the field; ! does not
    one = df["src"].astype(object).eq("10.0.0.1") | df["dst"].astype(object).eq("10.0.0.1")
    ip = df["ip_version"].eq(4).fillna(False).to_numpy()
    assert (ne == (ip & ~one.to_numpy())).all()
    # === every occurrence, !== any one differs
    both = df["src"].astype(object) == df["dst"].astype(object)
    all_eq = netlab.compile_filter("ip.addr === 10.0.0.1").mask(df)
    assert (all_eq == (ip & one.to_numpy() & both.to_numpy())).all()


def test_the_same_filters_select_flows(mixed):
    table = netlab.flows(mixed)
    web = netlab.filter(table, "tcp.port in {80, 443} && ip.addr == 192.168.0.0/16")
    tcp = table["proto"].astype(object).eq("TCP")
    ports = table["sport"].isin([80, 443]) | table["dport"].isin([80, 443])
    local = table["src"].astype(str).str.startswith("192.168.")
    local |= table["dst"].astype(str).str.startswith("192.168.")
    assert web["flow"].tolist() == table[tcp & ports & local]["flow"].tolist()
    assert len(web) > 0
    dns = netlab.filter(table, 'dns && dns.qry.name contains "."')
    assert (dns["service"] == "dns").all() and len(dns) > 0
    with pytest.raises(netlab.DisplayFilterError, match="not a field of a flow table"):
        netlab.filter(table, "frame.len > 60")
    # tcp.stream numbers a flow table's TCP flows as its packets' tcp.stream does
    packets = netlab.filter(mixed, "tcp.stream == 3")
    assert set(packets["flow"]) == set(netlab.filter(table, "tcp.stream == 3")["flow"])


def test_compiled_filters_are_reused_and_text_is_canonical(http):
    f = netlab.compile_filter("tcp.port eq 80")
    assert netlab.compile_filter("tcp.port eq 80") is f
    assert str(f) == "tcp.port == 80" and f == netlab.compile_filter("tcp.port == 80")
    assert netlab.filter(http, f).equals(http[f.mask(http)])
    assert len(f.mask(http.iloc[0:0])) == 0  # an empty frame: an empty mask


def test_every_field_evaluates_on_packets(http):
    from netlab.core.dfilter.fields import PACKET_GETTERS

    assert set(PACKET_GETTERS) <= set(FIELDS)
    for name in PACKET_GETTERS:
        mask = netlab.compile_filter(name).mask(http)
        assert mask.dtype == bool and len(mask) == len(http)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.ip_addresses(v=4).map(str),
            st.text(alphabet="0123456789.:af ", max_size=17),
        ),
        max_size=30,
    )
)
def test_dotted_quads_are_read_as_ipaddress_reads_them(texts):
    import ipaddress

    from netlab.core.dfilter.values import ipv4_values

    def reference(t: str) -> int:
        try:
            return int(ipaddress.IPv4Address(t))
        except ValueError:
            return -1

    assert ipv4_values(texts).tolist() == [reference(t) for t in texts]


def test_times_and_durations_compare_in_seconds(mixed):
    table = netlab.flows(mixed)
    tcp = table["proto"].astype(object).eq("TCP")
    for bound, some in (("0.0003", True), ("0.0004", False), ("0.001", False)):  # rtt is 0.4 ms
        slow = netlab.filter(table, f"tcp.analysis.initial_rtt > {bound}")
        want = table[tcp & (table["rtt"] > float(bound))]["flow"].tolist()
        assert slow["flow"].tolist() == want and bool(want) == some
    first = mixed["ts"].iloc[0].value / 1e9
    early = netlab.filter(mixed, f"frame.time_epoch < {first + 1:.6f}")
    assert len(early) == int((mixed["ts"] < mixed["ts"].iloc[0] + pd.Timedelta(seconds=1)).sum())
    assert len(netlab.filter(mixed, "frame.time_relative < 1")) == len(early)
