"""What a web or API ticket's channel backend hears of at REPLY_WEBHOOK_URL: each public agent reply
(`ticket.reply`) and each agent's move of the ticket to one of REPLY_WEBHOOK_STATUSES (`ticket.status`), so
it can tell its customer without polling. Zendesk and Intercom tickets hear nothing from here: their
customers read the vendor's tool. The bodies are built here; the outbox rows carrying them are written by
the use case that stores the reply (`replies.store_message`) or the move (`tickets.change_status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from shared.models import VENDOR_SOURCES, StatusDelivery, Ticket, TicketMessage
from shared.schemas import Status


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


def reply_payload(ticket: Ticket, message: TicketMessage) -> dict[str, Any]:
    """A reply's body: the reply as stored (card numbers masked). Its `id` is the message's: a receiver drops a
    repeat by it, and orders a ticket's replies by `message.created_at`."""
    return {
        "id": message.id,
        "event": "ticket.reply",
        "created_at": message.created_at.isoformat(),
        "ticket": ticket_part(ticket),
        "message": {
            "id": message.id,
            "body": message.body,
            "author_name": message.author_name,
            "created_at": message.created_at.isoformat(),
        },
    }


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
