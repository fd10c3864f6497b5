"""Warm-up: the first call of each pandas/pyarrow path costs tens of milliseconds, so a capture
runs one frame through the whole path once per process, before real packets wait for it."""

from __future__ import annotations

import threading

import numpy as np

from ..core.alerts import context_of
from ..core.decode import decode_batch
from ..core.detectors import NewTalkerDetector, PortScanDetector, RateDetector, SynFloodDetector
from ..core.frame import RollingFrame
from ..core.pcapfile import Records
from ..sources.pcapreader import concat_frames

_warm = threading.Event()


def warm_up() -> None:
    """Run one frame through decode, frame, Info and the detectors once per process, before
    real packets: the first call of each pandas/pyarrow path costs tens of milliseconds."""
    if _warm.is_set():
        return
    frame = bytes(12) + b"\x08\x00" + bytes.fromhex("4500001c0000400040110000") + bytes(8)
    frame += bytes.fromhex("0001000200080000")
    lens = np.array([len(frame)], dtype=np.int64)
    zero = np.zeros(1, dtype=np.int64)
    rec = Records(zero, lens, lens, zero, np.ones(1, dtype=np.int32))
    scratch = RollingFrame(2)
    batch = decode_batch(np.frombuffer(frame, dtype=np.uint8), rec)
    scratch.append(batch)
    both = concat_frames([scratch.snapshot(), batch.to_frame()])
    for detector in (RateDetector(), PortScanDetector(), SynFloodDetector(), NewTalkerDetector()):
        detector.update(both)
    context_of(both)
    _warm.set()
