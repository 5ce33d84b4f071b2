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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

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
    working categories, over `idx_tickets_satisfaction`; and the response rate the same ways: of the web and API
    tickets resolved since `since` (a reopen clears `resolved_at`), the share rated, over `idx_tickets_resolved`."""
    assignee = current_assignee()  # grouped by it, SQLite keeps to the window's range of that index
    rows = session.execute(
        select(assignee, Ticket.category, Ticket.satisfaction, func.count())
        .where(Ticket.satisfaction_at >= since, Ticket.satisfaction.is_not(None))
        .group_by(assignee, Ticket.category, Ticket.satisfaction)
    ).all()
    total = _Counts()
    by_agent: dict[str, _Counts] = defaultdict(_Counts)
    by_category: dict[str, _Counts] = defaultdict(_Counts)
    for agent, category, rating, n in rows:
        rated = cast(str, rating)  # not null: the query keeps rated tickets only
        for counts in _each(total, by_agent, by_category, agent, category):
            counts.ratings[rated] += n
    for agent, category, solved, solved_rated in _solved(session, since, assignee, Ticket.category):
        for counts in _each(total, by_agent, by_category, agent, category):
            counts.solved += solved
            counts.solved_rated += solved_rated
    return SatisfactionCounts(
        **total.tally().model_dump(),
        by_agent={agent: counts.tally() for agent, counts in sorted(by_agent.items())},
        by_category={category: counts.tally() for category, counts in sorted(by_category.items())},
    )


def agent_satisfaction(session: Session, since: datetime, agent_id: str) -> SatisfactionTally:
    """The ratings given since `since` on the tickets assigned to `agent_id` now, and their solved tickets'
    response rate (as `by_agent` counts them)."""
    rows = session.execute(
        select(Ticket.satisfaction, func.count())
        .where(Ticket.satisfaction_at >= since, Ticket.satisfaction.is_not(None), assigned_to(agent_id))
        .group_by(Ticket.satisfaction)
    ).all()
    ((solved, solved_rated),) = _solved(session, since, where=assigned_to(agent_id))  # no keys: one row
    return _Counts(Counter({cast(str, rating): n for rating, n in rows}), solved, solved_rated).tally()


def satisfaction_by_agent(session: Session, since: datetime, agents: Sequence[str]) -> dict[str, SatisfactionTally]:
    """`agent_satisfaction` for each of `agents`, in two grouped counts."""
    assignee = current_assignee()
    rows = session.execute(
        select(assignee, Ticket.satisfaction, func.count())
        .where(Ticket.satisfaction_at >= since, Ticket.satisfaction.is_not(None), assignee.in_(agents))
        .group_by(assignee, Ticket.satisfaction)
    ).all()
    counted: dict[str, _Counts] = defaultdict(_Counts)
    for agent, rating, n in rows:
        counted[agent].ratings[cast(str, rating)] += n
    for agent, solved, solved_rated in _solved(session, since, assignee, where=assignee.in_(agents)):
        counted[agent].solved, counted[agent].solved_rated = solved, solved_rated
    return {agent: counted[agent].tally() for agent in agents}


def assigned_to(agent_id: str) -> ColumnElement[bool]:
    """Assigned to `agent_id` now, as a condition on a window's rows (through `current_assignee`)."""
    return current_assignee() == agent_id


@dataclass
class _Counts:
    """One tally's counts as they are added up: ratings by value, solved tickets and the rated among them."""

    ratings: Counter[str] = field(default_factory=Counter)
    solved: int = 0
    solved_rated: int = 0

    def tally(self) -> SatisfactionTally:
        good, bad = self.ratings[Satisfaction.good.value], self.ratings[Satisfaction.bad.value]
        rated = good + bad
        return SatisfactionTally(
            rated=rated,
            good=good,
            bad=bad,
            score=share(good, rated),
            solved=self.solved,
            solved_rated=self.solved_rated,
            response_rate=share(self.solved_rated, self.solved),
        )


def _each(
    total: _Counts, by_agent: dict[str, _Counts], by_category: dict[str, _Counts], agent: str | None, category: Any
) -> list[_Counts]:
    """The tallies a ticket of `agent` and `category` counts in: the total, and its agent's and category's if any."""
    tallies = [total]
    if agent is not None:
        tallies.append(by_agent[agent])
    if category is not None:
        tallies.append(by_category[category])
    return tallies


def _solved(session: Session, since: datetime, *keys: Any, where: ColumnElement[bool] | None = None) -> Sequence[Any]:
    """The web and API tickets resolved since `since` (and not reopened since: a reopen clears `resolved_at`) and
    the rated among them, whenever, grouped by `keys`: a row per group, its keys first."""
    query = select(*keys, func.count(), func.count(Ticket.satisfaction)).where(
        Ticket.resolved_at >= since, Ticket.source.not_in(sorted(VENDOR_SOURCES))
    )
    if where is not None:
        query = query.where(where)
    return session.execute(query.group_by(*keys) if keys else query).all()
