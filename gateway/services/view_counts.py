"""The view list's counts kept for VIEW_COUNTS_MAX_AGE_S: an agent's client polling `GET /api/views?counts=true`
for its sidebar runs one count query per view each time (a sidebar of 14 views cost 365 ms on SQLite and 184 ms
on PostgreSQL at 200,000 tickets), and every agent polling it repeats the same queries.

A count is kept per gateway process, keyed by what decides it: the database, the filters as the caller's view
resolves them (`me` already replaced by the caller's agent, so each agent's "My tickets" is their own) and the
targets. Editing a view changes its filters, so its next count is fresh; tickets changing are not watched, so a
count is up to the maximum age old, and says when it was made (`count_as_of`). Opening a view, and the single
view's count, always count now.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from time import monotonic

from sqlalchemy.orm import Session

from gateway.services.tickets import count_tickets
from shared.config import Targets
from shared.models import utcnow
from shared.schemas import TicketQuery

MAX_ENTRIES = 10_000  # views x agents with their own "me" views; past it the expired are dropped, then all


@dataclass(frozen=True)
class Count:
    value: int
    at: datetime  # when it was counted
    expires: float  # monotonic()


_counts: dict[tuple[str, str, str], Count] = {}
_lock = threading.Lock()


def count_now(session: Session, filters: TicketQuery, targets: Targets) -> tuple[int, datetime]:
    """The count, made now, and when."""
    at = utcnow()
    return count_tickets(session, filters, targets), at


def recent_count(session: Session, filters: TicketQuery, targets: Targets, max_age_s: float) -> tuple[int, datetime]:
    """The count of `filters` made at most `max_age_s` ago in this process, or made now; and when it was made."""
    if max_age_s <= 0:
        return count_now(session, filters, targets)
    key = (str(session.get_bind().engine.url), filters.model_dump_json(), _targets_key(targets))
    now = monotonic()
    kept = _counts.get(key)
    if kept is not None and kept.expires > now:
        return kept.value, kept.at
    value, at = count_now(session, filters, targets)
    with _lock:
        if len(_counts) >= MAX_ENTRIES:
            for old in [k for k, count in _counts.items() if count.expires <= now]:
                del _counts[old]
            if len(_counts) >= MAX_ENTRIES:
                _counts.clear()
        _counts[key] = Count(value, at, now + max_age_s)
    return value, at


def _targets_key(targets: Targets) -> str:
    """What of the targets a count depends on (the overdue filters): the hours, the pause, and the calendar,
    which `calendar_for` makes once per setting, so its identity names it."""
    hours = (targets.resolution, targets.first_response, targets.next_reply, targets.pause_in_pending)
    return f"{hours!r}/{id(targets.calendar)}"
