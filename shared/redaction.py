"""Payment card numbers, and the security codes written beside them, masked in every text before it is stored.

Customers paste card numbers into support tickets ("you charged 4111 1111 1111 1111 twice"). PCI DSS forbids
storing a card number readable (requirement 3.4) and a card's security code at all (3.2), and a ticket's
text goes on to the database, its backups, the corrections the classifier learns from, the LLM's provider
and the alert webhook. Masked when a ticket or message comes in, a number reaches none of them. The last
four digits stay, as PCI DSS allows, so an agent can still say which card: `[card ending 1111]`.

A run of 13-19 digits (single spaces or hyphens between them allowed, as cards are written) counts as a card
number only if it passes the Luhn check and starts as an issuer's numbers do, at that issuer's length
(`ISSUERS`). A tracking number, phone number or order id of that length rarely does both;
`benchmarks/redaction.py` measures how rarely, and how many card numbers are caught.
"""

from __future__ import annotations

import re

from stdnum import luhn

# Digits not glued to a longer run (nor to a letter, nor after "+", as phone numbers are written).
_CANDIDATE = re.compile(r"(?<![\w+])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![ -]?\d)(?!\w)")
# "CVV 123", "cvc: 1234", "security code is 123": the code goes, the words stay.
_SECURITY_CODE = re.compile(
    r"\b(cvv2?|cvc2?|cvn|cid|csc|security code|card code|verification code)(\s*(?:is|was|:|=|#|-)?\s*)\d{3,4}\b",
    re.IGNORECASE,
)
_ANY = range(13, 20)
# (lowest and highest leading digits, as strings of one length; the card lengths that issuer uses)
ISSUERS: tuple[tuple[str, str, tuple[int, ...] | range], ...] = (
    ("4", "4", (16, 19)),  # Visa (its 13-digit numbers are no longer issued; many phone numbers are 13 digits)
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),  # American Express
    ("6011", "6011", range(16, 20)),  # Discover
    ("644", "649", range(16, 20)),  # Discover
    ("65", "65", range(16, 20)),  # Discover
    ("62", "62", range(16, 20)),  # UnionPay
    ("3528", "3589", range(16, 20)),  # JCB
    ("36", "36", range(14, 20)),  # Diners Club International
    ("300", "305", range(16, 20)),  # Diners Club
    ("38", "39", range(16, 20)),  # Diners Club
    ("2200", "2204", range(16, 20)),  # Mir
    ("50", "50", _ANY),  # Maestro
    ("56", "58", _ANY),  # Maestro
    ("6304", "6304", _ANY),  # Maestro
    ("67", "67", _ANY),  # Maestro
)


def is_card_number(digits: str) -> bool:
    """Whether a string of digits is a payment card number: an issuer's start and length, and the Luhn check."""
    issued = any(low <= digits[: len(low)] <= high and len(digits) in lengths for low, high, lengths in ISSUERS)
    return issued and luhn.is_valid(digits)


def _masked(match: re.Match[str]) -> str:
    # Any script's digits count (`\d` matches them): a Japanese keyboard types full-width ones.
    digits = "".join(str(int(c)) for c in match.group() if c.isdecimal())
    return f"[card ending {digits[-4:]}]" if is_card_number(digits) else match.group()


def redact_card_numbers(text: str) -> str:
    """`text` with every card number masked to its last four digits and every security code written as such
    removed; unchanged when it holds neither."""
    return _SECURITY_CODE.sub(r"\1\2[removed]", _CANDIDATE.sub(_masked, text))


def redact_values(values: dict[str, str]) -> dict[str, str]:
    """A ticket's custom fields, each value redacted (a form may have a free-text field)."""
    return {key: redact_card_numbers(value) for key, value in values.items()}
