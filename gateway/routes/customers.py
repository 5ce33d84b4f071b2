"""Customers: erasing one's personal data on their request."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.deps import SessionDep
from gateway.services import erasure as service
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import CustomerErasure, ErasureRead

router = APIRouter(prefix="/api/customers", tags=["customers"])


@router.post(
    "/erase",
    response_model=ErasureRead,
    dependencies=[require(Role.admin)],
    responses={404: {"description": "No customer with this email or id is stored (or it was erased already)"}},
)
def erase_customer(data: CustomerErasure, session: SessionDep) -> ErasureRead:
    """Erase a customer's personal data: their tickets' text, messages, extracted details, corrections and
    alerts, and their email and name. The tickets stay, closed, under an anonymous id, for the statistics."""
    return service.erase_customer(session, data)
