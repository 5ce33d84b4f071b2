"""The customer's rating page, opened from a signed link (no key), and the links themselves for a backend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.deps import SessionDep, SettingsDep
from gateway.services import rating_pages as service
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import MAX_SATISFACTION_COMMENT, RatingLinksRead, Satisfaction

router = APIRouter(prefix="/rate", tags=["satisfaction"])
tickets_router = APIRouter(prefix="/api/tickets", tags=["satisfaction"])

HTML: dict[str, object] = {"text/html": {}}
PAGES: dict[int | str, dict[str, object]] = {
    404: {"description": "Not a link of this gateway, links not in use, or the ticket is gone", "content": HTML},
    409: {"description": "The ticket is open again: it can be rated once solved", "content": HTML},
    410: {"description": "The link is past its time (SATISFACTION_LINK_DAYS)", "content": HTML},
}
POSTED: dict[int | str, dict[str, object]] = PAGES | {
    415: {"description": "Not a form", "content": HTML},
    422: {"description": "No choice made, or a comment too long: the form again, saying which", "content": HTML},
}
FORM = {
    "requestBody": {
        "required": True,
        "content": {
            service.FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["rating"],
                    "properties": {
                        "rating": {"type": "string", "enum": [s.value for s in Satisfaction]},
                        "comment": {"type": "string", "maxLength": MAX_SATISFACTION_COMMENT},
                    },
                }
            }
        },
    }
}


async def _body(request: Request) -> bytes:
    return await request.body()


def _html(page: service.Page) -> HTMLResponse:
    return HTMLResponse(service.render(page), status_code=page.status, headers=service.HEADERS)


@router.get("/{token}", response_class=HTMLResponse, responses=PAGES)
def rating_page(
    token: str, session: SessionDep, settings: SettingsDep, rating: Satisfaction | None = None
) -> HTMLResponse:
    """The page a rating link opens: the link's choice made, a comment box and a button. Opening it records
    nothing (mail scanners open links too); the button does."""
    return _html(service.rating_page(session, settings, token, rating))


@router.post(
    "/{token}",
    response_class=HTMLResponse,
    responses=POSTED,
    openapi_extra=FORM,
)
def rate_from_page(
    token: str, request: Request, body: Annotated[bytes, Depends(_body)], session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The rating page's form: the customer's rating stored as `POST /api/tickets/{id}/satisfaction` would
    store it, in the ticket's history as `customer:rating-link`."""
    content_type = request.headers.get("content-type", "")
    return _html(service.rate_from_page(session, settings, token, body, content_type))


@tickets_router.get(
    "/{ticket_id}/rating-links",
    response_model=RatingLinksRead,
    dependencies=[require(Role.integration)],
    responses={
        404: {"description": "Unknown ticket"},
        409: {"description": "Links not set up, or the ticket is not resolved or closed, a vendor's, or erased"},
    },
)
def rating_links(ticket_id: str, session: SessionDep, settings: SettingsDep) -> RatingLinksRead:
    """Links for the customer of a resolved or closed web or API ticket to rate it, working
    SATISFACTION_LINK_DAYS from now: for a backend that writes to its customer itself. A resolve or close sent to
    REPLY_WEBHOOK_URL carries them already."""
    links = service.links_for(session, ticket_id, settings)
    return RatingLinksRead(ticket_id=ticket_id, **links.as_body())
