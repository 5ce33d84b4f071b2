"""The customer's rating page: what a rating link opens (`GET /rate/{token}`) and what its button sends
(`POST /rate/{token}`), for web and API tickets whose backend emails the links it is sent with a resolve.

Opening a link records nothing: mail scanners and link previews open links before a person does, and would
rate every ticket. The page holds the choice the link was for (preselected), an optional comment and a button;
the POST rates as `POST /api/tickets/{id}/satisfaction` would (the same checks, the same alert on a bad one),
in the ticket's history as `customer:rating-link`. 409 for a ticket open again; the rest as every customer page
(`customer_pages`).
"""

from __future__ import annotations

import html

from pydantic import ValidationError
from sqlalchemy.orm import Session

from gateway.services.customer_pages import Page, acting_as, open_link, read_form
from gateway.services.satisfaction import rate_ticket
from gateway.services.sla import UNRESOLVED
from shared.config import Settings
from shared.customer_links import Purpose
from shared.errors import Conflict
from shared.models import Ticket
from shared.schemas import MAX_SATISFACTION_COMMENT, Satisfaction, SatisfactionCreate

ACTOR = "customer:rating-link"
LABELS = {Satisfaction.good: "Good, I'm satisfied", Satisfaction.bad: "Bad, I'm unsatisfied"}


def rating_page(session: Session, settings: Settings, token: str, chosen: Satisfaction | None) -> Page:
    """The page a link opens: the form, the link's choice preselected (else the rating the ticket holds)."""
    ticket = _rateable(session, settings, token)
    if isinstance(ticket, Page):
        return ticket
    held = Satisfaction(ticket.satisfaction) if ticket.satisfaction else None
    lines = [f"About your request “{ticket.subject}”."]
    if held is not None and ticket.satisfaction_at is not None:
        lines.append(f"You rated it {held.value} on {ticket.satisfaction_at:%d %B %Y}; you can change that here.")
    return Page(200, "How did we do?", tuple(lines), _form(chosen or held, ticket.satisfaction_comment or ""))


def rate_from_page(session: Session, settings: Settings, token: str, body: bytes, content_type: str) -> Page:
    """The form's answer: the rating stored (a bad one alerted with ALERT_ON_BAD_RATING), or the form again
    saying what to fix."""
    ticket = _rateable(session, settings, token)
    if isinstance(ticket, Page):
        return ticket
    form = read_form(body, content_type, ("rating", "comment"))
    if isinstance(form, Page):
        return form
    try:
        answer = SatisfactionCreate.model_validate(form)
    except ValidationError as exc:
        errors = tuple(_form_error(str(error["loc"][0]) if error["loc"] else "") for error in exc.errors())
        chosen = Satisfaction(form["rating"]) if form["rating"] in Satisfaction._value2member_map_ else None
        return Page(
            422, "How did we do?", (f"About your request “{ticket.subject}”.",), _form(chosen, form["comment"], errors)
        )
    ticket_id = ticket.ticket_id
    session.commit()  # the read above ends here; the rating claims the row itself
    try:
        with acting_as(ACTOR):
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
    ticket = open_link(session, settings, Purpose.rating, token)
    if isinstance(ticket, Ticket) and ticket.status in UNRESOLVED:
        return Page(
            409,
            "We are still working on this",
            (f"Your request “{ticket.subject}” is open again: you can rate it once it is solved.",),
        )
    return ticket


def _form_error(where: str) -> str:
    if where == "rating":
        return "Choose good or bad."
    if where == "comment":
        return f"Shorten your comment to at most {MAX_SATISFACTION_COMMENT:,} characters, without control characters."
    return "Check the form and send it again."


def _form(chosen: Satisfaction | None, comment: str, errors: tuple[str, ...] = ()) -> str:
    e = html.escape
    shown = "".join(f'<p class="error" role="alert">{e(error)}</p>' for error in errors)
    choices = "".join(
        f'<label><input type="radio" name="rating" value="{value.value}" required'
        f"{' checked' if chosen == value else ''}> {e(label)}</label>"
        for value, label in LABELS.items()
    )
    return (
        f'{shown}<form method="post">'
        f"<fieldset><legend>Your rating</legend>{choices}</fieldset>"
        '<label for="comment">Anything to add? (optional)</label>'
        f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_SATISFACTION_COMMENT}">'
        f"{e(comment)}</textarea>"
        '<button type="submit">Send my rating</button></form>'
    )
