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


# What JSON Schema's (ECMAScript's) `\s` matches, as a regex character class: Python's and Rust's `\s` differ
# from it (Unicode White_Space adds U+0085 and \x1c-\x1f, lacks U+FEFF), so a value the documented pattern
# accepts would be refused (make fuzz: an order id of '#' then U+0085).
SPACE_CLASS = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

SEARCH_MAX_LENGTH = 200  # of a ticket search (`q`)
SEARCH_MAX_TERMS = 8  # the terms a search uses; each costs a condition, and on PostgreSQL an index read
_SEARCH_TERM = re.compile(rf'"([^"]*)"|([^{SPACE_CLASS}]+)')
_SPACES = re.compile(rf"[{SPACE_CLASS}]+")


def search_terms(query: str) -> list[str]:
    """The terms of a ticket search, the first `SEARCH_MAX_TERMS`: its words, a "quoted phrase" counting as one
    (its spaces collapsed), each without surrounding quotes; each must appear in a ticket for it to match.
    Repeats (in any letter case) and what is left empty are dropped, so there is a term whenever the query
    holds a character besides spaces and quotes."""
    terms: dict[str, str] = {}
    for phrase, word in _SEARCH_TERM.findall(query):
        term = _SPACES.sub(" ", phrase).strip(" ") if phrase else word.strip('"')
        if term:
            terms.setdefault(term.casefold(), term)
    return list(terms.values())[:SEARCH_MAX_TERMS]
