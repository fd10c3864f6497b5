"""ExplainPanel: explain the selected packet or the newest alert, without blocking the kernel."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..core.alerts import Alert
from ..core.safe_html import safe_markdown
from ..errors import NetlabError


class ExplainPanel(w.VBox):  # type: ignore[misc]
    """Two buttons and the answer as rendered Markdown (or the error in plain words)."""

    def __init__(
        self,
        packet: Callable[[], Any],
        alert: Callable[[], Alert | None],
        frame: Callable[[], Any] | None = None,
        settings: Any = None,
    ) -> None:
        self._packet, self._alert, self._frame, self.settings = packet, alert, frame, settings
        wide = w.Layout(width="auto")
        self.packet_button = w.Button(description="Explain selected packet", layout=wide)
        self.packet_button.add_class("netlab-explain-packet")
        self.alert_button = w.Button(description="Explain newest alert", layout=wide)
        self.alert_button.add_class("netlab-explain-alert")
        self.output = w.HTML("<i>Select a packet in the table, then ask.</i>")
        self.output.add_class("netlab-explain-output")
        self.packet_button.on_click(lambda _b: self._start(self._explain_packet))
        self.alert_button.on_click(lambda _b: self._start(self._explain_alert))
        self._thread: threading.Thread | None = None
        super().__init__([w.HBox([self.packet_button, self.alert_button]), self.output])
        self.add_class("netlab-explain")

    def _start(self, job: Callable[[], Any]) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self.output.value = "<i>Explaining…</i>"
        self._thread = threading.Thread(
            target=self._run, args=(job,), name="netlab-explain", daemon=True
        )
        self._thread.start()

    def _run(self, job: Callable[[], Any]) -> None:
        try:
            outcome = job()
        except NetlabError as exc:
            self.output.value = f'<span style="color:#b71c1c">{html.escape(str(exc))}</span>'
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of lost in a thread
            self.output.value = f"<span>Something went wrong: {html.escape(repr(exc))}</span>"
            return
        if outcome is None:
            return
        title, result = outcome
        note = f"<p><i>{html.escape(result.note)}</i></p>" if result.note else ""
        source = result.source + (f" · {result.model}" if result.model else "")
        self.output.value = (
            f'<p class="netlab-explain-title"><b>{html.escape(title)}</b></p>'
            + safe_markdown(result.text)
            + note
            + f"<small>{html.escape(source)} · {result.latency:.2f} s</small>"
        )

    def _explain_packet(self) -> Any:
        from ..ai import explain

        row = self._packet()
        if row is None:
            self.output.value = "<i>No packet selected: pick one in the table first.</i>"
            return None
        # the answer names the packet it is about, as the table lists it
        title = f"Frame {row['number']}: {row['info']}"
        return title, explain(row, settings=self.settings)

    def _explain_alert(self) -> Any:
        from ..ai import explain_alert

        alert = self._alert()
        if alert is None:
            self.output.value = "<i>No alert yet.</i>"
            return None
        frame = self._frame() if self._frame else None
        title = f"Alert at {alert.time:%H:%M:%S}: {alert.message}"
        return title, explain_alert(alert, frame, settings=self.settings)

    def close(self) -> None:
        """Wait for a running explanation (bounded by NETLAB_AI_TIMEOUT), then close."""
        if self._thread is not None:
            self._thread.join(timeout=30)
        super().close()
