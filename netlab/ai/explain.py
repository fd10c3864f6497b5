"""Explaining packets and alerts: an OpenAI-compatible model when configured, offline otherwise
(what is sent: `policy.py`; how it is sent and retried: `client.py`)."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ..config import Settings
from ..core import explain as core
from ..core.alerts import Alert
from ..errors import ExplainError
from .client import _chat, _chat_async, make_async_client, make_client
from .policy import Packet, _Prepared, _row_and_raw, _use_openai, prepare


@dataclass(frozen=True)
class Explanation:
    """An answer about a packet or an alert."""

    text: str  # Markdown
    source: Literal["openai", "offline"]
    model: str | None
    latency: float  # seconds
    note: str = ""  # e.g. why the offline explanation was used instead
    messages: tuple[dict[str, str], ...] = field(default=(), repr=False)  # what was sent

    def _repr_html_(self) -> str:
        # The text quotes packet fields and a model's answer: rendered with formatting tags
        # only (no link or image a notebook's Markdown renderer would fetch or follow).
        from ..core.safe_html import safe_markdown

        note = f"<p><i>{html.escape(self.note)}</i></p>" if self.note else ""
        return (
            safe_markdown(self.text)
            + note
            + f"<sub>{html.escape(self.source)} · {self.latency:.2f} s</sub>"
        )


def _finish(
    text_or_error: str | ExplainError,
    prepared_messages: list[dict[str, str]],
    offline_text: str,
    settings: Settings,
    started: float,
) -> Explanation:
    latency = time.monotonic() - started
    if isinstance(text_or_error, str):
        return Explanation(
            text_or_error, "openai", settings.ai_model, latency, messages=tuple(prepared_messages)
        )
    if settings.ai_mode == "openai":
        raise text_or_error
    return Explanation(
        offline_text,
        "offline",
        None,
        latency,
        note=f"The AI explanation failed, so this is netlab's offline one: {text_or_error}",
        messages=tuple(prepared_messages),
    )


def _ask(
    messages: list[dict[str, str]], offline: str, settings: Settings, client: Any, started: float
) -> Explanation:
    """Ask the model (a client of our own unless one is given); its answer, or the offline
    one where it fails and the mode allows."""
    own = client is None
    client = client or make_client(settings)
    try:
        result: str | ExplainError = _chat(client, messages, settings, own=own)
    except ExplainError as exc:
        result = exc
    return _finish(result, messages, offline, settings, started)


def _begin(
    packet: Packet, settings: Settings | None, client: Any
) -> Explanation | tuple[Settings, _Prepared, str, float]:
    """What both explain() and explain_async() do first: the offline answer when no model is
    to be asked, else what the model needs (settings, prepared messages, fallback, start)."""
    settings = settings or Settings.load()
    started = time.monotonic()
    if not _use_openai(settings, client):  # facts only: no scapy dissection is needed
        facts = core.packet_facts(_row_and_raw(packet, want_bytes=False)[0])
        offline = core.offline_explanation(facts)
        return Explanation(offline, "offline", None, time.monotonic() - started)
    prepared = prepare(packet, settings)
    offline = core.offline_explanation(prepared.facts)
    return settings, prepared, offline, started


def explain(packet: Packet, *, settings: Settings | None = None, client: Any = None) -> Explanation:
    """Explain one packet: a frame row (Series or dict) or raw bytes (optionally with linktype).

    Uses the OpenAI-compatible endpoint in NETLAB_AI_MODE=openai, or in auto mode when a key is
    set; otherwise (and, in auto mode, when the call fails) netlab's offline explanation.
    """
    start = _begin(packet, settings, client)
    if isinstance(start, Explanation):
        return start
    settings, prepared, offline, started = start
    return _ask(prepared.messages, offline, settings, client, started)


async def explain_async(
    packet: Packet, *, settings: Settings | None = None, client: Any = None
) -> Explanation:
    """`explain` for asyncio code (the server): the same answer, without blocking the loop."""
    start = _begin(packet, settings, client)
    if isinstance(start, Explanation):
        return start
    settings, prepared, offline, started = start
    client = client or make_async_client(settings)
    try:
        result: str | ExplainError = await _chat_async(client, prepared.messages, settings)
    except ExplainError as exc:
        result = exc
    return _finish(result, prepared.messages, offline, settings, started)


def explain_alert(
    alert: Alert,
    frame: pd.DataFrame | None = None,
    *,
    settings: Settings | None = None,
    client: Any = None,
) -> Explanation:
    """Explain an alert with its evidence (and, given the frame, the rows of its window)."""
    settings = settings or Settings.load()
    started = time.monotonic()
    data = alert.to_dict()
    if frame is not None and not data["context"].get("packets"):
        from ..core.alerts import context_of

        rows = frame[(frame["ts"] >= alert.window_start) & (frame["ts"] <= alert.window_end)]
        data["context"] = context_of(rows)
    if settings.ai_redact_addresses:
        redactor = core.Redactor()
        data = {k: redactor.text(v) if isinstance(v, str) else v for k, v in data.items()}
        data["context"] = {k: redactor.text(str(v)) for k, v in data["context"].items()}
    messages = core.alert_messages(data)
    offline = core.offline_alert_explanation(data)
    if not _use_openai(settings, client):
        return Explanation(offline, "offline", None, time.monotonic() - started)
    return _ask(messages, offline, settings, client, started)


def explain_flow(
    flow: int | pd.Series,
    frame: pd.DataFrame,
    *,
    settings: Settings | None = None,
    client: Any = None,
) -> Explanation:
    """Explain one flow of `frame` (its number, or a row of netlab.flows(frame)): its summary
    and TCP health; the first bytes of its stream too, only with NETLAB_AI_SEND_PAYLOAD=true."""
    from ..core import explain_flow as flow_text
    from ..core.flow_table import flows
    from ..core.tcp_flags import FLAG_NAMES
    from ..errors import NetlabError
    from ..follow import flow_numbers, stream

    settings = settings or Settings.load()
    started = time.monotonic()
    number = int(flow["flow"]) if isinstance(flow, pd.Series) else int(flow)
    numbers = flow_numbers(frame)
    packets = frame.iloc[(numbers == number).nonzero()[0]]
    if not len(packets):
        raise NetlabError(f"flow {number} has no packets in this frame")
    row = flows(packets.assign(flow=number))
    bits = packets["tcp_analysis"].to_numpy(dtype="int64")
    counts = {b: int(((bits & b) != 0).sum()) for b in FLAG_NAMES}
    summary = {str(k): v for k, v in row.iloc[0].items()} | {"flow": number}
    facts = flow_text.flow_facts(summary, counts)
    offline = flow_text.offline_flow_explanation(facts)
    if not _use_openai(settings, client):
        return Explanation(offline, "offline", None, time.monotonic() - started)
    payload = None
    if settings.ai_send_payload and str(packets["proto"].iloc[0]) in ("TCP", "UDP"):
        s = stream(frame, number, max_mb=1)
        payload = {
            "client": flow_text.preview(s.client),
            "server": flow_text.preview(s.server),
        }
    messages = flow_text.flow_messages(facts, payload, settings.ai_redact_addresses)
    return _ask(messages, offline, settings, client, started)
