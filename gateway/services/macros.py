"""Macros: the team's saved replies and notes, applied to a ticket in one step with the status move,
assignment and tag changes that go with them ("ask for the order number, set pending, tag needs-info";
"escalate: note for billing, assign to their agent").

Applying one goes through the same service calls the ticket's own requests make (`add_message`,
`change_status`, `assign_ticket`, `change_tags`), so the vendor rule, first-response times, reply delivery,
the status webhook, the history, the assignee rules and the tag limit hold as they do one request at a time.
What would refuse the status move or the assignee is checked before anything is posted; a change refused
after the message was posted (another agent's move in between, the tag limit) is reported in the answer, as
a bulk change reports it, and the message stays.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import ValidationError
from sqlalchemy import Row, ScalarSelect, Select, func, select
from sqlalchemy.orm import Session

from gateway.services.bulk import make_changes
from gateway.services.erasure import ensure_not_erased
from gateway.services.me import how_to_link, is_me, resolve_assignment
from gateway.services.replies import REPLY_SOURCE, add_message, find_message
from gateway.services.tickets import (
    check_assignable,
    check_assignment,
    check_move,
    get_ticket,
    to_read,
)
from shared.auth import Principal
from shared.config import Targets
from shared.db import insert_named
from shared.errors import Conflict, InvalidInput, NotFound
from shared.macros import REFERENCE_PLACEHOLDERS, fill, missing, uses_agent, uses_references, values_for
from shared.models import Macro, Ticket, TicketMessage, current_actor, utcnow
from shared.references import first_references
from shared.schemas import (
    AssignUpdate,
    MacroApplied,
    MacroApply,
    MacroCreate,
    MacroPreview,
    MacroRead,
    MacroSort,
    MacroWrite,
    MessageCreate,
    Status,
    TagsUpdate,
    TicketMessageRead,
)

USAGE_DAYS = (7, 30)  # the windows MacroRead counts uses over


def create_macro(session: Session, data: MacroCreate) -> MacroRead:
    """Store a new macro (409 if its id is taken: PUT replaces one)."""
    macro_id = data.macro_id or f"mac-{secrets.token_hex(6)}"
    _check_assignee(session, data)
    actor, now = current_actor(), utcnow()
    macro = Macro(macro_id=macro_id, created_by=actor, created_at=now, updated_by=actor, updated_at=now)
    _write(macro, data)
    insert_named(session, macro, f"macro '{macro_id}'", f"/api/macros/{macro_id}")
    return read_macro(session, macro_id)


def replace_macro(session: Session, macro_id: str, data: MacroWrite) -> MacroRead:
    """Replace a macro's text and changes (404 if unknown); its id and creator stay."""
    macro = get_macro(session, macro_id)
    _check_assignee(session, data)
    _write(macro, data)
    macro.updated_by, macro.updated_at = current_actor(), utcnow()
    session.commit()
    return read_macro(session, macro_id)


def list_macros(session: Session, *, active: bool | None, sort: MacroSort) -> list[MacroRead]:
    """The macros by title, or most used first (only the active or inactive ones, if asked)."""
    query, week, month = _with_usage()
    if active is not None:
        query = query.where(Macro.active.is_(active))
    if sort == MacroSort.by_usage:
        query = query.order_by(week.desc(), month.desc())
    query = query.order_by(Macro.title, Macro.macro_id)
    return [_to_read(row) for row in session.execute(query)]


def read_macro(session: Session, macro_id: str) -> MacroRead:
    """The macro with its uses, or 404."""
    row = session.execute(_with_usage()[0].where(Macro.macro_id == macro_id)).first()
    if row is None:
        raise NotFound(f"macro '{macro_id}' not found")
    return _to_read(row)


def _with_usage() -> tuple[Select[Macro, int, int, datetime | None], ScalarSelect[int], ScalarSelect[int]]:
    """Macros with their uses over `USAGE_DAYS` and their last use: each an index range of its own messages
    (`idx_ticket_messages_macro`), however many other messages there are."""
    now = utcnow()
    mine = TicketMessage.macro_id == Macro.macro_id
    week, month = (
        select(func.count()).where(mine, TicketMessage.created_at >= now - timedelta(days=days)).scalar_subquery()
        for days in USAGE_DAYS
    )
    last = select(func.max(TicketMessage.created_at)).where(mine).scalar_subquery()
    return select(Macro, week, month, last), week, month


def _to_read(row: Row[Macro, int, int, datetime | None]) -> MacroRead:
    macro, week, month, last = row
    return to_macro_read(macro, used_last_7d=week, used_last_30d=month, last_used_at=last)


def get_macro(session: Session, macro_id: str) -> Macro:
    """The macro, or 404."""
    macro = session.get(Macro, macro_id)
    if macro is None:
        raise NotFound(f"macro '{macro_id}' not found")
    return macro


def to_macro_read(
    macro: Macro, *, used_last_7d: int = 0, used_last_30d: int = 0, last_used_at: datetime | None = None
) -> MacroRead:
    """The macro as stored, typed (its uses as counted by `_with_usage`; not counted: 0, None)."""
    return MacroRead(
        macro_id=macro.macro_id,
        title=macro.title,
        body=macro.body,
        internal=macro.internal,
        status=Status(macro.status) if macro.status else None,
        assign=AssignUpdate.model_validate(macro.assign) if macro.assign is not None else None,
        tags=TagsUpdate.model_validate(macro.tags) if macro.tags else None,
        active=macro.active,
        created_by=macro.created_by,
        created_at=macro.created_at,
        updated_by=macro.updated_by,
        updated_at=macro.updated_at,
        used_last_7d=used_last_7d,
        used_last_30d=used_last_30d,
        last_used_at=last_used_at,
    )


def _check_assignee(session: Session, data: MacroWrite) -> None:
    """404 for an unknown agent to assign, 409 for an inactive one: a typo fails when the macro is written. `me`
    is whoever applies it."""
    if data.assign is not None and data.assign.agent_id is not None and not is_me(data.assign.agent_id):
        check_assignable(session, data.assign.agent_id)


def _write(macro: Macro, data: MacroWrite) -> None:
    macro.title = data.title
    macro.body = data.body
    macro.internal = data.internal
    macro.status = data.status.value if data.status else None
    macro.tags = data.tags.model_dump() if data.tags else None
    macro.assign = data.assign.model_dump() if data.assign else None
    macro.active = data.active


def fill_values(session: Session, text: str, ticket: Ticket, agent_name: str | None) -> dict[str, str]:
    """What `text`'s placeholders read for this ticket, its customer and the agent applying it (none: the agent's
    placeholders are left out). The order id and tracking number are looked up only for a text that holds one."""
    customer = ticket.customer
    order_id, tracking_number = first_references(session, ticket.ticket_id) if uses_references(text) else (None, None)
    return values_for(
        ticket_id=ticket.ticket_id,
        subject=ticket.subject,
        name=customer.name,
        email=customer.email,
        agent_name=agent_name,
        order_id=order_id,
        tracking_number=tracking_number,
    )


def _check_references(macro: Macro, ticket: Ticket, values: dict[str, str]) -> None:
    """409 for a macro whose order id or tracking number this ticket has none of: sent, the reply would read "your
    order  has shipped". The agent replies in their own words, or the order id is found once a message names it."""
    lacking = [name for name in missing(macro.body, values) if name.strip("{}") in REFERENCE_PLACEHOLDERS]
    if lacking:
        raise Conflict(
            f"macro '{macro.macro_id}' holds {' and '.join(lacking)} and ticket '{ticket.ticket_id}' has none (none "
            "given with it or found in its text); reply without this macro"
        )


def preview_macro(session: Session, ticket_id: str, macro_id: str, caller: Principal) -> MacroPreview:
    """The macro as the caller would apply it to the ticket (404 for either unknown), inactive or not: an admin
    checks a macro before turning it on, and sees the agent's placeholders as written if their key is linked to
    no agent."""
    ticket = get_ticket(session, ticket_id)
    macro = to_macro_read(get_macro(session, macro_id))
    values = fill_values(session, macro.body, ticket, caller.agent_name)
    return MacroPreview(
        macro_id=macro_id,
        ticket_id=ticket_id,
        body=fill(macro.body, values),
        missing=missing(macro.body, values),
        internal=macro.internal,
        status=macro.status,
        assign=macro.assign,
        tags=macro.tags,
    )


class Applied(NamedTuple):
    result: MacroApplied
    created: bool  # False: a retry found the message posted the first time


def active_macro(session: Session, macro_id: str) -> Macro:
    """The macro, if agents may apply it: 404 unknown, 409 inactive."""
    macro = get_macro(session, macro_id)
    if not macro.active:
        raise Conflict(f"macro '{macro_id}' is inactive: an admin turns it back on with PUT /api/macros/{macro_id}")
    return macro


def _check_signer(macro: Macro, caller: Principal) -> None:
    """422 for a macro signed with the agent's name when the caller's key is linked to no agent."""
    if caller.agent_id is None and uses_agent(macro.body):
        raise InvalidInput(
            f"macro '{macro.macro_id}' is signed with the agent's name ({{{{agent.name}}}} or "
            f"{{{{agent.first_name}}}}) and key '{caller.name}' is linked to no agent; " + how_to_link(caller)
        )


def check_applicable(session: Session, macro_id: str, caller: Principal) -> None:
    """What `apply_macro` refuses whatever the ticket, checked before a bulk job applies the macro to many: 404
    unknown, 409 inactive, 422 for its agent's name or `me` when the caller's key is linked to no agent, and the
    agent it assigns unknown (404) or inactive (409)."""
    macro = active_macro(session, macro_id)
    _check_signer(macro, caller)
    check_assignment(session, resolve_assignment(to_macro_read(macro).assign, caller))


def apply_macro(
    session: Session,
    ticket_id: str,
    macro_id: str,
    data: MacroApply,
    *,
    caller: Principal,
    deliver_replies: bool,
    sent: Collection[Status],
    targets: Targets,
) -> Applied:
    """Post the macro's text on the ticket as the caller's reply (or note), then make its status move, assignment
    (`me`: to the caller's agent) and tag changes. 404 for an unknown ticket or macro; 409 for an inactive
    macro, an erased ticket, a reply to a vendor's ticket, a status move its workflow does not allow, an
    inactive agent to assign or an order id or tracking number the ticket has none of; 422 when the text filled
    in for this ticket is not a message (empty, or longer than a message may be), or for `me` or the agent's name
    when the caller's key is linked to no agent."""
    ticket = get_ticket(session, ticket_id)
    macro = active_macro(session, macro_id)
    ensure_not_erased(ticket)
    plan = to_macro_read(macro)
    status = plan.status
    assign = resolve_assignment(plan.assign, caller)  # 422 before anything is posted when `me` names nobody
    retry = data.client_message_id is not None and find_message(session, REPLY_SOURCE, data.client_message_id)
    values = fill_values(session, macro.body, ticket, caller.agent_name)
    if not retry:  # refused before anything is posted
        _check_signer(macro, caller)
        _check_references(macro, ticket, values)
        if status is not None:
            check_move(Status(ticket.status), status)
        check_assignment(session, assign)
    try:
        message = MessageCreate(body=fill(macro.body, values), client_message_id=data.client_message_id)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise InvalidInput(
            f"macro '{macro_id}' filled in for ticket '{ticket_id}' is not a message: {reason}"
        ) from None
    posted = add_message(
        session,
        ticket_id,
        message,
        author_type="agent",
        author=caller.author,
        author_email=caller.agent_email,
        agent_id=caller.agent_id,
        internal=macro.internal,
        deliver=deliver_replies,
        macro_id=macro_id,
    )
    applied = ["note" if macro.internal else "reply"]
    failure = make_changes(session, ticket_id, status, assign, plan.tags, sent=sent, applied=applied)
    session.expire_all()  # tags are written by statements: read the ticket as now stored
    code, detail = failure or (200, None)
    result = MacroApplied(
        macro_id=macro_id,
        ok=failure is None,
        applied=applied,
        status_code=code,
        detail=detail,
        message=TicketMessageRead.model_validate(posted.message),
        ticket=to_read(get_ticket(session, ticket_id), targets),
    )
    return Applied(result, posted.created)
