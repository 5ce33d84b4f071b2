"""First response times in the overview, on SQLite and PostgreSQL. (The webhook path that sets
`first_response_at` is tested in test_webhooks_api.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.models import utcnow
from tests.conftest import force_ticket

TICKET = {"customer_email": "wait@example.com", "subject": "Refund?", "description": "Where is my refund?"}


def test_overview_reports_the_weeks_first_response_times(api):
    now = utcnow()

    def answered(after_h: float | None, hours_ago: float) -> None:
        ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
        at = now - timedelta(hours=hours_ago)
        first = None if after_h is None else at
        force_ticket(api.app.state.settings.database_url, ticket_id, created_at=at - timedelta(hours=after_h or 0),
                     first_response_at=first)  # fmt: skip

    assert api.get("/api/overview").json()["first_response_last_7d"] == {
        "answered": 0, "p50_hours": None, "p90_hours": None, "within_target": None,
    }  # fmt: skip
    for after_h, hours_ago in ((0.5, 1), (2, 30), (1, 50), (8, 100), (3, 24 * 8)):  # the last one: a week ago
        answered(after_h, hours_ago)
    answered(None, 2)  # never answered
    week = api.get("/api/overview").json()["first_response_last_7d"]
    assert week == {"answered": 4, "p50_hours": 1.0, "p90_hours": 8.0, "within_target": None}  # of 0.5, 1, 2, 8 h
    # (none had a priority, so none had a target)


def _ids(api, query):  # type: ignore[no-untyped-def]
    response = api.get(f"/api/tickets/?{query}")
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def test_the_list_finds_tickets_still_waiting_for_an_answer_by_source(api):
    def ticket(source: str, answered: bool = False) -> str:
        response = api.post("/api/tickets/create", json={**TICKET, "source": source})
        assert response.status_code == 201, response.text
        ticket_id = response.json()["ticket"]["ticket_id"]
        if answered:
            force_ticket(api.app.state.settings.database_url, ticket_id, first_response_at=utcnow())
        return ticket_id

    waiting = ticket("zendesk")
    replied = ticket("zendesk", answered=True)
    chat = ticket("intercom")
    form = ticket("web")

    assert _ids(api, "source=zendesk&answered=false") == [waiting]
    assert _ids(api, "answered=true") == [replied]
    assert _ids(api, "answered=false") == [form, chat, waiting]  # newest first
    assert _ids(api, "source=zendesk") == [replied, waiting]
    assert _ids(api, "source=web") == [form] and _ids(api, "source=email") == []
    for query, field in (("source=Zendesk", "source"), ("answered=maybe", "answered")):
        response = api.get(f"/api/tickets/?{query}")
        assert response.status_code == 422 and response.json()["detail"].startswith(f"query.{field}:"), response.text


def _forced(api, **columns) -> str:  # type: ignore[no-untyped-def]
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    force_ticket(api.app.state.settings.database_url, ticket_id, **columns)
    return ticket_id


def test_tickets_past_their_first_response_target(api):
    """Unresolved, never answered, and past the priority's first response target (1/4/8/24 h by default)."""
    now = utcnow()

    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    late_critical = _forced(api, priority="critical", created_at=ago(2))
    fresh_critical = _forced(api, priority="critical", created_at=ago(0.5))
    late_low = _forced(api, priority="low", created_at=ago(30), status="pending")
    answered_high = _forced(api, priority="high", created_at=ago(10), first_response_at=ago(9))  # in 1 h
    slow_high = _forced(api, priority="high", created_at=ago(12), first_response_at=ago(6))  # in 6 h: late
    resolved_medium = _forced(api, priority="medium", created_at=ago(20), status="resolved", resolved_at=ago(1))
    untargeted = _forced(api, created_at=ago(100))

    body = api.get("/api/overview").json()
    assert body["first_response_targets_hours"] == {"low": 24.0, "medium": 8.0, "high": 4.0, "critical": 1.0}
    assert body["unanswered_overdue"] == 2  # not the resolved one, nor the one without a priority
    assert body["unanswered_overdue_by_priority"] == {"low": 1, "medium": 0, "high": 0, "critical": 1}
    assert body["first_response_last_7d"]["answered"] == 2
    assert body["first_response_last_7d"]["within_target"] == 0.5

    assert _ids(api, "unanswered_overdue=true") == [late_critical, late_low]  # newest first
    assert _ids(api, "unanswered_overdue=true&sort=first_response_due") == [late_low, late_critical]
    assert set(_ids(api, "unanswered_overdue=false")) == {
        fresh_critical, answered_high, slow_high, resolved_medium, untargeted,
    }  # fmt: skip
    # The queue of customers waiting for anyone to write back, whichever runs out first (no priority: last).
    assert _ids(api, "answered=false&sort=first_response_due") == [
        resolved_medium, late_low, late_critical, fresh_critical, untargeted,
    ]  # fmt: skip

    def due_in_hours(ticket_id: str) -> float | None:
        view = api.get(f"/api/tickets/{ticket_id}").json()
        if view["first_response_due_at"] is None:
            return None
        due = datetime.fromisoformat(view["first_response_due_at"]) - datetime.fromisoformat(view["created_at"])
        return due / timedelta(hours=1)

    assert due_in_hours(late_critical) == 1.0 and due_in_hours(late_low) == 24.0
    assert due_in_hours(answered_high) is None and due_in_hours(untargeted) is None  # answered; no priority
    response = api.get("/api/tickets/?unanswered_overdue=soon")
    assert response.status_code == 422 and "unanswered_overdue" in response.json()["detail"], response.text


def test_first_response_targets_come_from_settings(client_for, db_url, redis_client):
    api = client_for(db_url, first_response_critical_hours=3, first_response_low_hours=0.25)
    now = utcnow()
    critical = _forced(api, priority="critical", created_at=now - timedelta(hours=2))
    low = _forced(api, priority="low", created_at=now - timedelta(hours=1))

    body = api.get("/api/overview").json()
    assert body["first_response_targets_hours"]["critical"] == 3.0
    assert body["unanswered_overdue_by_priority"] == {"low": 1, "medium": 0, "high": 0, "critical": 0}
    assert _ids(api, "unanswered_overdue=true") == [low]
    assert _ids(api, "answered=false&sort=first_response_due") == [low, critical]  # by the defaults: critical first
