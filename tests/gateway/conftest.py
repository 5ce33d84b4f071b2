"""What the gateway tests of the channel's backend (REPLY_WEBHOOK_URL: replies and status changes) share: a
gateway sending to the receiver (`tests.conftest.receiver`), a web ticket, the queued tasks and stored rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

T = TypeVar("T")
CHANNEL_SECRET = "whsec-channel-0123456789"
WEB_TICKET = {
    "customer_email": "ann@example.com",
    "customer_name": "Ann Lee",
    "subject": "Refund?",
    "description": "Where is my refund for order ORD-1234?",
    "source": "web",
}


@pytest.fixture
def channel(client_for, db_url, redis_client, receiver, settings_for):  # type: ignore[no-untyped-def]
    """A gateway sending to `receiver` as the channel's backend, and the settings the alert worker would run
    with (`redis_client` empties the queues first)."""
    values = {"reply_webhook_url": receiver.url, "reply_webhook_secret": CHANNEL_SECRET}
    return client_for(db_url, **values), settings_for(db_url, **values)


def web_ticket(api, **extra: object) -> str:  # type: ignore[no-untyped-def]
    """A new ticket (from the web form unless `source` says otherwise); its id."""
    response = api.post("/api/tickets/create", json={**WEB_TICKET, **extra})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["ticket_id"]


def read_ticket(api, ticket_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The ticket as `GET /api/tickets/{id}` shows it."""
    return api.get(f"/api/tickets/{ticket_id}").json()  # type: ignore[no-any-return]


def listed_ids(api, **query: object) -> list[str]:  # type: ignore[no-untyped-def]
    """The ids `GET /api/tickets/` lists for `query` (up to 200)."""
    response = api.get("/api/tickets/", params={"limit": 200, **query})
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def parse_time(value: str | None) -> datetime | None:
    """A time the API wrote, or None."""
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def queued_replies(redis_client) -> list[dict]:  # type: ignore[no-untyped-def]
    """The tasks waiting in the `replies` queue."""
    return [json.loads(raw) for raw in redis_client.lrange("replies", 0, -1)]


def stored(session_factory, model: type[T], order: Any) -> list[T]:  # type: ignore[no-untyped-def]
    """Every `model` row, in `order`, detached so a test can read them after the session."""
    with session_factory() as session:
        rows = list(session.scalars(sa.select(model).order_by(order)))
        session.expunge_all()
        return rows


def keyed(api, session_factory):  # type: ignore[no-untyped-def]
    """`api` (auth on) sending the channel backend's integration key (`webform`), with an agent's (`alice`) and
    an admin's (`boss`) headers as `api.agent` and `api.admin`, and each key's name in the history as
    `api.actors[name]`."""
    from shared.auth import Role, create_key

    api.actors = {}
    with session_factory() as session:
        for name, role, attribute in (
            ("webform", Role.integration, None),
            ("alice", Role.agent, "agent"),
            ("boss", Role.admin, "admin"),
        ):
            row, key = create_key(session, name=name, role=role)
            api.actors[name] = f"key:{row.id}:{name}"
            if attribute is None:
                api.headers["X-API-Key"] = key
            else:
                setattr(api, attribute, {"X-API-Key": key})
    return api
