"""The server tests' replay capture."""

from __future__ import annotations

import pytest
import synth

N = 600  # frames in the replay capture: 1.2 s of traffic at 500 packets/s


@pytest.fixture
def replay_file(tmp_path):
    path = tmp_path / "stream.pcap"
    frames = [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1000, 2000 + i % 7, b"x")))
        for i in range(N)
    ]
    synth.write_pcap(path, frames, step=0.002)
    return path
