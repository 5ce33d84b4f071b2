"""The one subject+description join used by the classifier and by stored corrections."""

from __future__ import annotations

import pytest

from shared.text import ticket_text


@pytest.mark.parametrize(
    ("subject", "description", "expected"),
    [
        ("Late parcel", "It has been two weeks.", "Late parcel. It has been two weeks."),
        ("", "Where is my order?", "Where is my order?"),
        ("Refund", "Refund for order 12 please", "Refund for order 12 please"),
        ("  Where is my order?  ", "", "Where is my order?"),
        (None, None, ""),
    ],
)
def test_ticket_text(subject: str | None, description: str | None, expected: str) -> None:
    assert ticket_text(subject, description) == expected


def test_the_enforced_patterns_whitespace_is_json_schemas():
    """The character class spelled into enforced patterns is exactly ECMAScript's `\\s` (`_SPACE`)."""
    import re

    from shared.schemas import _SPACE, _WS

    every_bmp_character = "".join(map(chr, range(0x10000)))
    assert set(re.findall(f"[{_WS}]", every_bmp_character)) == set(_SPACE)
