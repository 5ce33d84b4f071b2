"""Zendesk and Intercom webhooks: authenticated by signature (or an integration key), idempotent.

The raw body is read once, bounded by WEBHOOK_MAX_BODY_BYTES (413 beyond), because the signature is
computed over the exact bytes sent and JSON parsing must not happen before it is checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials

from gateway.deps import SessionFactoryDep
from gateway.services import agents as agents_service
from gateway.services import tickets as tickets_service
from gateway.services.webhooks import ingest
from gateway.webhook_bodies import INTERCOM_SHAPES, ZENDESK_SHAPES, documented_schema
from gateway.webhooks import (
    InboundEvent,
    Vendor,
    parse_intercom,
    parse_zendesk,
    verify_intercom,
    verify_zendesk,
)
from shared.auth import Principal, Role
from shared.errors import InvalidInput
from shared.fastapi_auth import (
    api_key_scheme,
    app_settings,
    authenticate_request,
    bearer_scheme,
    enforce_rate_limit,
    presented_key,
)
from shared.models import audit_actor
from shared.schemas import WebhookAck

router = APIRouter(prefix="/api/tickets/webhook", tags=["webhooks"])

# The documented bodies are the models that validate them (gateway.webhook_bodies): one per vendor shape.
ZENDESK_BODY = documented_schema(ZENDESK_SHAPES)
INTERCOM_BODY = documented_schema(INTERCOM_SHAPES)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": WebhookAck, "description": "A new ticket was created"},
    401: {"description": "Bad or missing signature / API key, or a replayed delivery"},
    403: {"description": "The API key's role may not post webhooks"},
    413: {"description": "Body larger than WEBHOOK_MAX_BODY_BYTES"},
    422: {"description": "Body is not JSON or not one of the documented shapes; `detail` names the field and why"},
    429: {"description": "Too many deliveries from this vendor; see Retry-After"},
}
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
ApiKeyHeaderDep = Annotated[str | None, Depends(api_key_scheme)]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"webhook body exceeds {limit} bytes")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The decoded JSON body, or InvalidInput saying why not."""
    if not body.strip():
        raise InvalidInput("webhook body is empty; expected a JSON object")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(
            f"webhook body is not valid JSON ({str(exc)[:120]}); set the webhook's request format to JSON"
        ) from None


async def _handle(
    request: Request,
    response: Response,
    factory: SessionFactoryDep,
    *,
    vendor: Vendor,
    key: str | None,
    secret: str | None,
    verify: Callable[[bytes], None],
    parse: Callable[[Any], InboundEvent],
) -> WebhookAck:
    settings = app_settings(request)
    if secret:
        body = await read_body(request, settings.webhook_max_body_bytes)
        verify(body)
        principal = Principal(key_id=None, name=f"webhook:{vendor}", role=Role.integration)
        audit_actor.set(principal.actor)
    else:
        # Intercom cannot send custom headers, so without a configured secret this needs a key
        # (or AUTH_DISABLED); authenticate before reading a large body from an unknown caller.
        principal = await authenticate_request(request, key, Role.integration)
        body = await read_body(request, settings.webhook_max_body_bytes)
    await enforce_rate_limit(request, f"webhook:{vendor}", settings.rate_limit_per_webhook_source)
    event = parse(parse_json(body))

    def store() -> WebhookAck:
        with factory() as session:
            result = ingest(session, event)
            ticket = tickets_service.to_read(result.ticket, settings.targets) if result.ticket is not None else None
            agent = agents_service.to_read(session, result.agent) if result.agent is not None else None
            return WebhookAck(status=result.status, ticket=ticket, agent=agent, detail=result.detail)

    ack = await run_in_threadpool(store)
    response.status_code = status.HTTP_201_CREATED if ack.status == "created" else status.HTTP_200_OK
    return ack


@router.post("/zendesk", response_model=WebhookAck, responses=_RESPONSES, openapi_extra=_json_body(ZENDESK_BODY))
async def zendesk_webhook(
    request: Request,
    response: Response,
    factory: SessionFactoryDep,
    bearer: BearerDep,
    api_key: ApiKeyHeaderDep,
    x_zendesk_webhook_signature: Annotated[str | None, Header(max_length=200)] = None,
    x_zendesk_webhook_signature_timestamp: Annotated[str | None, Header(max_length=64)] = None,
) -> WebhookAck:
    """A Zendesk ticket (seed body, trigger JSON, `ticket.created` event), comment (`ticket.comment_added`) or
    change of a ticket's tags (`ticket.tags_changed`).

    201 with the new ticket; 200 with the existing one on redelivery; a comment appends a message. Any body
    listing a known ticket's tags makes Zendesk's changes of them here (`updated` for `ticket.tags_changed`).
    Signed deliveries are checked when ZENDESK_WEBHOOK_SECRET is set (timestamp within 5 minutes).
    """
    settings = app_settings(request)
    secret = settings.zendesk_webhook_secret.get_secret_value() if settings.zendesk_webhook_secret else None

    def verify(body: bytes) -> None:
        verify_zendesk(
            secret=secret or "",
            body=body,
            signature=x_zendesk_webhook_signature,
            timestamp=x_zendesk_webhook_signature_timestamp,
            window_s=settings.webhook_replay_window_s,
        )

    return await _handle(
        request,
        response,
        factory,
        vendor="zendesk",
        key=presented_key(bearer, api_key),
        secret=secret,
        verify=verify,
        parse=parse_zendesk,
    )


@router.post("/intercom", response_model=WebhookAck, responses=_RESPONSES, openapi_extra=_json_body(INTERCOM_BODY))
async def intercom_webhook(
    request: Request,
    response: Response,
    factory: SessionFactoryDep,
    bearer: BearerDep,
    api_key: ApiKeyHeaderDep,
    x_hub_signature: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookAck:
    """An Intercom conversation or ticket (seed body or `notification_event`), a reply, a tagging
    (`conversation_part.tag.created`), a teammate's away mode (`admin.away_mode_updated`), or `ping`.

    201 with the new ticket; 200 with the existing one on redelivery (the notification/conversation
    id is the idempotency key); replies append messages. A notification listing a known conversation's tags
    makes Intercom's changes of them here. A teammate's away mode makes the agent with their email away or back
    (`updated`, with the agent), unless their away was set after it. X-Hub-Signature is checked when
    INTERCOM_CLIENT_SECRET is set.
    """
    settings = app_settings(request)
    secret = settings.intercom_client_secret.get_secret_value() if settings.intercom_client_secret else None

    def verify(body: bytes) -> None:
        verify_intercom(secret=secret or "", body=body, signature=x_hub_signature)

    return await _handle(
        request,
        response,
        factory,
        vendor="intercom",
        key=presented_key(bearer, api_key),
        secret=secret,
        verify=verify,
        parse=parse_intercom,
    )
