"""The automatic assignment (`shared.routing`) on SQLite and PostgreSQL: the fewest open tickets first, then the
longest without one; categories and `max_open` kept, also against a write that lands between the rotation's read
and its hold; tickets waiting until an agent has room, and no longer once an agent has decided."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.services.agents import create_agent, update_agent
from gateway.services.tickets import assign_ticket, change_status, create_ticket
from gateway.sweeper import sweep_once
from shared import routing
from shared.config import Settings
from shared.models import Agent, Alert, AuditLog, Ticket
from shared.routing import ACTOR, request_routing, route_waiting
from shared.schemas import AgentCreate, AgentUpdate, Status, TicketCreate
from tests.conftest import force_ticket

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def new_ticket(session_factory, redis_client) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """A ticket as its first classification leaves it (category set, waiting for the rotation since
    `waiting_since`, unless None); its id."""
    count = iter(range(1000))

    def make(category: str = "billing", waiting_since: datetime | None = T0, **columns: Any) -> str:
        n = next(count)
        with session_factory() as session:
            ticket_id = create_ticket(
                session, TicketCreate(customer_email=f"c{n}@example.com", subject=f"Ticket {n}", description="Help")
            ).ticket_id
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.category = category
            ticket.routing_requested_at = waiting_since and waiting_since + timedelta(seconds=n)
            for key, value in columns.items():
                setattr(ticket, key, value)
            session.commit()
        return ticket_id

    return make


def _agent(session_factory, agent_id: str, **fields: Any) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        create_agent(session, AgentCreate(agent_id=agent_id, name=agent_id, **fields))


def _route(session_factory, **kwargs: Any) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return route_waiting(session, **kwargs)


def _state(session_factory, ticket_id: str) -> tuple[str | None, datetime | None]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.assigned_to, ticket.routing_requested_at


def _assignments(session_factory, ticket_id: str) -> list[tuple[str | None, str | None, str]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        query = select(AuditLog).where(AuditLog.ticket_id == ticket_id, AuditLog.field == "assigned_to")
        return [(row.old_value, row.new_value, row.actor) for row in session.scalars(query.order_by(AuditLog.id))]


def test_the_fewest_open_tickets_first_then_the_longest_without_one(session_factory, new_ticket) -> None:  # type: ignore[no-untyped-def]
    _agent(session_factory, "AG-A", auto_assign=True)
    _agent(session_factory, "AG-B", auto_assign=True)
    _agent(session_factory, "AG-OUT")  # not in the rotation
    for _ in range(2):  # AG-A already works on two tickets; a pending one and a resolved one do not count
        with session_factory() as session:
            assign_ticket(session, new_ticket(waiting_since=None), "AG-A")
    for status in ("pending", "resolved"):
        with session_factory() as session:
            assign_ticket(session, new_ticket(waiting_since=None, status=status), "AG-A")
    waiting = [new_ticket() for _ in range(4)]

    assigned = _route(session_factory, now=T0 + timedelta(hours=1))

    # B (0) twice, then A and B at 2 each: A never had one from the rotation; then B, whose last is older
    assert assigned == list(zip(waiting, ["AG-B", "AG-B", "AG-A", "AG-B"], strict=True))
    assert all(_state(session_factory, t)[1] is None for t in waiting)
    assert _assignments(session_factory, waiting[0]) == [(None, "AG-B", ACTOR)]
    with session_factory() as session:
        agents = {a.agent_id: a for a in session.scalars(select(Agent))}
    assert agents["AG-A"].last_routed_at == agents["AG-B"].last_routed_at == T0 + timedelta(hours=1)
    assert agents["AG-OUT"].last_routed_at is None
    assert _route(session_factory) == []  # nothing waits any more


def test_equally_loaded_the_longest_without_one_first_and_only_the_tickets_named(  # type: ignore[no-untyped-def]
    session_factory, new_ticket
) -> None:
    _agent(session_factory, "AG-A", auto_assign=True)
    _agent(session_factory, "AG-B", auto_assign=True)
    with session_factory() as session:
        for agent_id, hours in (("AG-A", 2), ("AG-B", 1)):  # B has gone longer without one, A comes first by id
            agent = session.get(Agent, agent_id)
            assert agent is not None
            agent.last_routed_at = T0 + timedelta(hours=hours)
        session.commit()
    older, newer = new_ticket(), new_ticket()

    assert _route(session_factory, ticket_ids=[newer], now=T0 + timedelta(hours=3)) == [(newer, "AG-B")]
    assert _state(session_factory, older)[0] is None  # not named: it waits for its own call or the sweeper
    assert _route(session_factory, now=T0 + timedelta(hours=4)) == [(older, "AG-A")]  # A has fewer now


def test_an_assignment_is_alerted_naming_the_agent_when_asked(session_factory, new_ticket) -> None:  # type: ignore[no-untyped-def]
    _agent(session_factory, "AG-A", auto_assign=True, email="ann@example.com")
    quiet, alerted = new_ticket(priority="high"), new_ticket(priority="high")
    hooks = {"alert_webhook_url": "https://hooks.example.com/support"}
    assert _route(session_factory, ticket_ids=[quiet], settings=Settings(**hooks)) == [(quiet, "AG-A")]
    on = Settings(**hooks, alert_on_auto_assign=True, alert_ticket_url="https://desk.example.com/t/{ticket_id}")
    at = T0 + timedelta(hours=5)
    assert _route(session_factory, ticket_ids=[alerted], settings=on, now=at) == [(alerted, "AG-A")]

    with session_factory() as session:
        (alert,) = session.scalars(select(Alert))  # none for the first: ALERT_ON_AUTO_ASSIGN was off
    assert (alert.ticket_id, alert.event, alert.priority, alert.counted_from) == (
        alerted,
        "ticket.assigned",
        "high",
        at,
    )
    body = alert.payload
    assert body["agent"] == {"agent_id": "AG-A", "name": "AG-A", "email": "ann@example.com"}
    assert body["ticket"]["assigned_to"] == "AG-A"
    assert body["text"].startswith(f"Assigned to AG-A: HIGH billing ticket {alerted}: Ticket ")
    assert body["text"].endswith(f"https://desk.example.com/t/{alerted}")


def test_categories_and_max_open_hold_and_a_ticket_waits_for_room(session_factory, new_ticket) -> None:  # type: ignore[no-untyped-def]
    _agent(session_factory, "AG-BILL", auto_assign=True, categories=["billing"], max_open=1)
    _agent(session_factory, "AG-ANY", auto_assign=True, max_open=1)
    _agent(session_factory, "AG-AWAY", auto_assign=True, active=False)  # deactivated: out of the rotation
    first, second, shipping = new_ticket("billing"), new_ticket("billing"), new_ticket("shipping")

    # equally loaded, never routed to: by id; then AG-ANY is full
    assert _route(session_factory) == [(first, "AG-ANY"), (second, "AG-BILL")]
    waiting_since = _state(session_factory, shipping)
    assert waiting_since[0] is None and waiting_since[1] is not None  # AG-BILL does not take it, AG-ANY is full

    with session_factory() as session:
        change_status(session, second, Status.resolved)  # AG-BILL has room, but not for shipping
    assert _route(session_factory) == []
    assert _state(session_factory, shipping) == waiting_since
    with session_factory() as session:
        change_status(session, first, Status.pending)  # waits on the customer: AG-ANY has room
    swept = sweep_once(session_factory, Settings())
    assert swept.assigned == (shipping,)
    assert _state(session_factory, shipping) == ("AG-ANY", None)

    with session_factory() as session:  # a limit raised, categories widened: the next ticket goes by them
        update_agent(session, "AG-ANY", AgentUpdate(max_open=2))
    assert _route(session_factory, ticket_ids=[new_ticket("refund")]) != []
    assert _route(session_factory, ticket_ids=[late := new_ticket("refund")]) == []  # AG-ANY at 2 now
    with session_factory() as session:
        update_agent(session, "AG-BILL", AgentUpdate(categories=None))
    assert _route(session_factory, ticket_ids=[late]) == [(late, "AG-BILL")]


def test_the_most_urgent_waiting_ticket_takes_the_slot_freed_then_the_longest_waiting(  # type: ignore[no-untyped-def]
    session_factory, new_ticket
) -> None:
    _agent(session_factory, "AG-A", auto_assign=True, max_open=1)
    with session_factory() as session:
        assign_ticket(session, held := new_ticket(waiting_since=None), "AG-A")
    unscored, low, medium, older_high, high = (
        new_ticket(priority=p) for p in (None, "low", "medium", "high", "high")
    )  # arriving in this order: the unscored one has waited longest
    order = []
    for _ in range(5):
        assert _route(session_factory) == []  # full
        with session_factory() as session:
            change_status(session, held, Status.pending)
        ((held, _),) = _route(session_factory)
        order.append(held)
    assert order == [older_high, high, medium, low, unscored]


def test_a_ticket_an_agent_decided_on_stops_waiting(session_factory, new_ticket) -> None:  # type: ignore[no-untyped-def]
    _agent(session_factory, "AG-MANUAL")
    taken, unassigned, resolved, pending = (new_ticket() for _ in range(4))
    with session_factory() as session:
        assign_ticket(session, taken, "AG-MANUAL")
        assign_ticket(session, unassigned, None)  # an agent's choice, even to leave it unassigned, ends the wait
    assert _state(session_factory, taken) == ("AG-MANUAL", None)
    assert _state(session_factory, unassigned) == (None, None)
    with session_factory() as session:
        change_status(session, resolved, Status.resolved)
        change_status(session, pending, Status.pending)
    assert _state(session_factory, pending)[1] is not None  # still marked: the next pass drops it

    _agent(session_factory, "AG-A", auto_assign=True)
    assert _route(session_factory) == []
    for ticket_id in (unassigned, resolved, pending):
        assert _state(session_factory, ticket_id) == (None, None)
    assert _assignments(session_factory, resolved) == []


def test_only_a_routable_ticket_waits_and_only_while_someone_is_in_the_rotation(session_factory, new_ticket) -> None:  # type: ignore[no-untyped-def]
    def marked(ticket_id: str) -> bool:
        with session_factory() as session:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            result = request_routing(session, [ticket], T0) == [ticket_id]
            session.commit()
            return result

    plain = new_ticket(waiting_since=None)
    _agent(session_factory, "AG-AWAY", auto_assign=True, active=False)
    _agent(session_factory, "AG-MANUAL")
    assert not marked(plain)  # nobody active in the rotation
    _agent(session_factory, "AG-A", auto_assign=True)
    assert marked(plain) and _state(session_factory, plain) == (None, T0)
    assert not marked(plain)  # already waiting: its time stays
    assert not marked(new_ticket(waiting_since=None, source="zendesk"))  # assigned in the vendor's tool
    assert not marked(new_ticket(waiting_since=None, assigned_to="AG-MANUAL"))
    assert not marked(new_ticket(waiting_since=None, status="pending"))
    assert not marked(new_ticket(waiting_since=None, erased_at=T0))


def _between(monkeypatch: pytest.MonkeyPatch, write: Callable[[], object]) -> None:
    """Run `write` (its own sessions, committed) right after the rotation has read its candidates, before it
    holds any of them."""
    read = routing._candidates

    def read_then_write(session):  # type: ignore[no-untyped-def]
        candidates = read(session)
        write()
        return candidates

    monkeypatch.setattr(routing, "_candidates", read_then_write)


def test_an_agent_filled_up_between_the_read_and_the_hold_gets_nothing_more(  # type: ignore[no-untyped-def]
    session_factory, new_ticket, monkeypatch
) -> None:
    _agent(session_factory, "AG-ONE", auto_assign=True, max_open=1)
    _agent(session_factory, "AG-TWO", auto_assign=True, max_open=1)
    _agent(session_factory, "AG-OTHER")
    with session_factory() as session:
        assign_ticket(session, new_ticket(waiting_since=None), "AG-ONE")
    with session_factory() as session:
        update_agent(session, "AG-ONE", AgentUpdate(max_open=2))
    # read: ONE at 1 of 2, TWO at 0 of 1; then TWO gets a ticket by hand and ONE a second: both full
    waiting = new_ticket()

    def fill() -> None:
        with session_factory() as session:
            assign_ticket(session, new_ticket(waiting_since=None), "AG-TWO")
            assign_ticket(session, new_ticket(waiting_since=None), "AG-ONE")

    _between(monkeypatch, fill)
    assert _route(session_factory) == []
    assert _state(session_factory, waiting)[0] is None


def test_a_ticket_assigned_or_an_agent_gone_between_the_read_and_the_hold(  # type: ignore[no-untyped-def]
    session_factory, db_url, new_ticket, monkeypatch
) -> None:
    _agent(session_factory, "AG-A", auto_assign=True)
    _agent(session_factory, "AG-B", auto_assign=True)
    _agent(session_factory, "AG-MANUAL")
    with session_factory() as session:
        assign_ticket(session, new_ticket(waiting_since=None), "AG-B")  # A ranks first
    taken, routed = new_ticket(), new_ticket()

    old_gateway = new_ticket()

    def decide() -> None:
        with session_factory() as session:
            assign_ticket(session, taken, "AG-MANUAL")
            update_agent(session, "AG-A", AgentUpdate(auto_assign=False))
        # a gateway replica from before the rotation (a rolling upgrade) assigns without ending the wait
        force_ticket(db_url, old_gateway, assigned_to="AG-MANUAL")

    _between(monkeypatch, decide)
    assert _route(session_factory) == [(routed, "AG-B")]  # A left: the next agent; the taken tickets stay
    assert _assignments(session_factory, taken) == [(None, "AG-MANUAL", "system")]
    assert _state(session_factory, taken) == ("AG-MANUAL", None)
    assert _state(session_factory, old_gateway)[0] == "AG-MANUAL"
    assert _route(session_factory) == []  # the next pass reads it assigned: it stops waiting, still Manual's
    assert _state(session_factory, old_gateway) == ("AG-MANUAL", None)


def test_an_agent_narrowed_between_the_read_and_the_hold_is_passed_over(  # type: ignore[no-untyped-def]
    session_factory, new_ticket, monkeypatch
) -> None:
    _agent(session_factory, "AG-A", auto_assign=True)
    _agent(session_factory, "AG-B", auto_assign=True)
    _agent(session_factory, "AG-C", auto_assign=True)
    with session_factory() as session:
        assign_ticket(session, new_ticket(waiting_since=None), "AG-B")
        assign_ticket(session, new_ticket(waiting_since=None), "AG-C")
        assign_ticket(session, new_ticket(waiting_since=None), "AG-C")
    billing = new_ticket("billing")

    def narrow() -> None:  # A (0 open) stops taking billing, B (1 open) is limited to what it has
        with session_factory() as session:
            update_agent(session, "AG-A", AgentUpdate(categories=["shipping"]))
            update_agent(session, "AG-B", AgentUpdate(max_open=1))

    _between(monkeypatch, narrow)
    assert _route(session_factory) == [(billing, "AG-C")]


def test_an_agent_away_is_passed_by_and_routed_to_again_when_back(session_factory, new_ticket, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Away keeps the rotation's settings: tickets wait for the others, or for the agent's return; one who goes
    away between the pass's read and its hold is passed by too."""
    _agent(session_factory, "AG-A", auto_assign=True, categories=["billing"], max_open=5)
    _agent(session_factory, "AG-B", auto_assign=True, categories=["shipping"])
    with session_factory() as session:
        update_agent(session, "AG-A", AgentUpdate(away=True))
    billing, shipping = new_ticket("billing"), new_ticket("shipping")
    assert _route(session_factory) == [(shipping, "AG-B")]  # billing has nobody but A, who is away: it waits
    assert _state(session_factory, billing) == (None, T0)
    with session_factory() as session:
        agent = session.get(Agent, "AG-A")
        assert agent is not None
        assert (agent.auto_assign, agent.categories, agent.max_open, agent.away) == (True, ["billing"], 5, True)
        update_agent(session, "AG-A", AgentUpdate(away=False))
    assert _route(session_factory) == [(billing, "AG-A")]

    later = new_ticket("billing")

    def go_away() -> None:
        with session_factory() as session:
            update_agent(session, "AG-A", AgentUpdate(away=True))

    _between(monkeypatch, go_away)
    assert _route(session_factory) == []
    assert _state(session_factory, later)[0] is None
