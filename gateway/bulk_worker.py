"""The bulk worker's Celery app: `celery -A gateway.bulk_worker worker -Q bulk`.

It runs bulk jobs (`gateway.services.bulk_jobs`): a task changes one batch of a job's tickets and sends itself
again for the next, so a job of 10,000 tickets is 200 short tasks (BULK_JOB_BATCH 50), each acknowledged after
its batch. The gateway's own process, not an AI worker's: it changes tickets through the gateway's services and loads no
model, and a long job never holds up classification, drafts or deliveries.
"""

from __future__ import annotations

import logging

from celery import Task

from gateway.services.bulk_jobs import run_batch
from shared.celery import BULK_QUEUE, BULK_TASK, make_celery, retry_transient, send_quietly, transient_errors
from shared.config import get_settings
from shared.db import get_sessionmaker

app = make_celery("bulk_worker")
log = logging.getLogger(__name__)


@app.task(name=BULK_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_bulk_job(self: Task, job_id: str) -> int:
    """Change the job's next batch of tickets; send the task again while tickets are left. A database outage is
    retried with backoff, then left to the sweeper (the job's heartbeat goes quiet). Returns the tickets tried."""
    settings = get_settings()
    try:
        with get_sessionmaker()() as session:
            batch = run_batch(session, job_id, settings)
    except transient_errors() as exc:
        retry_transient(self, exc, settings)
        raise
    if batch.more and not send_quietly(BULK_TASK, job_id, BULK_QUEUE):
        log.warning("bulk job %s: next batch not sent; the sweeper sends it again", job_id)
    return batch.tried
