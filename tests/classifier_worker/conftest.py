"""Fixtures of the classifier tests: the trained artifact (as `make test` builds it) and a fake LLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chat_server import ChatServer


@pytest.fixture(scope="session")
def local_model():  # type: ignore[no-untyped-def]
    """The served artifact from MODEL_DIR (trained first if missing, as the worker would)."""
    from classifier_worker.classifier import load_classifier
    from shared.config import Settings

    return load_classifier(Settings(groq_api_key=None)).local


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A local HTTP server speaking the chat-completions protocol (the only fake in these tests)."""
    with ChatServer().running() as chat:
        yield chat
