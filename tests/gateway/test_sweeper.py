"""The sweeper's index-check requests: at most one per `KB_RECONCILE_INTERVAL_S` across sweepers, sent
to the real Redis `kb` queue with an expiry (SQLite and PostgreSQL); and its passes counted for `GET /metrics`."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from gateway.sweeper import RECONCILE_KEY, Swept, reconcile_due, sweep_once, sweep_when_due
from shared.config import Settings
from shared.db import make_engine
from shared.models import utcnow
from tests.conftest import REDIS_URL
from tests.gateway.conftest import web_ticket
from tests.prometheus_text import parse_samples


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


def test_each_finished_pass_is_counted_for_the_scrape(api, session_factory, redis_client, caplog) -> None:  # type: ignore[no-untyped-def]
    """A pass adds to Redis what it sent again or moved, by kind, and its time; `GET /metrics` reads the sums.
    A pass that fails is not counted (the last pass's time grows old); one that cannot record still sweeps."""

    def scrape() -> dict:  # type: ignore[type-arg]
        return parse_samples(api.get("/metrics").text)

    def items(samples: dict) -> dict[str, float]:  # type: ignore[type-arg]
        return {dict(k)["kind"]: v for k, v in samples["support_copilot_sweeper_items_total"].items()}

    samples = scrape()
    assert samples["support_copilot_sweeper_passes_total"][()] == 0
    assert items(samples) == dict.fromkeys(Swept._fields, 0)  # every kind, so a rule needs no absent()
    assert "support_copilot_sweeper_last_pass_timestamp_seconds" not in samples

    stuck = [web_ticket(api), web_ticket(api, customer_email="b@example.com")]  # queued: stale at once below
    time.sleep(0.01)
    started = time.time()
    first = sweep_when_due(session_factory, _settings(kb_reconcile_interval_s=600, sweep_stale_after_s=0.001))
    assert sorted(first.tickets) == sorted(stuck) and first.reconcile is True
    sweep_when_due(session_factory, _settings(kb_reconcile_interval_s=600))  # nothing stale, no check due
    samples = scrape()
    assert samples["support_copilot_sweeper_passes_total"][()] == 2
    assert {kind: n for kind, n in items(samples).items() if n} == {"tickets": 2, "reconcile": 1}
    assert started <= samples["support_copilot_sweeper_last_pass_timestamp_seconds"][()] <= time.time()

    down = sessionmaker(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    with pytest.raises(OperationalError):
        sweep_when_due(down, _settings())
    assert scrape()["support_copilot_sweeper_passes_total"][()] == 2

    redis_client.hset("support_copilot:sweeper", "passes_by_hand", "many")  # not a number: skipped, logged
    assert scrape()["support_copilot_sweeper_passes_total"][()] == 2

    with caplog.at_level(logging.WARNING, logger="gateway.sweeper"):
        assert sweep_when_due(session_factory, Settings(redis_url="redis://127.0.0.1:1/0")).tickets == []
    assert "sweep not recorded" in caplog.text
    assert scrape()["support_copilot_sweeper_passes_total"][()] == 2
