"""Explaining packets and alerts: an OpenAI-compatible model when configured, offline otherwise.

Privacy by default: only decoded header fields leave the machine; payload bytes only with
NETLAB_AI_SEND_PAYLOAD=true; addresses replaced by placeholders with NETLAB_AI_REDACT_ADDRESSES.
Every failure becomes a one-line ExplainError within NETLAB_AI_TIMEOUT plus a second: the SDK's
own retries are off and netlab retries rate limits and server errors inside one deadline.
"""

from __future__ import annotations

import asyncio
import html
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .config import Settings
from .core import explain as core
from .core.anomaly import Alert
from .core.decode import decode_records
from .core.pcapfile import Records
from .errors import ExplainError
from .sources.packetstore import packet_bytes, store_in

Packet = Mapping[str, Any] | pd.Series | bytes | tuple[bytes, int]


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
        from .core.safe_html import safe_markdown

        note = f"<p><i>{html.escape(self.note)}</i></p>" if self.note else ""
        return (
            safe_markdown(self.text)
            + note
            + f"<sub>{html.escape(self.source)} · {self.latency:.2f} s</sub>"
        )


@dataclass
class _Prepared:
    facts: dict[str, Any]
    messages: list[dict[str, str]]


def _row_and_raw(
    packet: Packet, *, want_bytes: bool = True
) -> tuple[dict[str, Any], bytes | None, int]:
    if isinstance(packet, bytes | tuple):
        raw, linktype = (packet, 1) if isinstance(packet, bytes) else packet
        n = len(raw)
        rec = Records(
            np.zeros(1, dtype=np.int64),
            np.array([n]),
            np.array([n]),
            np.array([time.time_ns()]),
            np.array([linktype], dtype=np.int32),
        )
        decoded = decode_records(np.frombuffer(raw, dtype=np.uint8), rec).iloc[0]
        return {str(k): v for k, v in decoded.items()}, raw, linktype
    items = packet.items() if isinstance(packet, pd.Series) else dict(packet).items()
    row = {str(k): v for k, v in items}
    # A row of a capture or of read_pcap knows where its bytes are: dissect them too.
    store = store_in(packet.attrs) if isinstance(packet, pd.Series) else None
    if want_bytes and store is not None and _known(row.get("number")) and _known(row.get("caplen")):
        kept = packet_bytes(store, int(row["number"]), int(row["caplen"]))
        return row, kept, int(row["linktype"]) if _known(row.get("linktype")) else 1
    return row, None, 1


def _known(value: Any) -> bool:
    return value is not None and not pd.isna(value)


def dissect(raw: bytes, linktype: int = 1, *, headers_only: bool = True) -> str:
    """scapy's layer-by-layer dissection of one frame (on demand: scapy is slow per packet).

    With `headers_only`, only known header layers are kept (an allow-list, not a deny-list):
    the dissection stops at the transport header, and at the first layer that is not a known
    header (a later IP fragment's bytes, an unknown protocol or EtherType, IPv6's "no next
    header"); an ICMPv6 echo's data is blanked. So no payload byte leaves the machine."""
    import scapy.layers.dns
    import scapy.layers.http
    import scapy.layers.inet
    import scapy.layers.inet6
    import scapy.layers.l2  # noqa: F401 - registers the layers each frame may need
    from scapy.config import conf
    from scapy.packet import Raw

    cls: Any = conf.l2types.num2layer.get(linktype)
    try:
        packet = cls(raw) if cls is not None else Raw(raw)
        withheld = _headers_only(packet) if headers_only else False
        text = str(packet.show(dump=True))
        if withheld:
            text += "\n(payload withheld: only header fields are sent)"
    except Exception as exc:  # noqa: BLE001 - a malformed frame still gets explained
        return f"(scapy could not dissect this frame: {exc})"
    # scapy lists every optional header as "= None"; only what the frame has is worth reading
    return "\n".join(line for line in text.splitlines() if not line.rstrip().endswith("= None"))


# Layers whose fields are headers (scapy class names); a transport ends the dissection.
_LINK_AND_NETWORK = frozenset(
    "Ether Dot3 LLC SNAP Dot1Q Dot1AD CookedLinux CookedLinuxV2 Loopback NULL PPPoE PPP "
    "HDLC MPLS IP IPv6 IPv6ExtHdrHopByHop IPv6ExtHdrRouting IPv6ExtHdrDestOpt "
    "IPv6ExtHdrFragment IPOption".split()
)
_TRANSPORTS = frozenset("TCP UDP SCTP ICMP ARP".split())


def _headers_only(packet: Any) -> bool:
    """Cut `packet` to its known header layers in place; True if anything was withheld."""
    from scapy.packet import NoPayload

    withheld = False
    layer = packet
    while layer is not None and not isinstance(layer, NoPayload):
        name = type(layer).__name__
        if name.startswith("ICMPv6"):
            if hasattr(layer, "data") and layer.data:  # echo request/reply bytes
                layer.data = b""
                withheld = True
            if not (isinstance(layer.payload, NoPayload) or name.startswith("ICMPv6ND")):
                layer.remove_payload()  # an error's quoted packet
                withheld = True
            if name.startswith("ICMPv6ND") or name.startswith("ICMPv6NDOpt"):
                layer = layer.payload  # neighbour discovery options are headers too
                continue
            break
        if name in _TRANSPORTS:
            if not isinstance(layer.payload, NoPayload):
                layer.remove_payload()
                withheld = True
            break
        if name not in _LINK_AND_NETWORK:  # not a header netlab knows: it goes, with the rest
            underlayer = layer.underlayer
            if underlayer is None:
                return True  # nothing known at all: nothing is sent
            underlayer.remove_payload()
            return True
        layer = layer.payload
    return withheld


def prepare(packet: Packet, settings: Settings) -> _Prepared:
    """The facts and the exact messages that would be sent for `packet`."""
    row, raw, linktype = _row_and_raw(packet)
    facts = core.packet_facts(row)
    dissection = None
    payload_hex = None
    if not settings.ai_send_payload and (
        "http_host" in facts or "HTTP/" in str(facts.get("summary", ""))
    ):
        # an HTTP request line can carry tokens in its URL: it is payload, not a header
        facts.pop("summary", None)
        facts.pop("info", None)
    if raw is not None:
        if not settings.ai_send_payload and _known(facts.get("paylen")):
            # scapy parses everything it is given (a crafted 63 KB DNS frame took 4 s):
            # give it the headers, not the payload it would only have to throw away
            raw = raw[: max(len(raw) - int(facts["paylen"]), 0)]
        dissection = dissect(raw, linktype, headers_only=not settings.ai_send_payload)
        if settings.ai_send_payload and facts.get("paylen"):
            payload_hex = raw[len(raw) - int(facts["paylen"]) :][:256].hex()
    if settings.ai_redact_addresses:
        redactor = core.Redactor()
        facts = redactor.facts(facts)
        dissection = redactor.text(dissection) if dissection else None
    return _Prepared(facts, core.build_messages(facts, dissection, payload_hex))


def _use_openai(settings: Settings, client: Any) -> bool:
    if settings.ai_mode == "offline":
        return False
    if settings.ai_mode == "openai":
        return True
    return client is not None or bool(settings.openai_api_key.get_secret_value())


def _client_options(settings: Settings) -> dict[str, Any]:
    return {
        "api_key": settings.openai_api_key.get_secret_value() or "not-set",
        "base_url": settings.openai_base_url or None,
        "timeout": settings.ai_timeout,
        "max_retries": 0,  # netlab retries itself, inside one deadline
    }


def make_client(settings: Settings) -> Any:
    """An openai.OpenAI client for the configured endpoint."""
    import openai

    return openai.OpenAI(**_client_options(settings))


def make_async_client(settings: Settings) -> Any:
    """An openai.AsyncOpenAI client for the configured endpoint."""
    import openai

    return openai.AsyncOpenAI(**_client_options(settings))


def _endpoint(client: Any) -> str:
    from .config import safe_url

    # Messages and notes reach logs, the dashboard and /ai/explain answers: no credentials.
    return safe_url(str(getattr(client, "base_url", "the AI endpoint"))).rstrip("/")


def _retry_after(exc: Any) -> float | None:
    """The server's Retry-After in seconds (RFC 9110: seconds or an HTTP date), or None when
    it is missing or makes no sense (negative, NaN, infinite, unparseable)."""
    try:
        value = exc.response.headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(str(value))
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _classify(exc: Exception, client: Any, settings: Settings) -> tuple[ExplainError, bool]:
    """The user's one-line error for an SDK exception, and whether a retry may help."""
    import openai

    where = _endpoint(client)
    if isinstance(exc, openai.AuthenticationError):
        return ExplainError(f"{where} refused the API key (HTTP 401): check OPENAI_API_KEY"), False
    if isinstance(exc, openai.RateLimitError):
        return ExplainError(
            f"{where} is rate limiting (HTTP 429) after "
            f"{settings.ai_max_retries} retries: wait a minute or raise your "
            "plan's limits"
        ), True
    if isinstance(exc, openai.APITimeoutError):
        return _timed_out(client, settings), False
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ExplainError(
            f"cannot reach {where}: {type(cause).__name__}: {cause} (check "
            "OPENAI_BASE_URL and that the server runs)"
        ), False
    if isinstance(exc, openai.APIStatusError):
        retry = exc.status_code >= 500
        return ExplainError(
            f"{where} answered HTTP {exc.status_code}"
            + (" (a server error: try again later)" if retry else f": {str(exc.message)[:200]}")
        ), retry
    return ExplainError(
        f"{where} sent an answer netlab could not read ({type(exc).__name__}): "
        "is it an OpenAI-compatible chat endpoint?"
    ), False


def _answer_text(response: Any, client: Any) -> str:
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        text = None
    if not isinstance(text, str) or not text.strip():
        raise ExplainError(f"{_endpoint(client)} sent an empty or malformed answer")
    return text.strip()


def _timed_out(client: Any, settings: Settings) -> ExplainError:
    return ExplainError(
        f"{_endpoint(client)} did not answer within {settings.ai_timeout:g} s (NETLAB_AI_TIMEOUT)"
    )


def _retry_wait(
    exc: Exception, attempt: int, deadline: float, client: Any, settings: Settings
) -> float:
    """Seconds to wait before retry number `attempt`, or raise the user's one-line error."""
    error, retryable = _classify(exc, client, settings)
    wait = _retry_after(exc) or 0.25 * 2**attempt
    if not retryable or attempt > settings.ai_max_retries or wait >= deadline - time.monotonic():
        raise error from None
    return wait


def _chat(
    client: Any, messages: list[dict[str, str]], settings: Settings, *, own: bool = False
) -> str:
    """The sync call, bounded by one deadline (NETLAB_AI_TIMEOUT) whatever the server does.

    httpx's timeouts bound each read, not the whole answer: a body dripping a byte a second
    never times out. So the call runs in a worker thread and is given up at the deadline; a
    client netlab made (`own`) is then closed, which ends the worker's read at once."""
    import threading

    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(_chat_in_thread(client, messages, settings))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=work, name="netlab-explain-call", daemon=True)
    worker.start()
    worker.join(settings.ai_timeout + 0.5)
    if worker.is_alive():
        if own:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the answer is given up
                pass
            worker.join(2)
        raise _timed_out(client, settings)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return str(outcome[0])


def _chat_in_thread(client: Any, messages: list[dict[str, str]], settings: Settings) -> str:
    deadline = time.monotonic() + settings.ai_timeout
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(client, settings)
        try:
            response = client.with_options(
                timeout=remaining, max_retries=0
            ).chat.completions.create(model=settings.ai_model, messages=messages)
            return _answer_text(response, client)
        except ExplainError:
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one clear line
            attempt += 1
            time.sleep(_retry_wait(exc, attempt, deadline, client, settings))


async def _chat_async(client: Any, messages: list[dict[str, str]], settings: Settings) -> str:
    deadline = time.monotonic() + settings.ai_timeout
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(client, settings)
        try:
            response = await asyncio.wait_for(
                client.with_options(timeout=remaining, max_retries=0).chat.completions.create(
                    model=settings.ai_model, messages=messages
                ),
                timeout=remaining + 0.5,
            )
            return _answer_text(response, client)
        except ExplainError:
            raise
        except TimeoutError:
            raise _timed_out(client, settings) from None
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one clear line
            attempt += 1
            await asyncio.sleep(_retry_wait(exc, attempt, deadline, client, settings))


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
    own = client is None
    client = client or make_client(settings)
    try:
        result: str | ExplainError = _chat(client, prepared.messages, settings, own=own)
    except ExplainError as exc:
        result = exc
    return _finish(result, prepared.messages, offline, settings, started)


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
        from .core.anomaly import context_of

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
    own = client is None
    client = client or make_client(settings)
    try:
        result: str | ExplainError = _chat(client, messages, settings, own=own)
    except ExplainError as exc:
        result = exc
    return _finish(result, messages, offline, settings, started)
