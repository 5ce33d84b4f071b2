"""shared.llm against a local HTTP server speaking the chat-completions protocol (the only fake)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import TransientError
from shared.llm import LLMClient, llm_enabled


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


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    thread = threading.Thread(target=chat.httpd.serve_forever, daemon=True)
    thread.start()
    yield chat
    chat.httpd.shutdown()
    chat.httpd.server_close()


def make_client(server: ChatServer, **overrides: Any) -> LLMClient:
    settings = Settings(
        groq_api_key="test-key", llm_base_url=server.url, llm_timeout_s=0.3, llm_max_retries=2, **overrides
    )
    return LLMClient(settings)


def test_sends_openai_request_and_returns_content(server: ChatServer) -> None:
    server.reply('{"ok": true}')
    text = make_client(server).chat([{"role": "user", "content": "hi"}], temperature=0.1, json_mode=True, max_tokens=50)
    assert json.loads(text) == {"ok": True}
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer test-key"
    assert request["body"]["response_format"] == {"type": "json_object"}
    assert request["body"]["temperature"] == 0.1
    assert request["body"]["max_tokens"] == 50
    assert request["body"]["model"] == "llama-3.3-70b-versatile"


def test_429_is_retried_honouring_retry_after(server: ChatServer) -> None:
    server.reply("", status=429, headers={"Retry-After": "0.2"})
    server.reply("second time lucky")
    started = time.monotonic()
    assert make_client(server).chat([{"role": "user", "content": "hi"}], temperature=0) == "second time lucky"
    assert time.monotonic() - started >= 0.2
    assert len(server.requests) == 2


def test_5xx_then_success(server: ChatServer) -> None:
    server.reply("", status=503)
    server.reply("fine")
    assert make_client(server).chat([{"role": "user", "content": "x"}], temperature=0) == "fine"


def test_timeouts_exhaust_retries_then_transient_error(server: ChatServer) -> None:
    for _ in range(3):
        server.reply("too late", delay=0.6)
    with pytest.raises(TransientError, match="after 3 attempts"):
        make_client(server).chat([{"role": "user", "content": "x"}], temperature=0)
    assert len(server.requests) == 3


def test_client_error_is_not_retried(server: ChatServer) -> None:
    server.reply("", status=401)
    with pytest.raises(TransientError, match="HTTP 401"):
        make_client(server).chat([{"role": "user", "content": "x"}], temperature=0)
    assert len(server.requests) == 1


def test_llm_enabled_follows_the_key() -> None:
    assert not llm_enabled(Settings(groq_api_key=None))
    assert llm_enabled(Settings(groq_api_key="k"))
