"""The source for what a user passes to Capture: a source object, a path, a URL, an interface."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

from ..config import Settings
from ..errors import NetlabError
from .base import Source
from .live import LiveSource
from .replay import FileSource

# What a capture asks of a source (the Source protocol, attributes and methods alike).
SOURCE_MEMBERS = (
    "description",
    "bpf",
    "can_wait",
    "interface",
    "problems",
    "exhausted",
    "open",
    "read",
    "counters",
    "set_filter",
    "switch",
    "packet_store",
    "close",
)


def make_source(
    source: str | os.PathLike[str] | Source | Sequence[str],
    bpf: str,
    settings: Settings,
    speed: float | None,
    loop: bool,
    *,
    retime: bool = False,
) -> Source:
    """The source for what the user passed: a source, a file path, a ws:// URL, a list of
    ws:// URLs or one text of them joined by commas (several servers merged, each row
    naming its sensor) or an interface.

    The one factory: the capture, the server and the dashboard all name sources this way."""
    if isinstance(source, list | tuple):
        from .merged import merged_source

        return merged_source(source, bpf, settings.server_token.get_secret_value())
    if not isinstance(source, str | os.PathLike):
        missing = [name for name in SOURCE_MEMBERS if not hasattr(source, name)]
        if missing:
            raise NetlabError(
                f"{type(source).__name__} is not a netlab Source: it has no "
                f"{', '.join(missing)} (subclass netlab.SourceBase for the defaults)"
            )
        return cast(Source, source)
    text = os.fspath(source)
    if text.startswith(("ws://", "wss://")) and "," in text:  # NETLAB_SOURCE, the CLI's --source
        from .merged import merged_source

        urls = [u.strip() for u in text.split(",") if u.strip()]
        return merged_source(urls, bpf, settings.server_token.get_secret_value())
    if text.startswith(("ws://", "wss://")):
        from .remote import RemoteSource

        return RemoteSource(text, bpf, token=settings.server_token.get_secret_value())
    if os.path.exists(text) or text.endswith((".pcap", ".pcapng", ".cap")):
        return FileSource(text, bpf, speed=speed, loop=loop, retime=retime)
    return LiveSource(
        text,
        bpf,
        snaplen=settings.snaplen,
        buffer_mb=settings.buffer_mb,
        timeout=settings.batch_interval,
    )
