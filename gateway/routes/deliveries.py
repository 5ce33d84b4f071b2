"""Deliveries to webhooks: alerts to the team's (ALERT_WEBHOOK_URL), and agents' replies and status moves to a
web or API ticket's channel (REPLY_WEBHOOK_URL). How each went, and sending a failed one again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from gateway.deps import SessionDep
from gateway.services import deliveries as service
from shared.auth import Role
from shared.fastapi_auth import require
from shared.outbox import ALERTS, REPLIES, STATUSES
from shared.schemas import AlertFilters, AlertRead, DeliveryFilters, ReplyDeliveryRead, StatusDeliveryRead

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
replies_router = APIRouter(prefix="/api/replies", tags=["replies"])
statuses_router = APIRouter(prefix="/api/status-changes", tags=["replies"])


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
    return AlertRead.model_validate(service.retry_delivery(session, ALERTS, alert_id))


@replies_router.get("", response_model=list[ReplyDeliveryRead], dependencies=[require(Role.agent)])
def list_replies(session: SessionDep, filters: Annotated[DeliveryFilters, Query()]) -> list[ReplyDeliveryRead]:
    """Agents' replies sent to REPLY_WEBHOOK_URL (and customers' messages from their request's page, with
    REPLY_WEBHOOK_CUSTOMER_MESSAGES: `event` tells them apart), newest first; `?state=failed` lists those the
    channel's backend did not get (refusing or unreachable)."""
    return [ReplyDeliveryRead.model_validate(row) for row in service.list_deliveries(session, REPLIES, filters)]


@replies_router.post(
    "/{message_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplyDeliveryRead,
    dependencies=[require(Role.admin)],
    responses={404: {"description": "Unknown reply delivery"}, 409: {"description": "The delivery is not failed"}},
)
def retry_reply(
    message_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="The reply's message id (a 32-bit column)")],
    session: SessionDep,
) -> ReplyDeliveryRead:
    """Send a failed reply again, with ALERT_MAX_ATTEMPTS fresh attempts (after fixing the backend or the URL)."""
    return ReplyDeliveryRead.model_validate(service.retry_delivery(session, REPLIES, message_id))


@statuses_router.get("", response_model=list[StatusDeliveryRead], dependencies=[require(Role.agent)])
def list_status_changes(session: SessionDep, filters: Annotated[DeliveryFilters, Query()]) -> list[StatusDeliveryRead]:
    """Agents' moves of web and API tickets to REPLY_WEBHOOK_STATUSES sent to REPLY_WEBHOOK_URL, newest first;
    `?state=failed` lists those whose customer was not told (the channel's backend refusing or unreachable)."""
    return [StatusDeliveryRead.model_validate(row) for row in service.list_deliveries(session, STATUSES, filters)]


@statuses_router.post(
    "/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusDeliveryRead,
    dependencies=[require(Role.admin)],
    responses={404: {"description": "Unknown status change"}, 409: {"description": "The delivery is not failed"}},
)
def retry_status_change(
    delivery_id: Annotated[str, Path(max_length=36, description="The delivery's id (X-Copilot-Event-Id)")],
    session: SessionDep,
) -> StatusDeliveryRead:
    """Send a failed status change again, with ALERT_MAX_ATTEMPTS fresh attempts (after fixing the backend or the
    URL)."""
    return StatusDeliveryRead.model_validate(service.retry_delivery(session, STATUSES, delivery_id))
