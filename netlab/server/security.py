"""Token checks, Origin allow-list and request size limits for the server."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # bytes; settings and explain requests are tiny


def token_ok(expected: str, headers: dict[str, str], query: dict[str, str]) -> bool:
    """A request carries the token as a bearer header, X-Netlab-Token, or ?token= (browsers)."""
    if not expected:
        return True
    given = query.get("token") or headers.get("x-netlab-token") or ""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode(), expected.encode())


def origin_hosts(origins: str) -> set[tuple[str, str]]:
    """(scheme, host) pairs allowed as Origin; ports are ignored."""
    out = set()
    for item in origins.split(","):
        parts = urlsplit(item.strip())
        if parts.scheme and parts.hostname:
            out.add((parts.scheme, parts.hostname))
    return out


def origin_ok(origin: str | None, allowed: set[tuple[str, str]]) -> bool:
    """No Origin (not a browser) is fine; a browser's must be on the list."""
    if not origin:
        return True
    parts = urlsplit(origin)
    return (parts.scheme, parts.hostname or "") in allowed or ("*", "*") in allowed


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"detail":"request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def host_ok(host_header: str | None) -> bool:
    """A Host header naming this machine by a loopback name or address (any port)."""
    if not host_header:
        return False
    name = host_header.strip().lower()
    if name.startswith("["):
        name = name[: name.find("]") + 1] if "]" in name else name
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class Gate:
    """Checks before the app sees a request: without a token, only loopback Host names (a
    page on another site that rebinds its DNS name to 127.0.0.1 gets 421, not your traffic);
    with one, the token on every HTTP path, OpenAPI's own pages included."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # the server's connection, for cutting a client that cannot even take a close
            # frame (uvicorn's `send` is a method of its protocol; later layers wrap it)
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            scope["netlab.transport"] = transport
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.token and not host_ok(headers.get("host")):
            await _refuse(scope, send, 421, "this server answers to loopback names only")
            return
        if self.token and scope["type"] == "http":
            from urllib.parse import parse_qsl

            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if not token_ok(self.token, headers, query):
                await _refuse(
                    scope, send, 401, "a valid token is required (Authorization: Bearer ...)"
                )
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": detail})
        return
    body = ('{"detail":"' + detail + '"}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RedactTokens:
    """A logging filter for uvicorn's access log: `token=...` in a logged URL becomes
    `token=***` (browsers can only send the token in the URL, and logs are widely readable)."""

    _pattern = re.compile(r"(?i)(token=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._pattern.sub(r"\1***", record.msg)
        return True


def redact_access_log() -> None:
    """Install RedactTokens on uvicorn's access logger (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
