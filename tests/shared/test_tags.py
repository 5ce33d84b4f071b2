"""Tags in stored form (`shared.tags`): what the API accepts, and how a vendor's tags are fitted to it."""

from __future__ import annotations

import re

import pytest

from shared.tags import MAX_TICKET_TAGS, TAG_PATTERN, normalize_tag, vendor_tags


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("VIP", "vip"),
        ("refund:partial", "refund:partial"),
        ("_internal", "_internal"),
        ("outage/2026-12.eu", "outage/2026-12.eu"),
        ("x" * 50, "x" * 50),
        ("4111111111111111", "card_ending_1111"),
        ("5555-5555-5555-4444", "card_ending_4444"),
        ("paid_4242424242424242_twice", "paid_card_ending_4242_twice"),
        ("1234567812345678", "1234567812345678"),  # no issuer's number
        ("4111111111111112", "4111111111111112"),  # fails the Luhn check
        ("41111111111111111111", "41111111111111111111"),  # 20 digits: longer than a card
        ("a" * 34 + "4111111111111111", "a" * 34 + "card_ending_1111"),
        ("a" * 35 + "378282246310005", "a" * 35 + "card_ending_000"),  # masked longer, cut to 50
    ],
)
def test_a_tag_is_stored_lower_cased_with_card_numbers_masked(given: str, stored: str) -> None:
    assert normalize_tag(given) == stored
    assert len(normalize_tag(given)) <= 50


@pytest.mark.parametrize("given", ["", "two words", "-first", ".first", "café", "vip\n", "tab\t", "x" * 51, "a,b"])
def test_what_the_pattern_refuses_is_refused_and_nothing_else(given: str) -> None:
    assert re.fullmatch(TAG_PATTERN, given) is None  # what the OpenAPI document says
    with pytest.raises(ValueError, match="is not a tag"):
        normalize_tag(given)


def test_vendor_tags_are_fitted_to_the_pattern_each_once_and_bounded() -> None:
    assert vendor_tags(
        ["VIP customer", "vip_customer", "Billing!", "  ", "--", "café au lait", "4111 1111 1111 1111"]
    ) == [
        "vip_customer",
        "billing",
        "caf_au_lait",
        "card_ending_1111",
    ]
    assert vendor_tags("x" * 60 for _ in range(1)) == ["x" * 50]
    many = vendor_tags(f"tag{i}" for i in range(MAX_TICKET_TAGS + 10))
    assert many == [f"tag{i}" for i in range(MAX_TICKET_TAGS)]
