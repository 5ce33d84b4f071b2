"""Bulk jobs: one change made to many tickets in the background. An outage's 2,000 tickets answered with one
macro and set pending, every ticket a view holds tagged, a queue handed to another agent.

`POST /api/tickets/bulk` changes at most 100 named tickets within its request. A job takes up to
BULK_JOB_MAX_TICKETS, named or held by a view or the list's filters, chosen when it is created (the list as
it stood then: a ticket arriving afterwards is not in it, one that no longer matches is still changed).
Everything that would refuse every ticket alike (an unknown or inactive macro or agent, `me` for a key linked
to nobody, too many tickets) is refused then, before anything changes.

The bulk worker (`gateway.bulk_worker`) changes them BULK_JOB_BATCH at a time, each through the calls its own
requests make (`apply_macro`, then `make_changes`), so the workflow's 409s, the claims, the history, the
webhooks' outboxes hold as they do one ticket at a time; the history names the job's creator and the job.
Each ticket's outcome is written after its change, so a worker that dies resumes from the first ticket
without one, and trying a ticket again changes nothing already made (a macro's message carries
`{job}-{ticket}` as its client id, so it is not posted twice, even by two runners at once). A database or
broker outage leaves the ticket without an outcome for the task's retry; any other error is that ticket's
failure (500), so a defect cannot stall the job. The sweeper sends a job again when its worker has been quiet
for SWEEP_STALE_AFTER_S. A job stops early when cancelled, or when its key is revoked or its agent
deactivated: their tickets are left as they are. The sweeper deletes jobs finished BULK_JOB_KEEP_DAYS ago.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.services.bulk import make_changes
from gateway.services.macros import apply_macro, check_applicable
from gateway.services.me import mine, resolve_assignment
from gateway.services.tickets import check_assignment, matching_ids
from gateway.services.views import filters_of, get_view
from shared.auth import Principal, Role
from shared.celery import BULK_QUEUE, BULK_TASK, send_quietly, transient_errors
from shared.config import Settings, Targets
from shared.errors import Conflict, CopilotError, InvalidInput, NotFound
from shared.models import Agent, ApiKey, BulkJob, BulkJobItem, audit_actor, current_actor, utcnow
from shared.schemas import (
    BulkJobChanges,
    BulkJobCreate,
    BulkJobOutcome,
    BulkJobRead,
    BulkJobResult,
    BulkJobState,
    MacroApply,
    ViewFilters,
)

log = logging.getLogger(__name__)
FINISHED = (BulkJobState.done.value, BulkJobState.cancelled.value)


def create_job(
    session: Session, data: BulkJobCreate, *, targets: Targets, max_tickets: int, caller: Principal
) -> BulkJob:
    """Check the change, choose the tickets and store the job (committed; `submit_job` sends it to the worker).
    404/409/422 for what would refuse every ticket; 422 for more than `max_tickets`; 409 when `expected_total`
    is not what the tickets number now."""
    changes = BulkJobChanges(
        macro_id=data.macro_id, status=data.status, assign=resolve_assignment(data.assign, caller), tags=data.tags
    )
    if changes.macro_id is not None:
        check_applicable(session, changes.macro_id, caller)
    check_assignment(session, changes.assign)
    source, ticket_ids = _chosen(session, data, targets, max_tickets, caller)
    if data.expected_total is not None and len(ticket_ids) != data.expected_total:
        raise Conflict(
            f"the tickets chosen number {len(ticket_ids)} now, not the {data.expected_total} expected; "
            "nothing was changed: check them again and send the new count"
        )
    now = utcnow()
    job = BulkJob(
        job_id=f"bulk-{secrets.token_hex(8)}",
        state=BulkJobState.queued.value if ticket_ids else BulkJobState.done.value,
        total=len(ticket_ids),
        source=source,
        changes=changes.model_dump(mode="json", exclude_none=True),
        created_by=current_actor(),
        key_id=caller.key_id,
        key_name=caller.name,
        agent_id=caller.agent_id,
        created_at=now,
        heartbeat_at=now,
        finished_at=None if ticket_ids else now,
    )
    session.add(job)
    session.flush()
    if ticket_ids:
        session.execute(
            insert(BulkJobItem),
            [{"job_id": job.job_id, "ticket_id": t, "position": n} for n, t in enumerate(ticket_ids, start=1)],
        )
    session.commit()
    return job


def submit_job(
    session: Session, data: BulkJobCreate, *, targets: Targets, max_tickets: int, caller: Principal
) -> BulkJobRead:
    """`create_job`, then send it to the bulk worker (not sent: the sweeper sends it once Redis is back)."""
    job = create_job(session, data, targets=targets, max_tickets=max_tickets, caller=caller)
    if job.state == BulkJobState.queued.value:
        send_quietly(BULK_TASK, job.job_id, BULK_QUEUE)
    return to_read(session, job)


def _chosen(
    session: Session, data: BulkJobCreate, targets: Targets, max_tickets: int, caller: Principal
) -> tuple[dict[str, Any], list[str]]:
    """How the tickets were chosen (for the job's `source`) and their ids, in order."""
    if data.ticket_ids is not None:
        if len(data.ticket_ids) > max_tickets:
            raise InvalidInput(
                f"{len(data.ticket_ids)} tickets named; a job changes at most {max_tickets} (BULK_JOB_MAX_TICKETS)"
            )
        return {"ticket_ids": len(data.ticket_ids)}, list(data.ticket_ids)
    if data.view_id is not None:
        filters = mine(filters_of(get_view(session, data.view_id, caller)), caller)
        source: dict[str, Any] = {"view_id": data.view_id}
    else:
        filters = mine(data.filters or ViewFilters(), caller)
        source = {}
    source["filters"] = filters.model_dump(mode="json", exclude_defaults=True)
    ids = matching_ids(session, filters, targets, max_tickets + 1)
    if len(ids) > max_tickets:
        raise InvalidInput(
            f"the {'view' if data.view_id else 'filters'} hold more than {max_tickets} tickets "
            "(BULK_JOB_MAX_TICKETS); narrow them, e.g. by `created_within_hours` or a tag, and run one job per part"
        )
    return source, ids


def read_job(session: Session, job_id: str) -> BulkJobRead:
    """The job with its progress counted from its tickets' outcomes (404 if unknown)."""
    return to_read(session, get_job(session, job_id))


def get_job(session: Session, job_id: str) -> BulkJob:
    job = session.get(BulkJob, job_id)
    if job is None:
        raise NotFound(f"bulk job '{job_id}' not found")
    return job


def list_jobs(session: Session, *, state: BulkJobState | None, limit: int, offset: int) -> list[BulkJobRead]:
    """The newest jobs first (of one state, if asked), with their progress."""
    query = select(BulkJob).order_by(BulkJob.created_at.desc(), BulkJob.job_id.desc())
    if state is not None:
        query = query.where(BulkJob.state == state.value)
    return [to_read(session, job) for job in session.scalars(query.limit(limit).offset(offset))]


def to_read(session: Session, job: BulkJob) -> BulkJobRead:
    done, updated = session.execute(
        select(
            func.count(BulkJobItem.ok),
            func.coalesce(func.sum(case((BulkJobItem.ok.is_(True), 1), else_=0)), 0),
        ).where(BulkJobItem.job_id == job.job_id)
    ).one()
    return BulkJobRead(
        job_id=job.job_id,
        state=BulkJobState(job.state),
        total=job.total,
        done=done,
        updated=updated,
        failed=done - updated,
        pending=job.total - done,
        source=job.source,
        changes=BulkJobChanges.model_validate(job.changes),
        created_by=job.created_by,
        agent_id=job.agent_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        cancelled_by=job.cancelled_by,
        detail=job.detail,
    )


def job_results(
    session: Session, job_id: str, *, outcome: BulkJobOutcome | None, limit: int, offset: int
) -> list[BulkJobResult]:
    """The job's tickets in its order (of one outcome, if asked) and how each change went (404 unknown job)."""
    get_job(session, job_id)
    query = select(BulkJobItem).where(BulkJobItem.job_id == job_id).order_by(BulkJobItem.position)
    if outcome is BulkJobOutcome.pending:
        query = query.where(BulkJobItem.ok.is_(None))
    elif outcome is not None:
        query = query.where(BulkJobItem.ok.is_(outcome is BulkJobOutcome.updated))
    return [
        BulkJobResult(
            ticket_id=item.ticket_id,
            position=item.position,
            outcome=_outcome(item.ok),
            applied=item.applied or [],
            status_code=item.status_code,
            detail=item.detail,
            finished_at=item.finished_at,
        )
        for item in session.scalars(query.limit(limit).offset(offset))
    ]


def _outcome(ok: bool | None) -> BulkJobOutcome:
    if ok is None:
        return BulkJobOutcome.pending
    return BulkJobOutcome.updated if ok else BulkJobOutcome.failed


def cancel_job(session: Session, job_id: str) -> BulkJobRead:
    """Stop the job before its next ticket; the tickets changed stay changed, the rest are left `pending`.
    Cancelling a cancelled job changes nothing; a finished one is a 409."""
    job = get_job(session, job_id)
    if job.state == BulkJobState.done.value:
        raise Conflict(f"bulk job '{job_id}' is done: every ticket was tried, so there is nothing left to cancel")
    _stop(session, job_id, detail=None, by=current_actor())  # a cancelled job stays as it was cancelled
    return read_job(session, job_id)


def _stop(session: Session, job_id: str, *, detail: str | None, by: str | None) -> None:
    """Mark the job cancelled (unless it finished meanwhile), and commit."""
    session.execute(
        update(BulkJob)
        .where(BulkJob.job_id == job_id, BulkJob.state.not_in(FINISHED))
        .values(state=BulkJobState.cancelled.value, finished_at=utcnow(), cancelled_by=by, detail=detail)
    )
    session.commit()


class Batch(NamedTuple):
    tried: int  # tickets changed or refused in this batch
    more: bool  # tickets are left: send the task again


def run_batch(session: Session, job_id: str, settings: Settings, *, size: int | None = None) -> Batch:
    """Try the job's next `size` (BULK_JOB_BATCH) tickets without an outcome, in its order, and finish it when none
    is left. A job finished, cancelled or unknown does nothing; one whose key was revoked or agent deactivated is
    cancelled."""
    job = session.get(BulkJob, job_id)
    if job is None or job.state in FINISHED:
        session.rollback()
        return Batch(0, False)
    caller = _caller(session, job)
    if isinstance(caller, str):
        _stop(session, job_id, detail=caller, by=None)
        return Batch(0, False)
    changes = BulkJobChanges.model_validate(job.changes)
    actor = f"{job.created_by} via {job_id}"
    size = size or settings.bulk_job_batch
    now = utcnow()
    started = session.execute(
        update(BulkJob)
        .where(BulkJob.job_id == job_id, BulkJob.state.not_in(FINISHED))  # not if cancelled since read
        .values(state=BulkJobState.running.value, heartbeat_at=now, started_at=func.coalesce(BulkJob.started_at, now))
    )
    session.commit()
    if not started.rowcount:  # type: ignore[attr-defined]
        return Batch(0, False)
    pending = select(BulkJobItem.ticket_id).where(BulkJobItem.job_id == job_id, BulkJobItem.ok.is_(None))
    ticket_ids = list(session.scalars(pending.order_by(BulkJobItem.position).limit(size)))
    session.rollback()
    token = audit_actor.set(actor)
    tried = 0
    try:
        for ticket_id in ticket_ids:
            state = session.scalar(select(BulkJob.state).where(BulkJob.job_id == job_id))
            session.rollback()
            if state in FINISHED:
                return Batch(tried, False)  # cancelled meanwhile
            applied: list[str] = []
            try:
                failure = _change(session, job_id, ticket_id, changes, caller, settings, applied)
            except transient_errors():
                raise  # the database or broker is down: the task retries, this ticket still without an outcome
            except Exception as error:  # a defect must not stall the job on one ticket, sent again for ever
                log.exception("bulk job %s: ticket %s", job_id, ticket_id)
                session.rollback()
                failure = (500, f"unexpected error ({type(error).__name__}); the bulk worker's log has it")
            code, detail = failure or (200, None)
            session.execute(
                update(BulkJobItem)
                .where(BulkJobItem.job_id == job_id, BulkJobItem.ticket_id == ticket_id)
                .values(ok=failure is None, applied=applied, status_code=code, detail=detail, finished_at=utcnow())
            )
            session.commit()
            tried += 1
    finally:
        audit_actor.reset(token)
    if len(ticket_ids) == size:
        return Batch(tried, True)
    session.execute(
        update(BulkJob)
        .where(BulkJob.job_id == job_id, BulkJob.state == BulkJobState.running.value)
        .values(state=BulkJobState.done.value, finished_at=utcnow())
    )
    session.commit()
    return Batch(tried, False)


def _change(
    session: Session,
    job_id: str,
    ticket_id: str,
    changes: BulkJobChanges,
    caller: Principal,
    settings: Settings,
    applied: list[str],
) -> tuple[int, str] | None:
    """One ticket's changes: the macro, then the status, assignment and tags, each named in `applied` as made;
    why the next was not (None: every one was)."""
    if changes.macro_id is not None:
        try:
            done = apply_macro(
                session,
                ticket_id,
                changes.macro_id,
                MacroApply(client_message_id=f"{job_id}-{ticket_id}"),
                caller=caller,
                deliver_replies=settings.delivers_replies,
                sent=settings.sent_statuses,
                targets=settings.targets,
            ).result
        except CopilotError as error:
            session.rollback()
            return error.status_code, str(error)
        applied.extend(done.applied)
        if not done.ok:
            return done.status_code, done.detail or ""
    return make_changes(
        session, ticket_id, changes.status, changes.assign, changes.tags, sent=settings.sent_statuses, applied=applied
    )


def _caller(session: Session, job: BulkJob) -> Principal | str:
    """Who the job acts as, read now: its key and the agent it is linked to; or why it may no longer act (the
    key revoked, the agent deactivated), as the job's `detail`."""
    role = Role.admin  # authentication disabled: no key
    if job.key_id is not None:
        key = session.get(ApiKey, job.key_id)
        if key is None or key.revoked_at is not None:
            return f"key '{job.key_name}' was revoked; its job stopped"
        role = Role(key.role)
    name = email = None
    if job.agent_id is not None:
        agent = session.get(Agent, job.agent_id)
        if agent is None or not agent.active:
            return f"agent '{job.agent_id}' was deactivated; their job stopped"
        name, email = agent.name, agent.email
    return Principal(job.key_id, job.key_name, role, job.agent_id, name, email)


def resend_stale(session: Session, *, older_than_s: float) -> list[str]:
    """Send again the unfinished jobs whose worker has written nothing for `older_than_s` (their task lost with
    Redis, or their worker dead), each marked as sent now so the next pass waits as long again; the ids sent."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    unfinished = BulkJob.state.in_([BulkJobState.queued.value, BulkJobState.running.value])
    stale = list(
        session.scalars(
            select(BulkJob.job_id).where(unfinished, BulkJob.heartbeat_at < cutoff).order_by(BulkJob.heartbeat_at)
        )
    )
    session.rollback()
    sent = [job_id for job_id in stale if send_quietly(BULK_TASK, job_id, BULK_QUEUE)]
    if sent:
        session.execute(
            update(BulkJob).where(BulkJob.job_id.in_(sent), BulkJob.heartbeat_at < cutoff).values(heartbeat_at=utcnow())
        )
        session.commit()
    return sent


def delete_old(session: Session, *, keep_days: int | None, now: datetime | None = None, limit: int = 100) -> list[str]:
    """Delete up to `limit` jobs finished (done or cancelled) more than `keep_days` ago, with their items, each in
    its own transaction; their ids. The tickets' history still names the job; None keeps every job."""
    if keep_days is None:
        return []
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    old = select(BulkJob.job_id).where(BulkJob.finished_at < cutoff)  # set only once a job is done or cancelled
    job_ids = list(session.scalars(old.order_by(BulkJob.finished_at).limit(limit)))
    session.rollback()
    for job_id in job_ids:
        session.execute(delete(BulkJobItem).where(BulkJobItem.job_id == job_id))
        session.execute(delete(BulkJob).where(BulkJob.job_id == job_id))
        session.commit()
    return job_ids
