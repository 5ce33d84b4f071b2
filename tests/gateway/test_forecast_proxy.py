"""The gateway relays /api/forecast/* to a real forecast service over HTTP, answers and errors included."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from forecast_service.main import create_app as create_forecast_app
from gateway.services.forecast import upstream_target
from shared.auth import Role, create_key
from shared.errors import NotFound


@contextmanager
def serving(app: object) -> Iterator[str]:
    """`app` on a real uvicorn server on a free local port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "forecast service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def keys(session_factory) -> dict[Role, str]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return {role: create_key(session, name=role.value, role=role)[1] for role in Role}


@pytest.fixture
def gateway_to(client_for: Callable[..., TestClient], db_url: str) -> Callable[..., TestClient]:
    """A gateway (auth on) relaying to `forecast_url`."""
    return lambda forecast_url, **overrides: client_for(
        db_url, auth_disabled=False, forecast_url=forecast_url, **overrides
    )


def test_the_gateway_answers_forecast_paths_as_the_forecast_service_does(
    settings_for: Callable[..., object],
    db_url: str,
    keys: dict[Role, str],
    gateway_to: Callable[..., TestClient],
    tmp_path: Path,
) -> None:
    forecast_settings = settings_for(
        db_url,
        auth_disabled=False,
        model_dir=str(tmp_path / "models"),
        forecast_retrain_hour=None,
    )
    with serving(create_forecast_app(forecast_settings)) as url:  # type: ignore[arg-type]
        gateway = gateway_to(url)
        manager = {"Authorization": f"Bearer {keys[Role.manager]}"}

        relayed = gateway.get("/api/forecast/hourly/24", headers=manager)
        with TestClient(create_forecast_app(forecast_settings)) as forecast_service:  # type: ignore[arg-type]
            direct = forecast_service.get("/api/forecast/hourly/24", headers=manager)
        assert relayed.status_code == 200, relayed.text
        assert relayed.headers["content-type"] == "application/json"
        assert relayed.json()["predictions"] == direct.json()["predictions"]
        assert relayed.json()["model"]["status"] == "baseline"  # the forecast service's own answer, not a copy
        assert len(gateway.get("/api/forecast/daily/7", headers=manager).json()["predictions"]) == 7

        # HEAD, relayed as the GET it stands for, and answered by the real server directly: no body.
        info = gateway.get("/api/forecast/model/info", headers=manager)
        for head in (
            gateway.head("/api/forecast/model/info", headers=manager),
            httpx.head(f"{url}/api/forecast/model/info", headers=manager),
        ):
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == info.headers["content-length"]
        assert httpx.head(f"{url}/api/forecast/model/info").status_code == 401

        # The X-API-Key form of the credential is passed on too.
        assert gateway.get("/api/forecast/model/info", headers={"X-API-Key": keys[Role.manager]}).status_code == 200

        # The forecast service's refusals reach the client unchanged: status, message, headers.
        missing = gateway.get("/api/forecast/model/info")
        assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
        assert missing.headers["www-authenticate"] == "Bearer"
        agent = gateway.get("/api/forecast/model/info", headers={"Authorization": f"Bearer {keys[Role.agent]}"})
        assert agent.status_code == 403
        out_of_range = gateway.get("/api/forecast/hourly/169", headers=manager)
        assert out_of_range.status_code == 422 and "less than or equal to 168" in out_of_range.text
        assert gateway.get("/api/forecast/nothing-here", headers=manager).status_code == 404
        # Paths the gateway's own routing would have refused (a newline, a NUL) get the forecast
        # service's answer, and so does a method it does not serve, with its Allow header.
        for odd in ("/api/forecast/daily/x%0Ay", "/api/forecast/daily/1%00"):
            answer = gateway.get(odd, headers=manager)
            assert answer.status_code == 422 and answer.json()["detail"].startswith("path.days: "), (odd, answer.text)
        options = gateway.options("/api/forecast/hourly/3", headers=manager)
        assert options.status_code == 405 and options.headers["allow"] == "GET, HEAD"
        # POSTs go through too: a manager may read but not retrain (test_routes covers the 202 for an admin).
        refused = gateway.post("/api/forecast/train", headers=manager)
        assert refused.status_code == 403 and "'admin' role" in refused.json()["detail"]


def test_dot_segments_are_not_forwarded(gateway_to: Callable[..., TestClient]) -> None:
    gateway = gateway_to("http://127.0.0.1:9")  # never reached
    # httpx removes literal dot segments before sending, so the encoded forms stand in for a raw client.
    for path in ("/api/forecast/%2e%2e/openapi.json", "/api/forecast/.%2E/%2e/docs"):
        response = gateway.get(path)
        assert response.status_code == 404, (path, response.text)
        assert "dot segments" in response.json()["detail"]
    with pytest.raises(NotFound, match="dot segments"):
        upstream_target(b"/api/forecast/../../health", b"")
    assert upstream_target(b"/api/forecast/hourly/24", b"a=1&b=%20") == "/api/forecast/hourly/24?a=1&b=%20"


def test_forecast_service_down_is_a_503_naming_where_it_was_looked_for(gateway_to: Callable[..., TestClient]) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        response = gateway_to(url).get("/api/forecast/hourly/24")
    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"forecast service unavailable at {url}")
    assert "retry shortly" in response.json()["detail"]


def test_forecast_service_that_does_not_answer_is_a_504(gateway_to: Callable[..., TestClient]) -> None:
    with socket.socket() as sock:  # listening, so the connection is made, but never answering
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        started = time.monotonic()
        response = gateway_to(url, forecast_timeout_s=0.5).get("/api/forecast/hourly/24")
        waited = time.monotonic() - started
    assert response.status_code == 504
    assert "did not answer within 0.5 s (FORECAST_TIMEOUT_S)" in response.json()["detail"]
    assert waited < 10


def test_forecast_service_that_breaks_off_is_a_502(gateway_to: Callable[..., TestClient]) -> None:
    with socket.socket() as sock:  # answers every connection with something that is not HTTP, then hangs up
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)

        def garble() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SMTP ready\r\n\r\n")

        threading.Thread(target=garble, daemon=True).start()
        response = gateway_to(f"http://127.0.0.1:{sock.getsockname()[1]}").get("/api/forecast/hourly/24")
    assert response.status_code == 502
    assert "broke off its answer" in response.json()["detail"]


def test_forecast_url_must_be_http(settings_for: Callable[..., object], sqlite_url: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must start with http:// or https://"):
        settings_for(sqlite_url, forecast_url="forecast_service:8001")
    assert settings_for(sqlite_url, forecast_url="http://fs:8001/").forecast_base_url == "http://fs:8001"  # type: ignore[attr-defined]
    assert settings_for(sqlite_url, forecast_port=9101).forecast_base_url == "http://localhost:9101"  # type: ignore[attr-defined]
