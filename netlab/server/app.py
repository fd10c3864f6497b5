"""The FastAPI app: REST endpoints and the /ws stream over one Capture."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from .. import __version__
from ..capture import Capture
from ..config import Settings
from ..core.rows import from_rows, to_rows
from ..errors import (
    CaptureError,
    CapturePermissionError,
    FilterError,
    InterfaceError,
    NetlabError,
)
from ..sources.live import LiveSource
from ..sources.packetstore import number_ranges
from ..sources.writer import pcapng_bytes
from .broadcaster import Broadcaster, Client, stats_dict
from .security import BodyLimit, Gate, origin_hosts, origin_ok, token_ok

log = logging.getLogger("netlab.server")


class CaptureSettingsIn(BaseModel):
    """A change of interface and/or capture filter; omitted fields stay as they are."""

    interface: str | None = Field(None, min_length=1, max_length=1024)
    bpf_filter: str | None = Field(None, max_length=4096)


class ExplainIn(BaseModel):
    """A packet to explain: its row as JSON, or the version (index) of a row in the frame."""

    packet: dict[str, Any] | None = None
    number: int | None = Field(None, ge=1)


def _capture_settings(capture: Capture) -> dict[str, Any]:
    source = capture.source
    return {
        "type": "settings",
        "source": source.description,
        "interface": source.interface if isinstance(source, LiveSource) else None,
        "bpf_filter": source.bpf,
    }


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped (valid for any Python text)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def cors_origin_regex(allowed: set[tuple[str, str]]) -> str:
    """A regex matching exactly the allowed origins, with or without a port."""
    parts = [f"{re.escape(scheme)}://{re.escape(host)}(:[0-9]+)?" for scheme, host in allowed]
    return "|".join(parts) or "^$"


def _allowed_source(name: str, settings: Settings) -> tuple[str, str]:
    """(the source to open, "") when `name` may become the capture's source over the API,
    else ("", why not)."""
    import os
    import stat

    from ..system import interfaces

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


def create_app(
    capture: Capture,
    settings: Settings | None = None,
    *,
    own_capture: bool = True,
    start_capture: bool = True,
) -> FastAPI:
    """The server for `capture`: started with the app (unless `start_capture` is False, for a
    caller who starts it later), and closed with it when `own_capture`."""
    settings = settings or capture.settings
    token = settings.server_token.get_secret_value()
    allowed = origin_hosts(settings.server_origins)
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broadcaster = Broadcaster(
            capture, asyncio.get_running_loop(), interval=settings.server_ws_interval
        )
        state["broadcaster"] = broadcaster
        if start_capture and not capture.running:
            await asyncio.to_thread(capture.start)
        broadcaster.start()
        ticker = asyncio.create_task(_tick(broadcaster))
        try:
            yield
        finally:
            ticker.cancel()
            broadcaster.stop()
            if own_capture:
                await asyncio.to_thread(capture.close)

    async def _tick(broadcaster: Broadcaster) -> None:
        while True:
            await asyncio.sleep(1.0)
            if broadcaster.clients:
                broadcaster.publish_json({"type": "stats", **stats_dict(capture)})

    def require_token(conn: HTTPConnection) -> None:
        if conn.scope["type"] == "websocket":
            return  # /ws checks the token itself, before accepting
        if not token_ok(token, dict(conn.headers), dict(conn.query_params)):
            raise HTTPException(401, "a valid token is required (Authorization: Bearer ...)")

    app = FastAPI(
        title="netlab",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(require_token)],
        description="Live packets, stats, alerts and explanations from one capture.",
        docs_url=None,  # served below: behind the token, which the page passes on
        redoc_url=None,
    )

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        given = request.query_params.get("token", "")
        spec = "/openapi.json" + (f"?{urlencode({'token': given})}" if given else "")
        return get_swagger_ui_html(openapi_url=spec, title="netlab API")

    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=cors_origin_regex(allowed),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Netlab-Token"],
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(Gate, token=token)  # outermost: before CORS, limits and routes

    # Error answers echo what the client sent (a filter, an input that failed validation):
    # ASCII JSON, so a lone surrogate in it is escaped instead of failing with a 500.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return AsciiJSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error serving %s", request.url.path)
        return JSONResponse({"detail": "internal error (see the server log)"}, status_code=500)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether the server and its capture run."""
        return {
            "status": "ok",
            "version": __version__,
            "capturing": capture.running,
            "clients": len(state["broadcaster"].clients) if "broadcaster" in state else 0,
        }

    @app.get("/interfaces")
    def interfaces() -> list[dict[str, Any]]:
        """Interfaces the server can capture on."""
        from ..system import interfaces as list_interfaces

        try:
            return [asdict(i) for i in list_interfaces()]
        except NetlabError as exc:
            raise HTTPException(503, str(exc)) from None

    @app.get("/capture/settings")
    def get_settings() -> dict[str, Any]:
        """The capture's source, interface and filter."""
        return _capture_settings(capture)

    @app.post("/capture/settings")
    async def set_settings(change: CaptureSettingsIn) -> dict[str, Any]:
        """Switch interface and/or filter; an invalid one answers 422 and changes nothing.

        The interface is one of the server's interfaces, or a capture file inside
        NETLAB_SERVER_CAPTURE_DIR when that is set: never any other path (a client could read
        files only root may read through /pcap, or block the server on a FIFO) nor a ws:// URL
        (the server would connect out, sending its own token)."""
        interface = None
        if change.interface is not None:
            interface, refusal = await asyncio.to_thread(
                _allowed_source, change.interface, settings
            )
            if refusal:
                raise HTTPException(422, refusal)
        try:
            await asyncio.to_thread(capture.restart, interface=interface, bpf=change.bpf_filter)
        except CapturePermissionError as exc:
            raise HTTPException(403, str(exc)) from None
        except (FilterError, InterfaceError, CaptureError) as exc:
            raise HTTPException(422, str(exc)) from None
        message = _capture_settings(capture)
        state["broadcaster"].publish_json(message)
        return message

    def rows(limit: int, since: int | None) -> pd.DataFrame:
        if since is None:
            return capture.frame.snapshot(last=limit)
        return capture.frame.snapshot(since=since).iloc[:limit]

    @app.get("/packets")
    def packets(
        limit: int = Query(100, ge=1, le=10_000), since: int | None = Query(None, ge=0)
    ) -> dict[str, Any]:
        """The newest rows (at most `limit`), or the first `limit` rows after version `since`
        (page forward with since = the last version you got)."""
        return {"version": capture.frame.version, "rows": to_rows(rows(limit, since))}

    @app.get(
        "/pcap",
        response_class=Response,
        responses={200: {"content": {"application/x-pcapng": {}}, "description": "pcapng"}},
    )
    def pcap(
        limit: int = Query(1000, ge=1, le=100_000),
        since: int | None = Query(None, ge=0),
        first: int | None = Query(None, ge=1, description="first frame number (with last)"),
        last: int | None = Query(None, ge=1, description="last frame number (with first)"),
    ) -> Response:
        """The packets of the same rows as /packets, or of frames `first`..`last` (at most
        100,000 numbers), as a pcapng file (for Wireshark). Rows whose bytes the server no
        longer keeps are left out: X-Netlab-Missing counts them, X-Netlab-Numbers lists the
        frame numbers written ("11-30,35")."""
        if first is not None or last is not None:
            if first is None or last is None or not 0 <= last - first < 100_000:
                raise HTTPException(422, "give first and last, at most 100,000 numbers apart")
            df = capture.frame.snapshot()
            df = df[(df["number"] >= first) & (df["number"] <= last)]
        else:
            df = rows(limit, since)
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

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        """The capture's counters."""
        return stats_dict(capture)

    @app.get("/alerts")
    def alerts(limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        """The newest alerts, oldest first."""
        return [a.to_dict() for a in list(capture.alerts)[-limit:]]

    @app.post("/ai/explain")
    async def explain(request: ExplainIn) -> dict[str, Any]:
        """Explain a packet (its row, or the version of a row in the frame)."""
        from ..ai import explain_async

        if request.packet is not None:
            try:  # typed as a frame's row: a string where a number is due is the client's
                row: Any = from_rows([request.packet]).iloc[0]
            except (ValueError, TypeError, OverflowError) as exc:
                raise HTTPException(
                    422, f"the packet row does not fit netlab's columns: {exc}"
                ) from None
        elif request.number is not None:
            row = capture.frame.row(request.number)
            if row is None:
                raise HTTPException(404, f"row {request.number} is not in the frame (any more)")
        else:
            raise HTTPException(422, "give either 'packet' (a row) or 'number' (a row version)")
        try:
            result = await explain_async(row, settings=settings)
        except NetlabError as exc:
            raise HTTPException(502, str(exc)) from None
        return {
            "text": result.text,
            "source": result.source,
            "model": result.model,
            "latency": result.latency,
            "note": result.note,
        }

    @app.websocket("/ws")
    async def stream(ws: WebSocket) -> None:
        """Packets, alerts, stats and settings as JSON messages."""
        if not token_ok(token, dict(ws.headers), dict(ws.query_params)):
            await ws.close(code=1008, reason="token required")
            return
        if not origin_ok(ws.headers.get("origin"), allowed):
            await ws.close(code=1008, reason="origin not allowed")
            return
        await ws.accept()
        broadcaster: Broadcaster = state["broadcaster"]
        client = Client()
        broadcaster.clients.add(client)
        ended = "left"
        try:
            await ws.send_json(_capture_settings(capture))
            await ws.send_json({"type": "stats", **stats_dict(capture)})
            ended = await _pump(ws, client)
        finally:
            broadcaster.clients.discard(client)
            if ws.client_state is WebSocketState.CONNECTED:
                code, reason = {
                    "slow": (1013, "too slow: messages were being dropped"),
                    "binary": (1003, "this stream takes no binary messages"),
                }.get(ended, (1000, ""))
                # A client too slow to read cannot read the close frame either: the close
                # waits at most 2 s, then the connection is cut (else its socket stayed open
                # until the client went, and held up the server's own shutdown).
                try:
                    await asyncio.wait_for(ws.close(code=code, reason=reason), 2)
                except Exception:  # noqa: BLE001 - a timeout or a broken connection alike
                    _abort(ws)

    return app


def _abort(ws: WebSocket) -> None:
    """Cut the client's TCP connection at once (the ASGI server's transport, which the Gate
    middleware noted in the scope where the server has one)."""
    transport = ws.scope.get("netlab.transport")
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.abort()


async def _pump(ws: WebSocket, client: Client) -> str:
    """Send queued messages until the client leaves ("left"), falls too far behind ("slow")
    or sends a binary message ("binary")."""
    why = {"ended": "left"}

    async def receive() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:  # nothing is expected; this notices a disconnect
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    why["ended"] = "binary"
                    return

    async def send() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                text = await client.queue.get()
                if client.dropped:
                    # tell the client what it missed, in the message it does get
                    text = f'{{"dropped_messages":{client.dropped},{text[1:]}'
                    client.dropped = 0
                await ws.send_text(text)

    # One waiter for the three ways this ends (not one per message: they cost as much as the
    # sends at 20 messages a second to 50 clients).
    tasks = [
        asyncio.create_task(receive()),
        asyncio.create_task(send()),
        asyncio.create_task(client.disconnect.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[2] in done:
            why["ended"] = "slow"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return why["ended"]
