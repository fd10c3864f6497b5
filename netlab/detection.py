"""How a capture runs its detectors: the ones named in the settings, and recent rows for context."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import pandas as pd

from .config import Settings
from .core.anomaly import Detector, RateDetector
from .core.detectors import NewTalkerDetector, PortScanDetector, SynFloodDetector


def default_detectors(settings: Settings) -> list[Detector]:
    """The detectors named in NETLAB_DETECTORS, configured from the settings."""
    made: dict[str, Callable[[], Detector]] = {
        "rate": lambda: RateDetector(
            settings.anomaly_window,
            settings.anomaly_threshold,
            settings.anomaly_min_samples,
            settings.anomaly_cooldown,
            settings.anomaly_direction,
            settings.anomaly_metric,
        ),
        "portscan": lambda: PortScanDetector(settings.portscan_window, settings.portscan_ports),
        "synflood": lambda: SynFloodDetector(settings.synflood_window, settings.synflood_half_open),
        "newtalker": lambda: NewTalkerDetector(
            settings.newtalker_memory, settings.newtalker_learning
        ),
    }
    return [made[name]() for name in settings.detectors.split(",") if name]


class RecentRows:
    """The last few seconds of rows, kept by the detector thread for alert context."""

    def __init__(self, seconds: float) -> None:
        self.seconds_ns = int(seconds * 1e9)
        self.parts: deque[pd.DataFrame] = deque()

    def add(self, batch: pd.DataFrame) -> None:
        self.parts.append(batch)
        newest = int(batch["ts"].array.asi8.max()) if len(batch) else 0
        while (
            len(self.parts) > 1
            and int(self.parts[0]["ts"].array.asi8.max()) < newest - self.seconds_ns
        ):
            self.parts.popleft()

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame()
        rows = pd.concat(list(self.parts))
        ts = rows["ts"]
        return rows[(ts >= start) & (ts <= end)]
