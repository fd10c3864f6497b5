"""How often the decoder takes a batch and the dashboard ticks, on a clock the test drives:
each keeps its schedule whatever its work takes (no clock is read, nothing is timed)."""

from __future__ import annotations

import queue

import netlab
from netlab.capture import pipeline as pipeline_module
from netlab.capture.pipeline import Pipeline
from netlab.widgets import refresher as refresher_module
from netlab.widgets.refresher import Refresher


class Clock:
    """A monotonic clock the test moves, and an Event whose waits move it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []
        self.limit = 1 << 30

    def monotonic(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        self.now += timeout or 0.0
        return len(self.waits) > self.limit  # "set" once the test has seen enough

    def set(self) -> None:
        self.limit = 0


def test_the_decoder_gathers_for_its_interval_only_when_it_keeps_up(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(pipeline_module.time, "monotonic", clock.monotonic)
    pipe = Pipeline.__new__(Pipeline)  # just the pacing: no source, no threads
    pipe.gather, pipe._batch_started, pipe._stop = 0.05, 0.0, clock
    pipe._backlog = queue.Queue()
    pipe._gather()  # the first batch: no wait
    assert clock.waits == [0.0] and pipe._batch_started == 100.0
    clock.now += 0.01  # the batch took 10 ms, and nothing waits behind it
    pipe._gather()
    assert abs(clock.waits[-1] - 0.04) < 1e-9 and abs(pipe._batch_started - 100.05) < 1e-9
    clock.now += 0.2  # a batch that took 200 ms, with chunks waiting: go on at once
    pipe._backlog.put(object())
    waits = len(clock.waits)
    pipe._gather()
    assert len(clock.waits) == waits and abs(pipe._batch_started - 100.25) < 1e-9


def test_the_refresher_ticks_on_schedule_when_ticks_take_time(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(refresher_module.time, "monotonic", clock.monotonic)
    cap = netlab.Capture(netlab.demo_pcap(), speed=None)
    refresher = Refresher(cap, hz=2.0)
    refresher._done = clock
    clock.limit = 9
    ticks: list[float] = []

    def tick():  # type: ignore[no-untyped-def]
        ticks.append(clock.now)
        clock.now += 0.1 if len(ticks) != 4 else 0.9  # the fourth tick overruns its period

    refresher.tick = tick  # type: ignore[method-assign]
    refresher._run()
    gaps = [round(b - a, 6) for a, b in zip(ticks, ticks[1:], strict=False)]
    # every 0.5 s, then after the overrun a quarter period's rest, then on schedule again
    assert gaps == [0.5, 0.5, 0.5, 1.025, 0.5, 0.5, 0.5, 0.5], gaps
    cap.close()
