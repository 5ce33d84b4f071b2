"""The ticket list as CSV (`GET /api/tickets/export`, `GET /api/views/{id}/export`) on SQLite and PostgreSQL:
the rows are what the list lists with the same filters, in its order, each cell the field as the API shows it;
and the arrival range (`created_from`, `created_before`) that reports need, on the list too."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import shared.db
from shared.models import Ticket, TicketMetadata
from shared.schemas import DEFAULT_EXPORT_COLUMNS, EXPORT_COLUMNS
from tests.conftest import force_ticket
from tests.gateway.conftest import keyed, web_ticket


def with_manager(api, session_factory):  # type: ignore[no-untyped-def]
    """`api` from `keyed`, with a manager's headers (`api.manager`): exports are a manager's."""
    from shared.auth import Role, create_key

    with session_factory() as session:
        _, key = create_key(session, name="lead", role=Role.manager)
    api.manager = {"X-API-Key": key}
    return api


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """The web form's key and an agent (`alice`), who may not export, a manager (`lead`) and an admin (`boss`)."""
    return with_manager(keyed(client_for(db_url, auth_disabled=False), session_factory), session_factory)


def _exported(api, path: str = "/api/tickets/export", **params: Any) -> tuple[list[str], list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    """The CSV's header and rows."""
    response = api.get(path, params=params, headers=api.manager)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    return list(reader.fieldnames or []), list(reader)


def _listed(api, **params: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every page of the list for `params`."""
    tickets: list[dict[str, Any]] = []
    while True:
        response = api.get("/api/tickets/", params={**params, "limit": 2, "offset": len(tickets)}, headers=api.agent)
        assert response.status_code == 200, response.text
        tickets += response.json()
        if len(response.json()) < 2:
            return tickets


def _as_cell(value: Any) -> str:
    """A field of the API's JSON as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"category": "billing", "sort": "due"},
        {"priority": "critical", "assigned": False},
        {"tag": "vip", "sort": "oldest"},
        {"q": "refund"},
        {"overdue": True, "sort": "due"},
    ],
    ids=["all", "billing-by-due", "unassigned-critical", "tag-oldest", "search", "overdue"],
)
def test_the_export_is_the_list_every_page_at_once(team, db_url, monkeypatch, filters) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(shared.db, "IDS_PER_STATEMENT", 2)  # several chunks: their order must hold across them
    now = datetime.now(UTC)
    made = [
        web_ticket(team, subject=f"Ticket {n}", description=f"please refund order {n}" if n % 2 else "where is it?")
        for n in range(7)
    ]
    for n, ticket_id in enumerate(made):
        force_ticket(
            db_url,
            ticket_id,
            priority=("critical", "low", "high")[n % 3],
            category=("billing", "shipping")[n % 2],
            sentiment="negative",
            created_at=now - timedelta(days=n, minutes=n),
        )
    team.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}, headers=team.admin)
    assert team.put(f"/api/tickets/{made[3]}/assign", json={"agent_id": "AG-1"}, headers=team.agent).is_success
    for ticket_id in made[1:5]:
        assert team.post(f"/api/tickets/{ticket_id}/tags", json={"add": ["vip", "b2b"]}, headers=team.agent).is_success

    header, rows = _exported(team, **filters)
    listed = _listed(team, **filters)
    assert header == list(DEFAULT_EXPORT_COLUMNS)
    assert [row["ticket_id"] for row in rows] == [ticket["ticket_id"] for ticket in listed]
    assert len(rows) >= 2  # each case holds something to order
    for row, ticket in zip(rows, listed, strict=True):
        assert row == {name: _as_cell(ticket[name]) for name in DEFAULT_EXPORT_COLUMNS}
    if "tag" in filters:
        assert {row["tags"] for row in rows} == {"b2b vip"}  # alphabetical, as the API lists them


def test_the_arrival_range_is_half_open_in_utc_on_the_list_and_the_export(team, db_url) -> None:  # type: ignore[no-untyped-def]
    october, midnight, november = (web_ticket(team, subject=f"Ticket {n}") for n in range(3))
    force_ticket(db_url, october, created_at=datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))
    force_ticket(db_url, midnight, created_at=datetime(2026, 11, 1, tzinfo=UTC))
    force_ticket(db_url, november, created_at=datetime(2026, 11, 30, 23, 0, tzinfo=UTC))

    def both(**window: str) -> list[str]:
        ids = [ticket["ticket_id"] for ticket in _listed(team, **window)]
        assert [row["ticket_id"] for row in _exported(team, **window)[1]] == ids
        return ids

    assert both(created_from="2026-11-01", created_before="2026-12-01") == [november, midnight]  # a date: midnight UTC
    assert both(created_before="2026-11-01") == [october]  # before, not at
    assert both(created_from="2026-11-01T00:00:00Z") == [november, midnight]
    assert both(created_from="2026-11-01T02:00:00+02:00") == [november, midnight]  # midnight UTC
    assert both(created_from="2026-11-01T00:59:59+01:00") == [november, midnight, october]  # 23:59:59 UTC
    assert both(created_from="2026-10-31T23:59:59") == [november, midnight, october]  # no offset: UTC
    assert both(created_from="2026-11-30T23:00:00.000001") == []
    for bad, says in (
        ("2026-13-01", "month value is outside expected range"),
        ("soon", "expected a date or date-time"),
        ("1700000000", "expected a date or date-time"),  # seconds since 1970: not what the schema offers
        ("0001-01-01T00:00:00+01:00", "outside the years 1-9999"),
    ):
        for path in ("/api/tickets/", "/api/tickets/export"):
            response = team.get(path, params={"created_from": bad}, headers=team.manager)
            assert response.status_code == 422, response.text
            assert "created_from" in response.json()["detail"] and says in response.json()["detail"]


def test_the_resolution_range_gives_what_an_agent_resolved_in_a_week(team, db_url) -> None:  # type: ignore[no-untyped-def]
    early, late, reopened, theirs, open_ = (web_ticket(team, subject=f"Ticket {n}") for n in range(5))
    team.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}, headers=team.admin)
    team.post("/api/agents", json={"agent_id": "AG-2", "name": "Bo"}, headers=team.admin)
    for ticket_id in (early, late, reopened, open_):
        assert team.put(f"/api/tickets/{ticket_id}/assign", json={"agent_id": "AG-1"}, headers=team.agent).is_success
    assert team.put(f"/api/tickets/{theirs}/assign", json={"agent_id": "AG-2"}, headers=team.agent).is_success
    for ticket_id in (early, late, reopened, theirs):
        moved = team.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=team.agent)
        assert moved.status_code == 200, moved.text
    reopening = team.put(f"/api/tickets/{reopened}/status", json={"status": "open"}, headers=team.agent)
    assert reopening.status_code == 200, reopening.text  # its resolve no longer counts: `resolved_at` is cleared
    force_ticket(db_url, early, resolved_at=datetime(2026, 11, 30, tzinfo=UTC))  # Monday 00:00, the week's start
    force_ticket(db_url, late, resolved_at=datetime(2026, 12, 6, 23, 59, tzinfo=UTC))
    force_ticket(db_url, theirs, resolved_at=datetime(2026, 12, 1, tzinfo=UTC))

    week = {"resolved_from": "2026-11-30", "resolved_before": "2026-12-07", "sort": "oldest"}
    listed = [ticket["ticket_id"] for ticket in _listed(team, assigned_to="AG-1", **week)]
    assert listed == [early, late]
    _, rows = _exported(team, assigned_to="AG-1", columns="ticket_id,resolved_at", **week)
    assert rows == [
        {"ticket_id": early, "resolved_at": "2026-11-30T00:00:00Z"},
        {"ticket_id": late, "resolved_at": "2026-12-06T23:59:00Z"},
    ]
    assert [t["ticket_id"] for t in _listed(team, resolved_before="2026-11-30")] == []  # before, not at
    assert [t["ticket_id"] for t in _listed(team, resolved_from="2026-12-06T23:59:00.000001Z")] == []
    assert {t["ticket_id"] for t in _listed(team, resolved_from="2026-12-01")} == {late, theirs}
    refused = team.get("/api/tickets/", params={"resolved_before": "last week"}, headers=team.agent)
    assert refused.status_code == 422 and "resolved_before" in refused.json()["detail"]


def test_the_ranges_counted_back_from_now_keep_a_view_current(team, db_url) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    today, yesterday, last_week = (web_ticket(team, subject=f"Ticket {n}") for n in range(3))
    force_ticket(db_url, today, created_at=now - timedelta(hours=2))
    force_ticket(
        db_url, yesterday, created_at=now - timedelta(hours=30), status="resolved", resolved_at=now - timedelta(hours=1)
    )
    force_ticket(
        db_url,
        last_week,
        created_at=now - timedelta(days=10),
        status="resolved",
        resolved_at=now - timedelta(hours=200),
    )

    def listed(**params: Any) -> list[str]:
        ids = [ticket["ticket_id"] for ticket in _listed(team, **params)]
        assert [row["ticket_id"] for row in _exported(team, **params)[1]] == ids
        return ids

    assert listed(created_within_hours=24) == [today]
    assert listed(created_within_hours=48) == [today, yesterday]
    assert listed(resolved_within_hours=168) == [yesterday]
    assert listed(resolved_within_hours=8784, created_within_hours=24) == []
    arrivals = {"view_id": "today", "title": "Today's arrivals", "filters": {"created_within_hours": 24}}
    view = team.post("/api/views", json=arrivals, headers=team.admin).json()
    assert (view["query"], view["count"]) == ("created_within_hours=24", 1)
    force_ticket(
        db_url, today, created_at=now - timedelta(hours=24, minutes=10)
    )  # a day on: the view moved with the clock
    assert team.get("/api/views/today", headers=team.agent).json()["count"] == 0
    for params in ({"created_within_hours": 0}, {"resolved_within_hours": 8785}, {"created_within_hours": 1.5}):
        refused = team.get("/api/tickets/", params=params, headers=team.agent)
        assert refused.status_code == 422 and next(iter(params)) in refused.json()["detail"], refused.text
    typed = {"title": "Typed", "filters": {"resolved_within_hours": "168"}}  # a view's JSON: a number, not text
    refused = team.post("/api/views", json=typed, headers=team.admin)
    assert refused.status_code == 422 and "filters.resolved_within_hours" in refused.json()["detail"], refused.text


def test_columns_formulas_and_the_file(team, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    formula = web_ticket(
        team,
        subject='=HYPERLINK("http://evil.example","click")',
        customer_name="@SUM(A1:A9)",
        customer_email="formula@example.com",
        description="-2+3 is what I was charged",
        order_id="A-17",
    )
    plain = web_ticket(team, subject='Order, "late"\nagain', customer_name="Zoë Ünal", customer_email="zoe@example.com")
    force_ticket(db_url, plain, created_at=datetime.now(UTC) - timedelta(hours=1))
    with session_factory() as session:  # an integration's field beside the form's order id: not the order id
        session.add_all([TicketMetadata(ticket_id=t, key="plan", value="gold") for t in (formula, plain)])
        session.commit()
    header, rows = _exported(team, columns="ticket_id, subject,customer_name,order_id,needs_review,ticket_id")
    assert header == ["ticket_id", "subject", "customer_name", "order_id", "needs_review"]  # a repeat is one column
    assert rows == [
        {
            "ticket_id": formula,
            "subject": '\'=HYPERLINK("http://evil.example","click")',  # text, never run by the spreadsheet
            "customer_name": "'@SUM(A1:A9)",
            "order_id": "A-17",
            "needs_review": "false",
        },
        {
            "ticket_id": plain,
            "subject": 'Order, "late"\nagain',
            "customer_name": "Zoë Ünal",
            "order_id": "",
            "needs_review": "false",
        },
    ]
    assert _exported(team, columns="description")[1][0] == {"description": "'-2+3 is what I was charged"}
    assert set(EXPORT_COLUMNS) >= set(DEFAULT_EXPORT_COLUMNS) and "metadata" not in EXPORT_COLUMNS

    response = team.get("/api/tickets/export", params={"bom": True, "columns": "customer_name"}, headers=team.manager)
    assert response.content.startswith("\ufeffcustomer_name\r\n".encode())  # RFC 4180 line ends, Excel's mark
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="tickets-') and disposition.endswith('Z.csv"')
    assert not team.get("/api/tickets/export", params={"columns": "subject"}, headers=team.manager).content.startswith(
        b"\xef\xbb\xbf"
    )

    for params, says in (
        ({"columns": "subject,metadata"}, "unknown column 'metadata'"),
        ({"columns": "subject,"}, "unknown column ''"),
        ({"limit": "10"}, "limit"),  # no page: every match, or a 422, never a silent first page
        ({"categroy": "billing"}, "categroy"),  # a misspelt filter would export every ticket
        ({"sort": "priority"}, "sort"),
    ):
        response = team.get("/api/tickets/export", params=params, headers=team.manager)
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]
    assert team.get("/api/tickets/export").status_code == 403  # the web form's key reads no list
    assert team.get("/api/tickets/export", headers=team.agent).status_code == 403  # an agent works the list
    assert team.get("/api/tickets/export", headers=team.admin).status_code == 200


def test_an_export_over_the_limit_is_refused_before_anything_is_sent(
    client_for, db_url, redis_client, session_factory
) -> None:  # type: ignore[no-untyped-def]
    team = with_manager(
        keyed(client_for(db_url, auth_disabled=False, export_max_rows=2), session_factory), session_factory
    )
    first, second, third = (web_ticket(team, subject=f"Ticket {n}") for n in range(3))
    force_ticket(db_url, third, category="billing")
    force_ticket(db_url, second, category="billing")
    response = team.get("/api/tickets/export", headers=team.manager)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "the filters hold more than 2 tickets (EXPORT_MAX_ROWS); narrow them, e.g. by arrival with created_from "
        "and created_before"
    )
    assert [row["ticket_id"] for row in _exported(team, category="billing")[1]] == [third, second]  # 2: at the limit
    assert first not in {row["ticket_id"] for row in _exported(team, category="billing")[1]}


def test_a_view_exports_what_it_lists(team, db_url) -> None:  # type: ignore[no-untyped-def]
    late, soon, other = (web_ticket(team, subject=f"Ticket {n}") for n in range(3))
    force_ticket(db_url, late, priority="high", category="billing", created_at=datetime.now(UTC) - timedelta(days=3))
    force_ticket(db_url, soon, priority="low", category="billing")
    force_ticket(db_url, other, priority="low", category="shipping")
    view = {"view_id": "billing", "title": "Billing by due", "filters": {"category": "billing", "sort": "due"}}
    assert team.post("/api/views", json=view, headers=team.admin).status_code == 201

    header, rows = _exported(team, "/api/views/billing/export", columns="ticket_id,due_at")
    opened = team.get("/api/views/billing/tickets", headers=team.agent).json()
    assert header == ["ticket_id", "due_at"]
    assert rows == [{"ticket_id": t["ticket_id"], "due_at": t["due_at"]} for t in opened]
    assert [row["ticket_id"] for row in rows] == [late, soon]  # past its target first
    response = team.get("/api/views/billing/export", headers=team.manager)
    assert 'filename="view-billing-' in response.headers["content-disposition"]

    assert team.get("/api/views/billing/export", headers=team.agent).status_code == 403
    assert team.get("/api/views/nope/export", headers=team.manager).status_code == 404
    bad = team.get("/api/views/billing/export", params={"columns": "nope"}, headers=team.manager)
    assert bad.status_code == 422 and "unknown column 'nope'" in bad.json()["detail"]
    force_view_filters(db_url, "billing", {"category": "billing", "renamed_filter": True})
    stale = team.get("/api/views/billing/export", headers=team.manager)
    assert stale.status_code == 409 and "renamed_filter" in stale.json()["detail"]


def force_view_filters(url: str, view_id: str, filters: dict[str, Any]) -> None:
    """Store filters an upgrade could have left behind."""
    import sqlalchemy as sa

    from shared.models import View

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(View.__table__).where(View.__table__.c.view_id == view_id).values(filters=filters))
    engine.dispose()


def test_the_log_says_who_exported_what_without_personal_data(team, caplog) -> None:  # type: ignore[no-untyped-def]
    web_ticket(team, customer_email="secret.person@example.com", subject="Refund please")
    with caplog.at_level("INFO", logger="gateway.services.list_export"):
        _exported(team, customer_email="secret.person@example.com", q="refund", status="new", columns="ticket_id")
    (record,) = [r for r in caplog.records if r.name == "gateway.services.list_export"]
    message = record.getMessage()
    assert message.startswith("ticket export by key:") and ":lead: 1 tickets" in message
    assert "'status': 'new'" in message and "'customer_email': '(given)'" in message and "'q': '(given)'" in message
    assert "secret.person" not in message and "refund" not in message.lower() and "columns" not in message


def test_an_export_reads_one_snapshot_while_tickets_change(team, db_url, session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A ticket that changes after the export began is written as it was: the file is one moment of the
    queue, on SQLite (a read transaction under WAL) as on PostgreSQL (REPEATABLE READ)."""
    from gateway.services.list_export import export_csv
    from shared.config import get_settings
    from shared.schemas import ExportOptions, TicketQuery

    monkeypatch.setattr(shared.db, "IDS_PER_STATEMENT", 1)  # a statement per ticket: the change lands between them
    made = [web_ticket(team, subject=f"Ticket {n}") for n in range(3)]
    lines = export_csv(
        session_factory(),
        TicketQuery(sort="oldest"),
        ExportOptions(columns="ticket_id,status,subject"),
        get_settings().targets,
        10,
    )
    assert next(lines) == "ticket_id,status,subject\r\n"
    assert next(lines) == f"{made[0]},new,Ticket 0\r\n"
    force_ticket(db_url, made[2], status="resolved", subject="Changed")  # committed by another connection
    assert "".join(lines) == f"{made[1]},new,Ticket 1\r\n{made[2]},new,Ticket 2\r\n"
    with session_factory() as session:  # and the change itself is there for the next reader
        assert session.get(Ticket, made[2]).status == "resolved"  # type: ignore[union-attr]


def test_metadata_fields_are_columns_by_their_key(team, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """`metadata.KEY`: a vendor's facts (a Zendesk link, its channel) beside the ticket's fields, empty where a
    ticket has none; the form's order id is `metadata.order_id` too; values are guarded like any text."""
    linked = web_ticket(team, order_id="A-17")
    bare = web_ticket(team)
    force_ticket(db_url, bare, created_at=datetime.now(UTC) - timedelta(hours=1))
    with session_factory() as session:
        session.add_all(
            [
                TicketMetadata(ticket_id=linked, key="zendesk_url", value="https://acme.zendesk.com/tickets/7"),
                TicketMetadata(ticket_id=linked, key="zendesk_channel", value="=cmd|' /C calc'!A0"),
                TicketMetadata(ticket_id=linked, key="zendesk_channel", value="web"),  # stored last: shown
                TicketMetadata(ticket_id=bare, key="intercom_topic", value="conversation.user.created"),
            ]
        )
        session.commit()
    columns = "ticket_id,metadata.zendesk_url,metadata.zendesk_channel,order_id,metadata.order_id,metadata.none"
    header, rows = _exported(team, columns=columns)
    assert header == columns.split(",")
    assert rows == [
        {
            "ticket_id": linked,
            "metadata.zendesk_url": "https://acme.zendesk.com/tickets/7",
            "metadata.zendesk_channel": "web",
            "order_id": "A-17",
            "metadata.order_id": "A-17",
            "metadata.none": "",
        },
        {
            "ticket_id": bare,
            "metadata.zendesk_url": "",
            "metadata.zendesk_channel": "",
            "order_id": "",
            "metadata.order_id": "",
            "metadata.none": "",
        },
    ]
    with session_factory() as session:
        session.add(TicketMetadata(ticket_id=bare, key="zendesk_url", value='=HYPERLINK("http://evil.example")'))
        session.commit()
    _, rows = _exported(team, columns="metadata.intercom_topic,metadata.zendesk_url")
    assert rows[1] == {
        "metadata.intercom_topic": "conversation.user.created",
        "metadata.zendesk_url": '\'=HYPERLINK("http://evil.example")',  # text, never run
    }
    for columns, says in (
        ("metadata.", "unknown column 'metadata.'"),
        ("metadata.zendesk url", "unknown column 'metadata.zendesk url'"),
        ("metadata.a;b", "metadata.KEY for a metadata field"),
        ("metadata." + "k" * 101, "unknown column"),
    ):
        response = team.get("/api/tickets/export", params={"columns": columns}, headers=team.manager)
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]
