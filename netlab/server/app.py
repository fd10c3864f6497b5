"""The FastAPI app over one Capture: its lifespan, middleware and error answers (the REST
endpoints: `routes.py`; the /ws stream: `stream.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from .._version import __version__
from ..capture import Capture
from ..config import Settings
from . import routes, stream
from .broadcaster import Broadcaster, stats_dict
from .routes import Served
from .security import BodyLimit, Gate, origin_hosts, token_ok

log = logging.getLogger("netlab.server")


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped (valid for any Python text)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def cors_origin_regex(allowed: set[tuple[str, str]]) -> str:
    """A regex matching exactly the allowed origins, with or without a port."""
    parts = [f"{re.escape(scheme)}://{re.escape(host)}(:[0-9]+)?" for scheme, host in allowed]
    return "|".join(parts) or "^$"


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
    ctx = Served(capture, settings, token, allowed)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broadcaster = Broadcaster(
            capture, asyncio.get_running_loop(), interval=settings.server_ws_interval
        )
        ctx.broadcaster = broadcaster
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

    app.state.netlab = ctx
    app.include_router(routes.router)
    app.include_router(stream.router)
    return app
