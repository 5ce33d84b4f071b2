"""Views: the team's saved ticket lists ("Unassigned urgent", "Billing overdue", "Waiting on us"), each the
ticket list's filters and order under a title, opened by any agent with the count of tickets it holds now.

A view stores the filters, not the tickets: opening it runs `list_tickets` with them, and its count runs
the same filters through `count_tickets`, so a view lists exactly what `GET /api/tickets/?{query}` lists
at that moment (the targets, due times and text search included). A view with `assigned_to=me` lists each
caller's own tickets (`gateway.services.me`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.agents import get_agent
from gateway.services.list_export import closed_on_error, export_csv
from gateway.services.me import is_me, mine
from gateway.services.tickets import list_tickets
from gateway.services.view_counts import recent_count
from shared.auth import Principal
from shared.config import Targets
from shared.db import insert_named
from shared.errors import Conflict, InvalidInput, NotFound
from shared.models import Ticket, View, current_actor, utcnow
from shared.schemas import ExportOptions, TicketFilters, ViewCreate, ViewFilters, ViewRead, ViewWrite


def create_view(session: Session, data: ViewCreate, targets: Targets, caller: Principal) -> ViewRead:
    """Store a new view (409 if its id is taken: PUT replaces one)."""
    view_id = data.view_id or f"view-{secrets.token_hex(6)}"
    _check_agent(session, data.filters)
    actor, now = current_actor(), utcnow()
    view = View(view_id=view_id, created_by=actor, created_at=now, updated_by=actor, updated_at=now)
    _write(view, data)
    insert_named(session, view, f"view '{view_id}'", f"/api/views/{view_id}")
    return read_view(session, view_id, targets, caller)


def replace_view(session: Session, view_id: str, data: ViewWrite, targets: Targets, caller: Principal) -> ViewRead:
    """Replace a view's title, filters and place (404 if unknown); its id and creator stay."""
    view = get_view(session, view_id)
    _check_agent(session, data.filters)
    _write(view, data)
    view.updated_by, view.updated_at = current_actor(), utcnow()
    session.commit()
    return read_view(session, view_id, targets, caller)


def list_views(
    session: Session,
    *,
    active: bool | None,
    counts: bool,
    targets: Targets,
    caller: Principal,
    max_age_s: float = 0,
) -> list[ViewRead]:
    """The views by position, then title (only the active or inactive ones, if asked), each with its count
    for the caller if asked: one count query per view, unless counted within `max_age_s`
    (VIEW_COUNTS_MAX_AGE_S, `gateway.services.view_counts`)."""
    query = select(View).order_by(View.position, View.title, View.view_id)
    if active is not None:
        query = query.where(View.active.is_(active))
    return [_listed(session, view, counts, targets, caller, max_age_s) for view in session.scalars(query)]


def _listed(
    session: Session, view: View, counts: bool, targets: Targets, caller: Principal, max_age_s: float
) -> ViewRead:
    """One view of the list, counted if asked; one whose stored filters this version does not take is shown
    with its `problem` and no count, where opening it is a 409: a stale view must not refuse every agent's list."""
    try:
        filters = filters_of(view)
    except Conflict as stale:
        return to_view_read(view, problem=str(stale))
    return _counted(session, view, filters, targets, caller, max_age_s) if counts else to_view_read(view)


def _counted(
    session: Session, view: View, filters: ViewFilters, targets: Targets, caller: Principal, max_age_s: float = 0
) -> ViewRead:
    """The view with the caller's count (made within `max_age_s`; 0: now); a view of `me` for a key linked to no
    agent has none, and says why (an admin's key writes the team's "My tickets" view without being anyone's)."""
    try:
        own = mine(filters, caller)
    except InvalidInput as nobody:
        return to_view_read(view, problem=str(nobody))
    count, at = recent_count(session, own, targets, max_age_s)
    return to_view_read(view, count, count_as_of=at)


def read_view(session: Session, view_id: str, targets: Targets, caller: Principal) -> ViewRead:
    """The view with its count for the caller, or 404."""
    view = get_view(session, view_id)
    return _counted(session, view, filters_of(view), targets, caller)


def view_tickets(
    session: Session, view_id: str, *, limit: int, offset: int, targets: Targets, caller: Principal
) -> list[Ticket]:
    """A page of the view's tickets for the caller, in its order (404 for an unknown view)."""
    filters = mine(filters_of(get_view(session, view_id)), caller)
    return list_tickets(session, TicketFilters(**dict(filters), limit=limit, offset=offset), targets)


def export_view(
    session: Session, view_id: str, options: ExportOptions, targets: Targets, max_rows: int, caller: Principal
) -> Iterator[str]:
    """The view's tickets for the caller as CSV lines, in its order (404 unknown, 409 stale); the lines own
    `session`."""
    with closed_on_error(session):
        filters = mine(filters_of(get_view(session, view_id)), caller)
    return export_csv(session, filters, options, targets, max_rows)


def get_view(session: Session, view_id: str) -> View:
    """The view, or 404."""
    view = session.get(View, view_id)
    if view is None:
        raise NotFound(f"view '{view_id}' not found")
    return view


def filters_of(view: View) -> ViewFilters:
    """The view's stored filters, typed; 409 if this version no longer takes them (a filter renamed or
    removed by an upgrade), naming the PUT that rewrites them."""
    try:
        return ViewFilters.model_validate(view.filters)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise Conflict(
            f"view '{view.view_id}' holds filters this version does not take ({problems}); "
            f"PUT /api/views/{view.view_id} rewrites them"
        ) from None


def to_view_read(
    view: View, count: int | None = None, problem: str | None = None, *, count_as_of: datetime | None = None
) -> ViewRead:
    """The view as stored, with the list's query string for its filters, the count if counted, and why it
    cannot be opened, if it cannot."""
    return ViewRead(
        view_id=view.view_id,
        title=view.title,
        filters=view.filters,
        query=urlencode({name: _query_value(value) for name, value in view.filters.items()}),
        position=view.position,
        active=view.active,
        created_by=view.created_by,
        created_at=view.created_at,
        updated_by=view.updated_by,
        updated_at=view.updated_at,
        count=count,
        count_as_of=count_as_of,
        problem=problem,
    )


def _query_value(value: Any) -> str:
    """A filter's JSON value as the list's query string spells it (true, not True)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _check_agent(session: Session, filters: ViewFilters) -> None:
    """404 for an unknown agent in `assigned_to`: a typo fails when the view is written, not as an empty view.
    An inactive agent is allowed (their tickets still need handing over), and so is `me`."""
    if filters.assigned_to is not None and not is_me(filters.assigned_to):
        get_agent(session, filters.assigned_to)


def _write(view: View, data: ViewWrite) -> None:
    view.title = data.title
    view.filters = data.filters.model_dump(mode="json", exclude_defaults=True)
    view.position = data.position
    view.active = data.active
