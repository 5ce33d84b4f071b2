"""First response times in the overview, on SQLite and PostgreSQL. (The webhook path that sets
`first_response_at` is tested in test_webhooks_api.)"""

from __future__ import annotations

from datetime import timedelta

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
        "answered": 0, "p50_hours": None, "p90_hours": None,
    }  # fmt: skip
    for after_h, hours_ago in ((0.5, 1), (2, 30), (1, 50), (8, 100), (3, 24 * 8)):  # the last one: a week ago
        answered(after_h, hours_ago)
    answered(None, 2)  # never answered
    week = api.get("/api/overview").json()["first_response_last_7d"]
    assert week == {"answered": 4, "p50_hours": 1.0, "p90_hours": 8.0}  # of 0.5, 1, 2, 8 hours


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
