"""A Redis restart under running workers and gateway: no ticket is lost.

The pipeline runs against a private `redis-server` (so stopping it touches no other test): tickets
accepted while it is down are stored and sent again by the sweeper, the workers reconnect on their
own, and tickets accepted after the restart complete without any help.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from gateway.sweeper import sweep_once
from tests.conftest import _truncate, wait_until

pytestmark = pytest.mark.slow

TICKET = {
    "customer_email": "kim@example.com",
    "customer_name": "Kim Park",
    "subject": "Charged twice",
    "description": "I was charged twice for order #3141 ($59.99 each). Please refund the duplicate charge.",
}


class RedisServer:
    """A throwaway `redis-server` without persistence: a restart empties it."""

    def __init__(self, binary: str, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.binary, self.directory = binary, directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *args, "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), timeout=10, interval=0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.stop()


def _state(url: str, ticket_id: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("SELECT processing_state FROM tickets WHERE ticket_id = :t"), {"t": ticket_id}
        ).scalar_one()
    engine.dispose()
    return value


@pytest.fixture
def workers(start_worker, pg_url, private_redis):  # type: ignore[no-untyped-def]
    """Both workers on the private Redis, by module name."""
    _truncate(pg_url)
    env = {"REDIS_URL": private_redis.url}
    return {
        "classifier_worker": start_worker("classifier_worker", pg_url, queues="classify", **env),
        "rag_worker": start_worker("rag_worker", pg_url, queues="draft,kb", **env),
    }


@pytest.fixture
def pipeline(client_for, workers, pg_url, private_redis, settings_for, monkeypatch):  # type: ignore[no-untyped-def]
    """A gateway on the private Redis, with both workers running; returns the gateway client."""
    from shared import celery
    from shared.celery import make_producer

    producer = make_producer(settings_for(pg_url, redis_url=private_redis.url))
    monkeypatch.setattr(celery, "get_producer", lambda: producer)
    return client_for(pg_url, redis_url=private_redis.url)


def _create(api, subject: str) -> str:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    response = api.post("/api/tickets/create", json={**TICKET, "subject": subject})
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 5  # stored at once, whether or not it could be queued
    return response.json()["ticket"]["ticket_id"]


def _sweep(pg_url: str, redis_url: str, settings_for) -> list[str]:  # type: ignore[no-untyped-def]
    from shared.db import make_engine

    engine = make_engine(pg_url)
    swept = sweep_once(
        sa.orm.sessionmaker(bind=engine), settings_for(pg_url, redis_url=redis_url, sweep_stale_after_s=0.001)
    )
    engine.dispose()
    return swept.tickets


def test_tickets_accepted_while_redis_is_down_are_swept_and_the_workers_reconnect(  # type: ignore[no-untyped-def]
    pipeline, pg_url, private_redis, settings_for
) -> None:
    before = _create(pipeline, "Charged twice (before)")
    wait_until(lambda: _state(pg_url, before) == "done", timeout=120)

    private_redis.stop()  # everything queued in it is gone with it
    during = _create(pipeline, "Charged twice (during)")
    private_redis.start()
    time.sleep(3)
    assert _state(pg_url, during) == "queued"  # its message never reached Redis: only the sweeper knows

    assert _sweep(pg_url, private_redis.url, settings_for) == [during]
    wait_until(lambda: _state(pg_url, during) == "done", timeout=120)

    # The workers and the gateway's producer reconnected on their own: a new ticket needs no sweeper.
    after = _create(pipeline, "Charged twice (after)")
    wait_until(lambda: _state(pg_url, after) == "done", timeout=120)
    for ticket_id in (before, during, after):
        ticket = pipeline.get(f"/api/tickets/{ticket_id}").json()
        assert ticket["category"] == "billing" and ticket["ai_suggested_reply"], ticket


def test_a_ticket_mid_classification_when_redis_goes_down_is_finished_by_the_sweeper(  # type: ignore[no-untyped-def]
    pipeline, workers, pg_url, private_redis, settings_for
) -> None:
    """The classifier stores its result while Redis is down: the draft step cannot be sent, and the
    unacknowledged message is gone with Redis. The ticket waits `classified` for the sweeper.

    Redis stays down until the worker's log says it gave up sending. The worker commits `classified`
    before it sends, so a Redis restarted as soon as the state reads `classified` can be back in
    time for the send (CI once saw it, under load), and the ticket then finishes without the sweeper."""
    from tests.test_pipeline_e2e import _hold_row_lock, _worker_is_blocked

    ticket_id = _create(pipeline, "Charged twice (in flight)")
    engine, lock = _hold_row_lock(pg_url, ticket_id)  # taken before the worker reaches its write
    wait_until(lambda: _worker_is_blocked(pg_url), timeout=90)

    private_redis.stop()
    lock.rollback()
    lock.close()
    engine.dispose()
    wait_until(lambda: _state(pg_url, ticket_id) == "classified", timeout=60)
    gave_up = f"for {ticket_id} (the sweeper sends it again)"
    wait_until(lambda: gave_up in workers["classifier_worker"].log(), timeout=60)
    private_redis.start()
    time.sleep(3)
    assert _state(pg_url, ticket_id) == "classified"

    assert _sweep(pg_url, private_redis.url, settings_for) == [ticket_id]
    wait_until(lambda: _state(pg_url, ticket_id) == "done", timeout=120)
    assert pipeline.get(f"/api/tickets/{ticket_id}").json()["ai_suggested_reply"]
