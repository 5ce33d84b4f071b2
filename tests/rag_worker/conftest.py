"""A retriever over the shipped knowledge base in a private Chroma folder, built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings


@pytest.fixture(scope="module")
def kb_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(chroma_path=str(tmp_path_factory.mktemp("chroma")), chroma_host=None)


@pytest.fixture(scope="module")
def retriever(kb_settings: Settings):  # type: ignore[no-untyped-def]
    from rag_worker.retrieval import load_retriever

    return load_retriever(kb_settings)


@pytest.fixture
def kb_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "rag_worker" / "kb"
