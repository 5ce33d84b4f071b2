"""Learning from agents: a correction via the API changes the ticket and steers the next similar ticket."""

from __future__ import annotations

from classifier_worker.classifier import Correction, TicketClassifier
from classifier_worker.corrections import load_corrections
from shared.config import Settings
from shared.db import make_engine
from shared.models import Customer, Ticket
from shared.schemas import Category, Priority, TicketContext

TEXT = "The loyalty points from my last purchase never showed up in my profile"


def test_memory_overrides_near_identical_tickets_only(local_model) -> None:  # type: ignore[no-untyped-def]
    classifier = TicketClassifier(Settings(groq_api_key=None), local_model)
    before = classifier.classify(TicketContext(ticket_id="a", subject="", description=TEXT))
    target = Category.subscription if before.category != Category.subscription else Category.order
    classifier.set_corrections([Correction(TEXT, "category", target.value), Correction(TEXT, "priority", "high")])

    again = classifier.classify(TicketContext(ticket_id="b", subject="", description=TEXT + "!"))
    assert again.category == target and again.priority == Priority.high
    assert "agent corrected" in again.reasoning
    unrelated = classifier.classify(TicketContext(ticket_id="c", subject="", description="Where is my parcel?"))
    assert unrelated.category == Category.shipping


def test_api_correction_reaches_the_classifier(api, db_url, local_model) -> None:  # type: ignore[no-untyped-def]
    # Given a classified ticket
    from sqlalchemy.orm import sessionmaker

    factory = sessionmaker(bind=make_engine(db_url), expire_on_commit=False)
    with factory() as session:
        session.add(Customer(customer_id="C-1", email="a@example.com"))
        session.add(
            Ticket(
                ticket_id="TKT-1",
                customer_id="C-1",
                subject="Points",
                description=TEXT,
                category="general",
                ai_suggested_category="general",
                priority="low",
                ai_suggested_priority="low",
                processing_state="done",
            )
        )
        session.commit()

    # When an agent corrects category and priority
    response = api.put("/api/tickets/TKT-1/category", json={"category": "subscription"})
    assert response.status_code == 200, response.text
    assert response.json()["category"] == "subscription"
    assert response.json()["ai_suggested_category"] == "general"
    assert api.put("/api/tickets/TKT-1/priority", json={"priority": "high"}).status_code == 200
    # (the same category again is a no-op, not a record; a second change records what it replaced)
    again = api.put("/api/tickets/TKT-1/category", json={"category": "subscription"})
    assert again.status_code == 200 and again.json()["category"] == "subscription"
    assert api.put("/api/tickets/TKT-1/category", json={"category": "order"}).status_code == 200
    assert api.put("/api/tickets/TKT-1/category", json={"category": "subscription"}).status_code == 200
    history = api.get("/api/tickets/TKT-1/corrections").json()
    assert [(c["field"], c["old_value"], c["new_value"], c["ai_value"]) for c in history] == [
        ("category", "general", "subscription", "general"),
        ("priority", "low", "high", "low"),
        ("category", "subscription", "order", "general"),
        ("category", "order", "subscription", "general"),
    ]

    # Then a worker that refreshes its corrections classifies the next near-identical ticket as corrected
    classifier = TicketClassifier(
        Settings(groq_api_key=None), local_model, corrections_source=lambda: load_corrections(factory)
    )
    classifier.refresh_corrections(force=True)
    result = classifier.classify(TicketContext(ticket_id="TKT-2", subject="Points", description=TEXT))
    assert result.category == Category.subscription
    assert result.priority == Priority.high


def test_bad_corrections_get_clear_4xx(api) -> None:  # type: ignore[no-untyped-def]
    missing = api.put("/api/tickets/NOPE/category", json={"category": "billing"})
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
    bad = api.put("/api/tickets/NOPE/priority", json={"priority": "whenever"})
    assert bad.status_code == 422
