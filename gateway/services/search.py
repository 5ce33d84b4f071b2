"""An agent's search of the tickets' text: the ticket list's `q`.

Each term is a case-insensitive substring match (`ILIKE`, see `has_for`) over the ticket's subject and
description, its messages (internal notes too: only agents search) and its customer's name and email; a
ticket matches when every term does. Two ways to the same answer, as neither is cheap for every search:

- `row_matches` tests each ticket read: fast where matches are dense, as a newest-first page walks the
  arrival index and stops once full, or where the other filters leave few tickets to read; but it reads
  every ticket for a word found in none.
- `text_matches` collects each term's tickets first, every place through its own index on PostgreSQL (the
  trigram indexes of migration 0027, `shared.db.SEARCH_INDEXES`): fast for a rare word, but a common one
  collects tens of thousands of ids before the page is sorted out of them.

`search` picks: for a list by arrival, the newest (oldest) `RECENT_TICKETS` walked first, their page kept
when it fills; then reading row by row when the other filters leave at most `ROW_SCAN_TICKETS`, else
collecting. See benchmarks/queue_reads.py for what each costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, union
from sqlalchemy.orm import Session

from shared.models import Customer, Ticket, TicketMessage
from shared.text import search_terms

RECENT_TICKETS = 5_000  # the newest (oldest) tickets a search by arrival walks before it reads or collects
ROW_SCAN_TICKETS = 20_000  # the most tickets left by the other filters that a search reads row by row


Has = Callable[[Any, str], ColumnElement[bool]]  # (column, LIKE pattern) -> the column holds it, any case


def has_for(dialect: str) -> Has:
    """ILIKE; on SQLite, LIKE, which ignores the case of ASCII letters as SQLite's lower() does, so the same
    answer: its ILIKE is lower() LIKE lower(), which took a scan of the tickets from 85 to 127 ms."""
    if dialect == "sqlite":
        return lambda column, pattern: column.like(pattern, escape="\\")
    return lambda column, pattern: column.ilike(pattern, escape="\\")


def _pattern(term: str) -> str:
    """`term` as a LIKE pattern matching it anywhere, its wildcards and the escape character taken literally."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _customers(has: Has, pattern: str) -> Select[str]:
    return select(Customer.customer_id).where(has(Customer.name, pattern) | has(Customer.email, pattern))


def text_matches(query: str, has: Has) -> list[ColumnElement[bool]]:
    """One condition per term of `query`, each the set of tickets holding it, collected first."""
    return [Ticket.ticket_id.in_(_tickets_mentioning(has, _pattern(term))) for term in search_terms(query)]


def _tickets_mentioning(has: Has, pattern: str) -> Select[str]:
    """A union rather than one OR, so that PostgreSQL reads each table through its own indexes (the ticket's
    subject or description through both of its, one bitmap OR'd with the other's)."""
    return select(union(
        select(Ticket.ticket_id).where(has(Ticket.subject, pattern) | has(Ticket.description, pattern)),
        select(TicketMessage.ticket_id).where(has(TicketMessage.body, pattern)),
        select(Ticket.ticket_id).where(Ticket.customer_id.in_(_customers(has, pattern))),
    ).subquery().c[0])  # fmt: skip


def row_matches(query: str, has: Has) -> list[ColumnElement[bool]]:
    """One condition per term of `query`, each tested on the ticket row being read."""
    conditions = []
    for term in search_terms(query):
        pattern = _pattern(term)
        in_messages = exists().where(TicketMessage.ticket_id == Ticket.ticket_id, has(TicketMessage.body, pattern))
        conditions.append(or_(
            has(Ticket.subject, pattern),
            has(Ticket.description, pattern),
            in_messages,
            Ticket.customer_id.in_(_customers(has, pattern)),
        ))  # fmt: skip
    return conditions


def arrival_order(*, newest: bool) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The ticket list's order by arrival, ties broken by id: a page found among the newest (oldest) tickets
    must be the page the list would give."""
    if newest:
        return Ticket.created_at.desc(), Ticket.ticket_id.desc()
    return Ticket.created_at.asc(), Ticket.ticket_id.asc()


def search(
    session: Session, query: Select[Ticket], q: str, page: tuple[int, int, bool] | None
) -> tuple[Sequence[Ticket] | None, Select[Ticket]]:
    """`query` (the list's other filters) searched for `q`: the page itself when it could be found among the
    newest (or oldest) tickets, and the query. `page`: the limit, offset and direction (newest first or not)
    of a list by arrival; None for the other orders.

    Every ticket outside the newest `RECENT_TICKETS` arrived no later than those in it (the oldest: no
    earlier), so a full page from them is the page of the whole table.
    """
    has = has_for(session.get_bind().dialect.name)
    if page is not None:
        limit, offset, newest = page
        arrival, tie = arrival_order(newest=newest)
        bound = session.scalar(select(Ticket.created_at).order_by(arrival).offset(RECENT_TICKETS).limit(1))
        window = query.where(*row_matches(q, has)).order_by(arrival, tie)
        if bound is not None:
            window = window.where(Ticket.created_at > bound if newest else Ticket.created_at < bound)
        found = session.scalars(window.limit(limit).offset(offset)).unique().all()
        if bound is None or len(found) == limit:
            return found, query
    capped = query.with_only_columns(Ticket.ticket_id).limit(ROW_SCAN_TICKETS + 1).subquery()
    few = (session.scalar(select(func.count()).select_from(capped)) or 0) <= ROW_SCAN_TICKETS
    if not few:
        return None, query.where(*text_matches(q, has))
    # Read first, then ordered: a newest-first page otherwise walks the arrival index past every ticket
    # the filters refuse, as the planner cannot tell how few match a word.
    matched = (
        query.with_only_columns(Ticket.ticket_id)
        .where(*row_matches(q, has))
        .cte("searched")
        .prefix_with("MATERIALIZED")
    )
    return None, query.where(Ticket.ticket_id.in_(select(matched.c.ticket_id)))
