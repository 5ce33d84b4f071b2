"""A customer's follow-up after classification, on the served artifact: priority only goes up, the tone is
the follow-up's, keywords and entities are added (`classifier_worker.follow_up`)."""

from __future__ import annotations

import pytest

from classifier_worker.classifier import TicketClassifier
from classifier_worker.follow_up import merge_entities
from shared.config import Settings
from shared.schemas import Priority, Sentiment, TicketContext

OPENING = {"subject": "Refund", "description": "I returned the blue jacket last week. When will I get my refund?"}


@pytest.fixture(scope="module")
def classifier(local_model) -> TicketClassifier:  # type: ignore[no-untyped-def]
    return TicketClassifier(Settings(groq_api_key=None), local_model)


def ticket(follow_up: str | None = None, **kw: object) -> TicketContext:
    return TicketContext(ticket_id="T-1", follow_up=follow_up, **OPENING, **kw)  # type: ignore[arg-type]


def test_an_angry_repeated_contact_escalates(classifier: TicketClassifier) -> None:
    opening = classifier.classify(ticket())
    assert opening.priority in (Priority.low, Priority.medium), opening.reasoning
    again = classifier.classify(
        ticket("This is the third time I am writing and still no refund! I need it today, this is unacceptable.")
    )
    assert again.category == opening.category  # the opening decides the category
    assert again.priority == Priority.high, again.reasoning
    assert again.sentiment == Sentiment.negative
    assert "third time" in again.urgency_keywords and "today" in again.urgency_keywords
    assert f"escalated from {opening.priority.value} to high" in again.reasoning


def test_a_legal_threat_in_a_follow_up_is_critical(classifier: TicketClassifier) -> None:
    again = classifier.classify(ticket("If I do not get my money back this week I will talk to my lawyer."))
    assert again.priority == Priority.critical, again.reasoning
    assert "lawyer" in again.urgency_keywords


def test_a_calm_follow_up_lowers_nothing(classifier: TicketClassifier) -> None:
    """Neither the opening's priority nor one an earlier follow-up raised (stored on the ticket)."""
    opening = classifier.classify(ticket())
    calm = classifier.classify(ticket("Thanks, any news?"))
    assert calm.priority == opening.priority and "escalated" not in calm.reasoning
    kept = classifier.classify(ticket("Thank you, that helps!", priority="high", urgency_keywords=["third time"]))
    assert kept.priority == Priority.high, kept.reasoning
    assert "third time" in kept.urgency_keywords  # what an earlier follow-up said still counts
    assert kept.sentiment != Sentiment.negative  # their tone now, not the stored one


def test_an_order_id_given_later_is_added(classifier: TicketClassifier) -> None:
    stored = {"order_ids": ["ORD-1"], "amounts": [{"amount": 59.0, "currency": "USD", "text": "$59"}]}
    again = classifier.classify(
        ticket("My order number is #77812 and it was $59.", extracted_metadata=stored, order_id="ORD-1")
    )
    assert again.extracted_metadata["order_ids"] == ["ORD-1", "77812"]
    assert again.extracted_metadata["amounts"] == stored["amounts"]  # the same amount, once


def test_merge_entities_keeps_the_first_seen_order_and_each_value_once() -> None:
    merged = merge_entities(
        {"order_ids": ["A"], "dates": ["2026-12-01"]},
        {"order_ids": ["B", "A"]},
        {"emails": ["x@y.io"], "amounts": [{"value": 1, "currency": "EUR"}, {"currency": "EUR", "value": 1}]},
    )
    assert merged == {
        "order_ids": ["A", "B"], "dates": ["2026-12-01"], "emails": ["x@y.io"],
        "amounts": [{"value": 1, "currency": "EUR"}],
    }  # fmt: skip


def test_the_classify_step_escalates_and_finds_the_order_the_customer_gave(session_factory, redis_client, classifier):  # type: ignore[no-untyped-def]
    """Through the worker's service on SQLite and PostgreSQL: the customer's answer sends the ticket back
    (`queued`), the classify step stores the escalation, and the order id they gave finds the ticket."""
    from classifier_worker.service import classify_ticket
    from gateway.services.replies import add_message
    from gateway.services.tickets import create_ticket, list_tickets
    from shared.models import Ticket
    from shared.schemas import MessageCreate, TicketCreate, TicketFilters

    with session_factory() as session:
        ticket_id = create_ticket(session, TicketCreate(customer_email="f@example.com", **OPENING)).ticket_id
    assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"
    with session_factory() as session:
        opened = session.get(Ticket, ticket_id)
        before, reasoning = opened.priority, opened.ai_reasoning
        opened.processing_state = "done"  # drafted, as the draft step would leave it
        session.commit()
        assert list_tickets(session, TicketFilters(order_id="77812")) == []

    angry = "Third time I ask: order #77812, still no refund. I will contact my lawyer if it is not paid today."
    with session_factory() as session:
        ticket = add_message(session, ticket_id, MessageCreate(body=angry), author_type="customer", author="web").ticket
        assert ticket.processing_state == "queued"
    assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (before, ticket.priority, ticket.ai_suggested_priority) == (before, "critical", "critical")
        assert ticket.ai_reasoning.startswith(reasoning) and "escalated from" in ticket.ai_reasoning
        assert {"lawyer", "third time", "today"} <= set(ticket.urgency_keywords)
        assert [t.ticket_id for t in list_tickets(session, TicketFilters(order_id="#77812"))] == [ticket_id]


def test_an_agents_priority_is_kept_and_flagged_when_a_follow_up_rises_past_what_they_saw(  # type: ignore[no-untyped-def]
    session_factory, redis_client, classifier
):
    """The agent lowered the AI's priority; a calm follow-up leaves their choice alone, a legal threat keeps
    it but flags the ticket (through later calm rounds too) until they review it or choose again, knowing the
    new one."""
    from sqlalchemy import select

    from classifier_worker.service import classify_ticket
    from gateway.services.corrections import correct_ticket
    from gateway.services.replies import add_message
    from gateway.services.reviews import review_ticket
    from gateway.services.tickets import create_ticket
    from shared.models import AuditLog, Ticket, audit_actor
    from shared.schemas import MessageCreate, TicketCreate

    with session_factory() as session:
        opening = TicketCreate(
            customer_email="g@example.com",
            subject="Charged twice",
            description="I was charged twice for my order this morning. Please refund the duplicate charge.",
        )
        ticket_id = create_ticket(session, opening).ticket_id
    assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"

    def round_after(body: str) -> Ticket:
        with session_factory() as session:
            add_message(session, ticket_id, MessageCreate(body=body), author_type="customer", author="web")
        assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"
        with session_factory() as session:
            return session.get(Ticket, ticket_id)

    with session_factory() as session:
        seen = session.get(Ticket, ticket_id).ai_suggested_priority
        assert seen in ("medium", "high") and not session.get(Ticket, ticket_id).needs_review, seen
        correct_ticket(session, ticket_id, field="priority", value="low", actor="agent:ana")

    calm = round_after("Thanks, any news?")
    assert (calm.priority, calm.ai_suggested_priority, calm.needs_review) == ("low", seen, False)
    threat = round_after("If this is not refunded this week I will talk to my lawyer.")
    assert (threat.priority, threat.ai_suggested_priority, threat.needs_review) == ("low", "critical", True)
    assert "An agent set the priority to low: kept, and flagged for review." in threat.ai_reasoning
    hello = round_after("Hello?")
    assert hello.needs_review and threat.flagged_at is not None and hello.flagged_at == threat.flagged_at

    as_agent = audit_actor.set("agent:ana")  # as the gateway's auth dependency names the caller
    with session_factory() as session:  # the agent reviews it and keeps low, having seen critical
        review_ticket(session, ticket_id, seen_updated_at=None, actor="agent:ana")
    audit_actor.reset(as_agent)
    reviewed = round_after("Still nothing?")
    assert (reviewed.priority, reviewed.ai_suggested_priority, reviewed.needs_review) == ("low", "critical", False)
    assert reviewed.flagged_at is None

    with session_factory() as session:
        correct_ticket(session, ticket_id, field="priority", value="high", actor="agent:ana")  # seen: critical
    decided = round_after("Any news?")
    assert (decided.priority, decided.ai_suggested_priority, decided.needs_review) == ("high", "critical", False)
    with session_factory() as session:  # who raised the flag and who cleared it
        query = select(AuditLog).where(AuditLog.ticket_id == ticket_id, AuditLog.field == "needs_review")
        trail = [(a.old_value, a.new_value, a.actor) for a in session.scalars(query.order_by(AuditLog.id))]
    assert trail == [("false", "true", "system"), ("true", "false", "agent:ana")]
