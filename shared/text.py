"""Ticket text as the classifier sees it, shared so the gateway's stored corrections match the worker's input,
and order ids and tracking numbers in the one form the gateway and the worker both write and search them in."""

from __future__ import annotations


def ticket_text(subject: str | None, description: str | None) -> str:
    """Subject and description as one text (the description alone when it already opens with the subject)."""
    subject, description = (subject or "").strip(), (description or "").strip()
    if not subject or subject.lower() in description.lower()[: len(subject) + 20]:
        return description
    if not description:
        return subject
    return f"{subject}. {description}"


REFERENCE_MAX_LENGTH = 100  # of an order id or tracking number as a lookup key (ticket_references.value)


def normalize_order_id(value: str) -> str | None:
    """The lookup form of an order id: trimmed, without a leading '#', upper-cased ("#a12 " -> "A12").

    None when nothing is left, or when it is longer than an order id could be.
    """
    key = value.strip().lstrip("#").strip().upper()
    return key if key and len(key) <= REFERENCE_MAX_LENGTH else None


def normalize_tracking_number(value: str) -> str | None:
    """The lookup form of a carrier tracking number: without spaces or hyphens, upper-cased, as customers
    and carriers group its characters differently ("1z 999-aa1" -> "1Z999AA1").

    None when nothing is left, or when it is longer than a lookup key may be.
    """
    key = "".join(value.split()).replace("-", "").upper()
    return key if key and len(key) <= REFERENCE_MAX_LENGTH else None
