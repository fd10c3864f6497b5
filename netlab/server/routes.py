"""The REST endpoints over one capture (the app, its middleware and lifespan: `app.py`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .._version import __version__
from ..capture import Capture
from ..config import Settings
from ..core.wire import from_rows, number_ranges, to_rows
from ..display_filter import filter as netlab_filter
from ..dissect import dissect
from ..errors import (
    CaptureError,
    CapturePermissionError,
    DisplayFilterError,
    FilterError,
    InterfaceError,
    NetlabError,
)
from ..export import pcapng_bytes
from .broadcaster import Broadcaster, stats_dict

router = APIRouter()


@dataclass
class Served:
    """What the routes and the stream share: the app's `state.netlab`."""

    capture: Capture
    settings: Settings
    token: str
    allowed: set[tuple[str, str]]
    broadcaster: Broadcaster | None = field(default=None)


def served(request: Request) -> Served:
    """The capture and settings behind this request's app."""
    ctx: Served = request.app.state.netlab
    return ctx


class CaptureSettingsIn(BaseModel):
    """A change of interface and/or capture filter; omitted fields stay as they are."""

    interface: str | None = Field(None, min_length=1, max_length=1024)
    bpf_filter: str | None = Field(None, max_length=4096)


class ExplainIn(BaseModel):
    """A packet to explain: its row as JSON, or the version (index) of a row in the frame."""

    packet: dict[str, Any] | None = None
    number: int | None = Field(None, ge=1)


def capture_settings(capture: Capture) -> dict[str, Any]:
    """The settings message: the capture's source, interface and filter."""
    source = capture.source
    return {
        "type": "settings",
        "source": source.description,
        "interface": source.interface if source.interface != source.description else None,
        "bpf_filter": source.bpf,
    }


def _allowed_source(name: str, settings: Settings) -> tuple[str, str]:
    """(the source to open, "") when `name` may become the capture's source over the API,
    else ("", why not)."""
    import os
    import stat

    from ..sources.interfaces import interfaces

    if "\x00" in name or not name.strip():
        return "", "an interface name cannot be empty or contain NUL"
    if name in {i.name for i in interfaces()}:
        return name, ""
    folder = settings.server_capture_dir
    if folder and not name.startswith(("ws://", "wss://")):
        root = os.path.realpath(folder)
        path = os.path.realpath(os.path.join(root, name))
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            regular = False
        if os.path.commonpath([root, path]) == root and regular:
            return path, ""
    allowed = "one of the server's interfaces (GET /interfaces)"
    if folder:
        allowed += f" or a capture file in {folder} (NETLAB_SERVER_CAPTURE_DIR)"
    return "", f"unknown interface {name!r}: the source must be {allowed}"


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """Whether the server and its capture run."""
    ctx = served(request)
    return {
        "status": "ok",
        "version": __version__,
        "capturing": ctx.capture.running,
        "clients": len(ctx.broadcaster.clients) if ctx.broadcaster is not None else 0,
    }


@router.get("/interfaces")
def interfaces() -> list[dict[str, Any]]:
    """Interfaces the server can capture on."""
    from ..sources.interfaces import interfaces as list_interfaces

    try:
        return [asdict(i) for i in list_interfaces()]
    except NetlabError as exc:
        raise HTTPException(503, str(exc)) from None


@router.get("/capture/settings")
def get_settings(request: Request) -> dict[str, Any]:
    """The capture's source, interface and filter."""
    return capture_settings(served(request).capture)


@router.post("/capture/settings")
async def set_settings(change: CaptureSettingsIn, request: Request) -> dict[str, Any]:
    """Switch interface and/or filter; an invalid one answers 422 and changes nothing.

    The interface is one of the server's interfaces, or a capture file inside
    NETLAB_SERVER_CAPTURE_DIR when that is set: never any other path (a client could read
    files only root may read through /pcap, or block the server on a FIFO) nor a ws:// URL
    (the server would connect out, sending its own token)."""
    ctx = served(request)
    interface = None
    if change.interface is not None:
        interface, refusal = await asyncio.to_thread(
            _allowed_source, change.interface, ctx.settings
        )
        if refusal:
            raise HTTPException(422, refusal)
    try:
        await asyncio.to_thread(ctx.capture.restart, interface=interface, bpf=change.bpf_filter)
    except CapturePermissionError as exc:
        raise HTTPException(403, str(exc)) from None
    except (FilterError, InterfaceError, CaptureError) as exc:
        raise HTTPException(422, str(exc)) from None
    message = capture_settings(ctx.capture)
    if ctx.broadcaster is not None:
        ctx.broadcaster.publish_json(message)
    return message


FILTER = Query(None, description="a Wireshark display filter: only the rows it matches")


def _filtered(df: pd.DataFrame, expression: str | None) -> pd.DataFrame:
    """The rows of `df` a display filter matches (422 with the error where it is invalid)."""
    if expression is None or not expression.strip():
        return df
    try:
        return netlab_filter(df, expression)
    except DisplayFilterError as e:
        raise HTTPException(422, f"invalid display filter: {e}") from None


def _rows(
    capture: Capture, limit: int, since: int | None, where: str | None = None
) -> pd.DataFrame:
    if where is None or not where.strip():
        if since is None:
            return capture.frame.snapshot(last=limit)
        return capture.frame.snapshot(since=since).iloc[:limit]
    df = _filtered(capture.frame.snapshot(since=since), where)  # the matching ones, then limit
    return df.iloc[:limit] if since is not None else df.iloc[-limit:]


@router.get("/packets")
def packets(
    request: Request,
    limit: int = Query(100, ge=1, le=10_000),
    since: int | None = Query(None, ge=0),
    filter: str | None = FILTER,  # noqa: A002 - the parameter's public name
) -> dict[str, Any]:
    """The newest rows (at most `limit`), or the first `limit` rows after version `since`
    (page forward with since = the last version you got); with `filter`, of the rows a
    display filter matches."""
    capture = served(request).capture
    rows = _rows(capture, limit, since, filter)
    return {"version": capture.frame.version, "rows": to_rows(rows)}


@router.get("/packets/{number}")
def packet_detail(request: Request, number: int) -> dict[str, Any]:
    """The dissection of frame `number`: its layers and fields, each field's byte offset and
    length, and the frame's bytes in hex (netlab.dissect's Dissection.to_dict())."""
    capture = served(request).capture
    df = capture.frame.snapshot()
    at = (df["number"] == number).to_numpy().nonzero()[0]
    if not len(at):
        raise HTTPException(404, f"frame {number} is not in the capture's frame (any more)")
    try:
        return dissect(df.iloc[int(at[-1])]).to_dict()
    except NetlabError as e:
        raise HTTPException(404, str(e)) from None


@router.get(
    "/pcap",
    response_class=Response,
    responses={200: {"content": {"application/x-pcapng": {}}, "description": "pcapng"}},
)
def pcap(
    request: Request,
    limit: int = Query(1000, ge=1, le=100_000),
    since: int | None = Query(None, ge=0),
    first: int | None = Query(None, ge=1, description="first frame number (with last)"),
    last: int | None = Query(None, ge=1, description="last frame number (with first)"),
    filter: str | None = FILTER,  # noqa: A002 - the parameter's public name
) -> Response:
    """The packets of the same rows as /packets, or of frames `first`..`last` (at most
    100,000 numbers), as a pcapng file (for Wireshark). Rows whose bytes the server no
    longer keeps are left out: X-Netlab-Missing counts them, X-Netlab-Numbers lists the
    frame numbers written ("11-30,35")."""
    capture = served(request).capture
    if first is not None or last is not None:
        if first is None or last is None or not 0 <= last - first < 100_000:
            raise HTTPException(422, "give first and last, at most 100,000 numbers apart")
        df = capture.frame.snapshot()
        df = _filtered(df[(df["number"] >= first) & (df["number"] <= last)], filter)
    else:
        df = _rows(capture, limit, since, filter)
    body, numbers, missing = pcapng_bytes(df)
    return Response(
        body,
        media_type="application/x-pcapng",
        headers={
            "Content-Disposition": 'attachment; filename="netlab.pcapng"',
            "X-Netlab-Frames": str(len(numbers)),
            "X-Netlab-Missing": str(missing),
            "X-Netlab-Numbers": number_ranges(numbers),
        },
    )


@router.get("/flows")
def get_flows(
    request: Request,
    limit: int = Query(1000, ge=1, le=100_000),
    filter: str | None = FILTER,  # noqa: A002 - the parameter's public name
) -> dict[str, Any]:
    """The capture's live flow table (the flows not ended yet, as netlab.flows rows), the
    `limit` most recently active, in flow order; times in ISO 8601, missing values null.
    With `filter`, the flows a display filter matches (`tcp.port == 443`, `dns`...)."""
    capture = served(request).capture
    table = _filtered(capture.flows.snapshot(), filter)
    if len(table) > limit:
        table = table.nlargest(limit, "last").sort_index()
    rows = json.loads(table.to_json(orient="records", date_format="iso", date_unit="ns"))
    return {"version": capture.frame.version, "flows": rows}


@router.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """The capture's counters."""
    return stats_dict(served(request).capture)


@router.get("/alerts")
def alerts(request: Request, limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
    """The newest alerts, oldest first."""
    return [a.to_dict() for a in list(served(request).capture.alerts)[-limit:]]


@router.post("/ai/explain")
async def explain(request: ExplainIn, http: Request) -> dict[str, Any]:
    """Explain a packet (its row, or the version of a row in the frame)."""
    from ..ai import explain_async

    ctx = served(http)
    if request.packet is not None:
        try:  # typed as a frame's row: a string where a number is due is the client's
            row: Any = from_rows([request.packet]).iloc[0]
        except (ValueError, TypeError, OverflowError) as exc:
            raise HTTPException(
                422, f"the packet row does not fit netlab's columns: {exc}"
            ) from None
    elif request.number is not None:
        row = ctx.capture.frame.row(request.number)
        if row is None:
            raise HTTPException(404, f"row {request.number} is not in the frame (any more)")
    else:
        raise HTTPException(422, "give either 'packet' (a row) or 'number' (a row version)")
    try:
        result = await explain_async(row, settings=ctx.settings)
    except NetlabError as exc:
        raise HTTPException(502, str(exc)) from None
    return {
        "text": result.text,
        "source": result.source,
        "model": result.model,
        "latency": result.latency,
        "note": result.note,
    }
