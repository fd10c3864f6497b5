"""The Source protocol is total: the capture asks a source, never its class."""

from __future__ import annotations

import pytest

import netlab
from netlab.data import DEMO_PCAP
from netlab.sources.factory import SOURCE_MEMBERS
from netlab.sources.live import LiveSource
from netlab.sources.remote import RemoteSource
from netlab.sources.replay import FileSource


def test_an_incomplete_source_is_refused_with_what_it_lacks():
    class Half:  # an object with only some of the Source protocol
        description, bpf = "half", ""

        def open(self) -> None:
            pass

    with pytest.raises(netlab.NetlabError, match="Half is not a netlab Source: it has no can_wait"):
        netlab.Capture(Half())


@pytest.mark.parametrize(
    "source",
    [LiveSource("lo"), FileSource(DEMO_PCAP), RemoteSource("ws://127.0.0.1:9/ws")],
    ids=["live", "file", "remote"],
)
def test_every_source_kind_answers_the_whole_protocol(source):
    assert all(hasattr(source, name) for name in SOURCE_MEMBERS)
    assert isinstance(source, netlab.Source)
    assert source.interface and list(source.problems) == []
    assert source.packet_store(1 << 20).description
    if not isinstance(source, RemoteSource):  # a remote one would ask its server
        assert source.switch("eth9", "") is False  # the capture opens a new source instead


def test_a_source_that_cannot_change_its_filter_says_so():
    class Fixed(netlab.SourceBase):
        description = "fixed"

    with pytest.raises(netlab.CaptureError, match="fixed cannot change its filter"):
        Fixed().set_filter("udp")
    Fixed().set_filter("")  # the filter it has: nothing to change


@pytest.mark.parametrize("speed", [0, -1.0, float("nan")])
def test_a_replay_speed_must_be_above_zero(speed):
    with pytest.raises(ValueError, match="speed must be above 0"):
        netlab.FileSource(netlab.demo_pcap(), speed=speed)
