"""The sweeper's index-check requests: at most one per `KB_RECONCILE_INTERVAL_S` across sweepers, sent
to the real Redis `kb` queue with an expiry (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from gateway.sweeper import RECONCILE_KEY, reconcile_due, sweep_once, sweep_when_due
from shared.config import Settings
from shared.db import make_engine
from shared.models import utcnow
from tests.conftest import REDIS_URL


def _settings(**values: object) -> Settings:
    return Settings(redis_url=REDIS_URL, **values)  # type: ignore[arg-type]


def _messages(redis_client) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(m) for m in redis_client.lrange("kb", 0, -1)]


def test_the_index_check_is_due_once_per_interval(redis_client) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(kb_reconcile_interval_s=300)

    assert reconcile_due(settings) is True
    assert reconcile_due(settings) is False  # another pass, or another gateway's sweeper
    assert 299_000 < redis_client.pttl(RECONCILE_KEY) <= 300_000
    redis_client.delete(RECONCILE_KEY)  # the interval has passed
    assert reconcile_due(settings) is True


def test_no_check_is_due_while_redis_is_down() -> None:
    assert reconcile_due(Settings(redis_url="redis://127.0.0.1:1/0")) is False


def test_a_pass_sends_the_check_with_an_expiry_only_when_due(session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(kb_reconcile_interval_s=600)

    assert sweep_once(session_factory, settings).reconcile is False
    assert _messages(redis_client) == []

    before = utcnow()
    assert sweep_when_due(session_factory, settings).reconcile is True

    [message] = _messages(redis_client)
    assert message["headers"]["task"] == "rag_worker.kb.reconcile"
    expires = datetime.fromisoformat(message["headers"]["expires"])
    assert 590 < (expires - before).total_seconds() < 610  # a pile of them would not each scan the index
    [requested_at], _, _ = json.loads(base64.b64decode(message["body"]))
    assert datetime.fromisoformat(requested_at) >= before


def test_passes_in_one_interval_send_one_check(session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(kb_reconcile_interval_s=600)

    swept = [sweep_when_due(session_factory, settings).reconcile for _ in range(3)]

    assert swept == [True, False, False]
    assert len(_messages(redis_client)) == 1


def test_a_pass_that_fails_leaves_the_check_due(redis_client) -> None:  # type: ignore[no-untyped-def]
    """Database down: the pass raises (the loop logs it and tries next interval) before the check is
    taken, so the next pass that works still sends it."""
    down = sessionmaker(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    with pytest.raises(OperationalError):
        sweep_when_due(down, _settings(kb_reconcile_interval_s=600))

    assert redis_client.exists(RECONCILE_KEY) == 0
    assert reconcile_due(_settings(kb_reconcile_interval_s=600)) is True
