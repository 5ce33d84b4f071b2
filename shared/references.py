"""Order ids a ticket is about, as lookup rows (`ticket_references`), so an agent finds it by one.

Two kinds: the id given on the form (written with the ticket) and the ids the classifier found in the
text (written with its results, replacing the previous ones). Values are normalised the same way on
write and on search (`shared.text.normalize_order_id`), so "#a12 " finds "A12".
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, false, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from shared.models import TicketReference
from shared.text import normalize_order_id

GIVEN = "order_id"
FOUND = "order_id_found"


def order_keys(values: Iterable[object]) -> list[str]:
    """Each distinct lookup key of `values`, in order (anything not a string is no order id)."""
    return list(dict.fromkeys(key for v in values if isinstance(v, str) and (key := normalize_order_id(v))))


def replace_found_order_ids(session: Session, ticket_id: str, values: Iterable[object]) -> None:
    """The ticket's found order ids become exactly `values`: a redelivered task writes the same rows."""
    session.execute(
        delete(TicketReference).where(TicketReference.ticket_id == ticket_id, TicketReference.kind == FOUND)
    )
    rows = [{"ticket_id": ticket_id, "kind": FOUND, "value": key} for key in order_keys(values)]
    if rows:
        session.execute(insert(TicketReference), rows)


def tickets_about_order(order_id: str) -> Select[str]:
    """The ids of tickets given or mentioning `order_id`; none when it normalises to nothing."""
    key = normalize_order_id(order_id)
    if key is None:  # only characters str.strip() drops that the API's pattern let through
        return select(TicketReference.ticket_id).where(false())
    return select(TicketReference.ticket_id).where(
        TicketReference.value == key, TicketReference.kind.in_((GIVEN, FOUND))
    )
