"""CaptureControls: interface, capture filter with inline errors, and a status line."""

from __future__ import annotations

import html

import ipywidgets as w

from ..capture import Capture
from ..errors import NetlabError
from .refresher import Refresher, SelfFed, Update, feed


def _interface_names() -> list[str]:
    try:
        from ..sources.interfaces import interfaces

        return [i.name for i in interfaces() if i.up]
    except NetlabError:
        return []


class CaptureControls(SelfFed, w.VBox):  # type: ignore[misc]
    """Switch interface or filter while the capture keeps running; errors shown in place.

    Alone (`live=True`, the default) its status line keeps itself up to date; in a Dashboard
    (`live=False`) the dashboard's refresher feeds it."""

    def __init__(self, capture: Capture, *, live: bool = True, hz: float | None = None) -> None:
        self.capture = capture
        source = capture.source
        current = source.interface  # the interface, or the description of a file or server
        names = _interface_names()
        options = [current, *[n for n in names if n != current]]
        self.interface = w.Dropdown(
            options=options, value=current, description="Source", layout=w.Layout(width="260px")
        )
        self.interface.add_class("netlab-interface")
        self.bpf = w.Text(
            value=source.bpf,
            placeholder="capture filter, e.g. tcp port 443",
            layout=w.Layout(width="320px"),
        )
        self.bpf.add_class("netlab-bpf")
        self.apply = w.Button(description="Apply", button_style="primary")
        self.apply.add_class("netlab-apply")
        self.error = w.HTML("")
        self.error.add_class("netlab-filter-error")
        self.status = w.HTML("")
        self.status.add_class("netlab-status")
        self.apply.on_click(lambda _b: self.apply_changes())
        self.bpf.continuous_update = False  # Enter or leaving the box applies, as on_submit did
        self.bpf.observe(lambda _c: self.apply_changes(), names="value")
        super().__init__([w.HBox([self.interface, self.bpf, self.apply]), self.error, self.status])
        self.add_class("netlab-controls")
        self.refresher: Refresher | None = feed(self.refresh, capture if live else None, hz)

    def apply_changes(self) -> None:
        """Validate and switch; on error show it and leave the capture as it was."""
        source = self.capture.source
        current = source.interface  # the interface, or the description of a file or server
        interface = self.interface.value if self.interface.value != current else None
        try:
            self.capture.restart(interface=interface, bpf=self.bpf.value.strip())
        except NetlabError as exc:
            self.error.value = (
                f'<span style="color:#b71c1c">⚠ {html.escape(str(exc))} — the '
                "capture continues with its previous settings.</span>"
            )
            return
        self.error.value = ""

    def refresh(self, update: Update) -> None:
        """Update the status line (called by the refresher)."""
        s = update.stats
        if s is None:
            return
        drops = s.dropped_kernel + s.dropped_netlab
        self.status.value = (
            f"<b>{html.escape(s.source)}</b> · filter <code>{html.escape(s.filter or 'none')}"
            f"</code> · {s.packets_per_second:,.0f} packets/s · {s.decoded:,} packets · "
            f"{drops:,} dropped"
        )
