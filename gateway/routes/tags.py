"""The tags in use across tickets: what agents pick from when tagging (put on with POST /api/tickets/{id}/tags)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.deps import SessionDep
from gateway.services.tags import tags_in_use
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import TagCount, TagFilters

router = APIRouter(prefix="/api/tags", tags=["tags"])


@router.get("", response_model=list[TagCount], dependencies=[require(Role.agent)])
def list_tags(session: SessionDep, filters: Annotated[TagFilters, Query()]) -> list[TagCount]:
    """The tags on tickets (or those starting with `prefix`), most used first, each with its number of tickets;
    `GET /api/tickets/?tag=` lists them."""
    return tags_in_use(session, filters)
