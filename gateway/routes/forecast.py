"""`/api/forecast/*` on the gateway: relayed to the forecast service (FORECAST_URL), which owns the
paths, the checks and the answers; see forecast_service/routes.py. The gateway's OpenAPI document
lists them from gateway/forecast_openapi.json (`python -m forecast_service.openapi` writes it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from gateway.services import forecast as service


class _AnyPath(Convertor[str]):
    """Starlette's `path` convertor is `.*`, which stops at a newline (%0A): such a path got the
    gateway's own 404 instead of the forecast service's answer."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", _AnyPath())
router = APIRouter(prefix="/api/forecast", tags=["forecast"])
# Every method, so a 405 and its Allow header come from the forecast service, which knows its routes.
# HEAD never reaches routing: `HeadAsGet` has made it a GET.
_EVERY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/{path:anypath}", methods=_EVERY_METHOD, include_in_schema=False)
async def forward(request: Request) -> Response:
    """The forecast service's answer, status and headers included; 503/504/502 if it cannot give one."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    target = service.upstream_target(raw_path, request.scope.get("query_string", b""))
    answer = await service.relay(
        request.app.state.forecast_http,
        method=request.method,
        target=target,
        headers=dict(request.headers),
        body=await request.body(),
    )
    return Response(content=answer.content, status_code=answer.status_code, headers=answer.headers)


RELAYED_DOCUMENT = Path(__file__).resolve().parent.parent / "forecast_openapi.json"
# What the relay itself may answer, on top of the forecast service's own answers.
RELAY_ANSWERS = {
    "502": "The forecast service broke off its answer",
    "503": "The forecast service (FORECAST_URL) or its database is unavailable, or lacks migrations; retry",
    "504": "The forecast service did not answer within FORECAST_TIMEOUT_S",
}


def merge_relayed(schema: dict[str, Any], relayed: dict[str, Any]) -> None:
    """Add the forecast service's `/api/forecast/*` operations to the gateway's document, in place.

    Components are shared by name (the same error shapes and key schemes); one that differs between
    the two documents is an error, not a silent overwrite.
    """
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in relayed.get("paths", {}).items():
        if not path.startswith(f"{router.prefix}/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in RELAY_ANSWERS.items():
                responses[code] = {"description": description, "content": error_ref}
        schema.setdefault("paths", {})[path] = operations
    ours = schema.setdefault("components", {})
    for kind, entries in relayed.get("components", {}).items():
        for name, value in entries.items():
            existing = ours.setdefault(kind, {}).setdefault(name, value)
            if existing != value:
                raise RuntimeError(f"components.{kind}.{name} differs between the gateway and the forecast service")


def document_relayed(app: FastAPI) -> None:
    """List the relayed operations in the gateway's OpenAPI document, with the relay's own answers."""
    build = app.openapi
    merged: list[bool] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        if not merged:
            merge_relayed(schema, json.loads(RELAYED_DOCUMENT.read_text()))
            merged.append(True)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
