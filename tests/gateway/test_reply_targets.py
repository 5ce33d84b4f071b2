"""The reply target of every customer's current wait (`reply_due_at`), on SQLite and PostgreSQL: the first
response target until a ticket is first answered, the next reply target (NEXT_REPLY_*_HOURS) after; the
list's queue of those kept waiting past it and the overview's counts."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.models import utcnow
from tests.conftest import force_ticket

TICKET = {"customer_email": "again@example.com", "subject": "Refund?", "description": "Where is my refund?"}


def _forced(api, **columns) -> str:  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json=TICKET)
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket"]["ticket_id"]
    force_ticket(api.app.state.settings.database_url, ticket_id, **columns)
    return ticket_id


def _post(api, ticket_id: str, route: str, **body) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/{route}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _due_after(view: dict, start: str) -> float | None:
    """Hours from `start` (a timestamp field of the view, or a timestamp) to the view's `reply_due_at`."""
    if view["reply_due_at"] is None:
        return None
    begin = datetime.fromisoformat(view.get(start) or start)
    return (datetime.fromisoformat(view["reply_due_at"]) - begin) / timedelta(hours=1)


def _ids(api, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = api.get(f"/api/tickets/?{query}")
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def test_the_reply_target_follows_the_conversation(api):
    """High priority: 4 h to the first answer from arrival, then 8 h from each message that reopens the wait."""
    ticket_id = _forced(api)
    assert api.get(f"/api/tickets/{ticket_id}").json()["reply_due_at"] is None  # no priority yet: no target
    force_ticket(api.app.state.settings.database_url, ticket_id, priority="high")
    view = api.get(f"/api/tickets/{ticket_id}").json()
    assert _due_after(view, "created_at") == 4.0
    assert view["reply_due_at"] == view["first_response_due_at"]

    assert (
        _post(api, ticket_id, "messages", body="Checking.", internal=True)["ticket"]["reply_due_at"]
        == (view["reply_due_at"])
    )  # a note answers nobody
    assert _post(api, ticket_id, "messages", body="Refund sent today.")["ticket"]["reply_due_at"] is None

    wrote = _post(api, ticket_id, "customer-messages", body="It is not on my card yet.")
    assert _due_after(wrote["ticket"], wrote["message"]["created_at"]) == 8.0  # the next reply target
    again = _post(api, ticket_id, "customer-messages", body="Hello??")["ticket"]
    assert again["reply_due_at"] == wrote["ticket"]["reply_due_at"]  # from their first unanswered message

    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}).status_code == 200
    assert api.get(f"/api/tickets/{ticket_id}").json()["reply_due_at"] is None


def test_customers_kept_waiting_past_their_reply_target(api):
    """Defaults: first response 1/4/8/24 h, next reply 2/8/16/24 h (critical/high/medium/low)."""
    now = utcnow()

    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    answered = {"first_response_at": ago(40)}
    never_critical = _forced(api, priority="critical", awaiting_reply_since=ago(2))  # 1 h: 1 h late
    again_critical = _forced(api, priority="critical", awaiting_reply_since=ago(1.5), **answered)  # 2 h: in time
    again_high = _forced(api, priority="high", awaiting_reply_since=ago(10), **answered)  # 8 h: 2 h late
    again_low = _forced(api, priority="low", awaiting_reply_since=ago(30), status="pending", **answered)  # 6 h late
    replied_medium = _forced(api, priority="medium", awaiting_reply_since=None, **answered)
    resolved_high = _forced(api, priority="high", awaiting_reply_since=ago(20), status="resolved", **answered)
    untargeted = _forced(api, awaiting_reply_since=ago(100))

    body = api.get("/api/overview").json()
    assert body["next_reply_targets_hours"] == {"low": 24.0, "medium": 16.0, "high": 8.0, "critical": 2.0}
    assert body["reply_overdue"] == 3
    assert body["reply_overdue_by_priority"] == {"low": 1, "medium": 0, "high": 1, "critical": 1}
    assert body["unanswered_overdue"] == 0  # every ticket here was created just now

    assert _ids(api, "reply_overdue=true&sort=reply_due") == [again_low, again_high, never_critical]
    assert _ids(api, "awaiting_reply=true&sort=reply_due") == [
        again_low, again_high, never_critical, again_critical, untargeted,
    ]  # fmt: skip
    assert set(_ids(api, "reply_overdue=false")) == {again_critical, replied_medium, resolved_high, untargeted}
    assert _ids(api, "sort=reply_due")[-2:] == [replied_medium, untargeted]  # no target: last, by arrival
    assert _due_after(api.get(f"/api/tickets/{again_low}").json(), "awaiting_reply_since") == 24.0
    assert _due_after(api.get(f"/api/tickets/{never_critical}").json(), "awaiting_reply_since") == 1.0

    response = api.get("/api/tickets/?reply_overdue=soon")
    assert response.status_code == 422 and "reply_overdue" in response.json()["detail"], response.text
    assert api.get("/api/tickets/?sort=reply").status_code == 422


def test_next_reply_targets_come_from_settings(client_for, db_url, redis_client):
    api = client_for(db_url, next_reply_critical_hours=1, first_response_critical_hours=3)
    now = utcnow()
    again = _forced(api, priority="critical", awaiting_reply_since=now - timedelta(hours=1.5),
                    first_response_at=now - timedelta(hours=5))  # fmt: skip
    never = _forced(api, priority="critical", awaiting_reply_since=now - timedelta(hours=2))

    body = api.get("/api/overview").json()
    assert body["next_reply_targets_hours"]["critical"] == 1.0
    assert body["reply_overdue_by_priority"]["critical"] == 1
    assert _ids(api, "reply_overdue=true") == [again]
    assert _ids(api, "awaiting_reply=true&sort=reply_due") == [again, never]  # 0.5 h late; due in 1 h
