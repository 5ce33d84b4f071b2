"""The customer's conversation page: what a conversation link opens (`GET /requests/{token}`, sent with each reply
and status change to the channel's backend) and what its reply box sends (`POST /requests/{token}`).

The page shows the request as its customer sees it: the subject, where it stands, what they wrote and the
team's public replies (never an internal note), oldest first; a merged request shows the one it was merged
into (the same customer's). The reply box posts as the backend's relay would (`POST
/api/tickets/{id}/customer-messages`): it reopens a pending or resolved ticket and sends it back to the AI, and
to a closed one it opens or joins a follow-up, whose page the customer is then sent to (a 303, so a reload
posts nothing twice; the form's one-time id makes a double click store one message). The backend did not relay
it, so with REPLY_WEBHOOK_CUSTOMER_MESSAGES it is POSTed there (`ticket.customer_message`). A solved request not yet
rated shows the rating links. The rest as every customer page (`customer_pages`).
"""

from __future__ import annotations

import html
import uuid
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.customer_pages import Page, acting_as, open_link, read_form
from gateway.services.history import ticket_messages
from gateway.services.replies import add_message, merged_target
from shared.config import Settings
from shared.customer_links import Purpose, conversation_link, rating_links
from shared.errors import Conflict
from shared.models import Ticket, utcnow
from shared.schemas import MAX_DESCRIPTION, MessageCreate, Status

ACTOR = "customer:conversation-link"
STANDING = {
    Status.new: "Open: we have your request and will answer here.",
    Status.open: "Open: we are working on it.",
    Status.in_progress: "Open: we are working on it.",
    Status.pending: "Waiting for your reply.",
    Status.resolved: "Solved. If it is not, write below and we will pick it up again.",
    Status.closed: "Closed. Writing below starts a new request about it.",
}


def conversation_page(session: Session, settings: Settings, token: str) -> Page:
    """The request's conversation and a reply box."""
    ticket = open_link(session, settings, Purpose.conversation, token)
    if isinstance(ticket, Page):
        return ticket
    return _conversation(session, settings, ticket, status=200)


def reply_from_page(session: Session, settings: Settings, token: str, body: bytes, content_type: str) -> Page:
    """The customer's message stored, then a 303 to the page of the request it went to; or the page again
    saying what to fix, what they wrote kept."""
    ticket = open_link(session, settings, Purpose.conversation, token)
    if isinstance(ticket, Page):
        return ticket
    if isinstance(gone := _gone(merged_target(session, ticket)), Page):  # its message would go there, refused
        return gone
    form = read_form(body, content_type, ("body", "client_message_id"))
    if isinstance(form, Page):
        return form
    try:
        data = MessageCreate(body=form["body"], client_message_id=form["client_message_id"] or None)
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        error = (
            f"Write your message (at most {MAX_DESCRIPTION:,} characters, without control characters)."
            if "body" in fields or not fields
            else "Open the link from your email again and resend it."
        )
        return _conversation(session, settings, ticket, status=422, draft=form["body"], error=error)
    ticket_id, customer = ticket.ticket_id, ticket.customer
    author = customer.name or customer.email or "Customer"
    session.commit()  # the read above ends here; the message is stored in its own transaction
    try:
        with acting_as(ACTOR):
            posted = add_message(
                session,
                ticket_id,
                data,
                author_type="customer",
                author=author,
                author_email=customer.email,
                deliver=settings.delivers_page_messages,
            )
    except Conflict:  # erased since the page was read, or the form's id was used elsewhere: say it as it stands
        session.rollback()
        again = open_link(session, settings, Purpose.conversation, token)
        if isinstance(again, Page):
            return again
        return Page(409, "Please send it again", ("Your message could not be stored; reload the page and resend.",))
    if posted.follow_up is None:  # stored here: back to this page
        return Page(303, "Sent", location=token)
    return Page(303, "Sent", location=_token(settings, posted.follow_up.ticket_id))  # a follow-up, or the merge's


def _conversation(
    session: Session, settings: Settings, ticket: Ticket, *, status: int, draft: str = "", error: str | None = None
) -> Page:
    shown = merged_target(session, ticket)  # merges join one customer's tickets only
    if isinstance(gone := _gone(shown), Page):
        return gone
    lines = [STANDING[Status(shown.status)]]
    if shown.ticket_id != ticket.ticket_id:
        lines.insert(0, "This request was joined to another of yours; the conversation goes on there.")
    e = html.escape
    entries = [_entry("You", shown.created_at, shown.description)]
    for message in ticket_messages(session, shown.ticket_id):
        if not message.internal:
            by = "You" if message.author_type == "customer" else (message.author_name or "Support")
            entries.append(_entry(by, message.created_at, message.body))
    extra = ""
    if (later := _latest_follow_up(session, shown)) is not None:
        here = _token(settings, later)  # beside this page's own path: /requests/{token}
        extra += f'<p>Your later messages about this are in a <a href="{e(here)}">new request</a>.</p>'
    if shown.status in (Status.resolved, Status.closed) and shown.satisfaction is None:
        links = rating_links(settings, shown.ticket_id, utcnow())
        if links is not None:
            extra += (
                f'<p>How did we do? <a href="{e(links.good_url)}">Good</a> · <a href="{e(links.bad_url)}">Bad</a></p>'
            )
    shown_error = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    form = (
        f'{shown_error}<form method="post"><label for="body">Your message</label>'
        f'<textarea id="body" name="body" rows="6" required maxlength="{MAX_DESCRIPTION}">{e(draft)}</textarea>'
        f'<input type="hidden" name="client_message_id" value="page-{uuid.uuid4().hex}">'
        '<button type="submit">Send</button></form>'
    )
    return Page(status, shown.subject, tuple(lines), "".join(entries) + extra + form)


def _gone(shown: Ticket) -> Page | None:
    """The 404 page when the request a link's ticket goes on in (itself, or the one a duplicate was merged into)
    was erased on its own since: nothing to show or answer."""
    if shown.erased_at is None:
        return None
    return Page(404, "This request no longer exists", ("There is nothing to show here any more.",))


def _entry(by: str, at: datetime, text: str) -> str:
    e = html.escape
    return f'<article><div class="meta">{e(by)} · {at:%d %b %Y %H:%M} UTC</div><p>{e(text)}</p></article>'


def _latest_follow_up(session: Session, ticket: Ticket) -> str | None:
    query = (
        select(Ticket.ticket_id)
        .where(Ticket.follow_up_of == ticket.ticket_id, Ticket.erased_at.is_(None))
        .order_by(Ticket.created_at.desc(), Ticket.ticket_id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _token(settings: Settings, ticket_id: str) -> str:
    """A fresh conversation token for another of the customer's requests, working CONVERSATION_LINK_DAYS."""
    link = conversation_link(settings, ticket_id, utcnow())
    assert link is not None  # a page was opened, so the links are set up
    return link.url.rsplit("/", 1)[1]
