"""`GET /api/overview` on SQLite and PostgreSQL: every count checked against tickets set up by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.models import utcnow
from tests.conftest import force_ticket

TICKET = {
    "customer_email": "queue@example.com",
    "subject": "Where is my parcel?",
    "description": "Order #5521 has not arrived.",
}


def _create(api, **forced):  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json=TICKET)
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket"]["ticket_id"]
    if forced:
        force_ticket(api.app.state.settings.database_url, ticket_id, **forced)
    return ticket_id


def _overview(api):  # type: ignore[no-untyped-def]
    response = api.get("/api/overview")
    assert response.status_code == 200, response.text
    return response.json()


def test_empty_queue_lists_every_key_at_zero(api):
    body = _overview(api)
    assert body["total"] == body["unresolved"] == body["unresolved_unassigned"] == 0
    assert body["by_status"] == dict.fromkeys(["new", "open", "in_progress", "pending", "resolved", "closed"], 0)
    assert body["processing"] == dict.fromkeys(["queued", "classified", "done", "failed"], 0)
    assert body["unresolved_by_priority"] == dict.fromkeys(["low", "medium", "high", "critical", "unclassified"], 0)
    assert list(body["unresolved_by_category"]) == [
        "shipping", "billing", "refund", "account", "order", "product", "subscription", "technical", "general",
        "unclassified",
    ]  # fmt: skip
    assert body["unresolved_by_agent"] == {} and body["oldest_waiting"] is None
    assert body["created_last_hour"] == body["created_last_24h"] == 0


def test_counts_break_the_unresolved_queue_down(api):
    assert api.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}).status_code == 201
    assert api.post("/api/agents", json={"agent_id": "AG-2", "name": "Bo"}).status_code == 201
    done = {"processing_state": "done"}
    a = _create(api, priority="high", category="shipping", needs_review=True, **done)
    b = _create(api, priority="high", category="billing", status="open", **done)
    c = _create(api, priority="low", category="billing", status="pending", **done)
    _create(api, priority="critical", category="billing", status="resolved", needs_review=True, **done)
    _create(api, priority="critical", category="refund", status="closed", processing_state="failed")
    _create(api)  # still queued: neither priority nor category yet
    for ticket_id, agent in ((a, "AG-1"), (b, "AG-1"), (c, "AG-2")):
        assert api.put(f"/api/tickets/{ticket_id}/assign", json={"agent_id": agent}).status_code == 200

    body = _overview(api)
    assert body["total"] == 6
    assert body["by_status"] == {"new": 2, "open": 1, "in_progress": 0, "pending": 1, "resolved": 1, "closed": 1}
    assert body["unresolved"] == 4
    assert body["unresolved_by_priority"] == {"low": 1, "medium": 0, "high": 2, "critical": 0, "unclassified": 1}
    categories = {k: v for k, v in body["unresolved_by_category"].items() if v}
    assert categories == {"shipping": 1, "billing": 2, "unclassified": 1}
    assert body["unresolved_by_agent"] == {"AG-1": 2, "AG-2": 1}
    assert body["unresolved_unassigned"] == 1
    assert body["unresolved_needs_review"] == 1  # the resolved flagged one is not in the queue
    assert body["processing"] == {"queued": 1, "classified": 0, "done": 4, "failed": 1}
    assert body["created_last_hour"] == body["created_last_24h"] == 6


def _arrived(api, ago: timedelta, **forced) -> str:  # type: ignore[no-untyped-def]
    """A ticket that arrived `ago`, its round of AI work asked for then (as at intake)."""
    at = utcnow() - ago
    return _create(api, created_at=at, processing_requested_at=at, **forced)


def test_oldest_waiting_ticket_and_recent_arrivals(api):
    _arrived(api, timedelta(days=3), processing_state="done")  # older, but finished
    _arrived(api, timedelta(days=2), processing_state="failed")
    classified = _arrived(api, timedelta(hours=5), processing_state="classified")
    _arrived(api, timedelta(minutes=90))  # queued, newer than the classified one
    _create(api)

    body = _overview(api)
    oldest = body["oldest_waiting"]
    assert oldest["ticket_id"] == classified and oldest["processing_state"] == "classified"
    assert 5 * 3600 <= oldest["age_s"] < 5 * 3600 + 60
    assert oldest["waiting_since"] == oldest["created_at"]
    assert body["created_last_hour"] == 1 and body["created_last_24h"] == 3
    assert body["processing"] == {"queued": 2, "classified": 1, "done": 1, "failed": 1}


def test_oldest_waiting_skips_a_ticket_that_moved_on_between_the_reads(api, session_factory):
    """Per-statement reads (SQLite): the state's first time may name a ticket already classified; take the next."""
    from gateway.services.overview import _oldest_waiting

    now = utcnow()
    queued = _create(api, created_at=now - timedelta(minutes=10), processing_requested_at=now - timedelta(minutes=10))
    with session_factory() as session:
        gone = (now - timedelta(hours=1), "classified")  # what the count read saw, before that ticket was done
        oldest = _oldest_waiting(session, [(now - timedelta(minutes=10), "queued"), gone])
        assert oldest is not None and oldest.ticket_id == queued and oldest.processing_state == "queued"
        assert _oldest_waiting(session, [gone]) is None


def test_oldest_waiting_counts_from_the_round_not_the_ticket(api, session_factory):
    """A month-old ticket the customer has just written back to waits for its new round since their message,
    and a sweeper re-send does not make a stuck round look new; a row without the round's start (written by
    hand) counts from arrival."""
    from shared.pipeline import sweep_stale

    month_old = _arrived(api, timedelta(days=30), processing_state="done")
    stuck = _arrived(api, timedelta(minutes=20), processing_updated_at=utcnow() - timedelta(minutes=20))  # task lost
    written = api.post(f"/api/tickets/{month_old}/customer-messages", json={"body": "Any news?"})
    assert written.status_code == 201 and written.json()["ticket"]["processing_state"] == "queued", written.text
    oldest = _overview(api)["oldest_waiting"]
    assert oldest["ticket_id"] == stuck and 20 * 60 <= oldest["age_s"] < 20 * 60 + 60
    with session_factory() as session:
        assert stuck in sweep_stale(session, older_than_s=60)  # re-sent: processing_updated_at moves
        session.commit()
    assert _overview(api)["oldest_waiting"]["ticket_id"] == stuck  # still 20 minutes late

    force_ticket(api.app.state.settings.database_url, stuck, processing_state="done")
    oldest = _overview(api)["oldest_waiting"]
    assert oldest["ticket_id"] == month_old and oldest["age_s"] < 60  # since the message, not 30 days
    assert datetime.fromisoformat(oldest["created_at"]) < utcnow() - timedelta(days=29)
    force_ticket(api.app.state.settings.database_url, month_old, processing_requested_at=None)
    assert _overview(api)["oldest_waiting"]["age_s"] >= 30 * 86400  # no round start: from arrival


def test_intake_starts_the_first_round(api, session_factory):
    from shared.models import Ticket

    ticket_id = _create(api)
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.processing_requested_at is not None
        assert ticket.processing_requested_at == ticket.created_at == ticket.processing_updated_at


def test_a_retry_and_a_redraft_start_a_new_round(api):
    url = api.app.state.settings.database_url
    failed = _arrived(api, timedelta(days=2), processing_state="failed", category="shipping",
                      ai_suggested_category="shipping")  # fmt: skip
    drafted = _arrived(api, timedelta(days=3), processing_state="done", category="shipping",
                       ai_suggested_category="shipping")  # fmt: skip
    for ticket_id, route in ((failed, "retry"), (drafted, "draft")):
        assert api.post(f"/api/tickets/{ticket_id}/{route}").status_code in (200, 202)
        oldest = _overview(api)["oldest_waiting"]
        assert oldest["ticket_id"] == ticket_id and oldest["age_s"] < 60, oldest
        force_ticket(url, ticket_id, processing_state="done")


def _ids(api, query):  # type: ignore[no-untyped-def]
    response = api.get(f"/api/tickets/?{query}")
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def test_overdue_is_unresolved_past_its_prioritys_target(api):
    """Default targets: critical 4 h, high 24 h, medium 72 h, low 168 h, from arrival, pending included."""
    now = utcnow()
    ago = lambda hours: {"created_at": now - timedelta(hours=hours), "processing_state": "done"}  # noqa: E731
    medium = _create(api, priority="medium", status="in_progress", **ago(100))
    _create(api, priority="low", status="open", **ago(99))  # within its 168 h
    high = _create(api, priority="high", status="pending", **ago(30))
    _create(api, priority="high", status="resolved", resolved_at=now, **ago(29))  # resolved: not chased
    critical = _create(api, priority="critical", **ago(5))
    _create(api, priority="critical", **ago(3))
    _create(api, created_at=now - timedelta(days=10))  # no priority yet: no target

    body = _overview(api)
    assert body["resolution_targets_hours"] == {"low": 168.0, "medium": 72.0, "high": 24.0, "critical": 4.0}
    assert body["unresolved_overdue"] == 3
    assert body["unresolved_overdue_by_priority"] == {"low": 0, "medium": 1, "high": 1, "critical": 1}
    assert _ids(api, "overdue=true") == [critical, high, medium]  # newest first
    assert _ids(api, "overdue=true&sort=oldest") == [medium, high, critical]  # the most overdue first
    assert _ids(api, "overdue=true&sort=oldest&limit=1&offset=1") == [high]
    response = api.get("/api/tickets/?sort=priority")
    assert response.status_code == 422 and response.json()["detail"].startswith("query.sort:"), response.text
    assert _ids(api, "overdue=true&priority=critical") == [critical]
    others = _ids(api, "overdue=false")
    assert len(others) == 4 and not {critical, high, medium} & set(others)  # the untargeted ticket among them


def test_due_sort_puts_what_runs_out_first_first(api):
    """`sort=due` ranks by due time, which arrival order does not give: priorities have different targets."""
    now = utcnow()
    ago = lambda hours: {"created_at": now - timedelta(hours=hours), "processing_state": "done"}  # noqa: E731
    high = _create(api, priority="high", status="open", **ago(20))  # due in 4 h
    critical = _create(api, priority="critical", **ago(10))  # 6 h past its 4 h
    low = _create(api, priority="low", status="pending", **ago(200))  # 32 h past its 168 h
    medium = _create(api, priority="medium", **ago(1))  # due in 71 h
    older_untargeted = _create(api, created_at=now - timedelta(days=30))  # no priority, so no due time: last
    untargeted = _create(api, created_at=now - timedelta(days=2))
    resolved = _create(api, priority="critical", status="resolved", resolved_at=now, **ago(2))  # due in 2 h

    assert _ids(api, "sort=due") == [low, critical, resolved, high, medium, older_untargeted, untargeted]
    assert _ids(api, "sort=oldest") == [older_untargeted, low, untargeted, high, critical, resolved, medium]
    assert _ids(api, "overdue=true&sort=due") == [low, critical]
    assert _ids(api, "overdue=false&sort=due") == [resolved, high, medium, older_untargeted, untargeted]
    assert _ids(api, "status=new&sort=due&limit=2&offset=1") == [medium, older_untargeted]
    listed = api.get("/api/tickets/?sort=due").json()
    due = [datetime.fromisoformat(t["due_at"]) for t in listed if t["due_at"] is not None]
    assert due == sorted(due) and len(due) == 5  # the order agrees with the due_at each ticket shows


def _due(api, ticket_id):  # type: ignore[no-untyped-def]
    """The ticket's due time less its arrival, in hours (None without one)."""
    body = api.get(f"/api/tickets/{ticket_id}").json()
    if body["due_at"] is None:
        return None
    return (datetime.fromisoformat(body["due_at"]) - datetime.fromisoformat(body["created_at"])) / timedelta(hours=1)


def test_each_ticket_says_when_it_is_due(api):
    medium = _create(api, priority="medium", processing_state="done")
    untargeted = _create(api)
    assert _due(api, medium) == 72.0 and _due(api, untargeted) is None
    listed = {t["ticket_id"]: t["due_at"] for t in api.get("/api/tickets/").json()}
    assert listed[untargeted] is None and listed[medium] == api.get(f"/api/tickets/{medium}").json()["due_at"]
    corrected = api.put(f"/api/tickets/{medium}/priority", json={"priority": "critical"})
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert datetime.fromisoformat(body["due_at"]) - datetime.fromisoformat(body["created_at"]) == timedelta(hours=4)
    assert _due(api, medium) == 4.0


def test_targets_come_from_settings(client_for, db_url):
    api = client_for(db_url, sla_critical_hours=6, sla_low_hours=0.5)
    now = utcnow()
    critical = _create(api, priority="critical", created_at=now - timedelta(hours=5))
    low = _create(api, priority="low", created_at=now - timedelta(hours=1))

    body = _overview(api)
    assert body["resolution_targets_hours"]["critical"] == 6.0 and body["resolution_targets_hours"]["low"] == 0.5
    assert body["unresolved_overdue_by_priority"] == {"low": 1, "medium": 0, "high": 0, "critical": 0}
    assert _ids(api, "overdue=true") == [low]
    assert _due(api, low) == 0.5
    assert _ids(api, "sort=due") == [low, critical]  # by the defaults (4 h and 168 h), critical would come first


def test_resolution_times_of_the_last_week(api):
    now = utcnow()

    def resolved(priority, took_h, hours_ago, status="resolved"):  # type: ignore[no-untyped-def]
        at = now - timedelta(hours=hours_ago)
        return _create(api, priority=priority, status=status, created_at=at - timedelta(hours=took_h), resolved_at=at)

    resolved("critical", 2, 8)  # within 4 h
    resolved("critical", 10, 20)  # late
    resolved("high", 24, 48)  # exactly on its 24 h target: within
    resolved("low", 1, 5, status="closed")  # closed after being resolved: still counted
    resolved(None, 1, 1)  # resolved before classification: a time, but no target
    resolved("high", 1, 8 * 24)  # resolved 8 days ago: outside the week
    via_api = _create(api, priority="medium")
    assert api.put(f"/api/tickets/{via_api}/status", json={"status": "resolved"}).status_code == 200
    reopened = _create(api, priority="medium")
    for step in ("resolved", "open"):  # reopening clears resolved_at
        assert api.put(f"/api/tickets/{reopened}/status", json={"status": step}).status_code == 200

    body = _overview(api)
    week = body["resolved_last_7d"]
    assert week["resolved"] == 6  # durations 0 (via the API), 1, 1, 2, 10, 24 hours
    assert week["p50_hours"] == 1.0 and week["p90_hours"] == 24.0
    assert week["within_target"] == 0.8  # 4 of the 5 with a priority
    assert body["resolved_last_24h"] == 5
    assert body["unresolved_overdue"] == 0


def test_no_resolution_in_the_week_is_null_not_zero(api):
    _create(api, priority="low")
    week = _overview(api)["resolved_last_7d"]
    assert week == {"resolved": 0, "p50_hours": None, "p90_hours": None, "within_target": None}
