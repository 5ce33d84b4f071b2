"""ALERT_BATCH_MAX: an alert's delivery takes the other alerts due for its webhook with it, as one digest (JSON
or one Slack message), each alert keeping its own outcome and attempts; on both databases, a real receiver."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from classifier_worker.delivery import deliver
from shared.alerts import slack_message
from shared.config import MAX_ALERT_BATCH, Settings
from shared.models import utcnow
from tests.classifier_worker.test_alert_routes import of_category, route_to
from tests.classifier_worker.test_alerts import add_alert, alert_row, force_ticket_alert, rated


def _alerts(api, db_url, session_factory, settings, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`n` critical alerts to ALERT_WEBHOOK_URL, raised a minute apart, the first the oldest."""
    ids = [add_alert(session_factory, rated(api, db_url, "critical"), settings) for _ in range(n)]
    for age, alert_id in enumerate(reversed(ids), start=1):
        force_ticket_alert(db_url, alert_id, created_at=utcnow() - timedelta(minutes=age))
    return ids  # type: ignore[return-value]


def test_due_alerts_go_together_up_to_the_batch_and_each_is_delivered(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver
):
    single = settings_for(db_url, alert_webhook_url=receiver.url)
    alone, left = _alerts(api, db_url, session_factory, single, 2)
    assert deliver(alone, settings=single, factory=session_factory).status == "delivered"  # ALERT_BATCH_MAX=1
    assert json.loads(receiver.received[0].body) == alert_row(session_factory, alone).payload
    assert alert_row(session_factory, left).delivered_at is None
    force_ticket_alert(db_url, left, delivered_at=utcnow())

    settings = settings_for(
        db_url,
        alert_webhook_url=receiver.url,
        alert_routes=f"billing={route_to(receiver, 'billing')}",
        alert_batch_max=3,
    )
    ids = _alerts(api, db_url, session_factory, settings, 5)
    billing = add_alert(session_factory, of_category(api, db_url, "billing"), settings)
    later = ids[0]  # the oldest, waiting for its retry: not due, so it takes no place in the digest
    force_ticket_alert(db_url, later, next_attempt_at=utcnow() + timedelta(minutes=5))

    assert deliver(ids[2], settings=settings, factory=session_factory).status == "delivered"
    first = receiver.received[1]
    body = json.loads(first.body)
    assert first.headers["x-copilot-alert-id"] == ids[2]
    assert (body["id"], body["event"], body["count"]) == (ids[2], "alert.digest", 3)
    assert body["text"] == "3 alerts: 3 ticket.urgent"
    assert [a["id"] for a in body["alerts"]] == [ids[2], ids[1], ids[3]]  # its own, then the oldest due
    assert body["alerts"] == [alert_row(session_factory, a).payload for a in (ids[2], ids[1], ids[3])]
    for taken in (ids[2], ids[1], ids[3]):
        row = alert_row(session_factory, taken)
        assert row.delivered_at is not None and row.attempts == 1
    assert deliver(ids[1], settings=settings, factory=session_factory).status == "skipped"  # its own task, later

    assert deliver(ids[4], settings=settings, factory=session_factory).status == "delivered"
    alone_now = json.loads(receiver.received[2].body)  # the one left due: sent as itself, not a digest of one
    assert alone_now == alert_row(session_factory, ids[4]).payload
    assert alert_row(session_factory, later).delivered_at is None  # not due: left to its own retry
    assert deliver(billing, settings=settings, factory=session_factory).status == "delivered"
    assert receiver.received[3].path == "/hooks/billing"  # another webhook's alerts never join
    assert json.loads(receiver.received[3].body)["id"] == billing
    assert len(receiver.received) == 4


def test_a_failing_digest_is_retried_or_failed_per_alert(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver
):
    settings = settings_for(db_url, alert_webhook_url=receiver.url, alert_batch_max=5, alert_max_attempts=2)
    tried, fresh = _alerts(api, db_url, session_factory, settings, 2)
    force_ticket_alert(db_url, tried, attempts=1)  # its first attempt failed; due again now
    receiver.answer(503)
    outcome = deliver(fresh, settings=settings, factory=session_factory)
    assert (outcome.status, outcome.handed_back) == ("retry", ())  # its own retry takes the others again
    assert json.loads(receiver.received[0].body)["count"] == 2
    spent = alert_row(session_factory, tried)
    assert (spent.attempts, spent.failed_at is not None, spent.last_error) == (2, True, "HTTP 503: ok")
    waiting = alert_row(session_factory, fresh)
    assert (waiting.attempts, waiting.failed_at, waiting.delivered_at) == (1, None, None)
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at > utcnow()

    refused = _alerts(api, db_url, session_factory, settings, 2)
    receiver.answer(410)
    assert deliver(refused[1], settings=settings, factory=session_factory).status == "failed"
    for alert_id in refused:
        row = alert_row(session_factory, alert_id)
        assert row.failed_at is not None and row.last_error == "HTTP 410: ok"
    assert alert_row(session_factory, fresh).failed_at is None  # not due: not in that digest


def test_in_slack_format_a_digest_is_one_message(api, db_url, session_factory, settings_for, receiver) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        db_url, alert_webhook_url=receiver.url, alert_format="slack", alert_batch_max=MAX_ALERT_BATCH
    )
    ids = _alerts(api, db_url, session_factory, settings, 3)
    assert deliver(ids[0], settings=settings, factory=session_factory).status == "delivered"
    message = json.loads(receiver.received[0].body)
    assert message["text"] == "3 alerts: 3 ticket.urgent"
    assert message["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*3 alerts: 3 ticket.urgent*"},
    }
    assert message["blocks"][1:] == [slack_message(alert_row(session_factory, a).payload)["blocks"][0] for a in ids]
    assert len(receiver.received) == 1


def test_in_teams_format_a_digest_is_one_card(api, db_url, session_factory, settings_for, receiver) -> None:  # type: ignore[no-untyped-def]
    desk = "https://desk.example.com/t/{ticket_id}"
    settings = settings_for(
        db_url, alert_webhook_url=receiver.url, alert_format="teams", alert_ticket_url=desk, alert_batch_max=5
    )
    ids = _alerts(api, db_url, session_factory, settings, 3)
    assert deliver(ids[0], settings=settings, factory=session_factory).status == "delivered"
    (got,) = receiver.received
    card = json.loads(got.body)["attachments"][0]["content"]
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": "3 alerts: 3 ticket.urgent",
        "weight": "Bolder",
        "wrap": True,
    }
    lines = []
    for alert_id in ids:
        payload = alert_row(session_factory, alert_id).payload
        url = payload["ticket"]["url"]
        lines.append(f"{payload['text'].removesuffix(f' {url}')} [Open {payload['ticket']['ticket_id']}]({url})")
    assert [block["text"] for block in card["body"][1:]] == lines and "actions" not in card


def test_a_failed_digests_others_with_attempts_left_are_handed_back(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver
):
    """The alert delivering the digest spends its last attempt: its task ends, so the others it took, whose own
    tasks found them taken, are handed back to be sent again, all due at the same time."""
    settings = settings_for(db_url, alert_webhook_url=receiver.url, alert_batch_max=5, alert_max_attempts=2)
    spent, fresh, other = _alerts(api, db_url, session_factory, settings, 3)
    force_ticket_alert(db_url, spent, attempts=1)
    receiver.answer(503)
    outcome = deliver(spent, settings=settings, factory=session_factory)
    assert (outcome.status, outcome.error) == ("failed", "HTTP 503: ok")
    assert json.loads(receiver.received[0].body)["count"] == 3
    assert set(outcome.handed_back) == {fresh, other} and outcome.countdown > 0
    assert alert_row(session_factory, spent).failed_at is not None
    waiting = [alert_row(session_factory, each) for each in (fresh, other)]
    assert [(row.attempts, row.failed_at, row.delivered_at) for row in waiting] == [(1, None, None)] * 2
    assert waiting[0].next_attempt_at == waiting[1].next_attempt_at  # one time: one retry takes both
    assert waiting[0].next_attempt_at is not None and waiting[0].next_attempt_at > utcnow()

    force_ticket_alert(db_url, fresh, next_attempt_at=utcnow())  # its handed-back task, due now
    force_ticket_alert(db_url, other, next_attempt_at=utcnow())
    assert deliver(fresh, settings=settings, factory=session_factory).status == "delivered"
    assert json.loads(receiver.received[1].body)["count"] == 2
    assert deliver(other, settings=settings, factory=session_factory).status == "skipped"


@pytest.mark.parametrize("value", [0, MAX_ALERT_BATCH + 1])
def test_the_batch_is_bounded_at_start(value: int) -> None:
    with pytest.raises(ValidationError, match="alert_batch_max"):
        Settings(alert_batch_max=value)


@pytest.mark.slow
def test_a_real_alert_worker_sends_a_burst_as_digests_each_alert_once(  # type: ignore[no-untyped-def]
    client_for, start_worker, pg_url, redis_client, receiver, settings_for
):
    """Twelve alerts' tasks reach a real alert worker at once: the first delivery takes the others due with it;
    their own tasks find them delivered. Every alert arrives once, in fewer POSTs than alerts."""
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker

    from shared.alerts import send_alert
    from tests.conftest import _truncate, wait_until

    _truncate(pg_url)
    start_worker(
        "classifier_worker", pg_url, queues="alerts", app="alert_worker",
        ALERT_WEBHOOK_URL=receiver.url, ALERT_BATCH_MAX="20",
    )  # fmt: skip
    api = client_for(pg_url)
    settings = settings_for(pg_url, alert_webhook_url=receiver.url)
    engine = sa.create_engine(pg_url)
    factory = sessionmaker(engine)
    ids = [add_alert(factory, rated(api, pg_url, "critical"), settings) for _ in range(12)]
    assert all(send_alert(alert_id) for alert_id in ids)  # type: ignore[arg-type]

    def delivered() -> bool:
        return all(alert_row(factory, alert_id).delivered_at is not None for alert_id in ids)  # type: ignore[arg-type]

    wait_until(delivered, timeout=60)
    engine.dispose()
    bodies = [json.loads(got.body) for got in receiver.received]
    arrived = [a["id"] for body in bodies for a in (body["alerts"] if body["event"] == "alert.digest" else [body])]
    assert sorted(arrived) == sorted(ids)  # each once
    assert len(bodies) < len(ids)


@pytest.mark.slow
def test_a_real_alert_worker_retries_past_celerys_default_limit(  # type: ignore[no-untyped-def]
    client_for, start_worker, pg_url, redis_client, receiver, settings_for
):
    """Four 503s, then a 200: the fifth attempt delivers it, from the worker's own retries (no sweeper runs
    here). Celery ends a task at its fourth retry unless told otherwise, which left the row waiting."""
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker

    from shared.alerts import send_alert
    from tests.conftest import _truncate, wait_until

    _truncate(pg_url)
    for _ in range(4):
        receiver.answer(503)
    worker = start_worker(
        "classifier_worker", pg_url, queues="alerts", app="alert_worker",
        ALERT_WEBHOOK_URL=receiver.url, ALERT_MAX_ATTEMPTS="6",
    )  # fmt: skip
    api = client_for(pg_url)
    engine = sa.create_engine(pg_url)
    factory = sessionmaker(engine)
    alert_id = add_alert(factory, rated(api, pg_url, "critical"), settings_for(pg_url, alert_webhook_url=receiver.url))
    assert alert_id is not None and send_alert(alert_id)
    wait_until(lambda: alert_row(factory, alert_id).delivered_at is not None, timeout=90)
    assert alert_row(factory, alert_id).attempts == 5 and len(receiver.received) == 5
    engine.dispose()
    assert "MaxRetriesExceededError" not in worker.log()


@pytest.mark.slow
def test_a_real_alert_worker_sends_a_failed_digests_others_again(  # type: ignore[no-untyped-def]
    client_for, start_worker, pg_url, redis_client, receiver, settings_for
):
    """A digest's sender spends its last attempt on a 503; the other alert in it, whose own task is long gone,
    is delivered by the task handed back for it, with no sweeper running."""
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker

    from shared.alerts import send_alert
    from tests.conftest import _truncate, wait_until

    _truncate(pg_url)
    receiver.answer(503)
    start_worker(
        "classifier_worker", pg_url, queues="alerts", app="alert_worker",
        ALERT_WEBHOOK_URL=receiver.url, ALERT_BATCH_MAX="5", ALERT_MAX_ATTEMPTS="2",
    )  # fmt: skip
    api = client_for(pg_url)
    settings = settings_for(pg_url, alert_webhook_url=receiver.url)
    engine = sa.create_engine(pg_url)
    factory = sessionmaker(engine)
    spent, other = (add_alert(factory, rated(api, pg_url, "critical"), settings) for _ in range(2))
    assert spent is not None and other is not None
    force_ticket_alert(pg_url, spent, attempts=1)
    assert send_alert(spent)  # `other` has no task: its own ran, found it taken by the digest, and ended
    wait_until(lambda: alert_row(factory, other).delivered_at is not None, timeout=60)
    assert alert_row(factory, spent).failed_at is not None
    assert [json.loads(got.body).get("count") for got in receiver.received] == [2, None]
    engine.dispose()
