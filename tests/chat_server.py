"""A local HTTP server speaking the chat-completions protocol: the only fake in the tests (it stands in for Groq)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    """Replays scripted replies: (status, body, headers, delay_s) per request, in order."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any, dict[str, str], float]] = []
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                server.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("authorization"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status, body, headers, delay = server.replies.pop(0)
                time.sleep(delay)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def reply(self, content: str, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        body = (
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
            if status == 200
            else {"error": {"message": "scripted"}}
        )
        self.replies.append((status, body, headers or {}, delay))

    @contextlib.contextmanager
    def running(self) -> Iterator[ChatServer]:
        with serving(self.httpd):
            yield self


@contextlib.contextmanager
def serving(httpd: ThreadingHTTPServer) -> Iterator[None]:
    """Serve from a daemon thread for the duration of the block, then close the socket."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()
