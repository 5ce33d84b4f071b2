"""The Groq / OpenAI-compatible provider against a local chat-completions server; local fallback."""

from __future__ import annotations

import json

from classifier_worker.classifier import TicketClassifier
from shared.config import Settings
from shared.llm import LLMClient
from shared.schemas import Category, Priority, TicketContext
from tests.chat_server import ChatServer

TICKET = TicketContext(ticket_id="T-9", subject="Refund", description="Please refund order #2021, it arrived broken")
GOOD = {
    "category": "refund",
    "priority": "medium",
    "sentiment": "negative",
    "sentiment_score": -0.6,
    "urgency_keywords": ["broken"],
    "confidence": 0.92,
    "reasoning": "The customer asks for a refund of a broken item.",
}


def make(local_model, server: ChatServer, retries: int = 1) -> TicketClassifier:  # type: ignore[no-untyped-def]
    settings = Settings(groq_api_key="k", llm_base_url=server.url, llm_timeout_s=0.3, llm_max_retries=retries)
    return TicketClassifier(settings, local_model, llm=LLMClient(settings))


def test_good_json_is_used(local_model, chat_server: ChatServer) -> None:  # type: ignore[no-untyped-def]
    chat_server.reply(json.dumps(GOOD))
    result = make(local_model, chat_server).classify(TICKET)
    assert result.model == "llm:llama-3.3-70b-versatile"
    assert result.category == Category.refund and result.confidence == 0.92
    assert result.extracted_metadata["order_ids"] == ["2021"]  # entities always come from the local extractor
    body = chat_server.requests[0]["body"]
    assert body["temperature"] == 0.1 and body["response_format"] == {"type": "json_object"}


def test_malformed_json_is_retried_once(local_model, chat_server: ChatServer) -> None:  # type: ignore[no-untyped-def]
    chat_server.reply("Sure! Here is the JSON: {category: refund")
    chat_server.reply(json.dumps(GOOD))
    result = make(local_model, chat_server).classify(TICKET)
    assert result.model.startswith("llm:")
    assert len(chat_server.requests) == 2
    assert "not valid" in chat_server.requests[1]["body"]["messages"][-1]["content"]


def test_invalid_twice_falls_back_to_local(local_model, chat_server: ChatServer) -> None:  # type: ignore[no-untyped-def]
    chat_server.reply("not json")
    chat_server.reply(json.dumps({**GOOD, "category": "weather"}))  # valid JSON, invalid schema
    result = make(local_model, chat_server).classify(TICKET)
    assert result.model.startswith("local:") and "fallback" in result.model
    assert "LLM unavailable" in result.reasoning


def test_429_then_success(local_model, chat_server: ChatServer) -> None:  # type: ignore[no-untyped-def]
    chat_server.reply("", status=429, headers={"Retry-After": "0"})
    chat_server.reply(json.dumps(GOOD))
    assert make(local_model, chat_server).classify(TICKET).model.startswith("llm:")


def test_timeouts_fall_back_to_local(local_model, chat_server: ChatServer) -> None:  # type: ignore[no-untyped-def]
    chat_server.reply(json.dumps(GOOD), delay=0.6)
    chat_server.reply(json.dumps(GOOD), delay=0.6)
    result = make(local_model, chat_server, retries=1).classify(TICKET)
    assert "fallback" in result.model
    assert result.category == Category.refund  # the local model's own answer


def test_llm_cannot_invent_critical(local_model, chat_server: ChatServer) -> None:  # type: ignore[no-untyped-def]
    chat_server.reply(json.dumps({**GOOD, "priority": "critical"}))
    assert make(local_model, chat_server).classify(TICKET).priority == Priority.high
