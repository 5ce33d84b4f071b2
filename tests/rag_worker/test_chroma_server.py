"""Server mode: replicas share one Chroma server (`chroma run`, started here on a free port)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag_worker.kb import Article
from rag_worker.retrieval import load_retriever
from shared.config import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_two_replicas_share_one_index(chroma_server: int, tmp_path: Path) -> None:
    settings = Settings(chroma_host="127.0.0.1", chroma_port=chroma_server, chroma_path=str(tmp_path / "unused"))

    first = load_retriever(settings)  # empty server: loads the shipped KB
    second = load_retriever(settings)  # already loaded: reuses it

    assert not (tmp_path / "unused").exists()  # nothing stored locally
    assert first.index.count() == second.index.count() > 10
    assert second.search("my parcel is stuck in customs", n=1)[0].article_id == "kb_009"

    first.index_article(Article("kb_srv", "Price match", "## Price match\nWe match a competitor's lower price."))
    second.refresh(force=True)
    assert second.search("do you price match a cheaper competitor?", n=1)[0].article_id == "kb_srv"

    first.delete_article("kb_srv")
    second.refresh(force=True)
    assert all(h.article_id != "kb_srv" for h in second.search("do you price match a cheaper competitor?", n=5))
