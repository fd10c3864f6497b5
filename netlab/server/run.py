"""Running the server: `netlab serve` (blocking) and ServerThread (tests, notebooks)."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

from ..capture import Capture
from ..config import Settings
from ..core.addresses import is_loopback
from ..data import DEMO_PCAP
from ..errors import ServerError, SettingsError
from ..lifecycle import Lifecycle
from ..sources.factory import make_source
from .app import create_app
from .security import redact_access_log


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not is_loopback(host) and not settings.server_token.get_secret_value():
        raise SettingsError(
            f"refusing to listen on {host} without a token: anyone who can reach it would see "
            "your traffic. Set NETLAB_SERVER_TOKEN (clients send it as 'Authorization: Bearer "
            "...' or ?token=...), or bind 127.0.0.1"
        )


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line, a port something else already listens on."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise SettingsError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another "
                "port with --port or NETLAB_SERVER_PORT"
            ) from None


def make_capture(
    source: str | None,
    bpf: str | None,
    speed: float | None,
    loop: bool,
    settings: Settings,
    retime: bool = True,
    archive: str | None = None,
) -> Capture:
    """The server's capture: a file replays in real time, looped, stamped with the time it is
    replayed at (so dashboards show now), by default."""
    chosen = source or settings.source or "demo"
    chosen = str(DEMO_PCAP) if chosen == "demo" else chosen
    bpf = settings.bpf if bpf is None else bpf
    made = make_source(chosen, bpf, settings, speed, loop, retime=retime and speed is not None)
    return Capture(made, settings=settings, archive=archive)


def serve(
    source: str | None = None,
    *,
    bpf: str | None = None,
    host: str | None = None,
    port: int | None = None,
    speed: float | None = 1.0,
    loop: bool = True,
    retime: bool = True,
    settings: Settings | None = None,
    archive: str | None = None,
) -> None:
    """Run the server until interrupted (Ctrl-C stops it and its capture cleanly); with
    `archive`, its capture is also written to that archive directory."""
    import uvicorn

    settings = settings or Settings.load()
    host = host or settings.server_host
    port = port or settings.server_port
    check_bind(host, settings)
    check_port_free(host, port)
    capture = make_capture(source, bpf, speed, loop, settings, retime, archive)
    # Open the source here, not in the app's start-up: a mistake (no rights, no such
    # interface or file, a bad filter) is then one line from the CLI, not a uvicorn traceback.
    capture.start()
    app = create_app(capture, settings)
    # This process is the server and nothing else: move what start-up made (modules, the app)
    # out of the collector's sight, so a full collection scans only what the capture makes
    # (measured: 40-60 ms pauses before, which every client saw as latency).
    gc.collect()
    gc.freeze()
    redact_access_log()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        ws_ping_interval=20,
        ws_per_message_deflate=settings.server_ws_compression,
    )


class ServerThread:
    """A uvicorn server in a background thread on a free loopback port (or the one given)."""

    def __init__(
        self,
        capture: Capture,
        settings: Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **app_options: Any,
    ) -> None:
        import socket

        import uvicorn

        settings = settings or capture.settings
        check_bind(host, settings)
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.app = create_app(capture, settings, **app_options)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            ws_ping_interval=None,
            ws_per_message_deflate=settings.server_ws_compression,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="netlab-server", daemon=True)
        self._life = Lifecycle("server")
        self._failure = ""

    def _serve(self) -> None:
        try:
            self.server.run()
        except SystemExit as exc:  # uvicorn exits when it cannot listen (it logged why)
            self._failure = f"uvicorn exited with status {exc.code} (is the port in use?)"

    @property
    def url(self) -> str:
        """http://host:port"""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """ws://host:port/ws"""
        return f"ws://{self.host}:{self.port}/ws"

    def start(self, timeout: float = 20.0) -> ServerThread:
        """Start and wait until it accepts connections (once: after close(), ClosedError)."""
        if not self._life.begin():
            return self
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()  # nothing left running
                why = f": {self._failure}" if self._failure else ""
                raise ServerError(f"the netlab server did not start on {self.url}{why}")
            time.sleep(0.02)
        return self

    def close(self) -> None:
        """Stop the server (and its capture, if it owns it); idempotent."""
        self._life.end()
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    stop = close  # the name servers use

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
