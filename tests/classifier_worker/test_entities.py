"""Entity extraction: amounts, order ids, dates, emails, phones, tracking numbers."""

from __future__ import annotations

from datetime import datetime

import pytest

from classifier_worker.entities import extract_amounts, extract_dates, extract_entities, extract_order_ids

NOW = datetime(2024, 5, 8, 12, 0)


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("I paid $89.99 yesterday", 89.99, "USD"),
        ("they took 89,99 EUR from my card", 89.99, "EUR"),
        ("a charge of €1.234,50 appeared", 1234.50, "EUR"),
        ("refund 1,234.56 dollars please", 1234.56, "USD"),
        ("it was £15 for shipping", 15.0, "GBP"),
        ("USD 20 extra fee", 20.0, "USD"),
        ("I want my 20 bucks back", 20.0, "USD"),
    ],
)
def test_amounts_with_currency(text: str, amount: float, currency: str) -> None:
    found = extract_amounts(text)
    assert [(a["amount"], a["currency"]) for a in found] == [(amount, currency)]


def test_plain_numbers_are_not_amounts() -> None:
    assert extract_amounts("I have 3 items in order 55231") == []


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Where is order #2021?", ["2021"]),
        ("how can I cancel purchase 113542617735902?", ["113542617735902"]),
        ("my order number is ORD-88231", ["ORD-88231"]),
        ("order no. 4471 and #5521 both late", ["4471", "5521"]),
        ("I ordered a jacket last week", []),
        ("call me about my order tomorrow", []),
    ],
)
def test_order_ids(text: str, ids: list[str]) -> None:
    assert extract_order_ids(text) == ids


def test_order_id_from_the_form_comes_first() -> None:
    assert extract_entities("order #2021 is late", order_id="A-77")["order_ids"] == ["A-77", "2021"]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("it was due on May 3rd", "2024-05-03"),
        ("delivered 2024-04-30 they said", "2024-04-30"),
        ("I ordered it yesterday", "2024-05-07"),
        ("charged last Friday", "2024-05-03"),
        ("paid 3 days ago", "2024-05-05"),
        ("on 12 March 2024 I wrote", "2024-03-12"),
    ],
)
def test_dates_resolve_to_iso(text: str, iso: str) -> None:
    assert [d["date"] for d in extract_dates(text, now=NOW)] == [iso]


def test_may_the_verb_is_not_a_date() -> None:
    assert extract_dates("I may need a refund", now=NOW) == []


def test_full_ticket() -> None:
    text = (
        "Hi, order #2021 ($89.99) was charged twice on May 3rd. Tracking number 1Z999AA10123456784 shows nothing. "
        "Reach me at jo.doe@example.com or +1 (555) 123-4567."
    )
    found = extract_entities(text, now=NOW)
    assert found["order_ids"] == ["2021"]
    assert found["amounts"][0]["amount"] == 89.99
    assert found["dates"] == [{"text": "May 3rd", "date": "2024-05-03"}]
    assert found["tracking_numbers"] == ["1Z999AA10123456784"]
    assert found["emails"] == ["jo.doe@example.com"]
    assert found["phones"] == ["+1 (555) 123-4567"]


def test_nothing_found_gives_empty_dict() -> None:
    assert extract_entities("hello there", now=NOW) == {}


def test_invoice_numbers_are_not_order_ids() -> None:
    found = extract_entities("please check bill #12588 for order #2021", now=NOW)
    assert found["invoice_ids"] == ["12588"]
    assert found["order_ids"] == ["2021"]
