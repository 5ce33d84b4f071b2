"""Priority scoring rules: CRITICAL only for fraud/security/legal/safety/outage; points otherwise."""

from __future__ import annotations

import pytest

from classifier_worker.priority import score_priority
from shared.schemas import Category, Priority, Sentiment


def prio(text: str, category: Category = Category.general, sentiment: Sentiment = Sentiment.neutral, **kw: int):
    return score_priority(
        text, category=category, sentiment=sentiment, sentiment_score=-0.8 if sentiment == "negative" else 0, **kw
    )


@pytest.mark.parametrize(
    "text",
    [
        "There is an unauthorized charge on my card, this is fraud",
        "My account was hacked and the email changed",
        "If this isn't fixed I will contact my lawyer",
        "The charger caught fire last night",
        "Your service is down for everyone in our company",
    ],
)
def test_critical_cues(text: str) -> None:
    result = prio(text)
    assert result.priority == Priority.critical
    assert result.keywords


def test_angry_ordinary_complaint_is_high_not_critical() -> None:
    result = prio(
        "This is the third time I ask, I was charged twice, fix it ASAP!",
        Category.billing,
        Sentiment.negative,
    )
    assert result.priority == Priority.high
    assert {"asap", "charged twice", "third time"} <= set(result.keywords)


def test_plain_question_is_low() -> None:
    assert prio("What colours does the backpack come in?", Category.product).priority == Priority.low


def test_negative_billing_is_medium() -> None:
    assert prio("The invoice amount looks off", Category.billing, Sentiment.negative).priority == Priority.medium


def test_customer_history_raises_priority() -> None:
    text = "Where is my parcel?"
    alone = prio(text, Category.shipping)
    busy = prio(text, Category.shipping, recent_tickets=4, open_tickets=2)
    assert alone.priority == Priority.low
    assert busy.priority == Priority.medium
    assert busy.score == alone.score + 2


def test_deadline_counts() -> None:
    base = prio("Please change my delivery address", Category.shipping)
    urgent = prio("Please change my delivery address before Friday", Category.shipping)
    assert urgent.score == base.score + 1
