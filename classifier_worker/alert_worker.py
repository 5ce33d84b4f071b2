"""The alert worker's Celery app: `celery -A classifier_worker.alert_worker worker -Q alerts`.

Its own process, without the classifier's models: a webhook that is slow or down holds up alerts, never
classification. The delivery itself is in `classifier_worker.alerts`.
"""

from __future__ import annotations

from celery import Task

from classifier_worker.alerts import deliver
from shared.celery import ALERT_TASK, make_celery, retry_transient, transient_errors
from shared.config import get_settings

app = make_celery("alert_worker")


@app.task(name=ALERT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver_alert(self: Task, alert_id: str) -> str:
    """Deliver one alert; its attempts are counted on its row, so Celery's own retry limit is lifted."""
    settings = get_settings()
    try:
        outcome = deliver(alert_id, settings=settings)
    except transient_errors() as exc:  # the database is down: try again, then leave the row to the sweeper
        retry_transient(self, exc, settings)
        raise
    if outcome.status == "retry":
        raise self.retry(countdown=outcome.countdown, max_retries=None)
    return outcome.status
