"""Address predicates (pure: no name is ever resolved)."""

from __future__ import annotations

import ipaddress


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
