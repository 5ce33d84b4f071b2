"""Ticket text as the classifier sees it, shared so the gateway's stored corrections match the worker's input,
order ids and tracking numbers in the one form the gateway and the worker both write and search them in, and
the terms of an agent's ticket search."""

from __future__ import annotations

import re


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


SEARCH_MAX_LENGTH = 200  # of a ticket search (`q`)
SEARCH_MAX_TERMS = 8
SEARCH_MIN_TERM = 2  # characters; one letter would match nearly every ticket
_SEARCH_TERM = re.compile(r'"([^"]*)"|(\S+)')


def search_terms(query: str) -> list[str]:
    """The terms of a ticket search: its words, a "quoted phrase" counting as one (its spaces collapsed);
    each must appear in a ticket for it to match. Repeats (in any letter case) and empty quotes are dropped."""
    terms: dict[str, str] = {}
    for phrase, word in _SEARCH_TERM.findall(query):
        term = " ".join(phrase.split()) if phrase else word
        if term:
            terms.setdefault(term.casefold(), term)
    return list(terms.values())
