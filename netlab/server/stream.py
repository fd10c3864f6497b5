"""The /ws stream: settings, stats, packets and alerts as JSON messages, one sender per client."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..display_filter import compile_filter
from ..errors import DisplayFilterError
from .broadcaster import Client, stats_dict
from .routes import Served, capture_settings
from .security import origin_ok, token_ok

router = APIRouter()


@router.websocket("/ws")
async def stream(ws: WebSocket) -> None:
    """Packets, alerts, stats and settings as JSON messages."""
    ctx: Served = ws.app.state.netlab
    capture = ctx.capture
    if not token_ok(ctx.token, dict(ws.headers), dict(ws.query_params)):
        await ws.close(code=1008, reason="token required")
        return
    if not origin_ok(ws.headers.get("origin"), ctx.allowed):
        await ws.close(code=1008, reason="origin not allowed")
        return
    await ws.accept()
    chosen = None
    if ws.query_params.get("filter", "").strip():
        try:
            chosen = compile_filter(ws.query_params["filter"])
        except DisplayFilterError as e:  # said in a message, then the stream ends
            said = {"type": "error", "error": "invalid display filter", "detail": str(e)}
            await ws.send_json(said)
            await ws.close(code=1008, reason="invalid display filter")
            return
    broadcaster = ctx.broadcaster
    assert broadcaster is not None, "the app's lifespan makes the broadcaster"
    client = Client(display_filter=chosen)
    broadcaster.add(client)
    ended = "left"
    try:
        await ws.send_json(capture_settings(capture))
        await ws.send_json({"type": "stats", **stats_dict(capture)})
        ended = await _pump(ws, client)
    finally:
        broadcaster.discard(client)
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
