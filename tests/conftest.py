"""Shared fixtures: the corpus, synthetic captures, and a guard that fails on leaked threads."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # synth.py, gen_traffic.py
DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"


# Threads that libraries start once per process and keep (not owned by any test).
IGNORED_THREADS = ("asyncio_", "ThreadPoolExecutor")


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread of its own running."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(IGNORED_THREADS)
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads leaked by this test: {[t.name for t in leaked]}"


@pytest.fixture(scope="session")
def mixed_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic 5,000-packet mixed capture."""
    import synth

    path = tmp_path_factory.mktemp("synth") / "mixed.pcap"
    synth.write_pcap(path, synth.mixed_frames(5_000))
    return path
