"""Ticket tags in the one form they are stored, searched and shown in.

A tag is what a team types to group tickets ("vip", "outage_2026_12", "refund:partial"): 1-50 ASCII letters,
digits and `_ . : / -`, the first a letter, digit or `_`, in any letter case, stored lower-cased, so "VIP"
and "vip" are one tag. The API refuses anything else with the documented pattern (`TAG_PATTERN`); what a
Zendesk or Intercom ticket arrives with is fitted to it (`vendor_tags`), since a webhook is not refused for
a tag. A card number in a tag is masked as it is in every text (`shared.redaction`): "card_ending_4242".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.redaction import is_card_number, redact_card_numbers

TAG_MAX_LENGTH = 50
TAG_PATTERN = rf"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{{0,{TAG_MAX_LENGTH - 1}}}$"
MAX_TICKET_TAGS = 50  # on one ticket: a ticket shows them all, and every list page loads them
MAX_TAGS_PER_CHANGE = 20  # added, and removed, in one request

_TAG = re.compile(TAG_PATTERN)
# Digits not glued to more digits, hyphens allowed between them as cards are written.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:-?[0-9]){12,18}(?!-?[0-9])")
_NOT_TAG = re.compile(r"[^a-z0-9_.:/-]+")


def _mask_cards(tag: str) -> str:
    def masked(match: re.Match[str]) -> str:
        digits = match.group().replace("-", "")
        return f"card_ending_{digits[-4:]}" if is_card_number(digits) else match.group()

    return _DIGIT_RUN.sub(masked, tag)[:TAG_MAX_LENGTH]


def normalize_tag(value: str) -> str:
    """The stored form of a tag that matches `TAG_PATTERN` (ValueError otherwise): lower-cased, a card number
    in it masked."""
    if not _TAG.fullmatch(value):  # fullmatch: `$` alone also matches before a final newline
        raise ValueError(
            f"tag {value[:60]!r} is not a tag: 1-{TAG_MAX_LENGTH} ASCII letters, digits and _ . : / -, "
            "the first a letter, digit or _"
        )
    return _mask_cards(value.lower())


def vendor_tags(values: Iterable[str]) -> list[str]:
    """A vendor's tags in stored form, at most `MAX_TICKET_TAGS`, each once: spaces and other characters a tag
    may not hold become `_` ("VIP customer" -> "vip_customer"); what is left empty is dropped."""
    tags: dict[str, None] = {}
    for value in values:
        # Masked as text first, while a card's digits are still grouped as written ("4111 1111 ...").
        tag = _NOT_TAG.sub("_", redact_card_numbers(value).lower()).strip("_.:/-")[:TAG_MAX_LENGTH]
        if _TAG.fullmatch(tag):
            tags.setdefault(_mask_cards(tag))
    return list(tags)[:MAX_TICKET_TAGS]
