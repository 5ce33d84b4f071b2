"""The alert worker's Celery app: `celery -A classifier_worker.alert_worker worker -Q alerts,replies`.

It POSTs the outboxes' rows: alerts to the team's webhook, and agents' replies and status moves to a web or
API ticket's channel. Its own process, without the classifier's models: a webhook that is slow or down holds up
deliveries, never classification. The delivery itself is in `classifier_worker.delivery`.
"""

from __future__ import annotations

from celery import Task

from classifier_worker.delivery import deliver
from shared.celery import ALERT_TASK, REPLY_TASK, STATUS_TASK, make_celery, retry_transient, transient_errors
from shared.config import get_settings
from shared.outbox import ALERTS, REPLIES, STATUSES, Outbox, send

app = make_celery("alert_worker")


def _attempt(task: Task, outbox: Outbox, key: str | int) -> str:
    """One attempt; its count is kept on the row, which fails after ALERT_MAX_ATTEMPTS. Celery's own limit is
    set above that: `max_retries=None` means Celery's default of 3, not none, and ended every delivery's task at
    its fourth retry, leaving the row to the sweeper's resend (minutes later, and never without a gateway)."""
    settings = get_settings()
    try:
        outcome = deliver(key, settings=settings, outbox=outbox)
    except transient_errors() as exc:  # the database is down: try again, then leave the row to the sweeper
        retry_transient(task, exc, settings)
        raise
    for other in outcome.handed_back:  # a failed digest's others, still with attempts: each its own task again
        send(outbox, other, countdown=outcome.countdown)
    if outcome.status == "retry":
        limit = settings.alert_max_attempts + settings.task_max_retries  # the row's attempts, and the database's
        raise task.retry(countdown=outcome.countdown, max_retries=limit)
    return outcome.status


@app.task(name=ALERT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver_alert(self: Task, alert_id: str) -> str:
    """Deliver one alert to ALERT_WEBHOOK_URL."""
    return _attempt(self, ALERTS, alert_id)


@app.task(name=REPLY_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver_reply(self: Task, message_id: int) -> str:
    """Deliver one agent's reply to REPLY_WEBHOOK_URL."""
    return _attempt(self, REPLIES, message_id)


@app.task(name=STATUS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver_status(self: Task, delivery_id: str) -> str:
    """Deliver one agent's status move (to one of REPLY_WEBHOOK_STATUSES) to REPLY_WEBHOOK_URL."""
    return _attempt(self, STATUSES, delivery_id)
