"""The Celery factory's delivery guarantees, and that each pipeline step reaches only its own queue."""

from __future__ import annotations

import json

import redis

from shared.celery import CLASSIFY_QUEUE, DRAFT_QUEUE, KB_QUEUE, KB_SEARCH_TASK, make_celery
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
