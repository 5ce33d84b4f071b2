"""Views: the team's saved ticket lists ("Unassigned urgent", "Billing overdue", "Waiting on us"), each the
ticket list's filters and order under a title, opened by any agent with the count of tickets it holds now.

A view stores the filters, not the tickets: opening it runs `list_tickets` with them, and its count runs
the same filters through `count_tickets`, so a view lists exactly what `GET /api/tickets/?{query}` lists
at that moment (the targets, due times and text search included). A view with `assigned_to=me` lists each
caller's own tickets (`gateway.services.me`).

A view is the team's (admins write it, every agent opens it) or an agent's own (`personal`: any agent whose
key is linked to an agent saves, opens, writes and deletes theirs; to everyone else it does not exist, a 404,
so the team's list is not cluttered with everyone's experiments).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from gateway.services.agents import get_agent
from gateway.services.list_export import closed_on_error, export_csv
from gateway.services.me import how_to_link, is_me, mine
from gateway.services.tickets import list_tickets
from gateway.services.view_counts import recent_count
from shared.auth import Principal, Role
from shared.config import Targets
from shared.db import insert_named
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.models import Ticket, View, current_actor, utcnow
from shared.schemas import ExportOptions, TicketFilters, ViewCreate, ViewFilters, ViewRead, ViewWrite

MAX_PERSONAL_VIEWS = 100  # an agent's own views: past it, one is deleted first (the sidebar stays readable)


def create_view(session: Session, data: ViewCreate, targets: Targets, caller: Principal) -> ViewRead:
    """Store a new view (409 if its id is taken: PUT replaces one): the team's, written by an admin (403 for
    anyone else), or the caller's own (403 for a key linked to no agent, 409 past MAX_PERSONAL_VIEWS)."""
    view_id = data.view_id or f"view-{secrets.token_hex(6)}"
    owner = _owner(caller) if data.personal else None
    if owner is None:
        _check_team_writer(caller)
    else:
        _check_room(session, owner)
    _check_agent(session, data.filters)
    actor, now = current_actor(), utcnow()
    view = View(view_id=view_id, owner=owner, created_by=actor, created_at=now, updated_by=actor, updated_at=now)
    _write(view, data)
    insert_named(session, view, f"view '{view_id}'", f"/api/views/{view_id}")
    return read_view(session, view_id, targets, caller)


def replace_view(session: Session, view_id: str, data: ViewWrite, targets: Targets, caller: Principal) -> ViewRead:
    """Replace a view's title, filters and place (404 if unknown, or another agent's own); its id, creator and
    owner stay. The team's views are an admin's to write (403), a personal one its owner's."""
    view = get_view(session, view_id, caller)
    if view.owner is None:
        _check_team_writer(caller)
    _check_agent(session, data.filters)
    _write(view, data)
    view.updated_by, view.updated_at = current_actor(), utcnow()
    session.commit()
    return read_view(session, view_id, targets, caller)


def delete_view(session: Session, view_id: str, caller: Principal) -> None:
    """Delete the caller's own view (404 if unknown, or another agent's). The team's views are turned off, not
    deleted (409): a link to one kept in a wiki or a bookmark keeps opening it."""
    view = get_view(session, view_id, caller)
    if view.owner is None:
        raise Conflict(
            f"view '{view_id}' is the team's and is not deleted: an admin turns it off with "
            f"PUT /api/views/{view_id} and `active: false`; only personal views are deleted"
        )
    session.delete(view)
    session.commit()


def list_views(
    session: Session,
    *,
    active: bool | None,
    counts: bool,
    targets: Targets,
    caller: Principal,
    max_age_s: float = 0,
    personal: bool | None = None,
) -> list[ViewRead]:
    """The team's views, then the caller's own, each by position, then title (only the active or inactive ones,
    the team's or the caller's, if asked), each with its count for the caller if asked: one count query per
    view, unless counted within `max_age_s` (VIEW_COUNTS_MAX_AGE_S, `gateway.services.view_counts`)."""
    team, own = View.owner.is_(None), _own(caller)
    shown = or_(team, own) if personal is None else own if personal else team
    query = select(View).where(shown).order_by(View.owner.is_not(None), View.position, View.title, View.view_id)
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
    view = get_view(session, view_id, caller)
    return _counted(session, view, filters_of(view), targets, caller)


def view_tickets(
    session: Session, view_id: str, *, limit: int, offset: int, targets: Targets, caller: Principal
) -> list[Ticket]:
    """A page of the view's tickets for the caller, in its order (404 for an unknown view)."""
    filters = mine(filters_of(get_view(session, view_id, caller)), caller)
    return list_tickets(session, TicketFilters(**dict(filters), limit=limit, offset=offset), targets)


def export_view(
    session: Session, view_id: str, options: ExportOptions, targets: Targets, max_rows: int, caller: Principal
) -> Iterator[str]:
    """The view's tickets for the caller as CSV lines, in its order (404 unknown, 409 stale); the lines own
    `session`."""
    with closed_on_error(session):
        filters = mine(filters_of(get_view(session, view_id, caller)), caller)
    return export_csv(session, filters, options, targets, max_rows)


def get_view(session: Session, view_id: str, caller: Principal) -> View:
    """The view, or 404: for an unknown id, and for another agent's personal view, which is theirs alone (a 403
    would tell that it exists)."""
    view = session.get(View, view_id)
    if view is None or (view.owner is not None and view.owner != caller.agent_id):
        raise NotFound(f"view '{view_id}' not found")
    return view


def _own(caller: Principal) -> ColumnElement[bool]:
    """The caller's personal views; none for a key linked to no agent."""
    return View.owner == caller.agent_id if caller.agent_id is not None else false()


def _owner(caller: Principal) -> str:
    """The agent a personal view is saved for: the caller's (403 for a key linked to none: a valid request that
    this key may not make, since it has nobody to save it for)."""
    if caller.agent_id is None:
        raise Forbidden(
            f"a personal view belongs to the agent the caller's key is linked to, and key '{caller.name}' is "
            "linked to none; " + how_to_link(caller)
        )
    return caller.agent_id


def _check_team_writer(caller: Principal) -> None:
    """403 unless the caller may write the team's views: an admin."""
    if not caller.role.allows(Role.admin):
        raise Forbidden("only an admin writes the team's views; `personal: true` saves a view of your own")


def _check_room(session: Session, owner: str) -> None:
    """409 when the agent already has MAX_PERSONAL_VIEWS views of their own."""
    held = session.scalar(select(func.count()).select_from(View).where(View.owner == owner)) or 0
    if held >= MAX_PERSONAL_VIEWS:
        raise Conflict(
            f"agent '{owner}' has {held} personal views, the most kept; DELETE /api/views/{{view_id}} one first"
        )


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
        personal=view.owner is not None,
        owner=view.owner,
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
