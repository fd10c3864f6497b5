"""AlertBanner: recent alerts by severity, with their evidence, dismissible."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as w
import pandas as pd

from ..core.alerts import Alert
from .refresher import Refresher, SelfFed, Update, feed

if TYPE_CHECKING:
    from ..capture import Capture

COLORS = {"critical": "#b71c1c", "warning": "#e65100", "info": "#1565c0"}


class AlertBanner(SelfFed, w.VBox):  # type: ignore[misc]
    """The newest alerts (critical first), each with its evidence and a Dismiss button.

    The slots are created once, here: the refresher thread only changes their values and
    visibility, because new widgets created from a background thread may never reach Voilà.
    Alone, give it a Capture (local or remote) and it keeps itself live; in a Dashboard the
    dashboard's refresher feeds it.
    """

    def __init__(
        self,
        source: Capture | pd.DataFrame | None = None,
        *,
        show: int = 4,
        hz: float | None = None,
    ) -> None:
        self.show = show
        self.dismissed: set[tuple[str, str]] = set()
        self.alerts: list[Alert] = []
        self._keys: list[tuple[str, str] | None] = [None] * show
        self.placeholder = w.HTML('<span style="color:#2e7d32">✓ No alerts</span>')
        self._texts = [w.HTML(layout=w.Layout(flex="1")) for _ in range(show)]
        self._slots = []
        for k, text in enumerate(self._texts):
            dismiss = w.Button(description="Dismiss", layout=w.Layout(width="90px"))
            dismiss.add_class("netlab-dismiss")
            dismiss.on_click(lambda _b, k=k: self._dismiss(k))
            self._slots.append(w.HBox([text, dismiss], layout=w.Layout(display="none")))
        super().__init__([self.placeholder, *self._slots])
        self.add_class("netlab-alerts")
        self.refresher: Refresher | None = feed(self.refresh, source, hz)

    @staticmethod
    def key(alert: Alert) -> tuple[str, str]:
        """Identity of an alert."""
        return (alert.detector, alert.time.isoformat())

    def refresh(self, update: Update) -> None:
        """Show new alerts (called by the refresher)."""
        self.alerts = update.alerts
        self.render()

    def _dismiss(self, slot: int) -> None:
        key = self._keys[slot]
        if key is not None:
            self.dismissed.add(key)
        self.render()

    def render(self) -> None:
        """Fill the slots with the most important undismissed alerts."""
        rank = {"critical": 0, "warning": 1, "info": 2}
        live = [a for a in self.alerts if self.key(a) not in self.dismissed]
        live = sorted(live[-20:], key=lambda a: (rank.get(a.severity, 3), -a.time.value))
        live = live[: self.show]
        for k, slot in enumerate(self._slots):
            if k < len(live):
                key = self.key(live[k])
                if self._keys[k] != key:
                    self._keys[k] = key
                    self._texts[k].value = _alert_html(live[k])
                slot.layout.display = "flex"
            else:
                self._keys[k] = None
                slot.layout.display = "none"
        self.placeholder.layout.display = "none" if live else "block"


def evidence(alert: Alert) -> str:
    """The alert's top three talkers with their packets, as the banner and the list show
    them ("" without)."""
    talkers = alert.context.get("top_talkers") or []
    return ", ".join(f"{t['address']} ({t['packets']} pkts)" for t in talkers[:3])


def _alert_html(alert: Alert) -> str:
    evidence_text = evidence(alert)
    color = COLORS.get(alert.severity, "#555")
    return (
        f'<div class="netlab-alert netlab-{alert.severity}" style="border-left:4px solid '
        f'{color};padding:4px 8px"><b>{html.escape(alert.severity.upper())}</b> '
        f"{alert.time.strftime('%H:%M:%S')} · {html.escape(alert.message)}"
        + (f"<br><small>top talkers: {html.escape(evidence_text)}</small>" if evidence_text else "")
        + "</div>"
    )
