"""What a web or API ticket's channel backend hears of at REPLY_WEBHOOK_URL: each public agent reply
(`ticket.reply`) and each agent's move of the ticket to one of REPLY_WEBHOOK_STATUSES (`ticket.status`), so
it can tell its customer without polling, and with REPLY_WEBHOOK_CUSTOMER_MESSAGES each message its customer
writes on the request's page (`ticket.customer_message`), which the backend did not relay and would not see
otherwise. Zendesk and Intercom tickets hear nothing from here: their customers read the vendor's tool. The
bodies are built here; the outbox rows carrying them are written by the use case that stores the message
(`replies.store_message`) or the move (`tickets.change_status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from shared.models import VENDOR_SOURCES, StatusDelivery, Ticket, TicketMessage
from shared.schemas import MessageEvent, Status


def ticket_part(ticket: Ticket) -> dict[str, Any]:
    """The ticket in each body: whom it is for, so the backend can write to them without reading it back."""
    customer = ticket.customer
    return {
        "ticket_id": ticket.ticket_id,
        "source": ticket.source,
        "subject": ticket.subject,
        "status": ticket.status,
        "follow_up_of": ticket.follow_up_of,
        "merged_into": ticket.merged_into,
        "customer": {"customer_id": customer.customer_id, "email": customer.email, "name": customer.name},
    }


def message_payload(ticket: Ticket, message: TicketMessage) -> dict[str, Any]:
    """A message's body: an agent's reply (`ticket.reply`) or a customer's message (`ticket.customer_message`) as
    stored (card numbers masked), on `ticket` as the message left it (a pending ticket reopened by its customer
    is `open`). Its `id` is the message's: a receiver drops a repeat by it, and orders a ticket's messages by
    `message.created_at`. A customer's message to a closed ticket is kept there and opens or joins a follow-up,
    named in `follow_up_ticket_id`, where the team answers it."""
    body: dict[str, Any] = {
        "id": message.id,
        "body": message.body,
        "author_name": message.author_name,
        "created_at": message.created_at.isoformat(),
    }
    if message.author_type == "customer":
        body["follow_up_ticket_id"] = message.follow_up_ticket_id
    return {
        "id": message.id,
        "event": MESSAGE_EVENTS[message.author_type],
        "created_at": message.created_at.isoformat(),
        "ticket": ticket_part(ticket),
        "message": body,
    }


MESSAGE_EVENTS = {"agent": MessageEvent.reply.value, "customer": MessageEvent.customer_message.value}


def status_delivery(
    ticket: Ticket, previous: Status, sent: Collection[Status], *, automatic: bool = False
) -> StatusDelivery | None:
    """The delivery owed for the move of `ticket` (already holding its new status and time) from `previous`,
    or None: not a status the team sends, or a vendor's ticket. Its `id` is a random one, never a reply's.
    `automatic` marks a move no agent made (a resolved ticket closed after AUTO_CLOSE_AFTER_HOURS), which a
    backend may not want to tell its customer about."""
    status = Status(ticket.status)
    if status not in sent or ticket.source in VENDOR_SOURCES:
        return None
    delivery_id = str(uuid.uuid4())
    payload = {
        "id": delivery_id,
        "event": "ticket.status",
        "created_at": ticket.updated_at.isoformat(),
        "ticket": ticket_part(ticket),
        "status": {"from": previous.value, "to": status.value, "automatic": automatic},
    }
    return StatusDelivery(
        delivery_id=delivery_id,
        ticket_id=ticket.ticket_id,
        previous_status=previous.value,
        status=status.value,
        payload=payload,
    )
