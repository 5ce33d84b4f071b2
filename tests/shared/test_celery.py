"""The Celery factory's delivery guarantees, and that each pipeline step reaches only its own queue."""

from __future__ import annotations

import json

import redis

from shared.celery import CLASSIFY_QUEUE, DRAFT_QUEUE, KB_QUEUE, KB_SEARCH_TASK, make_celery, retry_countdown
from shared.config import Settings
from shared.pipeline import enqueue
from tests.conftest import REDIS_URL

QUEUES = (CLASSIFY_QUEUE, DRAFT_QUEUE, KB_QUEUE)


def test_factory_sets_json_late_acks_and_prefetch_one() -> None:
    conf = make_celery("t", Settings(redis_url=REDIS_URL)).conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1


def test_each_step_lands_in_its_own_queue_only(redis_client: redis.Redis) -> None:
    app = make_celery("t", Settings(redis_url=REDIS_URL))
    with app.connection_for_write() as conn:  # bind the queues as a worker does on start
        for queue in app.amqp.queues.values():
            queue(conn.default_channel).declare()
        # Publishing on a queue's exchange with its key must not fan out to the other queues.
        for name in QUEUES:
            app.amqp.queues[name].exchange(conn.default_channel).publish(
                conn.default_channel.prepare_message(json.dumps({"to": name})), routing_key=name
            )
            assert {q: redis_client.llen(q) for q in QUEUES} == {q: int(q == name) for q in QUEUES}
            redis_client.delete(name)

    assert enqueue("TKT-1", "queued") and enqueue("TKT-2", "classified")
    app.send_task(KB_SEARCH_TASK, args=["q"])
    assert {q: redis_client.llen(q) for q in QUEUES} == dict.fromkeys(QUEUES, 1)
    tasks = {q: json.loads(redis_client.lindex(q, 0))["headers"]["task"] for q in (CLASSIFY_QUEUE, DRAFT_QUEUE)}
    assert tasks == {CLASSIFY_QUEUE: "classifier_worker.classify_ticket", DRAFT_QUEUE: "rag_worker.draft_reply"}


def test_a_task_sent_to_an_empty_redis_reaches_its_queue(redis_client: redis.Redis) -> None:
    """No queue or binding declared (as right after a Redis restart without persistence): the
    message still lands in its queue's list, where a worker that declares it later finds it."""
    from shared.celery import CLASSIFY_TASK, KB_INDEX_TASK, send_quietly

    assert redis_client.keys() == []
    assert send_quietly(CLASSIFY_TASK, "TKT-1", CLASSIFY_QUEUE) and send_quietly(KB_INDEX_TASK, "kb_1", KB_QUEUE)
    assert {q: redis_client.llen(q) for q in QUEUES} == {CLASSIFY_QUEUE: 1, DRAFT_QUEUE: 0, KB_QUEUE: 1}
    assert redis_client.keys("_kombu.binding*") == []
    headers = json.loads(redis_client.lindex(KB_QUEUE, 0))["headers"]
    assert (headers["task"], headers["argsrepr"]) == (KB_INDEX_TASK, "['kb_1']")


def test_retries_are_spaced_to_ride_out_a_database_restart() -> None:
    """Each wait is at least half its backoff (full jitter spent 5 retries in 3.5 s on a PostgreSQL
    restart), at most the backoff, capped at 60 s."""
    for retries, backoff in enumerate((2, 4, 8, 16, 32, 60, 60)):
        waits = [retry_countdown(retries) for _ in range(500)]
        assert backoff / 2 <= min(waits) and max(waits) <= backoff, (retries, min(waits), max(waits))
        assert max(waits) - min(waits) > backoff / 4  # still jittered: workers do not retry in lockstep
    assert sum(retry_countdown(r) for r in range(5)) >= 31


def test_a_step_that_keeps_failing_transiently_is_retried_task_max_retries_times_then_recorded_failed(
    session_factory, redis_client, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Run eagerly (retries inline, countdowns skipped) against a real database: 1 try + 5 retries,
    then the ticket is `failed` with the reason. Celery's default max_retries (3) had ended it after
    4 tries with the error re-raised, so the ticket was never recorded failed."""
    from gateway.services.tickets import create_ticket
    from shared import db
    from shared.celery import pipeline_task
    from shared.errors import TransientError
    from shared.models import Ticket
    from shared.schemas import TicketCreate

    with session_factory() as session:
        new = TicketCreate(customer_email="r@example.com", subject="Refund", description="Refund order 5.")
        ticket_id = create_ticket(session, new).ticket_id
    monkeypatch.setattr(db, "get_sessionmaker", lambda: session_factory)
    attempts: list[str] = []
    app = make_celery("t", Settings(redis_url=REDIS_URL))

    @pipeline_task(app, "tests.always_transient", Settings(redis_url=REDIS_URL, task_max_retries=5))
    def always_transient(ticket_id: str) -> str:
        attempts.append(ticket_id)
        raise TransientError("lock timeout")

    assert always_transient.apply(args=[ticket_id]).get() == "failed"
    assert len(attempts) == 6
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.processing_state == "failed" and "lock timeout" in ticket.processing_error
