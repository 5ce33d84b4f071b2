"""The customer's rating of a solved web or API ticket (`POST /api/tickets/{id}/satisfaction`), relayed by the
channel's backend, on SQLite and PostgreSQL: stored and audited, replaced, refused where it does not belong,
counted by the overview, listed, exported, and its comment erased."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gateway.services.erasure import erase_ticket
from gateway.services.satisfaction import agent_satisfaction, rate_ticket
from shared.config import Settings
from shared.errors import Conflict
from shared.models import Ticket, utcnow
from shared.schemas import SatisfactionCreate
from tests.conftest import force_ticket
from tests.gateway.conftest import keyed, web_ticket
from tests.interleave import WriteBetween

CARD = "4242 4242 4242 4242"


@pytest.fixture
def backend(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """A gateway with auth on, and the channel backend's integration key (`webform`) whose name the history
    records."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    api.actor = api.actors["webform"]
    return api


def _solved(api, status: str = "resolved", **extra: object) -> str:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(api, **extra)
    moved = api.put(f"/api/tickets/{ticket_id}/status", json={"status": status}, headers=api.agent)
    assert moved.status_code == 200, moved.text
    return ticket_id


def _at(body: dict) -> datetime:
    return datetime.fromisoformat(body["satisfaction_at"])


def _rate(api, ticket_id: str, rating: object, **extra: object):  # type: ignore[no-untyped-def]
    return api.post(f"/api/tickets/{ticket_id}/satisfaction", json={"rating": rating, **extra})


RESPONSES = ("solved", "solved_rated", "response_rate")


def _week(api) -> dict:  # type: ignore[no-untyped-def]
    return api.get("/api/overview", headers=api.agent).json()["satisfaction_last_7d"]


def _responses(api) -> tuple:  # type: ignore[no-untyped-def]
    week = api.get("/api/overview", headers=api.agent).json()["satisfaction_last_7d"]
    return tuple(week[k] for k in RESPONSES)


def _tally(good: int, bad: int, solved: int = 0, solved_rated: int = 0) -> dict:
    """A tally as the API answers it: the ratings given in the week, and how many of its solved tickets are rated."""
    rated = good + bad
    return {
        "rated": rated, "good": good, "bad": bad, "score": round(good / rated, 4) if rated else None,
        "solved": solved, "solved_rated": solved_rated,
        "response_rate": round(solved_rated / solved, 4) if solved else None,
    }  # fmt: skip


def test_a_rating_is_stored_audited_replaced_and_counted(backend) -> None:  # type: ignore[no-untyped-def]
    agent = backend.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}, headers=backend.admin)
    assert agent.status_code == 201, agent.text
    ticket_id = web_ticket(backend)
    database_url = backend.app.state.settings.database_url
    force_ticket(database_url, ticket_id, category="billing")  # the working category: by_category counts it
    assigned = backend.put(f"/api/tickets/{ticket_id}/assign", json={"agent_id": "AG-1"}, headers=backend.agent)
    assert assigned.status_code == 200, assigned.text
    moved = backend.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=backend.agent)
    assert moved.status_code == 200, moved.text
    rated = _rate(backend, ticket_id, "bad", comment=f"Slow. I paid with {CARD}.")
    assert rated.status_code == 200, rated.text
    body = rated.json()
    assert (body["ticket_id"], body["satisfaction"]) == (ticket_id, "bad")
    assert body["satisfaction_comment"] == "Slow. I paid with [card ending 4242]."
    view = backend.get(f"/api/tickets/{ticket_id}", headers=backend.agent).json()
    assert (view["satisfaction"], view["satisfaction_comment"]) == ("bad", body["satisfaction_comment"])
    assert view["satisfaction_at"] == body["satisfaction_at"]
    listed = backend.get("/api/tickets/?satisfaction=bad", headers=backend.agent).json()
    assert [t["ticket_id"] for t in listed] == [ticket_id]
    assert backend.get("/api/tickets/?satisfaction=good", headers=backend.agent).json() == []
    assert _week(backend) == {
        **_tally(0, 1, 1, 1),
        "by_agent": {"AG-1": _tally(0, 1, 1, 1)},
        "by_category": {"billing": _tally(0, 1, 1, 1)},
    }

    again = _rate(backend, ticket_id, "bad", comment=f"Slow. I paid with {CARD}.")  # a relayed retry
    assert again.status_code == 200 and again.json()["satisfaction_at"] == body["satisfaction_at"]
    changed = _rate(backend, ticket_id, "good", comment="  ")  # changed their mind; an empty box is no comment
    assert changed.status_code == 200 and changed.json()["satisfaction_comment"] is None
    assert _at(changed.json()) > _at(body)
    other = web_ticket(backend, customer_email="bo@example.com")
    force_ticket(database_url, other, category="shipping")
    assert backend.put(f"/api/tickets/{other}/assign", json={"agent_id": "AG-1"}, headers=backend.agent).is_success
    assert backend.put(f"/api/tickets/{other}/status", json={"status": "closed"}, headers=backend.agent).is_success
    unassigned = _solved(backend, customer_email="cy@example.com")
    assert _rate(backend, other, "good").status_code == 200 and _rate(backend, unassigned, "bad").status_code == 200
    # the unassigned, unclassified one in all only; the closed one is rated, but was never solved
    by_category = {"billing": _tally(1, 0, 1, 1), "shipping": _tally(1, 0)}
    by_agent = {"AG-1": _tally(2, 0, 1, 1)}
    assert _week(backend) == {**_tally(2, 1, 2, 2), "by_agent": by_agent, "by_category": by_category}
    force_ticket(database_url, ticket_id, satisfaction_at=utcnow() - timedelta(days=8))
    # the week's ratings only; a ticket solved in the week counts as rated whenever its rating came
    by_category = {"billing": _tally(0, 0, 1, 1), "shipping": _tally(1, 0)}
    week = {**_tally(1, 1, 2, 2), "by_agent": {"AG-1": _tally(1, 0, 1, 1)}, "by_category": by_category}
    assert _week(backend) == week
    force_ticket(database_url, other, category="refund")  # an agent's correction moves it
    assert _week(backend)["by_category"] == {"billing": _tally(0, 0, 1, 1), "refund": _tally(1, 0)}

    history = backend.get(f"/api/tickets/{ticket_id}/history", headers=backend.agent).json()
    entries = [(h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == "satisfaction"]
    assert entries == [(None, "bad", backend.actor), ("bad", "good", backend.actor)]


def test_the_response_rate_counts_the_weeks_solved_tickets_that_were_rated(backend) -> None:  # type: ignore[no-untyped-def]
    """Of the web and API tickets resolved in the week and still solved, the share rated, whenever: a ticket
    reopened since, closed without a resolve, resolved before the week or a vendor's is not counted."""
    database_url = backend.app.state.settings.database_url
    assert _responses(backend) == (0, 0, None)
    rated = _solved(backend, customer_email="a@example.com")
    assert _rate(backend, rated, "good").status_code == 200
    unrated_ids = [_solved(backend, customer_email=e) for e in ("b1@example.com", "b2@example.com")]  # not rated yet
    reopened = _solved(backend, customer_email="c@example.com")
    assert _rate(backend, reopened, "bad").status_code == 200
    assert backend.put(f"/api/tickets/{reopened}/status", json={"status": "open"}, headers=backend.agent).is_success
    closed = _solved(backend, "closed", customer_email="d@example.com")
    assert _rate(backend, closed, "good").status_code == 200  # rated, but never resolved
    vendor = _solved(backend, customer_email="e@example.com")
    force_ticket(database_url, vendor, source="zendesk")
    old = _solved(backend, customer_email="f@example.com")
    force_ticket(database_url, old, resolved_at=utcnow() - timedelta(days=8))
    assert _responses(backend) == (3, 1, 0.3333)
    assert _week(backend)["rated"] == 3  # ratings given in the week count apart: the reopened and closed ones too

    # by agent and by category: the rated one and an unrated one are AG-1's billing tickets, the other unrated
    # one nobody's; the closed one is AG-1's too (rated, never solved)
    assert backend.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}, headers=backend.admin).is_success
    for ticket_id in (rated, unrated_ids[0], closed):
        force_ticket(database_url, ticket_id, assigned_to="AG-1", category="billing")
    week = _week(backend)
    assert tuple(week["by_agent"]["AG-1"][k] for k in RESPONSES) == (2, 1, 0.5)
    assert tuple(week["by_category"]["billing"][k] for k in RESPONSES) == (2, 1, 0.5)
    assert _responses(backend) == (3, 1, 0.3333)  # the totals as before
    with backend.app.state.sessionmaker() as session:  # an agent's own activity counts them alike
        mine = agent_satisfaction(session, utcnow() - timedelta(days=7), "AG-1")
    assert (mine.solved, mine.solved_rated, mine.response_rate, mine.rated) == (2, 1, 0.5, 2)


def test_a_rating_is_refused_where_it_does_not_belong(backend) -> None:  # type: ignore[no-untyped-def]
    open_ticket = web_ticket(backend)
    refused = _rate(backend, open_ticket, "good")
    assert refused.status_code == 409 and "is new: a rating is for a resolved or closed ticket" in refused.text
    vendor = _solved(backend, source="zendesk")
    refused = _rate(backend, vendor, "good")
    assert refused.status_code == 409 and "rates it in zendesk" in refused.json()["detail"]
    assert _rate(backend, "TKT-20990101-00000000", "good").status_code == 404
    solved = _solved(backend)
    for body, field in (
        ({"rating": "meh"}, "rating"),
        ({}, "rating"),
        ({"rating": "good", "comment": "x" * 2001}, "comment"),
        ({"rating": "good", "score": 5}, "score"),
    ):
        response = backend.post(f"/api/tickets/{solved}/satisfaction", json=body)
        assert response.status_code == 422 and field in response.text, response.text
    response = backend.get("/api/tickets/?satisfaction=meh", headers=backend.agent)
    assert response.status_code == 422 and "satisfaction" in response.text
    assert backend.get("/api/overview", headers=backend.agent).json()["satisfaction_last_7d"]["rated"] == 0

    # Reopened by the customer writing back: the earlier rating stays, a new one waits for the next resolve.
    assert _rate(backend, solved, "bad").status_code == 200
    assert backend.post(f"/api/tickets/{solved}/customer-messages", json={"body": "Still broken."}).status_code == 201
    assert _rate(backend, solved, "good").status_code == 409
    assert backend.get(f"/api/tickets/{solved}", headers=backend.agent).json()["satisfaction"] == "bad"


def test_a_rating_is_exported_and_its_comment_erased(client_for, db_url, redis_client) -> None:  # type: ignore[no-untyped-def]
    api = client_for(db_url)
    ticket_id = web_ticket(api)
    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}).status_code == 200
    assert _rate(api, ticket_id, "bad", comment="Ann from 12 Elm St is not happy").status_code == 200
    exported = api.post("/api/customers/export", json={"email": "ann@example.com"}).json()
    (ticket,) = exported["tickets"]
    assert (ticket["satisfaction"], ticket["satisfaction_comment"]) == ("bad", "Ann from 12 Elm St is not happy")

    assert api.post(f"/api/tickets/{ticket_id}/erase").status_code == 200
    view = api.get(f"/api/tickets/{ticket_id}").json()
    assert (view["satisfaction"], view["satisfaction_comment"]) == ("bad", None)  # the figure stays, the text goes
    refused = _rate(api, ticket_id, "good")
    assert refused.status_code == 409 and "erased" in refused.text


def _reopen(other, ticket_id: str) -> None:  # type: ignore[no-untyped-def]
    other.get(Ticket, ticket_id).status = "open"
    other.commit()


# Closed for the erasure, which closes a ticket: only `erased_at` tells that it was erased meanwhile.
@pytest.mark.parametrize(
    ("solved", "write", "refusal"), [("resolved", _reopen, "is open"), ("closed", erase_ticket, "was erased")]
)
def test_a_reopen_or_erasure_committed_while_the_rating_is_stored_is_read_again(  # type: ignore[no-untyped-def]
    session_factory, client_for, db_url, solved, write, refusal
) -> None:
    """The ticket is claimed at the status and erasure checked: an agent's reopen, or an admin's erasure,
    landing between the read and the write makes the rating read the ticket again and refuse it, instead of
    rating an open ticket or writing a comment onto an erased one."""
    api = client_for(db_url)
    ticket_id = web_ticket(api)
    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": solved}).status_code == 200

    between = WriteBetween(session_factory, ticket_id, lambda other: write(other, ticket_id))
    with between.listening(), session_factory() as session:
        between.armed = True
        with pytest.raises(Conflict, match=refusal):
            rate_ticket(session, ticket_id, SatisfactionCreate(rating="good", comment="Thanks, Ana!"), Settings())
        assert between.fired
    view = api.get(f"/api/tickets/{ticket_id}").json()
    assert (view["satisfaction"], view["satisfaction_comment"]) == (None, None)
