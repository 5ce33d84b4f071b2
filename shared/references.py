"""Order ids and tracking numbers a ticket is about, as lookup rows (`ticket_references`), so an agent
finds it by one.

Order ids are of two kinds: the id given on the form (written with the ticket) and the ids the classifier
found in the text; tracking numbers are only found. Found references are written with the classifier's
results, replacing the previous ones. Values are normalised the same way on write and on search
(`shared.text`), so "#a12 " finds "A12" and "1z 999 aa1" finds "1Z999AA1".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import delete, false, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from shared.models import TicketReference
from shared.text import normalize_order_id, normalize_tracking_number

GIVEN = "order_id"
FOUND = "order_id_found"
TRACKING = "tracking_found"
# Each found kind, by the `extracted_metadata` key the classifier reports its values under.
FOUND_KINDS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "order_ids": (FOUND, normalize_order_id),
    "tracking_numbers": (TRACKING, normalize_tracking_number),
}


def _keys(values: Iterable[object], normalize: Callable[[str], str | None]) -> list[str]:
    """Each distinct lookup key of `values`, in order (anything not a string is no reference)."""
    return list(dict.fromkeys(key for v in values if isinstance(v, str) and (key := normalize(v))))


def order_keys(values: Iterable[object]) -> list[str]:
    """Each distinct order id lookup key of `values`, in order."""
    return _keys(values, normalize_order_id)


def replace_found_references(session: Session, ticket_id: str, extracted: Mapping[str, Any]) -> None:
    """The ticket's found order ids and tracking numbers become exactly those in `extracted` (the
    classifier's `extracted_metadata`): a re-run replaces them, a redelivered task writes the same rows."""
    kinds = [kind for kind, _ in FOUND_KINDS.values()]
    session.execute(
        delete(TicketReference).where(TicketReference.ticket_id == ticket_id, TicketReference.kind.in_(kinds))
    )
    rows = []
    for field, (kind, normalize) in FOUND_KINDS.items():
        values = extracted.get(field)
        for key in _keys(values if isinstance(values, list) else [], normalize):
            rows.append({"ticket_id": ticket_id, "kind": kind, "value": key})
    if rows:
        session.execute(insert(TicketReference), rows)


def first_references(session: Session, ticket_id: str) -> tuple[str | None, str | None]:
    """The ticket's order id (the one given on the form, else the first found in its text) and its first tracking
    number found, as lookup keys; None for one it has none of. What a macro's `{{ticket.order_id}}` reads."""
    rows = session.execute(
        select(TicketReference.kind, TicketReference.value)
        .where(TicketReference.ticket_id == ticket_id)
        .order_by(TicketReference.id)
    ).all()
    first: dict[str, str] = {}
    for kind, value in rows:
        first.setdefault(kind, value)
    return first.get(GIVEN) or first.get(FOUND), first.get(TRACKING)


def tickets_about_order(order_id: str) -> Select[str]:
    """The ids of tickets given or mentioning `order_id`; none when it normalises to nothing."""
    key = normalize_order_id(order_id)
    if key is None:  # only characters str.strip() drops that the API's pattern let through
        return select(TicketReference.ticket_id).where(false())
    return select(TicketReference.ticket_id).where(
        TicketReference.value == key, TicketReference.kind.in_((GIVEN, FOUND))
    )


def tickets_with_tracking_number(number: str) -> Select[str]:
    """The ids of tickets mentioning tracking number `number`; none when it normalises to nothing."""
    key = normalize_tracking_number(number)
    if key is None:
        return select(TicketReference.ticket_id).where(false())
    return select(TicketReference.ticket_id).where(TicketReference.value == key, TicketReference.kind == TRACKING)
