"""StreamView: a followed stream as Wireshark's Follow Stream window shows it."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from ..core.stream import COLOURS, Stream, as_text, gap_marker, hexdump_lines
from ..errors import NetlabError


class StreamView(w.VBox):  # type: ignore[misc]
    """The client's bytes red and the server's blue, in time order; ASCII or hex; and the
    HTTP messages in a second tab. `follow` (a callable giving the Stream to show) makes the
    Follow button work, e.g. the dashboard's selected packet's flow."""

    def __init__(self, follow: Callable[[], Stream | None] | None = None) -> None:
        self.stream: Stream | None = None
        self._follow = follow
        self.button = w.Button(description="Follow stream", layout=w.Layout(width="auto"))
        self.button.add_class("netlab-follow")
        self.button.on_click(lambda _b: self.follow())
        self.mode = w.ToggleButtons(options=["ASCII", "Hex"], value="ASCII")
        self.mode.add_class("netlab-stream-mode")
        self.mode.observe(lambda _c: self._render(), names="value")
        self.title = w.HTML("")
        self.title.add_class("netlab-stream-title")
        self.body = w.HTML("<i>Select a TCP or UDP packet, then follow its stream.</i>")
        self.body.add_class("netlab-stream-body")
        self.http = w.HTML("")
        self.http.add_class("netlab-stream-http")
        self.tabs = w.Tab(children=[self.body, self.http])
        self.tabs.set_title(0, "Stream")
        self.tabs.set_title(1, "HTTP")
        super().__init__([w.HBox([self.button, self.mode]), self.title, self.tabs])
        self.add_class("netlab-stream")

    def follow(self) -> None:
        """Show the stream `follow` gives (a clear message if it cannot be followed)."""
        if self._follow is None:
            return
        try:
            found = self._follow()
        except NetlabError as exc:
            self.title.value = f'<span class="netlab-error">{html.escape(str(exc))}</span>'
            return
        if found is not None:
            self.show(found)

    def show(self, stream: Stream) -> None:
        """Show a stream."""
        self.stream = stream
        self.title.value = html.escape(repr(stream))
        self._render()
        messages = stream.http()
        if messages.empty:
            self.http.value = "<i>No HTTP/1.x messages in this stream.</i>"
        else:
            shown = messages.drop(columns=["headers", "body"])
            self.http.value = shown.to_html(index=False, na_rep="", classes="netlab-http-table")

    def _render(self) -> None:
        if self.stream is None:
            return
        hexed = self.mode.value == "Hex"
        spans, at = [], {"client": 0, "server": 0}
        for direction, piece in self.stream.records():
            fg, bg = COLOURS[direction]
            if isinstance(piece, int):
                text = gap_marker(piece) + "\n"
            elif hexed:
                text = "\n".join(hexdump_lines(piece, at[direction])) + "\n"
                at[direction] += len(piece)
            else:
                text = as_text(piece)
            spans.append(
                f'<span class="netlab-stream-{direction}" style="color:{fg};background:{bg}">'
                f"{html.escape(text)}</span>"
            )
        self.body.value = (
            '<pre style="margin:0;font-size:12px;max-height:420px;overflow:auto">'
            + "".join(spans)
            + "</pre>"
        )
