"""One change made to many tickets: an outage's tickets tagged, a queue's solved ones resolved, a departed
agent's tickets handed to another.

Each ticket goes through the same service calls its own requests make (`change_status`, `assign_ticket`,
`change_tags`), in its own transactions: the workflow's 409s, the claims that keep concurrent changes apart,
the history, the status webhook's outbox all hold as they do one ticket at a time. A ticket that cannot take
a change is reported with the status its own request would have answered, and the others go on; nothing is
undone, so `applied` says which of its changes were made.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from gateway.services.me import resolve_assignment
from gateway.services.tags import change_tags
from gateway.services.tickets import assign_ticket, change_status, check_assignment, get_ticket, to_read
from shared.auth import Principal
from shared.config import Targets
from shared.errors import CopilotError, NotFound
from shared.schemas import AssignUpdate, BulkRead, BulkResult, BulkUpdate, Status, TagsUpdate


def bulk_update(
    session: Session, data: BulkUpdate, *, sent: Collection[Status], targets: Targets, caller: Principal
) -> BulkRead:
    """Make `data`'s changes to each of its tickets, in order (`me` assigns to the caller's agent); each
    ticket's outcome."""
    data = data.model_copy(update={"assign": resolve_assignment(data.assign, caller)})
    # The whole request is refused (404, 409) for an assignee no ticket could take, before any ticket changes.
    check_assignment(session, data.assign)
    session.rollback()  # end the read; each ticket's changes run in transactions of their own
    results = [_one(session, ticket_id, data, sent=sent, targets=targets) for ticket_id in data.ticket_ids]
    updated = sum(result.ok for result in results)
    return BulkRead(updated=updated, failed=len(results) - updated, results=results)


def make_changes(
    session: Session,
    ticket_id: str,
    status: Status | None,
    assign: AssignUpdate | None,
    tags: TagsUpdate | None,
    *,
    sent: Collection[Status],
    applied: list[str],
) -> tuple[int, str] | None:
    """Make the status move, assignment and tag changes given, in that order, each in its own transaction, naming
    each made in `applied`; the first refused ends it, rolled back, and its status code and reason are returned
    (None: every change was made). A bulk change's, a bulk job's and a macro's changes go through here."""
    try:
        if status is not None:
            change_status(session, ticket_id, status, sent=sent)
            applied.append("status")
        if assign is not None:
            assign_ticket(session, ticket_id, assign.agent_id)
            applied.append("assign")
        if tags is not None:
            change_tags(session, ticket_id, tags)
            applied.append("tags")
    except CopilotError as error:
        session.rollback()
        return error.status_code, str(error)
    return None


def _one(
    session: Session, ticket_id: str, data: BulkUpdate, *, sent: Collection[Status], targets: Targets
) -> BulkResult:
    applied: list[str] = []
    failure = make_changes(session, ticket_id, data.status, data.assign, data.tags, sent=sent, applied=applied)
    session.expire_all()  # its tags were written by statements: read it as now stored
    try:
        ticket = to_read(get_ticket(session, ticket_id), targets)
    except NotFound:
        ticket = None
    session.rollback()  # end the read before the next ticket
    code, detail = failure or (200, None)
    return BulkResult(
        ticket_id=ticket_id, ok=failure is None, applied=applied, status_code=code, detail=detail, ticket=ticket
    )
