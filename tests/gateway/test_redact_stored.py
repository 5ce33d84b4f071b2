"""`python -m gateway.redact_stored`: card numbers stored before intake masked them are masked everywhere they
were kept, nothing else changes, and a second run finds nothing (each database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway import redact_stored
from shared.models import Alert, TicketCorrection, TicketMessage, TicketMetadata, TicketReference
from tests.conftest import force_ticket
from tests.gateway.test_erasure import everything_stored

CARD, AMEX = "4242 4242 4242 4242", "378282246310005"
TRACES = (CARD, "4242424242424242", "4242-4242-4242-4242", AMEX, "CVV 737")


def legacy_ticket(api, db_url: str, session_factory) -> str:  # type: ignore[no-untyped-def]
    """A ticket holding card numbers wherever one was kept before intake masked them: written directly."""
    created = api.post(
        "/api/tickets/create",
        json={"customer_email": "old@example.com", "subject": "Refund", "description": "Refund order 55213."},
    )
    ticket_id = created.json()["ticket"]["ticket_id"]
    force_ticket(
        db_url, ticket_id, subject=f"Charged twice on {CARD}", description=f"Card {CARD}, CVV 737, order 55213.",
        ai_reasoning=f"Mentions card {CARD}", ai_suggested_reply="We will refund order 55213.",
        extracted_metadata={"order_ids": ["4242424242424242", "55213"], "amounts": ["$10"]},
    )  # fmt: skip
    now = datetime.now(UTC)
    with session_factory() as session:
        session.add_all([
            TicketMessage(ticket_id=ticket_id, source="api", author_type="customer", body=f"It was {AMEX}"),
            TicketMessage(ticket_id=ticket_id, source="api", author_type="agent", body="Refunded order 55213."),
            TicketMetadata(ticket_id=ticket_id, key="note", value="card 4242-4242-4242-4242"),
            TicketCorrection(ticket_id=ticket_id, field="category", new_value="billing", text=f"Card {CARD}",
                             actor="agent:ana", created_at=now),
            TicketReference(ticket_id=ticket_id, kind="order_id_found", value="4242424242424242"),
            TicketReference(ticket_id=ticket_id, kind="order_id_found", value="55213"),
            Alert(alert_id="a-legacy", ticket_id=ticket_id, priority="high", counted_from=now, created_at=now,
                  payload={"text": f"Charged twice on {CARD}", "ticket": {"subject": f"Charged twice on {CARD}"}}),
        ])  # fmt: skip
        session.commit()
    return ticket_id


def test_stored_card_numbers_are_masked_and_nothing_else_changes(  # type: ignore[no-untyped-def]
    api, cli_db, session_factory, capsys
) -> None:
    ticket_id = legacy_ticket(api, cli_db, session_factory)
    plain = api.post(
        "/api/tickets/create",
        json={"customer_email": "new@example.com", "subject": "Hi", "description": "Tracking 1Z999AA10123456784"},
    ).json()["ticket"]
    assert sum(trace in everything_stored(cli_db) for trace in TRACES) == len(TRACES)  # the check can see them

    assert redact_stored.main(["--dry-run", "--batch", "1"]) == 0
    assert "tickets: would change 1 rows" in capsys.readouterr().err
    assert sum(trace in everything_stored(cli_db) for trace in TRACES) == len(TRACES)  # a dry run writes nothing

    assert redact_stored.main(["--batch", "1"]) == 0  # a row per batch: the walk must reach every row
    report = capsys.readouterr().err
    for line in (
        "tickets: changed 1 rows",
        "ticket_messages: changed 1 rows",
        "ticket_metadata: changed 1 rows",
        "ticket_corrections: changed 1 rows",
        "alerts: changed 1 rows",
        "ticket_references: changed 1 rows",
    ):
        assert line in report, report  # fmt: skip
    assert [trace for trace in TRACES if trace in everything_stored(cli_db)] == []

    ticket = api.get(f"/api/tickets/{ticket_id}").json()
    assert ticket["description"] == "Card [card ending 4242], CVV [removed], order 55213."
    assert ticket["extracted_metadata"]["order_ids"] == ["[card ending 4242]", "55213"]
    assert ticket["ai_suggested_reply"] == "We will refund order 55213."
    bodies = [m["body"] for m in api.get(f"/api/tickets/{ticket_id}/messages").json()]
    assert bodies == ["It was [card ending 0005]", "Refunded order 55213."]
    assert [t["ticket_id"] for t in api.get("/api/tickets/", params={"order_id": "55213"}).json()] == [ticket_id]
    assert api.get(f"/api/tickets/{plain['ticket_id']}").json()["description"] == plain["description"]

    assert redact_stored.main([]) == 0  # again: nothing left to change
    assert capsys.readouterr().err.count("changed 0 rows") == 6


def test_a_text_written_meanwhile_is_not_overwritten(api, cli_db, session_factory, capsys) -> None:  # type: ignore[no-untyped-def]
    """The service rewrote the description after the walk read it: the older text must not win."""
    ticket_id = legacy_ticket(api, cli_db, session_factory)
    real_execute = redact_stored.Session.execute

    def execute(self, statement, *args, **kwargs):  # type: ignore[no-untyped-def]
        if getattr(statement, "is_update", False) and statement.table.name == "tickets":
            force_ticket(cli_db, ticket_id, description="Rewritten meanwhile")
        return real_execute(self, statement, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redact_stored.Session, "execute", execute)
        assert redact_stored.main([]) == 0
    assert "tickets: changed 0 rows" in capsys.readouterr().err  # the guarded update matched nothing
    assert api.get(f"/api/tickets/{ticket_id}").json()["description"] == "Rewritten meanwhile"


def test_a_bad_batch_size_is_refused(cli_db, capsys) -> None:  # type: ignore[no-untyped-def]
    assert redact_stored.main(["--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
