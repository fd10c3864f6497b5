"""Token checks, Origin allow-list and request size limits for the server."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # bytes; settings and explain requests are tiny


def is_loopback(host: str) -> bool:
    """Whether binding `host` exposes the server to this machine only.

    Only loopback addresses and "localhost" are: "" (as uvicorn and sockets read it), "*",
    "0.0.0.0" and "::" mean every interface, and a name may resolve anywhere."""
    host = host.strip()
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
