"""FastAPI dependencies for API-key auth, roles and per-key rate limits (gateway and forecast service).

Use `Depends(RequireRole(Role.agent))` on a route, or the `AgentDep`-style aliases. The app is
expected to keep `settings` and `sessionmaker` (and optionally an async `redis`) on `app.state`;
missing ones fall back to the process-wide defaults, so the forecast service needs no set-up.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request, params, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from shared import ratelimit
from shared.auth import AgentDeactivated, Principal, Role, authenticate
from shared.config import Settings, get_settings
from shared.db import get_sessionmaker, make_engine
from shared.models import audit_actor

ANONYMOUS = Principal(key_id=None, name="anonymous", role=Role.admin)
METRICS_SCRAPER = Principal(key_id=None, name="metrics-token", role=Role.monitor)

bearer_scheme = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sc_...`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: `X-API-Key: sc_...`")


def app_settings(request: Request) -> Settings:
    """The app's settings (`app.state.settings`), else the process-wide ones."""
    return getattr(request.app.state, "settings", None) or get_settings()


def app_sessionmaker(request: Request) -> sessionmaker[Session]:
    """The app's session factory; else one for the app's settings (kept on the app), else the default."""
    state = request.app.state
    factory = getattr(state, "sessionmaker", None) or getattr(state, "auth_sessionmaker", None)
    if factory is None:
        settings = getattr(state, "settings", None)
        if settings is None:
            return get_sessionmaker()
        factory = sessionmaker(bind=make_engine(settings.database_url, pool_size=2), expire_on_commit=False)
        state.auth_sessionmaker = factory
    return factory


def app_redis(request: Request) -> aioredis.Redis:
    """The app's async Redis client, created on first use when the app keeps none."""
    client = getattr(request.app.state, "redis", None) or getattr(request.app.state, "ratelimit_redis", None)
    if client is None:
        client = aioredis.Redis.from_url(app_settings(request).redis_url, socket_connect_timeout=2)
        request.app.state.ratelimit_redis = client
    return client


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def enforce_rate_limit(request: Request, bucket: str, limit: int) -> None:
    """429 with Retry-After once `bucket` went over `limit` in the current window."""
    settings = app_settings(request)
    decision = await ratelimit.hit(app_redis(request), bucket, limit=limit, window_s=settings.rate_limit_window_s)
    if not decision.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"rate limit of {limit} requests per {settings.rate_limit_window_s}s exceeded; "
            f"retry in {decision.retry_after_s}s",
            headers=decision.headers(),
        )


async def authenticate_request(request: Request, key: str | None, needed: Role) -> Principal:
    """The caller behind `key` if its role allows `needed` (401/403/429 otherwise); binds the audit actor."""
    settings = app_settings(request)
    if settings.auth_disabled:
        principal = ANONYMOUS
    else:
        if not key:
            raise unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        factory = app_sessionmaker(request)

        def lookup() -> Principal | None:
            with factory() as session:
                return authenticate(session, key)

        try:
            found = await run_in_threadpool(lookup)
        except AgentDeactivated as refused:
            raise unauthorized(str(refused)) from None
        if found is None:
            raise unauthorized("invalid or revoked API key")
        principal = found
        if not principal.role.allows(needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this route needs the '{needed.value}' role or higher; "
                f"key '{principal.name}' has '{principal.role.value}'",
            )
        await enforce_rate_limit(request, f"key:{principal.key_id}", settings.rate_limit_per_key)
    # Set in the request's own context (this dependency is async), so the endpoint and the session's
    # flush hooks that run after it see who is acting.
    audit_actor.set(principal.actor)
    request.state.principal = principal
    return principal


def presented_key(bearer: HTTPAuthorizationCredentials | None, api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer` or `X-API-Key`, whichever was sent."""
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    return api_key.strip() if api_key else None


class RequireRole:
    """Dependency: the caller must hold `role` or a higher one. `required_role` lets tests audit routes."""

    def __init__(self, role: Role) -> None:
        self.required_role = role

    async def __call__(
        self,
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Principal:
        return await self.check(request, presented_key(bearer, api_key))

    async def check(self, request: Request, key: str | None) -> Principal:
        """The caller behind the key presented (`authenticate_request`); a subclass may admit others."""
        return await authenticate_request(request, key, self.required_role)

    def __repr__(self) -> str:
        return f"RequireRole({self.required_role.value})"


class RequireMetricsReader(RequireRole):
    """Dependency of `GET /metrics`: METRICS_TOKEN when it is set and sent, compared in constant time without
    reading the database (so a scrape during a database outage answers, saying so, where a key's lookup would
    answer 503) and rate-limited as one key; otherwise any API key, as `RequireRole(Role.monitor)`."""

    def __init__(self) -> None:
        super().__init__(Role.monitor)

    async def check(self, request: Request, key: str | None) -> Principal:
        settings = app_settings(request)
        token = settings.metrics_token
        if token is None or key is None or not _same(key, token.get_secret_value()):
            return await super().check(request, key)
        await enforce_rate_limit(request, "metrics-token", settings.rate_limit_per_key)
        audit_actor.set(METRICS_SCRAPER.actor)
        request.state.principal = METRICS_SCRAPER
        return METRICS_SCRAPER


def _same(presented: str, secret: str) -> bool:
    """Constant-time equality of bytes: `hmac.compare_digest` refuses strings holding non-ASCII characters,
    which a header may carry."""
    return hmac.compare_digest(presented.encode(), secret.encode())


AnyKeyDep = Annotated[Principal, Depends(RequireRole(Role.monitor))]  # the lowest role: any valid key
IntegrationDep = Annotated[Principal, Depends(RequireRole(Role.integration))]
AgentDep = Annotated[Principal, Depends(RequireRole(Role.agent))]
ManagerDep = Annotated[Principal, Depends(RequireRole(Role.manager))]
AdminDep = Annotated[Principal, Depends(RequireRole(Role.admin))]


def require(role: Role) -> params.Depends:
    """`dependencies=[require(Role.manager)]` for routes and routers that do not use the principal."""
    return Depends(RequireRole(role))
