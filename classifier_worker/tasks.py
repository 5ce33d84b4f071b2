"""Celery task of the classifier_worker; the work itself is in `service` and `classifier`."""

from __future__ import annotations

from classifier_worker import service
from classifier_worker.worker import app, get_classifier
from shared.celery import CLASSIFY_TASK, pipeline_task
from shared.config import get_settings


@pipeline_task(app, CLASSIFY_TASK)
def classify_ticket(ticket_id: str) -> str:
    """Classify one ticket, store the result and enqueue its draft."""
    return service.classify_ticket(
        ticket_id, classifier=get_classifier(), batch_size=get_settings().classify_batch_size
    )
