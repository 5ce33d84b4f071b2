"""Deliver one outbox row to its webhook: an alert to ALERT_WEBHOOK_URL (or to its category's, ALERT_ROUTES), an
agent's reply or status move (or a customer's message from the request's page) to REPLY_WEBHOOK_URL. The alert
worker's job; the outbox side is `shared.outbox`.

An attempt is claimed in the database before the POST (attempts + 1, `next_attempt_at` pushed past the
request's timeout), so a duplicate task arriving meanwhile finds it taken and skips; the row lock is
not held over the network. A 2xx delivers it; a connection error, a timeout or a status that says "later"
(408, 425, 429, 500, 502, 503, 504) is tried again, backing off up to 5 minutes (a `Retry-After` is
honoured within that) until ALERT_MAX_ATTEMPTS; any other answer (the receiver refused this one: a bad
URL, a rejected signature, 501) fails it at once, with the reason kept in `last_error` (`GET /api/alerts`,
a reply's `delivery` in the ticket's messages, `GET /api/status-changes`).

With ALERT_BATCH_MAX above 1, an alert's delivery claims the other alerts due for its webhook too, up to that
many in all, and POSTs them as one digest: a chat channel fed 150 alerts in a minute rate-limits and buries
them, where a few digests read. Each row keeps its own attempts and outcome; one alone is sent as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.alerts import digest, slack_digest, slack_message, teams_digest, teams_message
from shared.celery import retry_countdown
from shared.config import Settings
from shared.customer_links import ConversationLink, RatingLinks, conversation_link, rating_links
from shared.db import session_scope
from shared.models import Alert, utcnow
from shared.outbox import ALERTS, STATUSES, Outbox, signature
from shared.schemas import Status

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
OneAlert = Callable[[dict[str, Any]], dict[str, Any]]
Digest = Callable[[list[dict[str, Any]]], dict[str, Any]]
# ALERT_FORMAT's chat tools: how one alert's body, and several as a digest, are written for each
CHAT_FORMATS: dict[str, tuple[OneAlert, Digest]] = {
    "slack": (slack_message, slack_digest),
    "teams": (teams_message, teams_digest),
}


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to: `delivered`, `retry` (after `countdown` s), `failed`, or `skipped` (already
    delivered or failed, taken by another attempt, or gone). `handed_back`: a failed digest's other alerts that
    have attempts left, due again after `countdown` s; no task of theirs is waiting (theirs found them taken and
    skipped), so the caller sends one each."""

    status: str
    countdown: float = 0.0
    error: str | None = None
    handed_back: tuple[str | int, ...] = ()


def deliver(
    key: str | int,
    *,
    settings: Settings,
    factory: sessionmaker[Session] | None = None,
    outbox: Outbox = ALERTS,
) -> Outcome:
    """One delivery attempt of the row `key` of `outbox`, recorded on it."""
    what = f"{outbox.name} {key}"
    lease_s = settings.alert_timeout_s + 30
    with session_scope(factory) as session:
        claimed = _claim(session, outbox, key, lease_s=lease_s)
        if claimed is None:
            return Outcome("skipped")
        attempt, payload, route = claimed
        url = outbox.url(settings, route)
        if not url:
            unset = f"{outbox.url_setting.upper()} is not set" + (f" and ALERT_ROUTES has no {route}" if route else "")
            _finish(session, outbox, key, failed=True, error=unset)
            return Outcome("failed", error=unset)
        batch = {key: (attempt, payload)}
        if outbox is ALERTS and settings.alert_batch_max > 1:
            batch |= _companions(session, key, route, settings.alert_batch_max - 1, lease_s=lease_s)

    error, retry_after = _post(settings, outbox, url, key, _body(settings, outbox, [p for _, p in batch.values()]))
    if len(batch) > 1:
        what += f" with {len(batch) - 1} other(s) in one digest"
    with session_scope(factory) as session:
        if error is None:
            for each in batch:
                _finish(session, outbox, each)
            log.info("%s delivered (attempt %d)", what, attempt)
            return Outcome("delivered")
        countdown = 0.0
        if retry_after is not None:
            countdown = max(retry_countdown(attempt - 1, maximum=MAX_BACKOFF_S), min(retry_after, MAX_BACKOFF_S))
        due_again = utcnow() + timedelta(seconds=countdown)  # one time for all: the retry finds the others due too
        retrying: list[str | int] = []
        for each, (tried, _) in batch.items():  # each row by its own attempts: a companion may have had more
            if retry_after is None or tried >= settings.alert_max_attempts:
                _finish(session, outbox, each, failed=True, error=error)
            else:
                session.execute(
                    update(outbox.model)
                    .where(outbox.key == each)
                    .values(next_attempt_at=due_again, last_error=error[:500])
                )
                retrying.append(each)
        if retry_after is None or attempt >= settings.alert_max_attempts:
            log.warning("%s failed after %d attempt(s): %s", what, attempt, error)
            # its own attempts are spent, so `retrying` holds only the others
            return Outcome("failed", countdown=countdown, error=error, handed_back=tuple(retrying))
        log.warning("%s attempt %d: %s; next in %.0f s", what, attempt, error, countdown)
        return Outcome("retry", countdown=countdown, error=error)


def _companions(
    session: Session, key: str | int, route: str | None, most: int, *, lease_s: float
) -> dict[str | int, tuple[int, dict[str, Any]]]:
    """Up to `most` other alerts due for the same webhook (the same route), oldest first, each claimed as its own
    delivery would claim it: a task delivering one of them meanwhile takes the ones it gets, and finds these
    taken. Their own tasks, arriving later, find them delivered and skip."""
    now = utcnow()
    due = (
        select(Alert.alert_id)
        .where(
            Alert.pending(),
            or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at <= now),
            Alert.route.is_(None) if route is None else Alert.route == route,
            Alert.alert_id != key,
        )
        .order_by(Alert.created_at, Alert.alert_id)
        .limit(most)
    )
    taken: dict[str | int, tuple[int, dict[str, Any]]] = {}
    for other in session.scalars(due).all():
        if (claimed := _claim(session, ALERTS, other, lease_s=lease_s)) is not None:
            taken[other] = claimed[:2]
    return taken


def _body(settings: Settings, outbox: Outbox, payloads: list[dict[str, Any]]) -> bytes:
    """What is POSTed: the row's body, or several alerts' as one digest; as a chat tool's message under ALERT_FORMAT.
    A reply or status change carries its customer's links (CUSTOMER_LINK_URL), added here rather than stored:
    the row keeps no key to a ticket's pages, and a delivery made after the links were set up has them too."""
    chat = CHAT_FORMATS.get(settings.alert_format) if outbox is ALERTS else None
    payloads = [with_customer_links(settings, outbox, payload) for payload in payloads]
    if len(payloads) == 1:
        body = chat[0](payloads[0]) if chat else payloads[0]
    else:
        body = chat[1](payloads) if chat else digest(payloads, now=utcnow())
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def with_customer_links(settings: Settings, outbox: Outbox, payload: dict[str, Any]) -> dict[str, Any]:
    """A reply's or status change's body with the links for its customer (CUSTOMER_LINK_URL; absent while unset):
    `conversation`, their request's page with a reply box, and on a status change `satisfaction`, the rating
    links of a move to resolved or closed (null on other moves). The same links on each attempt: their time
    counts from the reply or move."""
    if outbox is ALERTS or settings.customer_link_url is None:
        return payload
    at, ticket_id = datetime.fromisoformat(payload["created_at"]), payload["ticket"]["ticket_id"]
    links = {"conversation": _body_of(conversation_link(settings, ticket_id, at))}
    if outbox is STATUSES:
        solved = payload["status"]["to"] in (Status.resolved, Status.closed)
        links["satisfaction"] = _body_of(rating_links(settings, ticket_id, at) if solved else None)
    return payload | links


def _body_of(links: RatingLinks | ConversationLink | None) -> dict[str, Any] | None:
    return links.as_body() if links is not None else None


def _claim(
    session: Session, outbox: Outbox, key: str | int, *, lease_s: float
) -> tuple[int, dict[str, Any], str | None] | None:
    """Take the next attempt of an undelivered row whose attempt is due: (its number, the body to send, an
    alert's route), or None."""
    now, model = utcnow(), outbox.model
    taken = session.execute(
        update(model)
        .where(
            outbox.key == key,
            model.pending(),
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        )
        .values(attempts=model.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = outbox.get(session, key)  # not loaded before in this session: read as the update left it
    assert row is not None
    return row.attempts, row.payload, getattr(row, "route", None)


def _post(settings: Settings, outbox: Outbox, url: str, key: str | int, body: bytes) -> tuple[str | None, float | None]:
    """POST the body; (None, None) on 2xx, else (the error, seconds to wait before a retry, or None when the
    receiver refused it for good)."""
    headers = {"content-type": "application/json", "user-agent": "support-copilot", outbox.id_header: str(key)}
    if (secret := outbox.secret(settings)) is not None:
        headers["x-copilot-signature"] = signature(secret.get_secret_value(), int(time.time()), body)
    try:
        response = _http().post(url, content=body, headers=headers, timeout=settings.alert_timeout_s)
    except httpx.HTTPError as exc:
        detail = str(exc)
        return (f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__), 0.0
    if response.is_success:
        return None, None
    error = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in RETRYABLE_STATUS:
        return error, _retry_after(response)
    return error, None


@cache
def _http() -> httpx.Client:
    """One client per worker process (made in the pool's child, on its first delivery): a bare `httpx.post`
    builds a client, TLS context included, per request, and opens a new connection each time."""
    return httpx.Client()


def _retry_after(response: httpx.Response) -> float:
    """A `Retry-After` given in seconds, else 0 (the backoff alone decides)."""
    try:
        return max(float(response.headers.get("retry-after", "0")), 0.0)
    except ValueError:
        return 0.0


def _finish(
    session: Session, outbox: Outbox, key: str | int, *, failed: bool = False, error: str | None = None
) -> None:
    now = utcnow()
    values = {"failed_at": now, "last_error": (error or "")[:500]} if failed else {"delivered_at": now}
    session.execute(update(outbox.model).where(outbox.key == key).values(next_attempt_at=None, **values))
