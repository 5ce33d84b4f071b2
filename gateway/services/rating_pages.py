"""The customer's rating page: what a rating link opens (`GET /rate/{token}`) and what its button sends
(`POST /rate/{token}`), for web and API tickets whose backend emails the links it is sent with a resolve.

Opening a link records nothing: mail scanners and link previews open links before a person does, and would
rate every ticket. The page holds the choice the link was for (preselected), an optional comment and a button;
the POST rates as `POST /api/tickets/{id}/satisfaction` would (the same checks, the same alert on a bad one),
in the ticket's history as `customer:rating-link`. Every answer is a page in the customer's words, its status
the API's: 404 for a link that is not ours or a ticket gone, 410 for one past its time, 409 for a ticket open
again, 422 for a form without a choice.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from pydantic import ValidationError
from sqlalchemy.orm import Session

from gateway.services.channel import VENDOR_SOURCES
from gateway.services.satisfaction import rate_ticket
from gateway.services.sla import UNRESOLVED
from gateway.services.tickets import get_ticket
from shared.config import Settings
from shared.errors import Conflict
from shared.models import Ticket, audit_actor, utcnow
from shared.satisfaction_links import ExpiredLink, InvalidLink, RatingLinks, rating_links, read_token
from shared.schemas import MAX_SATISFACTION_COMMENT, Satisfaction, SatisfactionCreate

ACTOR = "customer:rating-link"
FORM_TYPE = "application/x-www-form-urlencoded"
LABELS = {Satisfaction.good: "Good, I'm satisfied", Satisfaction.bad: "Bad, I'm unsatisfied"}


@dataclass(frozen=True)
class Page:
    """One page: its HTTP status, heading and paragraphs, and the form when the ticket can be rated."""

    status: int
    title: str
    lines: tuple[str, ...] = ()
    form: RatingForm | None = None


@dataclass(frozen=True)
class RatingForm:
    chosen: Satisfaction | None
    comment: str = ""
    errors: tuple[str, ...] = field(default=())


def links_for(session: Session, ticket_id: str, settings: Settings) -> RatingLinks:
    """Rating links for a resolved or closed web or API ticket, working SATISFACTION_LINK_DAYS from now, for a
    backend that writes to its customer itself (`GET /api/tickets/{id}/rating-links`); 409 while they are not
    set up or the ticket cannot be rated, saying which."""
    ticket = get_ticket(session, ticket_id)
    if ticket.erased_at is not None:
        raise Conflict(f"ticket '{ticket_id}' was erased at {ticket.erased_at.isoformat()}: there is nothing to rate")
    if ticket.source in VENDOR_SOURCES:
        raise Conflict(f"ticket '{ticket_id}' came from {ticket.source}: its customer rates it in {ticket.source}")
    if ticket.status in UNRESOLVED:
        raise Conflict(f"ticket '{ticket_id}' is {ticket.status}: rating links are for a resolved or closed ticket")
    links = rating_links(settings, ticket_id, utcnow())
    if links is None:
        raise Conflict("rating links are not set up: set SATISFACTION_LINK_URL and SATISFACTION_LINK_SECRET")
    return links


def rating_page(session: Session, settings: Settings, token: str, chosen: Satisfaction | None) -> Page:
    """The page a link opens: the form, the link's choice preselected (else the rating the ticket holds)."""
    ticket_or_page = _rateable(session, settings, token)
    if isinstance(ticket_or_page, Page):
        return ticket_or_page
    ticket = ticket_or_page
    held = Satisfaction(ticket.satisfaction) if ticket.satisfaction else None
    lines = [f"About your request “{ticket.subject}”."]
    if held is not None and ticket.satisfaction_at is not None:
        lines.append(f"You rated it {held.value} on {ticket.satisfaction_at:%d %B %Y}; you can change that here.")
    form = RatingForm(chosen=chosen or held, comment=ticket.satisfaction_comment or "")
    return Page(200, "How did we do?", tuple(lines), form)


def rate_from_page(session: Session, settings: Settings, token: str, body: bytes, content_type: str) -> Page:
    """The form's answer: the rating stored (a bad one alerted with ALERT_ON_BAD_RATING), or the form again
    saying what to fix."""
    ticket_or_page = _rateable(session, settings, token)
    if isinstance(ticket_or_page, Page):
        return ticket_or_page
    ticket_id = ticket_or_page.ticket_id
    if content_type.split(";")[0].strip().lower() != FORM_TYPE:
        return Page(415, "This form could not be read", (f"Send the rating page's form as {FORM_TYPE}.",))
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return Page(422, "This form could not be read", ("Open the link from your email again and resend it.",))
    rating = (fields.get("rating") or [""])[-1]
    comment = (fields.get("comment") or [""])[-1]
    try:
        answer = SatisfactionCreate.model_validate({"rating": rating, "comment": comment})
    except ValidationError as exc:
        return Page(
            422,
            "How did we do?",
            (f"About your request “{ticket_or_page.subject}”.",),
            RatingForm(_choice(rating), comment, tuple(_form_error(error) for error in exc.errors())),
        )
    session.commit()  # the read above ends here; the rating claims the row itself
    try:
        with _as_customer():
            rate_ticket(session, ticket_id, answer, settings)
    except Conflict:  # reopened, erased or kept changing since the page was read: say it as it now stands
        session.rollback()
        again = _rateable(session, settings, token)
        if isinstance(again, Page):
            return again
        return Page(409, "Please try again", ("Your request changed while your rating was sent; send it again.",))
    return Page(200, "Thank you", (f"Your rating ({answer.rating.value}) is recorded. Thank you for telling us.",))


def _rateable(session: Session, settings: Settings, token: str) -> Ticket | Page:
    """The ticket the link rates, if it can be rated now; else the page saying why not."""
    secret = settings.satisfaction_link_secret
    if secret is None:
        return Page(404, "This link is not in use", ("Rating links are not in use here.",))
    try:
        ticket_id = read_token(secret, token, now=utcnow())
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
            (f"It worked until {expired.expired_at:%d %B %Y}. Reply to our email to tell us how we did.",),
        )
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.erased_at is not None or ticket.source in VENDOR_SOURCES:
        return Page(404, "This request no longer exists", ("There is nothing to rate here any more.",))
    if ticket.status in UNRESOLVED:
        return Page(
            409,
            "We are still working on this",
            (f"Your request “{ticket.subject}” is open again: you can rate it once it is solved.",),
        )
    return ticket


@contextmanager
def _as_customer() -> Iterator[None]:
    token = audit_actor.set(ACTOR)
    try:
        yield
    finally:
        audit_actor.reset(token)


def _choice(value: str) -> Satisfaction | None:
    return Satisfaction(value) if value in Satisfaction._value2member_map_ else None


def _form_error(error: object) -> str:
    where = error["loc"][0] if isinstance(error, dict) and error.get("loc") else ""
    if where == "rating":
        return "Choose good or bad."
    if where == "comment":
        return f"Shorten your comment to at most {MAX_SATISFACTION_COMMENT:,} characters, without control characters."
    return "Check the form and send it again."


def render(page: Page) -> str:
    """The page as HTML: everything from the ticket or the form escaped, no script, no outside resource."""
    e = html.escape
    parts = [f"<p>{e(line)}</p>" for line in page.lines]
    if (form := page.form) is not None:
        parts += [f'<p class="error" role="alert">{e(error)}</p>' for error in form.errors]
        choices = "".join(
            f'<label><input type="radio" name="rating" value="{value.value}" required'
            f"{' checked' if form.chosen == value else ''}> {e(label)}</label>"
            for value, label in LABELS.items()
        )
        parts.append(
            '<form method="post">'
            f"<fieldset><legend>Your rating</legend>{choices}</fieldset>"
            f'<label for="comment">Anything to add? (optional)</label>'
            f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_SATISFACTION_COMMENT}">'
            f"{e(form.comment)}</textarea>"
            '<button type="submit">Send my rating</button></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(page.title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{e(page.title)}</h1>{''.join(parts)}</main></body></html>"
    )


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}"
    "main{max-width:32rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px}"
    "fieldset{border:0;padding:0;margin:0 0 1rem}label{display:block;margin:.4rem 0}"
    "textarea{width:100%;box-sizing:border-box}button{margin-top:1rem;padding:.6rem 1.2rem}"
    ".error{color:#b00020}"
)
# Sent with every page: nothing runs, nothing outside is loaded, the form posts only here, the link (a key to
# the ticket's rating) is not sent on as a Referer, and neither browsers nor proxies keep a copy.
HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
}
