"""Shared fixtures: the corpus, synthetic captures, and a guard that fails on leaked threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # synth.py, gen_traffic.py
DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"


# Worker pools that libraries start once per process and keep (asyncio's default executor,
# concurrent.futures, anyio's pool under FastAPI, distributed's offload pool): owned by them,
# not by any test.
LIBRARY_POOLS = ("asyncio_", "ThreadPoolExecutor", "AnyIO worker thread", "Dask-Offload")


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread of its own running once it is over: close() joins
    what it started, so there is no grace period."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith(LIBRARY_POOLS)
    ]
    assert not leaked, f"threads leaked by this test: {[t.name for t in leaked]}"


@pytest.fixture(scope="session")
def mixed_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic 5,000-packet mixed capture."""
    import synth

    path = tmp_path_factory.mktemp("synth") / "mixed.pcap"
    synth.write_pcap(path, synth.mixed_frames(5_000))
    return path


def _can_capture() -> tuple[bool, str]:
    try:
        import netlab

        return netlab.capture_permission("lo")
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot capture here
        return False, f"libpcap unavailable: {exc}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `privileged` tests, saying why, when this process cannot capture live."""
    if not any("privileged" in item.keywords for item in items):
        return
    ok, reason = _can_capture()
    if ok:
        return
    marker = pytest.mark.skip(reason=f"needs live capture rights: {reason}")
    for item in items:
        if "privileged" in item.keywords:
            item.add_marker(marker)


@pytest.fixture
def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fake_openai() -> Iterator[object]:
    """A scripted OpenAI-compatible endpoint on a free loopback port."""
    from fake_openai import FakeOpenAI

    server = FakeOpenAI()
    yield server
    server.close()


REPLAY_FRAMES = 600  # the server tests' replay capture: 1.2 s of traffic at 500 packets/s


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    """UDP from 10.0.0.1:1000 to 10.0.0.2 ports 2000..2006 in turn, 2 ms apart."""
    import synth

    path = tmp_path / "stream.pcap"
    frames = [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1000, 2000 + i % 7, b"x")))
        for i in range(REPLAY_FRAMES)
    ]
    synth.write_pcap(path, frames, step=0.002)
    return path
