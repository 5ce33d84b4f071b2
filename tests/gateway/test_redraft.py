"""A customer writing back sends a drafted ticket back to be classified and drafted again (SQLite and
PostgreSQL; the tasks are read back from the real Redis queues), and the steps read what they wrote since
the last reply."""

from __future__ import annotations

from datetime import timedelta

from shared.models import Ticket, TicketMessage, utcnow
from shared.pipeline import conversation_since_reply, ticket_context
from tests.gateway.test_retry import _newest

TICKET = {
    "customer_email": "lee@example.com",
    "subject": "Lamp not delivered",
    "description": "Order #2021 has not arrived.",
    "source": "web",
}


def _drafted(api, session_factory, **columns) -> str:  # type: ignore[no-untyped-def]
    """A ticket whose pipeline finished: classified, drafted, `done`."""
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        ticket.category = ticket.ai_suggested_category = "shipping"
        ticket.ai_suggested_reply = "Your lamp is on its way."
        ticket.processing_state = "done"
        for name, value in columns.items():
            setattr(ticket, name, value)
        session.commit()
    return ticket_id


def _customer(api, ticket_id: str, expected: int = 201, **body):  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json=body)
    assert response.status_code == expected, response.text
    return response.json()["ticket"]


def test_the_customers_answer_sends_a_drafted_ticket_back_to_its_steps(api, session_factory, redis_client):
    ticket_id = _drafted(api, session_factory)
    redis_client.delete("draft", "classify")
    with session_factory() as session:
        drafted_at = session.get(Ticket, ticket_id).processing_updated_at

    ticket = _customer(api, ticket_id, body="It still has not come. Can I get a refund?", client_message_id="w-1")

    assert ticket["processing_state"] == "queued" and ticket["processing_error"] is None
    assert ticket["ai_suggested_reply"] == "Your lamp is on its way."  # readable until the new draft replaces it
    assert ticket["category"] == "shipping"  # and the classification until the new one
    with session_factory() as session:
        assert session.get(Ticket, ticket_id).processing_updated_at > drafted_at
    assert redis_client.llen("classify") == 1 and _newest(redis_client, "classify") == ticket_id
    assert redis_client.llen("draft") == 0  # the classify step sends the draft on
    assert api.get(f"/api/tickets/{ticket_id}").json()["processing_state"] == "queued"

    _customer(api, ticket_id, 200, body="It still has not come. Can I get a refund?", client_message_id="w-1")
    reply = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "Refund issued."})
    note = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "VIP", "internal": True})
    assert reply.status_code == note.status_code == 201
    assert redis_client.llen("classify") == 1 and redis_client.llen("draft") == 0  # a retry, a reply, a note: nothing


def test_a_second_message_while_drafting_asks_again(api, session_factory, redis_client):
    """`classified` (a draft in progress, maybe from the first message): the steps are asked again, so the
    draft that lands answers the newest message (the one in progress finds the ticket moved and is not stored)."""
    ticket_id = _drafted(api, session_factory, processing_state="classified")
    redis_client.delete("draft", "classify")
    with session_factory() as session:
        drafting_since = session.get(Ticket, ticket_id).processing_updated_at

    _customer(api, ticket_id, body="And the cable is missing too.")

    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.processing_state == "queued" and ticket.processing_updated_at > drafting_since
    assert redis_client.llen("classify") == 1 and _newest(redis_client, "classify") == ticket_id


def test_tickets_not_drafted_yet_failed_or_closed_are_left_as_they_are(api, session_factory, redis_client):
    queued = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]  # its draft reads the message
    failed = _drafted(api, session_factory, processing_state="failed", processing_error="TimeoutError: LLM")
    closed = _drafted(api, session_factory, status="closed")
    redis_client.delete("draft", "classify")

    assert _customer(api, queued, body="Also: gift wrap, please.")["processing_state"] == "queued"
    after = _customer(api, failed, body="Hello?")
    assert (after["processing_state"], after["processing_error"]) == ("failed", "TimeoutError: LLM")  # its retry
    answer = api.post(f"/api/tickets/{closed}/customer-messages", json={"body": "Thanks, all good."}).json()
    assert answer["ticket"]["processing_state"] == "done"  # left as it is: its follow-up ticket takes the message
    assert redis_client.llen("draft") == 0 and redis_client.llen("classify") == 1
    assert _newest(redis_client, "classify") == answer["follow_up"]["ticket_id"]


def test_the_draft_step_reads_what_the_customer_wrote_since_the_last_reply(api, session_factory):
    ticket_id = _drafted(api, session_factory)
    start = utcnow()

    def add(author_type: str, body: str, minutes: int, internal: bool | None = False) -> None:
        with session_factory() as session:
            session.add(
                TicketMessage(
                    ticket_id=ticket_id, source="api", author_type=author_type, body=body,
                    internal=internal, created_at=start + timedelta(minutes=minutes),
                )
            )  # fmt: skip
            session.commit()

    def conversation() -> tuple[str | None, str | None]:
        with session_factory() as session:
            return conversation_since_reply(session, session.get(Ticket, ticket_id))

    add("customer", TICKET["description"], 0)  # a webhook ticket's opening message: not a follow-up
    add("agent", "Checking with the courier.", 1, internal=True)
    assert conversation() == (None, None)
    add("customer", "It is a gift, it must come by Friday.", 2)
    assert conversation() == ("It is a gift, it must come by Friday.", None)
    add("agent", "It will arrive on Thursday.", 3)
    assert conversation() == (None, None)  # answered
    for minute, body in enumerate(["Thursday?", "It did not come.", "Nothing today either.", "Refund me."], 4):
        add("customer", body, minute)
    add("agent", "Internal: call the courier", 9, internal=True)
    add("agent", "From before notes were recorded", 10, internal=None)
    follow_up, last_reply = conversation()
    assert follow_up == "It did not come.\n\nNothing today either.\n\nRefund me."  # the last three, oldest first
    assert last_reply == "It will arrive on Thursday."  # never a note, nor an agent message of unknown kind

    with session_factory() as session:
        context = ticket_context(session, session.get(Ticket, ticket_id))
    assert (context.follow_up, context.last_reply) == (follow_up, last_reply)
