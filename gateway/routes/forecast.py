"""`/api/forecast/*` on the gateway: relayed to the forecast service (FORECAST_URL), which owns the
paths, the checks and the answers; see forecast_service/routes.py and :8001/docs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
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
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


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
