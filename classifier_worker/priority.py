"""Ticket priority from an explicit, documented score.

CRITICAL is reserved for five kinds of ticket, whatever else the score says: fraud, security
(account takeover, data breach), legal threats, physical safety, and service outages. Everything
else is scored by adding points and cut into low / medium / high:

| signal | points |
|---|---|
| category billing, refund, account, technical | +1 |
| category order, shipping | +0.5 |
| negative sentiment (score < -0.6: one more) | +1 / +2 |
| an urgency word ("urgent", "asap", "immediately", "emergency") | +2 |
| money taken wrongly ("charged twice", "double charged", "unauthorized charge" is fraud) | +2 |
| a deadline ("today", "by tomorrow", "before Friday") | +1 |
| repeated contact ("still waiting", "third time", "no response") | +1 |
| customer history: >= 3 tickets in 30 days / >= 2 still open | +1 / +1 |

score >= 4 -> high, >= 2 -> medium, else low. A ticket without a critical cue is never critical,
so an angry but ordinary complaint tops out at high.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.schemas import Category, Priority, Sentiment

CRITICAL_CUES: dict[str, re.Pattern[str]] = {
    "fraud": re.compile(
        r"\b(fraud\w*|scam(?:med)?|unauthori[sz]ed (?:charge|transaction|payment|purchase|access)s?|"
        r"stolen card|identity theft|"
        r"didn'?t (?:make|authori[sz]e) (?:this|these|that) (?:charge|payment|purchase)s?)\b",
        re.IGNORECASE,
    ),
    "security": re.compile(
        r"\b(hack(?:ed|er)?|account (?:was )?(?:compromised|taken over)|data (?:breach|leak)|"
        r"someone (?:else )?(?:logged|got) into my account|phishing|security (?:breach|issue|vulnerability)|"
        r"password (?:was )?(?:stolen|leaked))\b",
        re.IGNORECASE,
    ),
    "legal": re.compile(
        r"\b(lawyer|attorney|lawsuit|sue you|suing|legal action|small claims|court|"
        r"consumer protection|ombudsman|trading standards|report you to the (?:bbb|ftc|authorities))\b",
        re.IGNORECASE,
    ),
    "safety": re.compile(
        r"\b(caught fire|on fire|fire hazard|smok(?:e|ing)|sparks?|explod\w*|electric(?:al)? shock|"
        r"burn(?:ed|t|s)? (?:me|my|him|her|my child)|injur\w*|choking|toxic|poison\w*|allergic reaction|"
        r"overheat\w* and (?:melt|smok)\w*)\b",
        re.IGNORECASE,
    ),
    "outage": re.compile(
        r"\b(outage|(?:service|site|website|platform|system|api|app) (?:is |has been |was )?(?:completely )?down|"
        r"down for (?:everyone|all)|nothing works for|all (?:our|of our) users|whole team can'?t|"
        r"production is down)\b",
        re.IGNORECASE,
    ),
}
URGENCY_RE = re.compile(
    r"\b(urgent(?:ly)?|asap|a\.s\.a\.p|immediately|emergency|right now|right away|critical)\b", re.IGNORECASE
)
MONEY_RE = re.compile(
    r"\b(charged (?:me )?twice|double[- ]charged|charged (?:two|2|three|3) times|duplicate (?:charge|payment)|"
    r"overcharged|charged (?:again|extra))\b",
    re.IGNORECASE,
)
DEADLINE_RE = re.compile(
    r"\b(today|tonight|by tomorrow|by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"before (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|the weekend|my (?:trip|flight))|"
    r"deadline|end of (?:the )?day|within \d+ hours?)\b",
    re.IGNORECASE,
)
REPEAT_RE = re.compile(
    r"\b(still (?:waiting|haven'?t|not)|(?:second|third|fourth|\d+(?:st|nd|rd|th)) time|"
    r"no (?:response|reply|answer)|nobody (?:answers|replied|responds)|again and again|weeks? (?:now|later))\b",
    re.IGNORECASE,
)
CATEGORY_POINTS = {
    Category.billing: 1.0,
    Category.refund: 1.0,
    Category.account: 1.0,
    Category.technical: 1.0,
    Category.order: 0.5,
    Category.shipping: 0.5,
}


@dataclass
class PriorityResult:
    priority: Priority
    score: float
    keywords: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _matches(pattern: re.Pattern[str], text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0).lower() for m in pattern.finditer(text)))


def score_priority(
    text: str,
    *,
    category: Category,
    sentiment: Sentiment,
    sentiment_score: float,
    recent_tickets: int = 0,
    open_tickets: int = 0,
) -> PriorityResult:
    """The priority with the matched urgency keywords and the reasons that scored."""
    keywords: list[str] = []
    critical: list[str] = []
    for kind, pattern in CRITICAL_CUES.items():
        hits = _matches(pattern, text)
        if hits:
            critical.append(kind)
            keywords.extend(hits)

    score = CATEGORY_POINTS.get(category, 0.0)
    reasons = [f"category {category.value}"] if score else []
    if sentiment == Sentiment.negative:
        score += 2.0 if sentiment_score < -0.6 else 1.0
        reasons.append("negative sentiment")
    for pattern, points, reason in (
        (URGENCY_RE, 2.0, "urgency words"),
        (MONEY_RE, 2.0, "money taken wrongly"),
        (DEADLINE_RE, 1.0, "a deadline"),
        (REPEAT_RE, 1.0, "repeated contact"),
    ):
        hits = _matches(pattern, text)
        if hits:
            score += points
            keywords.extend(hits)
            reasons.append(reason)
    if recent_tickets >= 3:
        score += 1.0
        reasons.append(f"{recent_tickets} tickets in 30 days")
    if open_tickets >= 2:
        score += 1.0
        reasons.append(f"{open_tickets} tickets still open")

    keywords = list(dict.fromkeys(keywords))
    if critical:
        return PriorityResult(Priority.critical, score, keywords, [f"{kind} cue" for kind in critical])
    if score >= 4:
        level = Priority.high
    elif score >= 2:
        level = Priority.medium
    else:
        level = Priority.low
    return PriorityResult(level, score, keywords, reasons)
