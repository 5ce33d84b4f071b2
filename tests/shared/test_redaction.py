"""Card numbers and security codes are masked; tracking numbers, phone numbers, order ids and amounts are not."""

from __future__ import annotations

import pytest

from shared.redaction import is_card_number, redact_card_numbers

# The issuers' published test numbers (Stripe's, Adyen's), one per brand, as customers write them.
CARDS = [
    ("4242 4242 4242 4242", "4242"),  # Visa
    ("4000-0566-5566-5556", "5556"),  # Visa debit, hyphens
    ("5555555555554444", "4444"),  # Mastercard
    ("2223 0031 2200 3222", "3222"),  # Mastercard 2-series
    ("3782 822463 10005", "0005"),  # American Express, 4-6-5
    ("6011 1111 1111 1117", "1117"),  # Discover
    ("3056 9300 0902 0004", "0004"),  # Diners Club
    ("36227206271667", "1667"),  # Diners Club International, 14 digits
    ("3566 0020 2036 0505", "0505"),  # JCB
    ("6200 0000 0000 0005", "0005"),  # UnionPay
    ("6759 6498 2643 8453", "8453"),  # Maestro
    ("4111 1111 1111 1111 003", "1003"),  # Visa, 19 digits
    ("４２４２ ４２４２ ４２４２ ４２４２", "4242"),  # full-width digits, as a Japanese keyboard types them
]


@pytest.mark.parametrize(("number", "last4"), CARDS)
def test_a_card_number_is_masked_to_its_last_four_digits(number: str, last4: str) -> None:
    text = f"You charged my card {number} twice, please refund."
    assert redact_card_numbers(text) == f"You charged my card [card ending {last4}] twice, please refund."


@pytest.mark.parametrize(
    "text",
    [
        "Tracking 1Z999AA10123456784 shows nothing",  # UPS
        "USPS 9400 1000 0000 0000 0000 00 and 9205590164917312751089",  # 22 digits
        "FedEx 123456789012 and 020207021381215",  # 12 and 15 digits, no issuer's start
        "Call me on +4930123456789 or +1 415 555 0100",  # a 13-digit phone number starting with 4
        "Order 4242424242424241 is late",  # an issuer's start, Luhn fails
        "Reference 42424242424242420",  # 17 digits: no Visa is
        "Account 99424242424242424242",  # a card number inside a longer run
        "Invoice INV4242424242424242 and SKU-4242424242424242A",  # glued to letters
        "I paid $1,249.99 on 2024-11-20 for order #55213",
        "Order 1234-5678-9012 placed",
    ],
)
def test_what_is_not_a_card_number_is_left_alone(text: str) -> None:
    assert redact_card_numbers(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CVV 123", "CVV [removed]"),
        ("the cvc: 4567.", "the cvc: [removed]."),
        ("Security code is 321, card code=999", "Security code is [removed], card code=[removed]"),
    ],
)
def test_a_security_code_written_as_such_is_removed(text: str, expected: str) -> None:
    assert redact_card_numbers(text) == expected


def test_the_card_checks() -> None:
    assert is_card_number("4242424242424242")
    assert not is_card_number("4242424242424241")  # Luhn
    assert not is_card_number("4242424242422")  # Luhn passes; a 13-digit Visa is no longer issued
    assert is_card_number("378282246310005")
    assert not is_card_number("3782822463100052")  # Luhn passes; an Amex number has 15 digits
    assert not is_card_number("9999999999999995")  # Luhn passes; no issuer starts with 99
