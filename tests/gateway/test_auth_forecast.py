"""The forecast service checks the same API keys (shared table): manager and admin only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forecast_service.main import create_app
from shared.auth import Role, create_key


def test_forecast_routes_need_a_manager_key(settings_for, db_url, redis_client, session_factory, tmp_path) -> None:
    settings = settings_for(db_url, auth_disabled=False, model_dir=str(tmp_path / "models"), forecast_retrain_hour=None)
    with session_factory() as session:
        keys = {role: create_key(session, name=role.value, role=role)[1] for role in Role}
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/api/forecast/model/info").status_code == 401
        for role in Role:
            resp = client.get("/api/forecast/model/info", headers={"Authorization": f"Bearer {keys[role]}"})
            expected = 200 if role.allows(Role.manager) else 403
            assert resp.status_code == expected, (role, resp.text)
