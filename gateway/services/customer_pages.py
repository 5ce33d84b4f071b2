"""What the customer's pages (`/requests/{token}`, `/rate/{token}`) have in common: opening a signed link, reading
a posted form, and the page itself.

The customer holds no key: the link is the key (`shared.customer_links`). Every answer is a page in the
customer's words with the API's status: 404 for a link not signed here for this page (or links not in use, or a
ticket erased or a vendor's), 410 for one past its time, 415 for a body that is not a form, 422 for a form to
fix. Everything from a ticket or a form is escaped; nothing runs, nothing outside is loaded.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs

from sqlalchemy.orm import Session

from gateway.services.sla import UNRESOLVED
from gateway.services.tickets import get_ticket
from shared.config import Settings
from shared.customer_links import ExpiredLink, InvalidLink, Purpose, conversation_link, rating_links, read_token
from shared.errors import Conflict
from shared.models import VENDOR_SOURCES, Ticket, audit_actor, utcnow
from shared.schemas import ConversationLinkRead, CustomerLinksRead, RatingLinksRead

FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Page:
    """One page: its HTTP status, heading, paragraphs, and HTML the page's own module built and escaped (a form,
    a conversation). `location`: a 303 to another page instead (after a form that posted)."""

    status: int
    title: str
    lines: tuple[str, ...] = ()
    html: str = ""
    location: str | None = None


def open_link(session: Session, settings: Settings, purpose: Purpose, token: str) -> Ticket | Page:
    """The web or API ticket a genuine, unexpired link for `purpose` names, read; else the page saying why not."""
    secret = settings.customer_link_secret
    if secret is None:
        return Page(404, "This link is not in use", ("Links to your requests are not in use here.",))
    try:
        ticket_id = read_token(secret, purpose, token, now=utcnow())
    except InvalidLink:
        return Page(
            404,
            "This link is not valid",
            ("Open the link from your email again: it may have been cut short when it was copied.",),
        )
    except ExpiredLink as expired:
        return Page(
            410,
            "This link has expired",
            (f"It worked until {expired.expired_at:%d %B %Y}. Reply to our latest email and we will pick it up.",),
        )
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.erased_at is not None or ticket.source in VENDOR_SOURCES:
        return Page(404, "This request no longer exists", ("There is nothing to show here any more.",))
    return ticket


def customer_links(session: Session, ticket_id: str, settings: Settings) -> CustomerLinksRead:
    """A web or API ticket's links for its customer, working from now: for a backend that writes to its customer
    at other times than a reply or a move (the web form's "thank you" page, a reminder); the rating links once
    it is resolved or closed. 409 while links are not set up, or for a vendor's or an erased ticket."""
    ticket = get_ticket(session, ticket_id)
    if ticket.erased_at is not None:
        raise Conflict(f"ticket '{ticket_id}' was erased at {ticket.erased_at.isoformat()}: it has no customer pages")
    if ticket.source in VENDOR_SOURCES:
        raise Conflict(f"ticket '{ticket_id}' came from {ticket.source}: its customer uses {ticket.source}'s pages")
    now = utcnow()
    conversation = conversation_link(settings, ticket_id, now)
    if conversation is None:
        raise Conflict("customer links are not set up: set CUSTOMER_LINK_URL and CUSTOMER_LINK_SECRET")
    rating = rating_links(settings, ticket_id, now) if ticket.status not in UNRESOLVED else None
    return CustomerLinksRead(
        ticket_id=ticket_id,
        conversation=ConversationLinkRead(**conversation.as_body()),
        satisfaction=RatingLinksRead(**rating.as_body()) if rating is not None else None,
    )


def read_form(body: bytes, content_type: str, fields: tuple[str, ...]) -> dict[str, str] | Page:
    """The last value of each of `fields` in a posted form ("" when absent), or the page saying it is no form."""
    if content_type.split(";")[0].strip().lower() != FORM_TYPE:
        return Page(415, "This form could not be read", (f"Send the page's form as {FORM_TYPE}.",))
    try:
        posted = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return Page(422, "This form could not be read", ("Open the link from your email again and resend it.",))
    return {name: (posted.get(name) or [""])[-1] for name in fields}


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """The ticket's history names the customer's page, not "system", for what its form changes."""
    token = audit_actor.set(actor)
    try:
        yield
    finally:
        audit_actor.reset(token)


def render(page: Page) -> str:
    """The page as HTML: the heading and paragraphs escaped here, the rest by the module that built it."""
    e = html.escape
    lines = "".join(f"<p>{e(line)}</p>" for line in page.lines)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(page.title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{e(page.title)}</h1>{lines}{page.html}</main></body></html>"
    )


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}"
    "main{max-width:40rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px}"
    "fieldset{border:0;padding:0;margin:0 0 1rem}label{display:block;margin:.4rem 0}"
    "textarea{width:100%;box-sizing:border-box}button{margin-top:1rem;padding:.6rem 1.2rem}"
    ".error{color:#b00020}article{border-top:1px solid #dde;padding:.6rem 0}"
    "article p{white-space:pre-wrap;margin:.3rem 0}.meta{color:#5a6275;font-size:.9rem}"
)
# Sent with every page: nothing runs, nothing outside is loaded, a form posts only here, the link (a key to the
# ticket's page) is not sent on as a Referer, and neither browsers nor proxies keep a copy.
HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
}
