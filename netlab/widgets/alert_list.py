"""AlertList: every alert in a grid with its evidence; the selected one explained on demand."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from ..core.alerts import Alert
from ..core.safe_html import safe_markdown
from .alerts import evidence
from .grid import DataGrid
from .refresher import Update

ALERT_COLUMNS = ("time", "severity", "detector", "message", "evidence")


class AlertList(w.VBox):  # type: ignore[misc]
    """Alerts newest first (severity coloured), the selected one's evidence, and a button to
    explain it (offline or through the model, in a thread of its own)."""

    def __init__(
        self,
        frame: Callable[[], Any] | None = None,
        settings: Any = None,
    ) -> None:
        self._frame, self.settings = frame, settings
        self.alerts: list[Alert] = []
        self.grid = DataGrid(
            key="id",
            columns=ALERT_COLUMNS,
            newest_first=True,
            tones=lambda rows: rows["severity"].map(SEVERITY_TONES).fillna("").tolist(),
            height=22 * 8,
            empty_text="no alerts yet: detectors report spikes, scans and floods here",
        )
        self.grid.add_class("netlab-alert-grid")
        self.button = w.Button(description="Explain selected alert", layout=w.Layout(width="auto"))
        self.button.add_class("netlab-explain-selected-alert")
        self.button.on_click(lambda _b: self._start())
        self.output = w.HTML("<i>Select an alert, then ask.</i>")
        self.output.add_class("netlab-alert-explanation")
        self._thread: threading.Thread | None = None
        super().__init__([self.grid, w.HBox([self.button]), self.output])
        self.add_class("netlab-alert-list")

    def refresh(self, update: Update) -> None:
        """Take the alerts so far (called by the refresher)."""
        if len(update.alerts) != len(self.alerts):
            self.alerts = list(update.alerts)
            self.grid.data = alert_rows(self.alerts)

    @property
    def selected_alert(self) -> Alert | None:
        """The selected alert, or None."""
        key = self.grid.selected
        return self.alerts[key] if key is not None and 0 <= key < len(self.alerts) else None

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        alert = self.selected_alert
        if alert is None:
            self.output.value = "<i>No alert selected: pick one in the list first.</i>"
            return
        self.output.value = "<i>Explaining…</i>"
        self._thread = threading.Thread(
            target=self._explain, args=(alert,), name="netlab-explain-alert", daemon=True
        )
        self._thread.start()

    def _explain(self, alert: Alert) -> None:
        from ..ai import explain_alert

        try:
            frame = self._frame() if self._frame else None
            result = explain_alert(alert, frame, settings=self.settings)
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of lost in a thread
            self.output.value = f'<span class="netlab-error">{html.escape(str(exc))}</span>'
            return
        self.output.value = (
            f"<p><b>{html.escape(alert.message)}</b></p>"
            + safe_markdown(result.text)
            + f"<small>{html.escape(result.source)} · {result.latency:.2f} s</small>"
        )

    def close(self) -> None:
        """Wait for a running explanation (bounded by NETLAB_AI_TIMEOUT), then close."""
        if self._thread is not None:
            self._thread.join(timeout=30)
        super().close()


SEVERITY_TONES = {"critical": "high", "warning": "medium"}


def alert_rows(alerts: list[Alert]) -> pd.DataFrame:
    """One row per alert (id is its place in the list): time, severity, detector, message
    and the top talkers as evidence."""
    rows = [
        (k, a.time, a.severity, a.detector, a.message, evidence(a)) for k, a in enumerate(alerts)
    ]
    return pd.DataFrame(rows, columns=["id", *ALERT_COLUMNS]).astype({"id": "int64"})
