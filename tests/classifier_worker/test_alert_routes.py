"""ALERT_ROUTES: an alert about a ticket of a routed working category goes to that category's webhook rather
than ALERT_WEBHOOK_URL, for urgent, due and assignment alerts alike; the route is stored on the alert, so
its retries go where it first went; with routes alone only those categories are alerted (each database, a
real receiver; the last test through a real alert worker reading the setting from its environment)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import sessionmaker

from classifier_worker.delivery import deliver
from gateway.services.due_alerts import alert_due_tickets
from shared.alerts import raise_assignment_alert, send_alert
from shared.config import Settings
from shared.db import session_scope
from shared.models import Agent, Ticket, utcnow
from tests.classifier_worker.test_alerts import _alerts, add_alert, alert_row, force_ticket_alert, rated
from tests.conftest import _truncate, force_ticket, wait_until


def of_category(api, db_url: str, category: str, priority: str = "critical") -> str:  # type: ignore[no-untyped-def]
    """A ticket rated `priority` whose working category is `category` (an agent's or the AI's)."""
    ticket_id = rated(api, db_url, priority)
    force_ticket(db_url, ticket_id, category=category)
    return ticket_id


def paths(receiver) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(path, alert id) of each POST received, in order."""
    return [(got.path, json.loads(got.body)["id"]) for got in receiver.received]


def route_to(receiver, name: str) -> str:  # type: ignore[no-untyped-def]
    return receiver.url.replace("/hooks/support", f"/hooks/{name}")


def test_routes_are_read_and_a_bad_one_refused_at_start() -> None:
    settings = Settings(
        alert_routes="billing=https://hooks.example.com/money  refund=https://hooks.example.com/money\n"
        "technical=http://10.0.0.5:8080/ops?channel=a=b"
    )
    assert settings.alert_routes == {
        "billing": "https://hooks.example.com/money",
        "refund": "https://hooks.example.com/money",
        "technical": "http://10.0.0.5:8080/ops?channel=a=b",  # split at the first '='
    }
    assert settings.alerts_on and settings.alerts_to("refund") and not settings.alerts_to("shipping")
    assert not settings.alerts_to(None)  # an unclassified ticket has no category to route by
    assert (settings.alert_route("billing"), settings.alert_route("shipping"), settings.alert_route(None)) == (
        "billing",
        None,
        None,
    )
    both = Settings(alert_webhook_url="https://hooks.example.com/all", alert_routes="billing=https://h.example.com/b")
    assert both.alerts_to("shipping") and both.alerts_to(None) and both.alert_route("shipping") is None
    assert Settings(alert_routes="").alert_routes == {} and not Settings(alert_routes=" ").alerts_on  # compose's empty
    refused = {
        "bills=https://h.example.com/b": "'bills' is not a category; one of shipping, billing, refund",
        "billing": "'billing' is not CATEGORY=URL",
        "billing=hooks.example.com/b": "'billing=hooks.example.com/b' is not CATEGORY=URL with an http\\(s\\) URL",
        "billing=": "'billing=' is not CATEGORY=URL",
        "Billing=https://h.example.com/b": "'Billing' is not a category",
        "billing=https://a.example.com billing=https://b.example.com": "'billing' is routed twice",
    }
    for value, message in refused.items():
        with pytest.raises(ValidationError, match=message):
            Settings(alert_routes=value)
    with pytest.raises(ValidationError, match="'bills' is not a category"):
        Settings(alert_routes={"bills": "https://h.example.com/b"})  # given in code, checked the same way


def test_an_alert_goes_to_its_categorys_route_and_stays_on_it(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver
):
    routes = f"billing={route_to(receiver, 'billing')} refund={route_to(receiver, 'billing')}"
    settings = settings_for(db_url, alert_webhook_url=receiver.url, alert_routes=routes)
    billing = add_alert(session_factory, of_category(api, db_url, "billing"), settings)
    refund = add_alert(session_factory, of_category(api, db_url, "refund"), settings)
    technical = add_alert(session_factory, of_category(api, db_url, "technical"), settings)
    unclassified = add_alert(session_factory, rated(api, db_url, "critical"), settings)  # no working category
    assert [alert_row(session_factory, a).route for a in (billing, refund, technical, unclassified)] == [
        "billing",
        "refund",
        None,
        None,
    ]
    for alert_id in (billing, refund, technical, unclassified):
        assert deliver(alert_id, settings=settings, factory=session_factory).status == "delivered"
    assert paths(receiver) == [
        ("/hooks/billing", billing),
        ("/hooks/billing", refund),
        ("/hooks/support", technical),
        ("/hooks/support", unclassified),
    ]

    # The route was chosen when raised: an agent moving the ticket to another category later does not move
    # its alert's retry; a route removed since falls back to ALERT_WEBHOOK_URL, and without one it fails, named.
    moved = of_category(api, db_url, "billing")
    first = add_alert(session_factory, moved, settings)
    force_ticket(db_url, moved, category="shipping")
    receiver.answer(503)
    assert deliver(first, settings=settings, factory=session_factory).status == "retry"
    force_alert_due(db_url, first)
    assert deliver(first, settings=settings, factory=session_factory).status == "delivered"
    assert paths(receiver)[-2:] == [("/hooks/billing", first), ("/hooks/billing", first)]

    fallback = add_alert(session_factory, of_category(api, db_url, "refund"), settings)
    unrouted = settings_for(db_url, alert_webhook_url=receiver.url)
    assert deliver(fallback, settings=unrouted, factory=session_factory).status == "delivered"
    assert paths(receiver)[-1] == ("/hooks/support", fallback)
    lost = add_alert(session_factory, of_category(api, db_url, "refund"), settings)
    outcome = deliver(lost, settings=settings_for(db_url), factory=session_factory)
    assert outcome.status == "failed" and outcome.error == "ALERT_WEBHOOK_URL is not set and ALERT_ROUTES has no refund"

    listed = api.get("/api/alerts", params={"route": "billing", "state": "delivered"}).json()
    assert {(a["alert_id"], a["route"]) for a in listed} == {(billing, "billing"), (first, "billing")}
    assert {a["alert_id"] for a in api.get("/api/alerts", params={"route": "refund"}).json()} == {
        refund,
        fallback,
        lost,
    }
    every = {a["alert_id"]: a["route"] for a in api.get("/api/alerts").json()}
    assert every[technical] is None and every[refund] == "refund" and len(every) == 7
    bad = api.get("/api/alerts", params={"route": "money"})
    assert bad.status_code == 422 and "route" in bad.text


def force_alert_due(url: str, alert_id: str) -> None:
    force_ticket_alert(url, alert_id, next_attempt_at=utcnow() - timedelta(seconds=1))


def test_with_routes_alone_only_the_routed_categories_are_alerted(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver
):
    settings = settings_for(
        db_url,
        alert_routes=f"billing={route_to(receiver, 'billing')}",
        alert_on_auto_assign=True,
        first_response_high_hours=4,
    )
    assert add_alert(session_factory, of_category(api, db_url, "technical"), settings) is None
    assert add_alert(session_factory, rated(api, db_url, "critical"), settings) is None  # not classified yet
    urgent = add_alert(session_factory, of_category(api, db_url, "billing"), settings)
    assert urgent is not None and alert_row(session_factory, urgent).route == "billing"

    agent = Agent(agent_id="AG-ROUTE", name="Rita Route", email="rita@example.com")
    with session_scope(session_factory) as session:
        billed = session.get(Ticket, of_category(api, db_url, "billing", "high"))
        shipped = session.get(Ticket, of_category(api, db_url, "shipping", "high"))
        assigned = raise_assignment_alert(session, billed, agent, settings, at=utcnow())
        assert raise_assignment_alert(session, shipped, agent, settings, at=utcnow()) is None
    assert assigned is not None and alert_row(session_factory, assigned).route == "billing"

    # Due alerts: five unrouted tickets further past their target than the billing one cannot fill a pass
    # of one, since the query leaves out what nobody would hear of.
    now = utcnow()
    for minutes in range(5):
        waiting = of_category(api, db_url, "technical", "high")
        since = now - timedelta(hours=4, minutes=30 + minutes)
        force_ticket(db_url, waiting, created_at=since, awaiting_reply_since=since)
    routed = of_category(api, db_url, "billing", "high")
    since = now - timedelta(hours=3, minutes=50)
    force_ticket(db_url, routed, created_at=since, awaiting_reply_since=since)
    with session_scope(session_factory) as session:
        (due,) = alert_due_tickets(session, settings, now=now, limit=1)
    row = alert_row(session_factory, due)
    assert (row.ticket_id, row.event, row.route) == (routed, "ticket.reply_due", "billing")
    with session_scope(session_factory) as session:
        assert alert_due_tickets(session, settings, now=now, limit=1) == []
    with session_scope(session_factory) as session:  # with ALERT_WEBHOOK_URL too, the others go there
        fallback = settings.model_copy(update={"alert_webhook_url": receiver.url})
        others = alert_due_tickets(session, fallback, now=now)
    assert len(others) == 5 and {alert_row(session_factory, a).route for a in others} == {None}


@pytest.mark.slow
def test_a_real_alert_worker_reads_the_routes_from_its_environment(  # type: ignore[no-untyped-def]
    client_for, start_worker, pg_url, redis_client, receiver, settings_for
):
    pg = pg_url
    _truncate(pg)
    routes = f"billing={route_to(receiver, 'billing')}"
    env = {"ALERT_WEBHOOK_URL": receiver.url, "ALERT_ROUTES": routes}
    start_worker("classifier_worker", pg, queues="alerts", app="alert_worker", **env)
    api = client_for(pg)
    settings = settings_for(pg, alert_webhook_url=receiver.url, alert_routes=routes)
    engine = sa.create_engine(pg)
    sent = []
    for category in ("billing", "technical"):
        alert_id = add_alert(sessionmaker(engine), of_category(api, pg, category), settings)
        assert alert_id is not None and send_alert(alert_id)  # committed, then its task to the worker
        sent.append(alert_id)
    engine.dispose()
    wait_until(lambda: len(receiver.received) == 2, timeout=60)
    assert sorted(paths(receiver)) == sorted([("/hooks/billing", sent[0]), ("/hooks/support", sent[1])])
    assert {row["alert_id"]: row["route"] for row in _alerts(pg)} == {sent[0]: "billing", sent[1]: None}
