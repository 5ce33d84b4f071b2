"""Signed links to a ticket's pages for its customer, under `CUSTOMER_LINK_URL`: `/requests/{token}` (the
conversation, with a reply box) and `/rate/{token}?rating=good|bad` (a resolve's rating).

A token names the ticket and the time it stops working, and carries an HMAC-SHA256 of both and of its purpose
under CUSTOMER_LINK_SECRET: whoever holds the link (the customer it was emailed to) may use that page of that
ticket until then, and nobody can make one for another ticket, stretch its time, or open the conversation with
a rating link. It holds no other data, and nothing is stored per link.

The alert worker adds the links to a reply's or status change's body when it sends it, and the gateway's
pages read them; both hold the same settings. Expiry is counted from the reply or move, so a retried delivery
sends the same links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from shared.config import Settings
from shared.schemas import Satisfaction

# A ticket id (ours `TKT-YYYYMMDD-XXXXXXXX`, a vendor's digits), the expiry in Unix seconds, 43 characters of
# unpadded base64url: the whole HMAC-SHA256.
TOKEN = re.compile(r"(?P<ticket_id>[A-Za-z0-9_-]{1,30})\.(?P<expires>[0-9]{1,12})\.(?P<mac>[A-Za-z0-9_-]{43})")


class Purpose(StrEnum):
    """What a link opens; signed into its token, so one page's link never opens another."""

    conversation = "requests"
    rating = "rate"


class InvalidLink(ValueError):
    """Not a link this gateway signed for this page: altered, cut short, signed under another key or for
    another page."""


class ExpiredLink(ValueError):
    """A genuine link past its time."""

    def __init__(self, ticket_id: str, expired_at: datetime) -> None:
        super().__init__(f"the link of {ticket_id} expired at {expired_at.isoformat()}")
        self.ticket_id = ticket_id
        self.expired_at = expired_at


@dataclass(frozen=True)
class RatingLinks:
    good_url: str
    bad_url: str
    expires_at: datetime

    def as_body(self) -> dict[str, Any]:
        return {"good_url": self.good_url, "bad_url": self.bad_url, "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True)
class ConversationLink:
    url: str
    expires_at: datetime

    def as_body(self) -> dict[str, Any]:
        return {"url": self.url, "expires_at": self.expires_at.isoformat()}


def _mac(secret: SecretStr, purpose: Purpose, ticket_id: str, expires: int) -> str:
    message = f"{purpose.value}:{ticket_id}:{expires}".encode()
    digest = hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(secret: SecretStr, purpose: Purpose, ticket_id: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{ticket_id}.{expires}.{_mac(secret, purpose, ticket_id, expires)}"


def read_token(secret: SecretStr, purpose: Purpose, token: str, *, now: datetime) -> str:
    """The ticket id a genuine, unexpired token for `purpose` names; `InvalidLink` or `ExpiredLink` otherwise. The
    signature is checked before the time, so an altered token never reads as merely expired."""
    match = TOKEN.fullmatch(token)
    if match is None:
        raise InvalidLink(token)
    ticket_id, expires = match["ticket_id"], int(match["expires"])
    if not hmac.compare_digest(match["mac"], _mac(secret, purpose, ticket_id, expires)):
        raise InvalidLink(token)
    expired_at = datetime.fromtimestamp(expires, UTC)
    if expired_at <= now:
        raise ExpiredLink(ticket_id, expired_at)
    return ticket_id


def _page(settings: Settings, purpose: Purpose, ticket_id: str, issued_at: datetime, days: int) -> tuple[str, datetime]:
    assert settings.customer_link_url is not None and settings.customer_link_secret is not None
    expires_at = (issued_at + timedelta(days=days)).replace(microsecond=0)
    token = make_token(settings.customer_link_secret, purpose, ticket_id, expires_at)
    return f"{settings.customer_link_url.rstrip('/')}/{purpose.value}/{token}", expires_at


def rating_links(settings: Settings, ticket_id: str, issued_at: datetime) -> RatingLinks | None:
    """The rating links for a ticket resolved or closed at `issued_at`, working SATISFACTION_LINK_DAYS from then;
    None while CUSTOMER_LINK_URL and its secret are unset."""
    if settings.customer_link_url is None:
        return None
    page, expires_at = _page(settings, Purpose.rating, ticket_id, issued_at, settings.satisfaction_link_days)
    return RatingLinks(
        good_url=f"{page}?rating={Satisfaction.good.value}",
        bad_url=f"{page}?rating={Satisfaction.bad.value}",
        expires_at=expires_at,
    )


def conversation_link(settings: Settings, ticket_id: str, issued_at: datetime) -> ConversationLink | None:
    """The link to a ticket's conversation page from a reply or status change at `issued_at`, working
    CONVERSATION_LINK_DAYS from then; None while CUSTOMER_LINK_URL and its secret are unset."""
    if settings.customer_link_url is None:
        return None
    url, expires_at = _page(settings, Purpose.conversation, ticket_id, issued_at, settings.conversation_link_days)
    return ConversationLink(url=url, expires_at=expires_at)
