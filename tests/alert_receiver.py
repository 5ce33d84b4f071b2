"""A local HTTP server standing in for a team's alert webhook: it records each POST and answers as scripted."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.chat_server import serving


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival
    path: str = ""  # the URL's path, which tells routes apart


class AlertReceiver:
    """Answers each POST with the next scripted (status, headers), then as `policy` decides (a webhook's own
    rules, such as a rate limit), or 200 once the script is spent."""

    def __init__(self, policy: Callable[[Received], tuple[int, dict[str, str]]] | None = None) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.received: list[Received] = []
        self.policy = policy
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                got = Received(headers, body, time.time(), self.path)
                receiver.received.append(got)
                if receiver.script:
                    status, answer = receiver.script.pop(0)
                else:
                    status, answer = receiver.policy(got) if receiver.policy else (200, {})
                self.send_response(status)
                for key, value in answer.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/support"

    def answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.script.append((status, headers or {}))

    @contextlib.contextmanager
    def running(self) -> Iterator[AlertReceiver]:
        with serving(self.httpd):
            yield self
