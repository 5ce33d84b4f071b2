"""Alerts to the team's webhook when the AI rates a ticket urgent: the outbox row written with the priority,
delivery with signing, retries and give-up rules, and the sweeper's re-send of an alert lost with Redis."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from classifier_worker.delivery import deliver
from gateway.sweeper import sweep_once
from shared.alerts import raise_alert, slack_message, teams_message
from shared.config import Settings
from shared.db import session_scope
from shared.models import Alert, Ticket, utcnow
from shared.outbox import ALERTS, resend_due, signature, verify
from tests.conftest import _truncate, force_ticket, wait_until

SECRET = "whsec-test-0123456789"
OUTAGE = {
    "customer_email": "ops@example.com",
    "subject": "Everything is down",
    "description": "Your service is down for everyone in our company. Nobody can log in since 9am.",
}


def create(api, **fields: object) -> str:  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json={**OUTAGE, **fields})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["ticket_id"]


def rated(api, db_url: str, priority: str) -> str:  # type: ignore[no-untyped-def]
    """A ticket as the classifier would have left it, rated `priority`."""
    ticket_id = create(api)
    force_ticket(
        db_url, ticket_id, ai_suggested_priority=priority, priority=priority, ai_suggested_category="technical",
        ai_reasoning="Service outage cues: down for everyone.", ai_confidence=0.91, urgency_keywords=["down"],
    )  # fmt: skip
    return ticket_id


def add_alert(factory, ticket_id: str, settings: Settings) -> str | None:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        return raise_alert(session, session.get(Ticket, ticket_id), settings)


def alert_row(factory, alert_id: str) -> Alert:  # type: ignore[no-untyped-def]
    with factory() as session:
        row = session.get(Alert, alert_id)
        assert row is not None
        session.expunge(row)
        return row


# --------------------------------------------------------------------------- the outbox


def test_an_alert_is_raised_once_per_priority_reached(api, db_url, session_factory, settings_for, receiver):  # type: ignore[no-untyped-def]
    desk = "https://desk.example.com/t/{ticket_id}"
    settings = settings_for(db_url, alert_webhook_url=receiver.url, alert_min_priority="high", alert_ticket_url=desk)
    ticket_id = rated(api, db_url, "high")

    first = add_alert(session_factory, ticket_id, settings)
    assert first is not None
    assert add_alert(session_factory, ticket_id, settings) is None  # a later round at the same priority
    force_ticket(db_url, ticket_id, ai_suggested_priority="critical")
    second = add_alert(session_factory, ticket_id, settings)
    assert second is not None and second != first  # it got worse: the team hears again
    assert add_alert(session_factory, rated(api, db_url, "medium"), settings) is None  # below the minimum
    off = settings_for(db_url, alert_webhook_url=None)
    assert add_alert(session_factory, rated(api, db_url, "critical"), off) is None  # alerts off

    row = alert_row(session_factory, second)
    assert row.priority == "critical" and row.attempts == 0 and row.delivered_at is None
    body = row.payload
    assert body["id"] == second and body["event"] == "ticket.urgent"
    assert body["ticket"]["ticket_id"] == ticket_id and body["ticket"]["priority"] == "critical"
    assert body["ticket"]["urgency_keywords"] == ["down"] and body["ticket"]["confidence"] == 0.91
    link = f"https://desk.example.com/t/{ticket_id}"
    line = f"CRITICAL technical ticket {ticket_id}: Everything is down. Service outage cues: down for everyone."
    assert body["text"] == f"{line} {link}" and body["ticket"]["url"] == link
    assert "description" not in body["ticket"] and "ops@example.com" not in json.dumps(body)  # no body, no address


def test_the_sweeper_resends_only_alerts_overdue_and_undelivered(api, db_url, session_factory, settings_for, receiver):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, alert_webhook_url=receiver.url)
    ids = [add_alert(session_factory, rated(api, db_url, "critical"), settings) for _ in range(5)]
    later = utcnow() + timedelta(minutes=10)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        table = Alert.__table__
        past = utcnow() - timedelta(minutes=10)
        conn.execute(sa.update(table).values(created_at=past))
        conn.execute(sa.update(table).where(table.c.alert_id == ids[1]).values(next_attempt_at=later))  # in countdown
        conn.execute(sa.update(table).where(table.c.alert_id == ids[2]).values(delivered_at=past))
        conn.execute(sa.update(table).where(table.c.alert_id == ids[3]).values(failed_at=past))
        conn.execute(sa.update(table).where(table.c.alert_id == ids[4]).values(next_attempt_at=past))  # worker died
    engine.dispose()
    add_alert(session_factory, rated(api, db_url, "critical"), settings)  # just raised: its task was just sent

    with session_factory() as session:
        assert sorted(resend_due(session, ALERTS, older_than_s=120)) == sorted([ids[0], ids[4]])
    with session_factory() as session:  # sent once per interval, not on every pass
        assert resend_due(session, ALERTS, older_than_s=120) == []


# --------------------------------------------------------------------------- delivery


def test_a_delivered_alert_is_signed_and_not_sent_again(api, db_url, session_factory, settings_for, receiver):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, alert_webhook_url=receiver.url, alert_webhook_secret=SECRET)
    alert_id = add_alert(session_factory, rated(api, db_url, "critical"), settings)
    assert alert_id is not None

    assert deliver(alert_id, settings=settings, factory=session_factory).status == "delivered"
    assert deliver(alert_id, settings=settings, factory=session_factory).status == "skipped"

    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.headers["x-copilot-alert-id"] == alert_id
    assert json.loads(got.body) == alert_row(session_factory, alert_id).payload
    assert verify(SECRET, got.headers["x-copilot-signature"], got.body, now=int(time.time()))
    assert not verify("another-secret", got.headers["x-copilot-signature"], got.body, now=int(time.time()))
    row = alert_row(session_factory, alert_id)
    assert row.delivered_at is not None and row.attempts == 1 and row.failed_at is None


DESK = "https://desk.example.com/t/{ticket_id}"


def _delivered_in(alert_format: str, subject: str, api, db_url, session_factory, settings_for, receiver):  # type: ignore[no-untyped-def]
    """A critical ticket's alert delivered in `alert_format` to the receiver, the ticket linked (DESK) and signed;
    the ticket's id, the alert's, and what the receiver got."""
    settings = settings_for(
        db_url,
        alert_webhook_url=receiver.url,
        alert_format=alert_format,
        alert_ticket_url=DESK,
        alert_webhook_secret=SECRET,
    )
    ticket_id = rated(api, db_url, "critical")
    force_ticket(db_url, ticket_id, subject=subject, assigned_to=None, category="billing")
    alert_id = add_alert(session_factory, ticket_id, settings)
    assert deliver(alert_id, settings=settings, factory=session_factory).status == "delivered"
    (got,) = receiver.received
    return ticket_id, alert_id, got


def test_in_slack_format_an_alert_is_slacks_message(api, db_url, session_factory, settings_for, receiver):  # type: ignore[no-untyped-def]
    """ALERT_FORMAT=slack: `text` and two blocks, Slack's incoming-webhook message, the subject's `&`, `<` and
    `>` escaped (never a link or a mention), the ticket linked; still signed and carrying the alert's id."""
    subject = "Refund <now> & fast <!channel>"
    ticket_id, alert_id, got = _delivered_in("slack", subject, api, db_url, session_factory, settings_for, receiver)
    message = json.loads(got.body)
    line = f"CRITICAL technical ticket {ticket_id}: Refund &lt;now&gt; &amp; fast &lt;!channel&gt;. Service outage"
    assert set(message) == {"text", "blocks"} and message["text"].startswith(line)
    assert "<" not in message["text"] and DESK.replace("{ticket_id}", ticket_id) not in message["text"]
    section, context = message["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == f"{message['text']} <https://desk.example.com/t/{ticket_id}|Open {ticket_id}>"
    assert context["elements"][0]["text"] == (
        "*Priority:* CRITICAL  ·  *Category:* technical  ·  *Status:* new  ·  *Assigned:* nobody  ·  "
        "*Event:* ticket.urgent"
    )
    assert got.headers["x-copilot-alert-id"] == alert_id
    assert verify(SECRET, got.headers["x-copilot-signature"], got.body, now=int(time.time()))
    assert alert_row(session_factory, alert_id).payload["event"] == "ticket.urgent"  # stored as ever: our body


def test_in_teams_format_an_alert_is_an_adaptive_card(api, db_url, session_factory, settings_for, receiver):  # type: ignore[no-untyped-def]
    """ALERT_FORMAT=teams: the message a Teams channel's Workflows webhook posts, one Adaptive Card with the line,
    the facts and a button opening the ticket; still signed and carrying the alert's id."""
    subject = "Refund <now> & fast"
    ticket_id, alert_id, got = _delivered_in("teams", subject, api, db_url, session_factory, settings_for, receiver)
    message = json.loads(got.body)
    (attachment,) = message["attachments"]
    assert (message["type"], attachment["contentType"]) == ("message", "application/vnd.microsoft.card.adaptive")
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    line, facts = card["body"]
    stored_text = alert_row(session_factory, alert_id).payload["text"]
    url = DESK.replace("{ticket_id}", ticket_id)
    assert line == {"type": "TextBlock", "text": stored_text.removesuffix(f" {url}"), "wrap": True}
    assert line["text"].startswith(f"CRITICAL technical ticket {ticket_id}: Refund <now> & fast. Service outage")
    assert facts == {
        "type": "FactSet",
        "facts": [
            {"title": "Priority", "value": "CRITICAL"},
            {"title": "Category", "value": "technical"},
            {"title": "Status", "value": "new"},
            {"title": "Assigned", "value": "nobody"},
            {"title": "Event", "value": "ticket.urgent"},
        ],
    }
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": f"Open {ticket_id}", "url": url}]
    assert got.headers["x-copilot-alert-id"] == alert_id
    assert verify(SECRET, got.headers["x-copilot-signature"], got.body, now=int(time.time()))


DUE_WITHOUT_LINK = {  # a due alert's body with ALERT_TICKET_URL unset, its ticket not classified yet
    "event": "ticket.reply_due",
    "text": "HIGH ticket TKT-1: first response due in 20 min, assigned to AG-7: Where is my order?",
    "due": {"target": "first_response", "due_at": "2026-12-07T14:00:00+00:00"},
    "ticket": {"ticket_id": "TKT-1", "url": None, "priority": "high", "working_priority": "critical",
               "category": None, "status": "open", "assigned_to": "AG-7"},
}  # fmt: skip


def test_a_due_alert_without_a_link_in_a_teams_card() -> None:
    body = DUE_WITHOUT_LINK
    card = teams_message(body)["attachments"][0]["content"]
    assert "actions" not in card and card["body"][0]["text"] == body["text"]  # no link, no button
    assert [(f["title"], f["value"]) for f in card["body"][1]["facts"]] == [
        ("Priority", "CRITICAL"), ("Status", "open"), ("Assigned", "AG-7"), ("Due", "2026-12-07T14:00:00+00:00"),
        ("Event", "ticket.reply_due"),
    ]  # fmt: skip


def test_a_due_alert_without_a_link_in_slacks_message() -> None:
    body = DUE_WITHOUT_LINK
    message = slack_message(body)
    assert message["text"] == body["text"] and message["blocks"][0]["text"]["text"] == body["text"]  # no link
    assert message["blocks"][1]["elements"][0]["text"] == (
        "*Priority:* CRITICAL  ·  *Status:* open  ·  *Assigned:* AG-7  ·  *Due:* 2026-12-07T14:00:00+00:00  ·  "
        "*Event:* ticket.reply_due"
    )  # the working priority, whose target it is; no category yet


def test_a_refused_alert_fails_at_once_and_a_failing_one_after_its_attempts(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver
):
    settings = settings_for(db_url, alert_webhook_url=receiver.url, alert_max_attempts=2)
    refused = add_alert(session_factory, rated(api, db_url, "critical"), settings)
    receiver.answer(410)
    outcome = deliver(refused, settings=settings, factory=session_factory)
    assert outcome.status == "failed" and "HTTP 410" in (outcome.error or "")
    row = alert_row(session_factory, refused)
    assert row.failed_at is not None and row.attempts == 1 and "HTTP 410" in (row.last_error or "")

    failing = add_alert(session_factory, rated(api, db_url, "critical"), settings)
    receiver.answer(503, {"retry-after": "7"})
    outcome = deliver(failing, settings=settings, factory=session_factory)
    assert outcome.status == "retry" and 7 <= outcome.countdown <= 300  # the receiver's Retry-After, at least
    row = alert_row(session_factory, failing)
    assert row.failed_at is None and row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    # Not due yet: a duplicate of the task (or the sweeper) finds nothing to do
    assert deliver(failing, settings=settings, factory=session_factory).status == "skipped"
    force_ticket_alert(db_url, failing, next_attempt_at=utcnow() - timedelta(seconds=1))
    receiver.answer(500)
    assert deliver(failing, settings=settings, factory=session_factory).status == "failed"  # 2 of 2 spent
    row = alert_row(session_factory, failing)
    assert row.failed_at is not None and row.attempts == 2 and row.last_error.startswith("HTTP 500")
    assert len(receiver.received) == 3


def test_an_unreachable_webhook_is_retried(api, db_url, session_factory, settings_for):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, alert_webhook_url="http://127.0.0.1:9/hooks", alert_timeout_s=2)
    alert_id = add_alert(session_factory, rated(api, db_url, "critical"), settings)
    outcome = deliver(alert_id, settings=settings, factory=session_factory)
    assert outcome.status == "retry" and "ConnectError" in (outcome.error or "")
    assert alert_row(session_factory, alert_id).attempts == 1


def force_ticket_alert(url: str, alert_id: str, **values: object) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(Alert.__table__).where(Alert.__table__.c.alert_id == alert_id).values(**values))
    engine.dispose()


def test_signatures() -> None:
    body = b'{"id":"a"}'
    header = signature(SECRET, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body + b" ", now=1_700_000_100)  # altered body
    assert not verify(SECRET, header, body, now=1_700_000_000 + 301)  # replayed later than the tolerance
    assert not verify(SECRET, "v1=" + header.split("v1=")[1], body, now=1_700_000_000)  # no timestamp


def test_the_webhook_url_is_checked_at_start() -> None:
    with pytest.raises(ValidationError, match="must start with http"):
        Settings(alert_webhook_url="hooks.example.com/support")
    assert Settings(alert_webhook_url="", alert_webhook_secret="").alert_webhook_secret is None  # compose's empty
    assert Settings(alert_webhook_url="").alert_webhook_url is None
    with pytest.raises(ValidationError):
        Settings(alert_min_priority="urgent")
    with pytest.raises(ValidationError, match=r"must hold \{ticket_id\}"):
        Settings(alert_ticket_url="https://desk.example.com/tickets/")


# --------------------------------------------------------------------------- real workers


@pytest.fixture
def pg(pg_url: str, redis_client) -> str:  # type: ignore[no-untyped-def]
    _truncate(pg_url)
    return pg_url


def _alerts(url: str) -> list[dict]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        table = Alert.__table__
        rows = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.created_at))]
    engine.dispose()
    return rows


def _state(api, ticket_id: str) -> str:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}").json()["processing_state"]


@pytest.mark.slow
def test_a_critical_ticket_reaches_the_webhook_through_the_workers(client_for, start_worker, pg, receiver):  # type: ignore[no-untyped-def]
    """The classifier worker rates it critical and writes the alert; the alert worker delivers it, retrying a
    503; the customer writing again (a new round, still critical) alerts nobody twice; a calm ticket not at all."""
    env = {"ALERT_WEBHOOK_URL": receiver.url, "ALERT_WEBHOOK_SECRET": SECRET}
    start_worker("classifier_worker", pg, queues="classify", **env)
    start_worker("classifier_worker", pg, queues="alerts", app="alert_worker", **env)
    api = client_for(pg)
    receiver.answer(503)

    calm = create(api, subject="Opening hours", description="Hello, what are your opening hours on Saturday?")
    ticket_id = create(api)
    wait_until(lambda: len(receiver.received) >= 2, timeout=90)

    first, second = receiver.received[:2]
    assert first.body == second.body  # the same alert, tried again after the 503
    body = json.loads(second.body)
    assert body["ticket"]["ticket_id"] == ticket_id and body["ticket"]["priority"] == "critical"
    assert body["ticket"]["url"] is None  # no ALERT_TICKET_URL
    assert verify(SECRET, second.headers["x-copilot-signature"], second.body, now=int(time.time()))
    wait_until(lambda: _alerts(pg)[0]["delivered_at"] is not None, timeout=30)
    (row,) = _alerts(pg)
    assert row["attempts"] == 2 and row["last_error"].startswith("HTTP 503") and row["alert_id"] == body["id"]

    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "Still down!! Fix it now."})
    assert response.status_code == 201, response.text
    wait_until(lambda: _state(api, ticket_id) == "classified", timeout=60)
    wait_until(lambda: _state(api, calm) == "classified", timeout=60)
    time.sleep(1.5)  # time for a wrongly sent second alert to arrive
    assert len(receiver.received) == 2 and len(_alerts(pg)) == 1


@pytest.mark.slow
def test_an_alert_lost_with_redis_is_swept_and_delivered(  # type: ignore[no-untyped-def]
    client_for, start_worker, pg, receiver, redis_client, settings_for
):
    env = {"ALERT_WEBHOOK_URL": receiver.url}
    start_worker("classifier_worker", pg, queues="classify", **env)
    api = client_for(pg)
    ticket_id = create(api)
    wait_until(lambda: redis_client.llen("alerts") == 1, timeout=90)  # committed, then sent
    assert len(_alerts(pg)) == 1
    redis_client.flushdb()  # the delivery task, queued for an alert worker not yet running, is gone
    start_worker("classifier_worker", pg, queues="alerts", app="alert_worker", **env)
    time.sleep(1.5)
    assert receiver.received == []

    settings = settings_for(pg, alert_webhook_url=receiver.url, sweep_stale_after_s=0.001)
    swept = sweep_once(sa.orm.sessionmaker(sa.create_engine(pg)), settings)
    assert swept.alerts == (_alerts(pg)[0]["alert_id"],)
    wait_until(lambda: receiver.received, timeout=30)
    assert json.loads(receiver.received[0].body)["ticket"]["ticket_id"] == ticket_id
    wait_until(lambda: _alerts(pg)[0]["delivered_at"] is not None, timeout=30)
