"""Entity extraction from ticket text: order and invoice ids, amounts with currency, dates, emails, phones,
tracking numbers.

Regular expressions find candidates; `dateparser` turns date phrases into ISO dates. Only keys
with at least one value are returned, so `extracted_metadata` stays small.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
CURRENCY_WORDS = {
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "cad": "CAD",
    "aud": "AUD",
    "chf": "CHF",
    "jpy": "JPY",
    "inr": "INR",
}
_CODE = r"(?:usd|eur|gbp|cad|aud|chf|jpy|inr|dollars?|bucks|euros?|pounds?)"
# 1,234.56 | 1.234,56 | 89,99 | 89.99 | 1200
_NUMBER = r"\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"

AMOUNT_RE = re.compile(
    rf"(?P<sym>[$€£¥₹])\s?(?P<n1>{_NUMBER})"
    rf"|\b(?P<code1>usd|eur|gbp|cad|aud|chf)\s?(?P<n2>{_NUMBER})\b"
    rf"|(?<![\w.,])(?P<n3>{_NUMBER})\s?(?P<code2>{_CODE}|[€£$])(?!\w)",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# "#2021", "order 370795561790", "purchase no. ABC-1234", "order id: 12-34"
ORDER_RE = re.compile(
    r"(?:(?<![\w&])#\s?(?P<hash>[A-Z0-9][A-Z0-9-]{2,}))"
    r"|(?:\b(?:order|purchase|orden|invoice for order)s?\b(?:\s+(?:number|num|no\.?|nr\.?|id|ref(?:erence)?|#))?"
    r"(?:\s+(?:is|was))?[\s:#]*(?P<kw>(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]{3,}))",
    re.IGNORECASE,
)
INVOICE_RE = re.compile(
    r"\b(?:invoice|bill|receipt)s?(?:\s+(?:number|num|no\.?|nr\.?|id|#))?(?:\s+(?:is|was))?[\s:#]*"
    r"(?P<id>(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]{2,})",
    re.IGNORECASE,
)
TRACKING_RE = re.compile(
    r"\b(?P<ups>1Z[0-9A-Z]{16})\b"
    r"|\b(?P<usps>9[1-5]\d{20})\b"
    r"|\btracking\s*(?:number|no\.?|#|id|code)?[\s:#]*(?P<kw>(?=[A-Z]*\d)[A-Z0-9]{8,30})\b",
    re.IGNORECASE,
)
PHONE_RE = re.compile(r"(?<![\w#])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?!\w)")
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
DATE_RE = re.compile(
    rf"\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}"
    rf"|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}}"
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?"
    rf"|(?:last|next|this)\s+(?:{_DAYS}|week|month)"
    rf"|(?:on\s+)?(?:{_DAYS})"
    rf"|yesterday|today|tomorrow"
    rf"|\d+\s+(?:days?|weeks?|months?)\s+ago)\b",
    re.IGNORECASE,
)


def _amount_value(raw: str) -> float | None:
    """Parse `1,234.56`, `1.234,56`, `89,99`, `89.99`: the last separator followed by 1-2 digits is decimal."""
    raw = raw.replace(" ", "")
    match = re.search(r"[.,](\d{1,2})$", raw)
    if match:
        whole = re.sub(r"[.,]", "", raw[: match.start()])
        number = f"{whole}.{match.group(1)}"
    else:
        number = re.sub(r"[.,]", "", raw)
    try:
        return float(number)
    except ValueError:
        return None


def extract_amounts(text: str) -> list[dict[str, Any]]:
    """Money amounts with ISO currency, e.g. `$89.99` -> {"amount": 89.99, "currency": "USD"}."""
    found: list[dict[str, Any]] = []
    for m in AMOUNT_RE.finditer(text):
        if m.group("sym"):
            number, currency = m.group("n1"), CURRENCY_SYMBOLS[m.group("sym")]
        elif m.group("code1"):
            number, currency = m.group("n2"), m.group("code1").upper()
        else:
            unit = m.group("code2").lower()
            number, currency = m.group("n3"), CURRENCY_SYMBOLS.get(unit) or CURRENCY_WORDS[unit]
        value = _amount_value(number)
        if value is not None:
            found.append({"amount": value, "currency": currency, "text": m.group(0).strip()})
    return found


def extract_order_ids(text: str) -> list[str]:
    """Order references: `#2021`, `order 370795561790`, `purchase no. ABC-1234`."""
    ids: list[str] = []
    invoices = set(extract_invoice_ids(text))
    for m in ORDER_RE.finditer(text):
        value = (m.group("hash") or m.group("kw")).strip("-")
        if value and any(c.isdigit() for c in value) and value not in ids and value not in invoices:
            ids.append(value)
    return ids


def extract_invoice_ids(text: str) -> list[str]:
    """Invoice / bill / receipt numbers (`bill #12588`), kept apart from order ids."""
    return list(dict.fromkeys(m.group("id").strip("-") for m in INVOICE_RE.finditer(text)))


def extract_tracking_numbers(text: str) -> list[str]:
    """Carrier tracking numbers (UPS 1Z..., USPS 22 digits, or anything labelled 'tracking number')."""
    found: list[str] = []
    for m in TRACKING_RE.finditer(text):
        value = m.group("ups") or m.group("usps") or m.group("kw")
        if value and value not in found:
            found.append(value.upper())
    return found


def extract_phones(text: str, exclude: set[str]) -> list[str]:
    """Phone numbers with 7-15 digits that are not already an order id, amount or tracking number."""
    phones: list[str] = []
    for m in PHONE_RE.finditer(text):
        raw = m.group(0).strip()
        digits = re.sub(r"\D", "", raw)
        if not 7 <= len(digits) <= 15 or any(digits in re.sub(r"\D", "", e) for e in exclude if e):
            continue
        # A bare run of digits is more often an id than a phone; require a separator or a leading +.
        if raw.isdigit():
            continue
        if re.fullmatch(r"\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}", raw):
            continue
        phones.append(raw)
    return phones


def extract_dates(text: str, *, now: datetime | None = None) -> list[dict[str, str]]:
    """Date phrases with their resolved ISO date, e.g. `last Friday` -> {"text": ..., "date": "2024-05-03"}."""
    import dateparser

    settings: dict[str, Any] = {"PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    if now is not None:
        settings["RELATIVE_BASE"] = now
    found: list[dict[str, str]] = []
    for m in DATE_RE.finditer(text):
        phrase = m.group(0)
        # "may" alone is far more often the verb than the month.
        if phrase.lower() == "may":
            continue
        cleaned = re.sub(r"^on\s+", "", phrase, flags=re.IGNORECASE)
        cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", cleaned, flags=re.IGNORECASE)
        parsed = dateparser.parse(cleaned, languages=["en"], settings=settings)
        if parsed is not None:
            found.append({"text": phrase, "date": parsed.date().isoformat()})
    return found


def extract_entities(text: str, *, order_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """All entities found in `text`; `order_id` (given on the form) is listed first."""
    orders = extract_order_ids(text)
    if order_id and order_id not in orders:
        orders.insert(0, order_id)
    amounts = extract_amounts(text)
    emails = list(dict.fromkeys(EMAIL_RE.findall(text)))
    tracking = extract_tracking_numbers(text)
    # Tracking numbers labelled as such are not order ids.
    orders = [o for o in orders if o.upper() not in tracking]
    exclude = set(orders) | set(tracking) | {a["text"] for a in amounts}
    text_wo_emails = EMAIL_RE.sub(" ", text)
    result: dict[str, Any] = {
        "order_ids": orders,
        "invoice_ids": extract_invoice_ids(text),
        "amounts": amounts,
        "dates": extract_dates(text, now=now),
        "emails": emails,
        "phones": extract_phones(text_wo_emails, exclude),
        "tracking_numbers": tracking,
    }
    return {key: value for key, value in result.items() if value}
