"""An agent reviews what the AI flagged (`POST /api/tickets/{id}/review`), on SQLite and PostgreSQL: the flag
is cleared and audited, who and when recorded, a review of a ticket that changed since it was read refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.services.reviews import review_ticket
from shared.auth import Role, create_key
from shared.errors import Conflict
from shared.models import Ticket, TicketCorrection, utcnow
from tests.conftest import force_ticket
from tests.interleave import WriteBetween

TICKET = {"customer_email": "rev@example.com", "subject": "Odd request", "description": "Can you sing to me?"}
CLASSIFIED = {"ai_suggested_category": "general", "ai_suggested_priority": "low", "category": "general",
              "priority": "low", "processing_state": "done"}  # fmt: skip


@pytest.fixture
def secured(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """A gateway with auth on, and an agent's key (`alice`) whose actor name the review records."""
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        row, key = create_key(session, name="alice", role=Role.agent)
    api.headers["X-API-Key"] = key
    api.actor = f"key:{row.id}:alice"
    return api


def _flagged(api) -> str:  # type: ignore[no-untyped-def]
    """A classified ticket the AI flagged for review (as a low-confidence classification leaves it)."""
    response = api.post("/api/tickets/create", json=TICKET)
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket"]["ticket_id"]
    force_ticket(api.app.state.settings.database_url, ticket_id, needs_review=True, **CLASSIFIED)
    return ticket_id


def _review(api, ticket_id: str, **body):  # type: ignore[no-untyped-def]
    return api.post(f"/api/tickets/{ticket_id}/review", json=body or None)


def test_a_review_clears_the_flag_and_records_who_and_when(secured) -> None:  # type: ignore[no-untyped-def]
    ticket_id = _flagged(secured)
    seen = secured.get(f"/api/tickets/{ticket_id}").json()
    assert (seen["needs_review"], seen["reviewed_at"], seen["reviewed_by"]) == (True, None, None)
    assert ticket_id in [t["ticket_id"] for t in secured.get("/api/tickets/?needs_review=true").json()]

    before = utcnow()
    response = _review(secured, ticket_id, updated_at=seen["updated_at"])
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["needs_review"], view["reviewed_by"]) == (False, secured.actor)
    assert view["reviewed_at"] == view["updated_at"] and view["reviewed_at"] >= before.isoformat()[:19]
    assert secured.get(f"/api/tickets/{ticket_id}").json()["reviewed_at"] == view["reviewed_at"]
    assert ticket_id not in [t["ticket_id"] for t in secured.get("/api/tickets/?needs_review=true").json()]
    assert secured.get("/api/overview").json()["unresolved_needs_review"] == 0

    history = secured.get(f"/api/tickets/{ticket_id}/history").json()
    flag = [(h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == "needs_review"]
    assert flag == [("true", "false", secured.actor)]

    again = _review(secured, ticket_id, updated_at=seen["updated_at"])  # a retry: nothing left to clear
    assert again.status_code == 200, again.text
    assert (again.json()["needs_review"], again.json()["reviewed_at"]) == (False, view["reviewed_at"])
    history = secured.get(f"/api/tickets/{ticket_id}/history").json()
    assert [h["field"] for h in history].count("needs_review") == 1


def test_a_review_of_a_ticket_that_changed_since_it_was_read_is_refused(secured) -> None:  # type: ignore[no-untyped-def]
    """The agent read the ticket; the customer wrote again before they clicked: the flag stays for what is new."""
    ticket_id = _flagged(secured)
    seen = secured.get(f"/api/tickets/{ticket_id}").json()
    wrote = secured.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "Also, I am very angry."})
    assert wrote.status_code == 201, wrote.text
    now = wrote.json()["ticket"]["updated_at"]
    assert now != seen["updated_at"]

    stale = _review(secured, ticket_id, updated_at=seen["updated_at"])
    assert stale.status_code == 409
    assert f"changed since {seen['updated_at'][:19]}" in stale.text and "read it again" in stale.text
    current = secured.get(f"/api/tickets/{ticket_id}").json()
    assert (current["needs_review"], current["reviewed_at"]) == (True, None)

    fresh = _review(secured, ticket_id, updated_at=current["updated_at"])
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["needs_review"] is False


def test_bad_reviews_get_clear_answers(secured) -> None:  # type: ignore[no-untyped-def]
    created = secured.post("/api/tickets/create", json=TICKET).json()["ticket"]
    nothing_yet = _review(secured, created["ticket_id"])
    assert nothing_yet.status_code == 409 and "no AI results to review yet" in nothing_yet.text

    assert _review(secured, "TKT-NOPE").status_code == 404
    ticket_id = _flagged(secured)
    for body, field in (({"updated_at": "yesterday"}, "updated_at"), ({"reviewed": True}, "reviewed")):
        response = _review(secured, ticket_id, **body)
        assert response.status_code == 422 and field in response.text, response.text
    assert secured.get(f"/api/tickets/{ticket_id}").json()["needs_review"] is True


def test_a_round_stored_while_the_review_is_recorded_is_read_again(session_factory, db_url, redis_client) -> None:  # type: ignore[no-untyped-def]
    """Without `updated_at`, a review applies to what is there when it is written: an escalation stored between
    its read and its write is read again, so the AI priority it records is the one the flag was cleared on."""
    from gateway.services.tickets import create_ticket
    from shared.schemas import TicketCreate

    with session_factory() as session:
        ticket_id = create_ticket(session, TicketCreate(**TICKET)).ticket_id
    force_ticket(db_url, ticket_id, needs_review=True, **CLASSIFIED)

    def escalate(other) -> None:  # type: ignore[no-untyped-def]
        row = other.get(Ticket, ticket_id)
        row.ai_suggested_priority, row.needs_review = "critical", True
        other.commit()

    between = WriteBetween(session_factory, ticket_id, escalate)
    with between.listening(), session_factory() as session:
        between.armed = True
        reviewed = review_ticket(session, ticket_id, seen_updated_at=None, actor="agent:bo")
        assert between.fired
        assert (reviewed.needs_review, reviewed.reviewed_ai_priority, reviewed.reviewed_by) == (
            False,
            "critical",
            "agent:bo",
        )

    # With the `updated_at` the agent read, the same interleaving is refused.
    force_ticket(db_url, ticket_id, needs_review=True, ai_suggested_priority="low")
    with session_factory() as session:
        seen = session.get(Ticket, ticket_id).updated_at
    between = WriteBetween(session_factory, ticket_id, escalate)
    with between.listening(), session_factory() as session:
        between.armed = True
        with pytest.raises(Conflict, match="changed since"):
            review_ticket(session, ticket_id, seen_updated_at=seen, actor="agent:bo")


def test_what_the_agent_saw_is_their_latest_correction_or_review(session_factory, db_url, redis_client) -> None:  # type: ignore[no-untyped-def]
    """`agent_saw_priority` takes the later of the latest priority correction and the latest review."""
    from classifier_worker.service import agent_saw_priority
    from gateway.services.tickets import create_ticket
    from shared.schemas import TicketCreate

    with session_factory() as session:
        ticket_id = create_ticket(session, TicketCreate(**TICKET)).ticket_id
    force_ticket(db_url, ticket_id, **{**CLASSIFIED, "ai_suggested_priority": "critical"})  # the AI's, followed
    with session_factory() as session:
        assert agent_saw_priority(session, session.get(Ticket, ticket_id)) is None
    force_ticket(db_url, ticket_id, reviewed_at=utcnow() - timedelta(hours=2), reviewed_ai_priority="medium")
    with session_factory() as session:  # the agent's priority (low), reviewed only
        assert agent_saw_priority(session, session.get(Ticket, ticket_id)) == "medium"
        session.add(TicketCorrection(ticket_id=ticket_id, field="priority", old_value="high", new_value="low",
                                     ai_value="high", text="x", actor="agent:ana",
                                     created_at=utcnow() - timedelta(hours=1)))  # fmt: skip
        session.commit()
        assert agent_saw_priority(session, session.get(Ticket, ticket_id)) == "high"  # corrected after the review
    force_ticket(db_url, ticket_id, reviewed_at=utcnow(), reviewed_ai_priority="critical")
    with session_factory() as session:
        assert agent_saw_priority(session, session.get(Ticket, ticket_id)) == "critical"  # reviewed after it


def test_the_review_queue_puts_the_longest_flagged_first(api, db_url) -> None:  # type: ignore[no-untyped-def]
    """`flagged_at` orders `sort=flagged` (unflagged last; not the order they arrived in) and gives the
    overview's oldest unresolved flag; a review takes the ticket out of both."""
    now = utcnow()
    ids = {}
    for name, hours_ago, status in (("newer", 1, "open"), ("resolved", 5, "resolved"), ("older", 3, "open")):
        ids[name] = _flagged(api)
        force_ticket(db_url, ids[name], status=status, flagged_at=now - timedelta(hours=hours_ago))
    ids["calm"] = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]

    def queue(query: str) -> list[str]:
        return [t["ticket_id"] for t in api.get(f"/api/tickets/?{query}").json()]

    assert queue("needs_review=true&sort=flagged") == [ids["resolved"], ids["older"], ids["newer"]]
    assert queue("sort=flagged")[-1] == ids["calm"]  # never flagged: last
    view = api.get(f"/api/tickets/{ids['older']}").json()
    assert view["flagged_at"] == (now - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    overview = api.get("/api/overview").json()
    assert (overview["unresolved_needs_review"], overview["oldest_needs_review_since"]) == (2, view["flagged_at"])

    reviewed = _review(api, ids["older"]).json()
    assert (reviewed["needs_review"], reviewed["flagged_at"]) == (False, None)
    assert queue("needs_review=true&sort=flagged") == [ids["resolved"], ids["newer"]]
    newer = api.get(f"/api/tickets/{ids['newer']}").json()["flagged_at"]
    assert api.get("/api/overview").json()["oldest_needs_review_since"] == newer


def test_the_flag_keeps_when_it_was_raised_until_it_is_cleared(session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    """A later round that keeps the ticket flagged keeps `flagged_at`; a cleared flag raised again starts anew."""
    from gateway.services.tickets import create_ticket
    from shared.schemas import TicketCreate

    with session_factory() as session:
        ticket_id = create_ticket(session, TicketCreate(**TICKET)).ticket_id
        ticket = session.get(Ticket, ticket_id)
        assert ticket.flagged_at is None
        ticket.set_needs_review(True)
        session.commit()
        raised = ticket.flagged_at
        assert raised is not None and ticket.needs_review
        ticket.set_needs_review(True)  # a later round, still flagged
        session.commit()
        assert session.get(Ticket, ticket_id).flagged_at == raised
        ticket.set_needs_review(False)
        session.commit()
        assert (ticket.needs_review, ticket.flagged_at) == (False, None)
        ticket.set_needs_review(True)
        session.commit()
        assert ticket.flagged_at is not None and ticket.flagged_at > raised


def test_migration_backfills_when_flagged_tickets_were_flagged(bare_db_url) -> None:  # type: ignore[no-untyped-def]
    """A flagged ticket counts from its last AI step's store (`processing_updated_at`); others stay NULL."""
    import sqlalchemy as sa
    from alembic import command

    from shared.db import alembic_config, run_migrations
    from tests.legacy_rows import hour, insert_customer, insert_ticket

    command.upgrade(alembic_config(bare_db_url), "0017_reviews")
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        insert_customer(conn)
        insert_ticket(conn, "T1")
        insert_ticket(conn, "T2")
        conn.execute(
            sa.text("UPDATE tickets SET needs_review = :t, processing_updated_at = :at WHERE ticket_id = 'T1'"),
            {"t": True, "at": hour(2).isoformat()},
        )
    run_migrations(bare_db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT ticket_id, flagged_at FROM tickets ORDER BY ticket_id")).all())
    engine.dispose()
    assert rows["T2"] is None
    flagged = rows["T1"]
    flagged = datetime.fromisoformat(flagged) if isinstance(flagged, str) else flagged  # SQLite: text
    assert (flagged if flagged.tzinfo else flagged.replace(tzinfo=UTC)) == hour(2)


def test_the_overview_reports_the_weeks_review_times(api, db_url) -> None:  # type: ignore[no-untyped-def]
    """Flags of 1, 3 and 10 h cleared this week count; one cleared 8 days ago does not; a retried review
    changes nothing."""
    assert api.get("/api/overview").json()["reviews_last_7d"] == {"reviews": 0, "p50_hours": None, "p90_hours": None}
    now = utcnow()
    reviewed = []
    for hours in (10, 1, 3):
        reviewed.append(_flagged(api))
        force_ticket(db_url, reviewed[-1], flagged_at=now - timedelta(hours=hours))
        assert _review(api, reviewed[-1]).status_code == 200
    old = _flagged(api)
    force_ticket(db_url, old, flagged_at=now - timedelta(days=8, hours=5))
    assert _review(api, old).status_code == 200
    force_ticket(db_url, old, reviewed_at=now - timedelta(days=8), review_flagged_at=now - timedelta(days=8, hours=5))

    week = api.get("/api/overview").json()["reviews_last_7d"]
    assert week == {"reviews": 3, "p50_hours": pytest.approx(3.0, abs=0.01), "p90_hours": pytest.approx(10.0, abs=0.01)}
    assert _review(api, reviewed[1]).status_code == 200  # retried
    assert api.get("/api/overview").json()["reviews_last_7d"] == week
