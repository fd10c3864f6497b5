"""How a capture runs its detectors: the ones named in the settings, recent rows for context,
the alerts they raise and who is told about them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from ..config import Settings
from ..core.alerts import Alert, Detector, context_of
from ..core.detectors import (
    FunctionDetector,
    NewTalkerDetector,
    PortScanDetector,
    RateDetector,
    SynFloodDetector,
    WindowFunction,
)


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


class CaptureAlerts:
    """A capture's detectors, run on merged batches in a subscription thread of their own, and
    the alerts they raised (the newest `NETLAB_ALERT_HISTORY`), with their listeners."""

    def __init__(self, settings: Settings, report: Callable[[str], None]) -> None:
        self.detectors: list[Detector] = default_detectors(settings)
        self.alerts: deque[Alert] = deque(maxlen=settings.alert_history)
        self._callbacks: list[Callable[[Alert], object]] = []
        self._recent = RecentRows(seconds=5.0)
        self._report = report  # problems go to the capture's stats, never up the thread

    def run(self, batch: pd.DataFrame) -> None:
        """Show new rows to every detector and raise what they find."""
        self._recent.add(batch)
        for detector in list(self.detectors):
            try:
                found = detector.update(batch)
            except Exception as exc:  # noqa: BLE001 - one broken detector must not stop the rest
                self._report(f"detector {detector.name}: {type(exc).__name__}: {exc}")
                continue
            for alert in found:
                self._raise(alert)

    def _raise(self, alert: Alert) -> None:
        if not alert.context.get("packets"):
            rows = self._recent.between(alert.window_start, alert.window_end)
            alert = replace(alert, context={**context_of(rows), **alert.context})
        self.alerts.append(alert)
        for callback in list(self._callbacks):
            try:
                callback(alert)
            except Exception as exc:  # noqa: BLE001 - a broken listener must not stop detection
                self._report(f"alert callback: {type(exc).__name__}: {exc}")

    def on_alert(self, callback: Callable[[Alert], object]) -> Callable[[], None]:
        """Call `callback(alert)` for every new alert; returns a function that unregisters it."""
        self._callbacks.append(callback)

        def unregister() -> None:
            if callback in self._callbacks:  # idempotent
                self._callbacks.remove(callback)

        return unregister

    def add(
        self,
        detector: Detector | WindowFunction,
        *,
        window: float = 10.0,
        every: float = 1.0,
        name: str | None = None,
    ) -> Detector:
        """Add a detector object, or a function of the recent rows as a FunctionDetector."""
        made: Detector
        if isinstance(detector, Detector):
            made = detector
        else:
            made = FunctionDetector(detector, window=window, every=every, name=name)
        self.detectors.append(made)
        return made
