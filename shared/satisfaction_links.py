"""Signed rating links: `{SATISFACTION_LINK_URL}/rate/{token}?rating=good|bad`, for a resolved ticket's customer.

The token names the ticket and the time it stops working, and carries an HMAC-SHA256 of both under
SATISFACTION_LINK_SECRET: whoever holds the link (the customer it was emailed to) may rate that ticket until
then, and nobody can make one for another ticket or stretch its time. It holds no other data, and nothing is
stored per link: a ticket resolved twice is rated by either resolve's links, its latest rating kept.

The alert worker adds the links to a `ticket.status` body when it sends it, and the gateway's rating page
reads them; both hold the same settings. Expiry is counted from the status change, so a retried delivery
sends the same links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from shared.config import Settings
from shared.schemas import Satisfaction

# A ticket id (ours `TKT-YYYYMMDD-XXXXXXXX`, a vendor's digits), the expiry in Unix seconds, 43 characters of
# unpadded base64url: the whole HMAC-SHA256.
TOKEN = re.compile(r"(?P<ticket_id>[A-Za-z0-9_-]{1,30})\.(?P<expires>[0-9]{1,12})\.(?P<mac>[A-Za-z0-9_-]{43})")


class InvalidLink(ValueError):
    """Not a link this gateway signed: altered, cut short, or signed under another key."""


class ExpiredLink(ValueError):
    """A genuine link past its time."""

    def __init__(self, ticket_id: str, expired_at: datetime) -> None:
        super().__init__(f"the rating link of {ticket_id} expired at {expired_at.isoformat()}")
        self.ticket_id = ticket_id
        self.expired_at = expired_at


@dataclass(frozen=True)
class RatingLinks:
    good_url: str
    bad_url: str
    expires_at: datetime

    def as_body(self) -> dict[str, Any]:
        return {"good_url": self.good_url, "bad_url": self.bad_url, "expires_at": self.expires_at.isoformat()}


def _mac(secret: SecretStr, ticket_id: str, expires: int) -> str:
    digest = hmac.new(
        secret.get_secret_value().encode(), f"rate:{ticket_id}:{expires}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(secret: SecretStr, ticket_id: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{ticket_id}.{expires}.{_mac(secret, ticket_id, expires)}"


def read_token(secret: SecretStr, token: str, *, now: datetime) -> str:
    """The ticket id a genuine, unexpired token names; `InvalidLink` or `ExpiredLink` otherwise. The signature is
    checked before the time, so an altered token never reads as merely expired."""
    match = TOKEN.fullmatch(token)
    if match is None:
        raise InvalidLink(token)
    ticket_id, expires = match["ticket_id"], int(match["expires"])
    if not hmac.compare_digest(match["mac"], _mac(secret, ticket_id, expires)):
        raise InvalidLink(token)
    expired_at = datetime.fromtimestamp(expires, UTC)
    if expired_at <= now:
        raise ExpiredLink(ticket_id, expired_at)
    return ticket_id


def rating_links(settings: Settings, ticket_id: str, issued_at: datetime) -> RatingLinks | None:
    """The links for a ticket resolved or closed at `issued_at`, working SATISFACTION_LINK_DAYS from then; None
    while SATISFACTION_LINK_URL and its secret are unset."""
    if settings.satisfaction_link_url is None or settings.satisfaction_link_secret is None:
        return None
    expires_at = (issued_at + timedelta(days=settings.satisfaction_link_days)).replace(microsecond=0)
    token = make_token(settings.satisfaction_link_secret, ticket_id, expires_at)
    page = f"{settings.satisfaction_link_url.rstrip('/')}/rate/{token}"
    return RatingLinks(
        good_url=f"{page}?rating={Satisfaction.good.value}",
        bad_url=f"{page}?rating={Satisfaction.bad.value}",
        expires_at=expires_at,
    )
