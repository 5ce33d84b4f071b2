"""Ticket endpoints (the seed's paths and shapes). Thin: parse, call a service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from gateway.csv_http import CSV_RESPONSES, csv_response
from gateway.deps import SessionDep, SessionFactoryDep, SettingsDep
from gateway.services import tickets as service
from gateway.services.bulk import bulk_update
from gateway.services.erasure import erase_ticket as erase
from gateway.services.list_export import export_csv
from gateway.services.me import mine, resolve_agent
from gateway.services.merge import merge_ticket
from gateway.services.satisfaction import rate_ticket
from gateway.services.tags import change_tags
from gateway.services.waiting import wait_for_ticket
from shared.auth import Role
from shared.fastapi_auth import AgentDep, ManagerDep, require
from shared.models import Ticket
from shared.schemas import (
    AssignUpdate,
    BulkRead,
    BulkUpdate,
    ErasureRead,
    MergeCreate,
    MergeRead,
    SatisfactionCreate,
    SatisfactionRead,
    StatusChanged,
    StatusUpdate,
    TagsRead,
    TagsUpdate,
    TicketCreate,
    TicketEnvelope,
    TicketExport,
    TicketFilters,
    TicketRead,
)

router = APIRouter(prefix="/api/tickets", tags=["tickets"])

WaitQuery = Annotated[
    int, Query(ge=0, le=30, description="Seconds to wait for the AI results before answering (long-poll)")
]


async def _waited(request: Request, factory: SessionFactoryDep, ticket_id: str, wait: int) -> TicketRead:
    def load() -> Ticket:
        with factory() as session:
            return service.get_ticket(session, ticket_id)

    async def aload() -> Ticket:
        return await run_in_threadpool(load)

    wait = min(wait, request.app.state.settings.max_wait_s)  # an operator's cap below the documented 30 s
    ticket = await wait_for_ticket(request.app.state.redis, ticket_id, wait, aload)
    return service.to_read(ticket, request.app.state.settings.targets)


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketEnvelope,
    dependencies=[require(Role.integration)],
)
async def create_ticket(
    data: TicketCreate, request: Request, factory: SessionFactoryDep, wait: WaitQuery = 0
) -> TicketEnvelope:
    """Store the ticket and queue it for classification and drafting; `?wait=N` returns the AI results too."""

    def create() -> TicketRead:
        with factory() as session:
            return service.create_ticket(session, data)

    ticket = await run_in_threadpool(create)
    if wait:
        ticket = await _waited(request, factory, ticket.ticket_id, wait)
    return TicketEnvelope(ticket=ticket)


@router.get("/", response_model=list[TicketRead])
def list_tickets(
    session: SessionDep, settings: SettingsDep, filters: Annotated[TicketFilters, Query()], caller: AgentDep
) -> list[TicketRead]:
    """Newest first (or oldest, or soonest due to resolve, to answer or to reply again, or longest flagged for
    review), filtered by status, priority, category, assignee, customer (id or email), order id, tracking
    number, source, answered, review flag, processing state, overdue, unanswered past the first response
    target, awaiting a reply (longest wait first), kept waiting past the reply target, rating, tag, and the
    words of a text search (`q`). `assigned_to=me`: the caller's own tickets (a key linked to an agent)."""
    targets = settings.targets
    return [service.to_read(t, targets) for t in service.list_tickets(session, mine(filters, caller), targets)]


@router.get("/export", response_class=StreamingResponse, responses=CSV_RESPONSES)
def export_tickets(
    factory: SessionFactoryDep, settings: SettingsDep, query: Annotated[TicketExport, Query()], caller: ManagerDep
) -> StreamingResponse:
    """The list as a CSV file: every ticket the same filters hold, in the same order (no page), up to
    EXPORT_MAX_ROWS; `columns` chooses the columns, e.g. `?category=billing&created_from=2026-11-01&
    created_before=2026-12-01&columns=ticket_id,created_at,status,resolved_at`."""
    lines = export_csv(factory(), mine(query, caller), query, settings.targets, settings.export_max_rows)
    return csv_response(lines, "tickets")


@router.get("/{ticket_id}", response_model=TicketRead, dependencies=[require(Role.agent)])
async def get_ticket(ticket_id: str, request: Request, factory: SessionFactoryDep, wait: WaitQuery = 0) -> TicketRead:
    """One ticket; with `?wait=N`, answers as soon as its AI results are in or after N seconds."""
    return await _waited(request, factory, ticket_id, wait)


@router.put(
    "/{ticket_id}/status",
    response_model=StatusChanged,
    dependencies=[require(Role.agent)],
    responses={
        409: {
            "description": "The workflow does not allow this move (the message lists the allowed ones), or the "
            "ticket kept changing while it was applied; retry"
        }
    },
)
def change_status(ticket_id: str, data: StatusUpdate, session: SessionDep, settings: SettingsDep) -> StatusChanged:
    """Move the ticket along its workflow; disallowed transitions get 409. A web or API ticket's move to one of
    REPLY_WEBHOOK_STATUSES (resolved, closed by default) is POSTed to REPLY_WEBHOOK_URL when it is set."""
    ticket = service.change_status(session, ticket_id, data.status, sent=settings.sent_statuses)
    return StatusChanged(
        ticket_id=ticket.ticket_id, status=ticket.status, updated_at=ticket.updated_at, resolved_at=ticket.resolved_at
    )


@router.post(
    "/bulk",
    response_model=BulkRead,
    dependencies=[require(Role.agent)],
    responses={
        404: {"description": "The agent to assign does not exist (no ticket was changed)"},
        409: {"description": "The agent to assign is inactive (no ticket was changed)"},
    },
)
def bulk_change(data: BulkUpdate, session: SessionDep, settings: SettingsDep, caller: AgentDep) -> BulkRead:
    """Make one change to up to 100 tickets: a status move, an assignment, tags, or any of them together. Each
    ticket is changed as its own requests would change it and answers for itself in `results` (`status_code`
    404 for an unknown ticket, 409 for a move its workflow does not allow, ...); the others go on."""
    return bulk_update(session, data, sent=settings.sent_statuses, targets=settings.targets, caller=caller)


@router.post(
    "/{ticket_id}/merge",
    response_model=MergeRead,
    dependencies=[require(Role.agent)],
    responses={
        404: {"description": "Unknown ticket (either)"},
        409: {
            "description": "A ticket merged into itself, either ticket erased, closed or from Zendesk or Intercom, "
            "the two belonging to different customers, or the ticket merged into another already"
        },
    },
)
def merge(ticket_id: str, data: MergeCreate, session: SessionDep, settings: SettingsDep, caller: AgentDep) -> MergeRead:
    """Merge this duplicate into the ticket kept (`into`), one customer's two tickets about one problem: this one
    is closed (its history and the status webhook name `merged_into`), and the kept one gets an internal note,
    named after the caller's agent (else key), holding this one's subject, text and messages. The customer's
    later messages to this ticket go to the kept one. Sent again (a retry), it answers the merge as made."""
    return merge_ticket(
        session,
        ticket_id,
        data.into,
        author=caller.author,
        author_email=caller.agent_email,
        agent_id=caller.agent_id,
        sent=settings.sent_statuses,
        targets=settings.targets,
    )


@router.put(
    "/{ticket_id}/assign",
    response_model=TicketRead,
    responses={
        404: {"description": "Unknown ticket or agent"},
        409: {"description": "The agent is inactive"},
        422: {"description": "`me`, and the caller's key is linked to no agent"},
    },
)
def assign_ticket(
    ticket_id: str, data: AssignUpdate, session: SessionDep, settings: SettingsDep, caller: AgentDep
) -> TicketRead:
    """Assign to an existing, active agent (`me`: the caller's own); `{"agent_id": null}` unassigns."""
    agent_id = resolve_agent(data.agent_id, caller)
    return service.to_read(service.assign_ticket(session, ticket_id, agent_id), settings.targets)


@router.post(
    "/{ticket_id}/tags",
    response_model=TagsRead,
    dependencies=[require(Role.agent)],
    responses={
        404: {"description": "Unknown ticket"},
        409: {"description": "The ticket was erased, or would carry more than 50 tags"},
    },
)
def tag_ticket(ticket_id: str, data: TagsUpdate, session: SessionDep) -> TagsRead:
    """Put tags on the ticket and take tags off it, by name (lower-cased); another agent's tags stay. Each change
    is in the ticket's history; `?tag=` lists the tickets carrying one."""
    return change_tags(session, ticket_id, data)


@router.post(
    "/{ticket_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[require(Role.agent)],
    responses={409: {"description": "The ticket is not failed; the message says what to do instead"}},
)
def retry_ticket(ticket_id: str, session: SessionDep) -> dict[str, str]:
    """Re-run a `failed` ticket from the step it did not finish (classification or draft); poll with `?wait=N`."""
    step = service.retry_ticket(session, ticket_id)
    return {"ticket_id": ticket_id, "processing_state": step.value}


@router.post(
    "/{ticket_id}/satisfaction",
    response_model=SatisfactionRead,
    dependencies=[require(Role.integration)],
    responses={
        404: {"description": "Unknown ticket"},
        409: {
            "description": "Not resolved or closed, a Zendesk or Intercom ticket, or erased (the message says which), "
            "or the ticket kept changing while the rating was stored; retry"
        },
    },
)
def rate(ticket_id: str, data: SatisfactionCreate, session: SessionDep, settings: SettingsDep) -> SatisfactionRead:
    """The customer's rating of a resolved or closed web or API ticket (good or bad, an optional comment),
    relayed by its channel's backend, e.g. after REPLY_WEBHOOK_URL told it of the resolve. A later rating
    replaces the earlier; the same one again changes nothing. The overview counts the week's ratings; with
    ALERT_ON_BAD_RATING a bad one is alerted."""
    return SatisfactionRead.model_validate(rate_ticket(session, ticket_id, data, settings))


@router.post(
    "/{ticket_id}/erase",
    response_model=ErasureRead,
    dependencies=[require(Role.admin)],
    responses={404: {"description": "Unknown ticket"}, 409: {"description": "The ticket was erased already"}},
)
def erase_ticket(ticket_id: str, session: SessionDep) -> ErasureRead:
    """Erase one ticket's personal data: its text, messages, extracted details, corrections and alerts. It stays,
    closed, under an anonymous id, for the statistics; the customer and their other tickets are untouched."""
    return erase(session, ticket_id)
