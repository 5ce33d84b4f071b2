"""ALERT_ON_BAD_RATING on SQLite and PostgreSQL: a customer's bad rating, relayed through
`POST /api/tickets/{id}/satisfaction`, is alerted in the rating's transaction (`ticket.rated_bad`), once per
rating given, to the ticket's category's route or ALERT_WEBHOOK_URL, without the comment; the delivery task
goes to real Redis and the alert to a real receiver."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from classifier_worker.delivery import deliver
from shared.models import Alert
from shared.schemas import AlertEvent
from tests.classifier_worker.test_alerts import alert_row
from tests.conftest import force_ticket
from tests.gateway.conftest import web_ticket

DESK = "https://desk.example.com/t/{ticket_id}"
COMMENT = "Nobody read what I wrote, Ann at 12 Elm St"


def rated_bad(db_url: str) -> list[Alert]:
    """The bad-rating alerts stored, oldest first."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        table = Alert.__table__
        query = sa.select(table).where(table.c.event == AlertEvent.rated_bad.value).order_by(table.c.created_at)
        rows = [Alert(**dict(row._mapping)) for row in conn.execute(query)]
    engine.dispose()
    return rows


def solved(api, db_url: str, category: str, **values: object) -> str:  # type: ignore[no-untyped-def]
    """A web ticket classified as `category`, high, and resolved."""
    ticket_id = web_ticket(api)
    force_ticket(db_url, ticket_id, category=category, priority="high", ai_suggested_priority="high", **values)
    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}).status_code == 200
    return ticket_id


def rate(api, ticket_id: str, rating: str, comment: str | None = None) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = api.post(f"/api/tickets/{ticket_id}/satisfaction", json={"rating": rating, "comment": comment})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_bad_rating_alerts_once_per_rating_given(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client, session_factory, receiver
):
    billing_hook = receiver.url.replace("/hooks/support", "/hooks/billing")
    api = client_for(
        db_url,
        alert_webhook_url=receiver.url,
        alert_routes=f"billing={billing_hook}",
        alert_on_bad_rating=True,
        alert_ticket_url=DESK,
    )
    assert api.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}).status_code == 201
    billed = solved(api, db_url, "billing")
    assert api.put(f"/api/tickets/{billed}/assign", json={"agent_id": "AG-1"}).status_code == 200
    shipped = solved(api, db_url, "shipping")

    given = rate(api, billed, "bad", COMMENT)
    (alert,) = rated_bad(db_url)
    assert (alert.ticket_id, alert.priority, alert.route) == (billed, "high", "billing")
    assert alert.counted_from.replace(tzinfo=None) == datetime.fromisoformat(given["satisfaction_at"]).replace(
        tzinfo=None
    )
    body = alert.payload
    assert body["event"] == "ticket.rated_bad" and body["id"] == alert.alert_id
    assert body["text"].startswith(f"Bad rating on HIGH billing ticket {billed}, assigned to AG-1: ")
    assert body["text"].endswith(DESK.replace("{ticket_id}", billed))
    assert (body["rating"]["rating"], body["rating"]["has_comment"]) == ("bad", True)
    assert datetime.fromisoformat(body["rating"]["rated_at"]) == datetime.fromisoformat(given["satisfaction_at"])
    assert "Elm St" not in json.dumps(body) and "Nobody read" not in json.dumps(body)  # the words stay out
    assert redis_client.llen("alerts") == 1  # committed, then its delivery task sent

    rate(api, billed, "bad", COMMENT)  # the same answer relayed again: nothing changes
    rate(api, billed, "good", "Sorted now")
    assert len(rated_bad(db_url)) == 1  # a good rating alerts nobody
    rate(api, billed, "bad")  # changed their mind again: a new rating, a new alert
    rate(api, shipped, "bad")  # no route for shipping: ALERT_WEBHOOK_URL
    first, again, unrouted = rated_bad(db_url)
    assert (first.alert_id, again.ticket_id, again.route) == (alert.alert_id, billed, "billing")
    assert again.payload["rating"]["has_comment"] is False
    assert (unrouted.ticket_id, unrouted.route) == (shipped, None)
    assert unrouted.payload["text"].startswith(f"Bad rating on HIGH shipping ticket {shipped}, unassigned: ")
    assert redis_client.llen("alerts") == 3

    for alert_id in (first.alert_id, unrouted.alert_id):
        assert deliver(alert_id, settings=api.app.state.settings, factory=session_factory).status == "delivered"
    assert [(got.path, json.loads(got.body)["id"]) for got in receiver.received] == [
        ("/hooks/billing", first.alert_id),
        ("/hooks/support", unrouted.alert_id),
    ]
    listed = api.get("/api/alerts", params={"event": "ticket.rated_bad"}).json()
    assert {a["alert_id"] for a in listed} == {first.alert_id, again.alert_id, unrouted.alert_id}
    assert alert_row(session_factory, again.alert_id).delivered_at is None


def test_without_the_setting_a_webhook_or_a_priority_no_rating_alerts(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client, receiver
):
    off = client_for(db_url, alert_webhook_url=receiver.url)  # ALERT_ON_BAD_RATING unset
    rate(off, solved(off, db_url, "billing"), "bad")
    routed_elsewhere = client_for(
        db_url, alert_routes=f"billing={receiver.url}", alert_on_bad_rating=True
    )  # routes alone: shipping has no webhook
    rate(routed_elsewhere, solved(routed_elsewhere, db_url, "shipping"), "bad")
    on = client_for(db_url, alert_webhook_url=receiver.url, alert_on_bad_rating=True)
    unclassified = web_ticket(on)  # never classified: no priority to name
    assert on.put(f"/api/tickets/{unclassified}/status", json={"status": "resolved"}).status_code == 200
    rate(on, unclassified, "bad")
    assert rated_bad(db_url) == [] and redis_client.llen("alerts") == 0
    rate(on, solved(on, db_url, "billing"), "bad")
    assert len(rated_bad(db_url)) == 1
