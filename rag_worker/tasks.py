"""Celery tasks of the rag_worker; the work itself is in `service`, `retrieval` and `drafting`."""

from __future__ import annotations

from rag_worker import service
from rag_worker.worker import app, get_drafter, get_retriever
from shared.celery import DRAFT_TASK, pipeline_task


@pipeline_task(app, DRAFT_TASK)
def draft_reply(ticket_id: str) -> str:
    """Retrieve KB passages for one ticket, draft a cited reply, store it and mark the ticket done."""
    return service.draft_reply(ticket_id, retriever=get_retriever(), drafter=get_drafter())
