"""`/api/forecast/*` on the gateway: relayed to the forecast service (FORECAST_URL), which owns the
paths, the checks and the answers; see forecast_service/routes.py and :8001/docs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.services import forecast as service

router = APIRouter(prefix="/api/forecast", tags=["forecast"])


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
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
