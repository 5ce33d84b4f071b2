"""Alerts to the team's webhook (ALERT_WEBHOOK_URL): how each went, and sending a failed one again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from gateway.deps import SessionDep
from gateway.services import alerts as service
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import AlertFilters, AlertRead

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertRead], dependencies=[require(Role.agent)])
def list_alerts(session: SessionDep, filters: Annotated[AlertFilters, Query()]) -> list[AlertRead]:
    """Newest first; `?state=failed` is what a monitor should watch (a webhook refusing or unreachable)."""
    return [AlertRead.model_validate(alert) for alert in service.list_alerts(session, filters)]


@router.post(
    "/{alert_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AlertRead,
    dependencies=[require(Role.admin)],
    responses={404: {"description": "Unknown alert"}, 409: {"description": "The alert is not failed"}},
)
def retry_alert(alert_id: str, session: SessionDep) -> AlertRead:
    """Send a failed alert again, with ALERT_MAX_ATTEMPTS fresh attempts (after fixing the webhook or its URL)."""
    return AlertRead.model_validate(service.retry_alert(session, alert_id))
