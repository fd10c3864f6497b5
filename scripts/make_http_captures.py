#!/usr/bin/env python3
"""Record real HTTP/1.1 exchanges on loopback for the stream and HTTP tests.

A Python http.server on 127.0.0.1 answers with plain, chunked, gzip and deflate bodies, HEAD,
204 and 100-continue; curl fetches over one kept-alive connection, with --compressed and with
`Expect: 100-continue`; a raw socket pipelines requests. tcpdump records the loopback (root
needed; nothing leaves 127.0.0.1, every client makes a fixed number of requests).
Writes tests/data/http/exchanges.pcap.

    sudo .venv/bin/python scripts/make_http_captures.py
"""

from __future__ import annotations

import gzip
import socket
import subprocess
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "http"
BODY = b"".join(b"line %05d of the netlab test body\n" % i for i in range(400))  # ~14 KB


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked, 100-continue

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes, headers: dict[str, str], status: int = 200) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Transfer-Encoding" not in headers and status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.path == "/plain":
            self._send(BODY, {"Content-Type": "text/plain"})
        elif self.path == "/gzip":
            self._send(
                gzip.compress(BODY), {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
            )
        elif self.path == "/deflate":
            self._send(
                zlib.compress(BODY), {"Content-Type": "text/plain", "Content-Encoding": "deflate"}
            )
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BODY), 3000):
                part = BODY[i : i + 3000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.01)  # chunks in separate segments
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/empty":
            self._send(b"", {}, status=204)
        else:
            self._send(b"not here\n", {"Content-Type": "text/plain"}, status=404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self._send(b"got %d bytes\n" % len(data), {"Content-Type": "text/plain"}, status=201)


def pipelined(port: int) -> None:
    """Three requests in one write, then read until the server has answered them all."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        reqs = b"".join(
            b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (m, p)
            for m, p in ((b"GET", b"/plain"), (b"HEAD", b"/plain"), (b"GET", b"/empty"))
        )
        s.sendall(reqs + b"GET /deflate HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = OUT / "exchanges.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(path), f"tcp port {port}"],
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # tcpdump is listening
    base = f"http://127.0.0.1:{port}"
    curl = [
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ]
    # one connection, kept alive over four requests
    subprocess.run(
        [*curl, f"{base}/plain", f"{base}/chunked", f"{base}/missing", f"{base}/empty"], check=True
    )
    subprocess.run([*curl, "--compressed", f"{base}/gzip"], check=True)
    post = [*curl, "-H", "Expect: 100-continue", "--data-binary", "@-", f"{base}/upload"]
    subprocess.run(post, input=BODY * 4, check=True)
    pipelined(port)
    time.sleep(1.0)
    dump.terminate()
    dump.wait(timeout=10)
    server.shutdown()
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
