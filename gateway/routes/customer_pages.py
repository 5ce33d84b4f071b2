"""The customer's pages, opened from signed links (no key: the link is the key): their request's conversation
with a reply box, and a resolve's rating; and a ticket's links for a backend."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.deps import SessionDep, SettingsDep
from gateway.services import conversation_pages, rating_pages
from gateway.services.customer_pages import FORM_TYPE, HEADERS, Page, render
from gateway.services.customer_pages import customer_links as customer_page_links
from shared.auth import Role
from shared.fastapi_auth import app_settings, enforce_rate_limit, require
from shared.schemas import MAX_DESCRIPTION, MAX_SATISFACTION_COMMENT, CustomerLinksRead, Satisfaction


async def _per_link(request: Request, token: str) -> None:
    """RATE_LIMIT_PER_CUSTOMER_LINK per link (its path, hashed: the bucket's key holds no live link); 429 past it.
    A forged link costs an HMAC check and no database read, so links are counted, not addresses."""
    page = hashlib.sha256(request.url.path.encode()).hexdigest()[:32]
    await enforce_rate_limit(request, f"link:{page}", app_settings(request).rate_limit_per_customer_link)


requests_router = APIRouter(prefix="/requests", tags=["customer pages"], dependencies=[Depends(_per_link)])
rating_router = APIRouter(prefix="/rate", tags=["customer pages"], dependencies=[Depends(_per_link)])
tickets_router = APIRouter(prefix="/api/tickets", tags=["customer pages"])

HTML: dict[str, object] = {"text/html": {}}
PAGES: dict[int | str, dict[str, object]] = {
    404: {
        "description": "Not a link signed here for this page, links not in use, or the ticket is gone (a page); a"
        " path no route takes, e.g. a token holding '/', is the API's JSON 404",
        "content": HTML | {"application/json": {}},
    },
    410: {"description": "The link is past its time", "content": HTML},
    429: {
        "description": "RATE_LIMIT_PER_CUSTOMER_LINK reached for this link; Retry-After says when to come back",
        "content": {"application/json": {}},
    },
}
FORMS: dict[int | str, dict[str, object]] = PAGES | {
    415: {"description": "Not a form", "content": HTML},
    422: {"description": "The form to fix: the page again, saying what, with what was written kept", "content": HTML},
}


def _form(**properties: dict[str, object]) -> dict[str, object]:
    """The form body, for the OpenAPI document: the routes read it themselves (no multipart parser needed)."""
    schema = {"type": "object", "required": [next(iter(properties))], "properties": properties}
    return {"requestBody": {"required": True, "content": {FORM_TYPE: {"schema": schema}}}}


async def _body(request: Request) -> bytes:
    return await request.body()


BodyDep = Annotated[bytes, Depends(_body)]


def _html(page: Page) -> Response:
    if page.location is not None:
        return RedirectResponse(page.location, status_code=303, headers=HEADERS)
    return HTMLResponse(render(page), status_code=page.status, headers=HEADERS)


@requests_router.get("/{token}", response_class=HTMLResponse, responses=PAGES)
def conversation_page(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """The customer's request: where it stands, what they wrote and the team's public replies, and a reply box."""
    return _html(conversation_pages.conversation_page(session, settings, token))


@requests_router.post(
    "/{token}",
    response_class=HTMLResponse,
    status_code=303,
    responses=FORMS | {409: {"description": "The message could not be stored; resend", "content": HTML}},
    openapi_extra=_form(
        body={"type": "string", "minLength": 1, "maxLength": MAX_DESCRIPTION},
        client_message_id={"type": "string", "maxLength": 100, "pattern": r"^[A-Za-z0-9_\-]+$"},
    ),
)
def reply_from_page(
    token: str, request: Request, body: BodyDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """The customer's message, stored as the backend's relay would store it; a 303 to the page of the request
    it went to (a follow-up's, for a closed one)."""
    content_type = request.headers.get("content-type", "")
    return _html(conversation_pages.reply_from_page(session, settings, token, body, content_type))


@rating_router.get(
    "/{token}",
    response_class=HTMLResponse,
    responses=PAGES | {409: {"description": "The ticket is open again: rated once solved", "content": HTML}},
)
def rating_page(token: str, session: SessionDep, settings: SettingsDep, rating: Satisfaction | None = None) -> Response:
    """The page a rating link opens: the link's choice made, a comment box and a button. Opening it records
    nothing (mail scanners open links too); the button does."""
    return _html(rating_pages.rating_page(session, settings, token, rating))


@rating_router.post(
    "/{token}",
    response_class=HTMLResponse,
    responses=FORMS | {409: {"description": "The ticket is open again: rated once solved", "content": HTML}},
    openapi_extra=_form(
        rating={"type": "string", "enum": [s.value for s in Satisfaction]},
        comment={"type": "string", "maxLength": MAX_SATISFACTION_COMMENT},
    ),
)
def rate_from_page(token: str, request: Request, body: BodyDep, session: SessionDep, settings: SettingsDep) -> Response:
    """The rating page's form: the customer's rating stored as `POST /api/tickets/{id}/satisfaction` would
    store it, in the ticket's history as `customer:rating-link`."""
    content_type = request.headers.get("content-type", "")
    return _html(rating_pages.rate_from_page(session, settings, token, body, content_type))


@tickets_router.get(
    "/{ticket_id}/customer-links",
    response_model=CustomerLinksRead,
    dependencies=[require(Role.integration)],
    responses={
        404: {"description": "Unknown ticket"},
        409: {"description": "Links not set up, or a vendor's or an erased ticket"},
    },
)
def customer_links(ticket_id: str, session: SessionDep, settings: SettingsDep) -> CustomerLinksRead:
    """A web or API ticket's links for its customer, working from now: its conversation page, and once resolved
    or closed its rating links. For a backend writing to its customer at other times: replies and status
    changes sent to REPLY_WEBHOOK_URL carry them already."""
    return customer_page_links(session, ticket_id, settings)
