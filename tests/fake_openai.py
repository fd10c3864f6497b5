"""A small OpenAI-compatible chat-completions server on loopback, scripted per test."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(text: str, model: str = "test-model") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class FakeOpenAI:
    """Answers POST /v1/chat/completions from a script of replies; records every request.

    A reply is ("json", status, body), ("raw", status, bytes) or ("slow", seconds, body).
    When the script runs out, it answers 200 with "default answer".
    """

    def __init__(self) -> None:
        self.replies: deque[tuple[str, Any, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("authorization")}
                )
                kind, a, b = (
                    fake.replies.popleft()
                    if fake.replies
                    else ("json", 200, completion("default answer"))
                )
                if kind == "slow":
                    fake._stop.wait(a)  # ends early when the fixture stops
                    kind, a = "json", 200
                payload = b if isinstance(b, bytes) else json.dumps(b).encode()
                if kind == "drip":  # headers at once, then the body a byte every `a` seconds
                    try:
                        self.send_response(200)
                        self.send_header("content-type", "application/json")
                        self.send_header("content-length", str(len(payload)))
                        self.end_headers()
                        for k in range(len(payload)):
                            if fake._stop.wait(a):
                                return
                            self.wfile.write(payload[k : k + 1])
                            self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                try:
                    self.send_response(a)
                    self.send_header("content-type", "application/json")
                    if a == 429:
                        self.send_header("retry-after", fake.retry_after)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of some tests

        self.retry_after = "0.1"  # what a 429 answer says
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False  # joined by server_close(): no leaked threads
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-openai")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
