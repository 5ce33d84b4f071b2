"""Customers: exporting or erasing one's personal data on their request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from gateway.deps import SessionDep, SettingsDep
from gateway.services import erasure, export
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import CustomerExport, CustomerSelector, ErasureRead

router = APIRouter(prefix="/api/customers", tags=["customers"])

NOT_STORED: dict[int | str, dict[str, Any]] = {
    404: {"description": "No customer with this email or id is stored (or it was erased already)"}
}


@router.post("/export", response_model=CustomerExport, dependencies=[require(Role.admin)], responses=NOT_STORED)
def export_customer(data: CustomerSelector, session: SessionDep, settings: SettingsDep) -> Response:
    """Everything stored about a customer, as JSON: their tickets with the AI's results, messages (internal
    notes included), custom fields, references, history and alerts sent. Each ticket's history records the
    export and who asked. A POST, so the email stays out of URLs and the access logs that keep them."""
    exported = export.export_customer(session, data, settings.targets)
    # Serialised once, by pydantic: through `response_model` FastAPI would dump, validate and serialise the
    # whole document again (a large account's is megabytes).
    return Response(exported.model_dump_json(), media_type="application/json")


@router.post("/erase", response_model=ErasureRead, dependencies=[require(Role.admin)], responses=NOT_STORED)
def erase_customer(data: CustomerSelector, session: SessionDep) -> ErasureRead:
    """Erase a customer's personal data: their tickets' text, messages, extracted details, corrections and
    alerts, and their email and name. The tickets stay, closed, under an anonymous id, for the statistics."""
    return erasure.erase_customer(session, data)
