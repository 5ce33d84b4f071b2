"""Knowledge-base endpoints, and the agent's "draft again" button. Thin: parse, call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from gateway.deps import SessionDep, SettingsDep
from gateway.services import kb as service
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import NON_BLANK, Category, KBArticleCreate, KBArticleRead, KBSearchResult, ProcessingState

kb_router = APIRouter(prefix="/api/kb", tags=["knowledge base"])
tickets_router = APIRouter(prefix="/api/tickets", tags=["tickets"])

ArticleId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


@kb_router.post(
    "/articles",
    response_model=KBArticleRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[require(Role.admin)],
    responses={200: {"description": "An existing article was replaced", "model": KBArticleRead}},
)
def save_article(
    data: KBArticleCreate, session: SessionDep, settings: SettingsDep, response: Response
) -> KBArticleRead:
    """Create (201) or replace (200) an article; `index_state` says whether search sees it yet."""
    article, created = service.save_article(session, data, settings=settings)
    if not created:
        response.status_code = status.HTTP_200_OK
    return KBArticleRead.model_validate(article)


@kb_router.get("/articles", response_model=list[KBArticleRead], dependencies=[require(Role.agent)])
def list_articles(
    session: SessionDep,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[KBArticleRead]:
    """Articles by id."""
    rows = service.list_articles(session, category=category.value if category else None, limit=limit, offset=offset)
    return [KBArticleRead.model_validate(r) for r in rows]


@kb_router.get("/articles/{article_id}", response_model=KBArticleRead, dependencies=[require(Role.agent)])
def get_article(article_id: ArticleId, session: SessionDep) -> KBArticleRead:
    """One article."""
    return KBArticleRead.model_validate(service.get_article(session, article_id))


@kb_router.delete("/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[require(Role.admin)])
def delete_article(article_id: ArticleId, session: SessionDep, settings: SettingsDep) -> Response:
    """Delete an article; it disappears from search at once."""
    service.delete_article(session, article_id, settings=settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@kb_router.get("/search", response_model=KBSearchResult, dependencies=[require(Role.agent)])
def search(
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[
        str, Query(min_length=1, max_length=2000, description="What the customer asked", json_schema_extra=NON_BLANK)
    ],
    category: Annotated[Category | None, Query(description="Only articles of this category")] = None,
    n: Annotated[int, Query(ge=1, le=service.MAX_N, description="Most articles returned")] = 3,
) -> KBSearchResult:
    """The most relevant passage of each matching article (relevance >= the configured threshold)."""
    return service.search(session, q, category=category.value if category else None, n=n, settings=settings)


@tickets_router.post(
    "/{ticket_id}/draft",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[require(Role.agent)],
    responses={
        409: {"description": "Not classified yet (its first draft follows), or failed before it was: POST …/retry"}
    },
)
def redraft(ticket_id: str, session: SessionDep) -> dict[str, str]:
    """Ask the rag_worker for a new reply draft; poll the ticket with `?wait=N` for it."""
    ticket = service.request_draft(session, ticket_id)
    return {"ticket_id": ticket.ticket_id, "processing_state": ProcessingState.classified.value}


# What gateway.main registers.
router = APIRouter()
router.include_router(kb_router)
router.include_router(tickets_router)
