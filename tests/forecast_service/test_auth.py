"""Every forecast route, every role: reads need a manager key, retraining an admin key, the metrics any key
(auth on, real DB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecast_service.main import create_app
from shared.auth import Role, create_key

# (method, path, minimal role)
ROUTES: list[tuple[str, str, Role]] = [
    ("GET", "/api/forecast/hourly/24", Role.manager),
    ("GET", "/api/forecast/daily/7", Role.manager),
    ("GET", "/api/forecast/staffing/current", Role.manager),
    ("GET", "/api/forecast/model/info", Role.manager),
    ("POST", "/api/forecast/train", Role.admin),
    ("GET", "/metrics", Role.monitor),
]


def openapi_path(url: str) -> str:
    return url.replace("/hourly/24", "/hourly/{hours}").replace("/daily/7", "/daily/{days}")


@pytest.fixture
def secured(settings_for, db_url: str, redis_client, session_factory, tmp_path: Path) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, auth_disabled=False, model_dir=str(tmp_path / "models"), forecast_retrain_hour=None)
    with session_factory() as session:
        keys = {role: create_key(session, name=f"{role.value}-key", role=role)[1] for role in Role}
    with TestClient(create_app(settings)) as client:
        yield client, keys


def test_every_forecast_route_is_in_the_role_table(settings_for, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(sqlite_url, auth_disabled=False))
    served = {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}
    listed = {(method, openapi_path(path)) for method, path, _ in ROUTES}
    assert served == listed, "routes and the role table differ"


@pytest.mark.parametrize(("method", "path", "needed"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_roles(secured, method: str, path: str, needed: Role) -> None:  # type: ignore[no-untyped-def]
    client, keys = secured
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers={"X-API-Key": "sc_not-a-key"}).status_code == 401
    # A retrain already "running" makes an authorised POST /train answer 409 at once instead of
    # training for real: it proves the request got past auth, which is what this test is about.
    client.app.state.forecast.retrain_state = {"state": "running"}
    allowed = 409 if method == "POST" else 200
    for role in Role:
        response = client.request(method, path, headers={"Authorization": f"Bearer {keys[role]}"})
        expected = allowed if role.allows(needed) else 403
        assert response.status_code == expected, (role, response.text)
        if expected == 403:
            assert f"'{needed.value}' role" in response.json()["detail"]
