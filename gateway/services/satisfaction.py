"""The customer's rating of a solved ticket (customer satisfaction, CSAT).

A web or API ticket's channel backend hears when an agent resolves or closes it (`ticket.status` at
REPLY_WEBHOOK_URL), asks its customer "how did we do?", and relays the answer here: good or bad, with an
optional comment. The ticket keeps its latest rating; the overview reports the week's share of good ones, in
all and by agent, and `?satisfaction=bad` lists the tickets to follow up. Zendesk and Intercom tickets are
rated in those tools.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from gateway.services.channel import VENDOR_SOURCES
from gateway.services.erasure import ensure_not_erased
from gateway.services.sla import UNRESOLVED, current_assignee, share
from gateway.services.tickets import claim_as_read
from shared.alerts import raise_rating_alert, send_alert
from shared.config import Settings
from shared.errors import Conflict
from shared.models import Ticket, utcnow
from shared.redaction import redact_card_numbers
from shared.schemas import Satisfaction, SatisfactionCounts, SatisfactionCreate, SatisfactionTally


def rate_ticket(session: Session, ticket_id: str, data: SatisfactionCreate, settings: Settings) -> Ticket:
    """Store the customer's rating (card numbers in the comment masked), replacing an earlier one: a customer
    may change their mind, and a ticket reopened and solved again is rated again. The same rating and comment
    again change nothing (a relayed retry).

    The row is claimed at the status and erasure checked, so a reopen or an erasure committing in between
    is read again rather than rated over. A bad rating is alerted with ALERT_ON_BAD_RATING (an outbox row
    committed with it).
    """
    comment = redact_card_numbers(data.comment) if data.comment is not None else None

    def decide(ticket: Ticket) -> dict[str, object] | None:
        ensure_not_erased(ticket)
        if ticket.source in VENDOR_SOURCES:
            raise Conflict(f"ticket '{ticket_id}' came from {ticket.source}: its customer rates it in {ticket.source}")
        if ticket.status in UNRESOLVED:  # not yet resolved or closed: nothing was solved to rate
            raise Conflict(
                f"ticket '{ticket_id}' is {ticket.status}: a rating is for a resolved or closed ticket, after an "
                "agent solves it"
            )
        if (ticket.satisfaction, ticket.satisfaction_comment) == (data.rating.value, comment):
            return None  # the same answer again: a retry
        return {"status": ticket.status, "erased_at": None}

    ticket, claimed = claim_as_read(session, ticket_id, decide, doing="the rating was stored")
    alert_id = None
    if claimed:
        ticket.satisfaction = data.rating.value  # audited: the history shows who relayed it, and each change
        ticket.satisfaction_comment = comment
        ticket.satisfaction_at = utcnow()
        alert_id = raise_rating_alert(session, ticket, settings)  # ALERT_ON_BAD_RATING, in the same commit
    session.commit()
    if alert_id is not None:
        send_alert(alert_id)
    return ticket


def satisfaction_counts(session: Session, since: datetime) -> SatisfactionCounts:
    """The ratings given since `since` (each ticket's latest), in all, by the tickets' assignees and by their
    working categories, over `idx_tickets_satisfaction`; and the response rate: of the web and API tickets
    resolved since `since` (a reopen clears `resolved_at`), the share rated, over `idx_tickets_resolved`."""
    assignee = current_assignee()  # grouped by it, SQLite keeps to the window's range of that index
    rows = session.execute(
        select(assignee, Ticket.category, Ticket.satisfaction, func.count())
        .where(Ticket.satisfaction_at >= since, Ticket.satisfaction.is_not(None))
        .group_by(assignee, Ticket.category, Ticket.satisfaction)
    ).all()
    total: Counter[str] = Counter()
    by_agent: dict[str, Counter[str]] = defaultdict(Counter)
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for agent, category, rating, n in rows:
        rated = cast(str, rating)  # not null: the query keeps rated tickets only
        total[rated] += n
        if agent is not None:
            by_agent[agent][rated] += n
        if category is not None:
            by_category[category][rated] += n
    solved, solved_rated = session.execute(
        select(func.count(), func.count(Ticket.satisfaction)).where(
            Ticket.resolved_at >= since, Ticket.source.not_in(sorted(VENDOR_SOURCES))
        )
    ).one()
    return SatisfactionCounts(
        **_tally(total).model_dump(),
        solved=solved,
        solved_rated=solved_rated,
        response_rate=share(solved_rated, solved),
        by_agent={agent: _tally(counted) for agent, counted in sorted(by_agent.items())},
        by_category={category: _tally(counted) for category, counted in sorted(by_category.items())},
    )


def agent_satisfaction(session: Session, since: datetime, agent_id: str) -> SatisfactionTally:
    """The ratings given since `since` on the tickets assigned to `agent_id` now (as `by_agent` counts them)."""
    rows = session.execute(
        select(Ticket.satisfaction, func.count())
        .where(Ticket.satisfaction_at >= since, Ticket.satisfaction.is_not(None), assigned_to(agent_id))
        .group_by(Ticket.satisfaction)
    ).all()
    return _tally(Counter({cast(str, rating): n for rating, n in rows}))


def satisfaction_by_agent(session: Session, since: datetime, agents: Sequence[str]) -> dict[str, SatisfactionTally]:
    """`agent_satisfaction` for each of `agents`, in one grouped count."""
    assignee = current_assignee()
    rows = session.execute(
        select(assignee, Ticket.satisfaction, func.count())
        .where(Ticket.satisfaction_at >= since, Ticket.satisfaction.is_not(None), assignee.in_(agents))
        .group_by(assignee, Ticket.satisfaction)
    ).all()
    counted: dict[str, Counter[str]] = defaultdict(Counter)
    for agent, rating, n in rows:
        counted[agent][cast(str, rating)] += n
    return {agent: _tally(counted[agent]) for agent in agents}


def assigned_to(agent_id: str) -> ColumnElement[bool]:
    """Assigned to `agent_id` now, as a condition on a window's rows (through `current_assignee`)."""
    return current_assignee() == agent_id


def _tally(counted: Counter[str]) -> SatisfactionTally:
    good, bad = counted[Satisfaction.good.value], counted[Satisfaction.bad.value]
    rated = good + bad
    return SatisfactionTally(rated=rated, good=good, bad=bad, score=share(good, rated))
