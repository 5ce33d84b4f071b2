"""Bulk jobs: one change made to many tickets in the background (agents start them and follow them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from gateway.deps import SessionDep, SettingsDep
from gateway.services import bulk_jobs as service
from shared.auth import Role
from shared.fastapi_auth import AgentDep, require
from shared.schemas import BulkJobCreate, BulkJobOutcome, BulkJobRead, BulkJobResult, BulkJobState

router = APIRouter(prefix="/api/bulk-jobs", tags=["bulk jobs"], dependencies=[require(Role.agent)])

UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown bulk job"}}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BulkJobRead,
    responses={
        404: {"description": "Unknown view, macro or agent to assign (nothing was stored)"},
        409: {
            "description": "An inactive macro or agent to assign, a view holding filters this version no longer "
            "takes, or `expected_total` not what the tickets number now (nothing was stored)"
        },
        422: {
            "description": "More tickets than BULK_JOB_MAX_TICKETS, or `me` or a macro signed by the agent when the "
            "caller's key is linked to no agent"
        },
    },
)
def create_bulk_job(data: BulkJobCreate, session: SessionDep, settings: SettingsDep, caller: AgentDep) -> BulkJobRead:
    """Choose the tickets now (named, a view's or the list's filters'; `me` is the caller's agent) and change
    them in the background: a macro applied (signed by the caller's agent), then a status move, an assignment and
    tags. Answered at once with the job (`queued`, or `done` when no ticket was chosen); follow it with
    `GET /api/bulk-jobs/{job_id}` and its tickets' outcomes with `/results`."""
    return service.submit_job(
        session, data, targets=settings.targets, max_tickets=settings.bulk_job_max_tickets, caller=caller
    )


@router.get("", response_model=list[BulkJobRead])
def list_bulk_jobs(
    session: SessionDep,
    state: BulkJobState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[BulkJobRead]:
    """The newest jobs first, each with its progress; `?state=running` for those under way."""
    return service.list_jobs(session, state=state, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=BulkJobRead, responses=UNKNOWN)
def get_bulk_job(job_id: str, session: SessionDep) -> BulkJobRead:
    """The job and its progress: how many tickets were tried, changed, refused, and are left."""
    return service.read_job(session, job_id)


@router.get("/{job_id}/results", response_model=list[BulkJobResult], responses=UNKNOWN)
def bulk_job_results(
    job_id: str,
    session: SessionDep,
    outcome: BulkJobOutcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[BulkJobResult]:
    """The job's tickets in its order with how each change went (`status_code` and `detail`: what the ticket's own
    request would have answered); `?outcome=failed` for those to look at."""
    return service.job_results(session, job_id, outcome=outcome, limit=limit, offset=offset)


@router.post(
    "/{job_id}/cancel",
    response_model=BulkJobRead,
    responses={**UNKNOWN, 409: {"description": "The job is done: every ticket was tried"}},
)
def cancel_bulk_job(job_id: str, session: SessionDep) -> BulkJobRead:
    """Stop the job before its next ticket: the tickets changed stay changed, the rest stay `pending`. Cancelling a
    cancelled job answers it as it is."""
    return service.cancel_job(session, job_id)
