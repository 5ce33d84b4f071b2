"""shared.llm against a local HTTP server speaking the chat-completions protocol (the only fake)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import TransientError
from shared.llm import LLMClient, llm_enabled
from tests.chat_server import ChatServer


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer().running() as chat:
        yield chat


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
