"""Every gateway route, every role: allowed or denied as the role table says (auth on, real DB + Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.main import create_app
from shared.auth import Role, create_key
from shared.config import Settings

# The customer's pages are opened from signed links by customers, who hold no key: the link is the credential.
PUBLIC = {("GET", "/health"), ("GET", "/ready")} | {
    (method, f"/{page}/{{token}}") for method in ("GET", "POST") for page in ("requests", "rate")
}
SEED_TICKET = {
    "customer_email": "role@example.com",
    "subject": "Parcel late",
    "description": "Order 991 has not arrived.",
}

# (method, path, minimal role, JSON body). {ticket} / {key} are filled in per test.
ROUTES: list[tuple[str, str, Role, dict[str, Any] | None]] = [
    ("POST", "/api/tickets/create", Role.integration, SEED_TICKET),
    ("POST", "/api/tickets/webhook/zendesk", Role.integration,
     {"ticket": {"id": 77, "subject": "Hi", "description": "Help", "requester": {"email": "z@example.com"}}}),
    ("POST", "/api/tickets/webhook/intercom", Role.integration,
     {"conversation_id": "c-77", "user": {"email": "i@example.com"}, "conversation_parts": [{"body": "Help"}]}),
    ("GET", "/api/tickets/", Role.agent, None),
    ("GET", "/api/tickets/export", Role.manager, None),
    ("GET", "/api/tickets/{ticket}", Role.agent, None),
    ("GET", "/api/overview", Role.agent, None),
    ("PUT", "/api/tickets/{ticket}/status", Role.agent, {"status": "open"}),
    ("POST", "/api/tickets/{ticket}/tags", Role.agent, {"add": ["vip"]}),
    ("POST", "/api/tickets/bulk", Role.agent, {"ticket_ids": ["TKT-NONE"], "tags": {"add": ["vip"]}}),
    ("POST", "/api/tickets/{ticket}/merge", Role.agent, {"into": "TKT-NONE"}),
    ("GET", "/api/tags", Role.agent, None),
    ("PUT", "/api/tickets/{ticket}/assign", Role.agent, {"agent_id": "AG-1"}),
    ("GET", "/api/tickets/{ticket}/history", Role.agent, None),
    ("GET", "/api/tickets/{ticket}/messages", Role.agent, None),
    ("POST", "/api/tickets/{ticket}/messages", Role.agent, {"body": "We are on it.", "internal": True}),
    ("POST", "/api/tickets/{ticket}/customer-messages", Role.integration, {"body": "Any news?"}),
    ("POST", "/api/tickets/{ticket}/satisfaction", Role.integration, {"rating": "good"}),
    ("GET", "/api/tickets/{ticket}/customer-links", Role.integration, None),
    ("GET", "/api/agents", Role.agent, None),
    ("POST", "/api/agents", Role.admin, {"name": "New Agent"}),
    ("GET", "/api/agents/AG-1", Role.agent, None),
    ("PATCH", "/api/agents/AG-1", Role.admin, {"name": "Ann B"}),
    ("GET", "/api/agents/AG-1/history", Role.agent, None),
    ("GET", "/api/agents/AG-1/activity", Role.manager, None),
    ("GET", "/api/agent-activity", Role.manager, None),
    ("POST", "/api/agents/AG-1/release", Role.admin, None),
    ("GET", "/api/keys", Role.admin, None),
    ("POST", "/api/keys", Role.admin, {"name": "made-by-test", "role": "agent"}),
    ("DELETE", "/api/keys/{key}", Role.admin, None),
    ("PATCH", "/api/keys/{key}", Role.admin, {"agent_id": "AG-1"}),
    ("GET", "/api/me", Role.monitor, None),
    ("GET", "/metrics", Role.monitor, None),
    ("GET", "/api/me/activity", Role.agent, None),
    ("PUT", "/api/me/away", Role.agent, {"away": True}),
    ("POST", "/api/kb/articles", Role.admin, {"title": "Returns", "content": "Return within 30 days."}),
    ("GET", "/api/kb/articles", Role.agent, None),
    ("GET", "/api/kb/articles/kb_missing", Role.agent, None),
    ("DELETE", "/api/kb/articles/kb_missing", Role.admin, None),
    ("GET", "/api/kb/search?q=refund", Role.agent, None),
    ("POST", "/api/tickets/{ticket}/draft", Role.agent, None),
    ("POST", "/api/tickets/{ticket}/retry", Role.agent, None),
    ("PUT", "/api/tickets/{ticket}/category", Role.agent, {"category": "billing"}),
    ("PUT", "/api/tickets/{ticket}/priority", Role.agent, {"priority": "high"}),
    ("GET", "/api/tickets/{ticket}/corrections", Role.agent, None),
    ("POST", "/api/tickets/{ticket}/review", Role.agent, {}),
    ("GET", "/api/alerts", Role.agent, None),
    ("POST", "/api/alerts/no-such-alert/retry", Role.admin, None),
    ("GET", "/api/replies", Role.agent, None),
    ("POST", "/api/replies/2147483647/retry", Role.admin, None),
    ("GET", "/api/status-changes", Role.agent, None),
    ("POST", "/api/status-changes/no-such-delivery/retry", Role.admin, None),
    ("POST", "/api/customers/export", Role.admin, {"email": "nobody@example.com"}),
    ("POST", "/api/customers/erase", Role.admin, {"email": "nobody@example.com"}),
    ("POST", "/api/tickets/{ticket}/erase", Role.admin, None),
    ("POST", "/api/macros", Role.admin, {"title": "Thanks", "body": "Thanks, {{customer.first_name}}!"}),
    ("GET", "/api/macros", Role.agent, None),
    ("GET", "/api/macros/no-such-macro", Role.agent, None),
    ("PUT", "/api/macros/no-such-macro", Role.admin, {"title": "Thanks", "body": "Thanks!"}),
    ("GET", "/api/tickets/{ticket}/macros/no-such-macro", Role.agent, None),
    ("POST", "/api/tickets/{ticket}/macros/no-such-macro", Role.agent, None),
    ("POST", "/api/views", Role.admin, {"title": "Unassigned", "filters": {"assigned": False}}),
    ("GET", "/api/views", Role.agent, None),
    ("GET", "/api/views/no-such-view", Role.agent, None),
    ("PUT", "/api/views/no-such-view", Role.agent, {"title": "Unassigned"}),  # the team's: an admin's (service)
    ("DELETE", "/api/views/no-such-view", Role.agent, None),
    ("GET", "/api/views/no-such-view/tickets", Role.agent, None),
    ("GET", "/api/views/no-such-view/export", Role.manager, None),
    ("POST", "/api/bulk-jobs", Role.agent, {"ticket_ids": ["TKT-NONE"], "tags": {"add": ["vip"]}}),
    ("GET", "/api/bulk-jobs", Role.agent, None),
    ("GET", "/api/bulk-jobs/no-such-job", Role.agent, None),
    ("GET", "/api/bulk-jobs/no-such-job/results", Role.agent, None),
    ("POST", "/api/bulk-jobs/no-such-job/cancel", Role.agent, None),
]  # fmt: skip


def openapi_path(url: str) -> str:
    """The OpenAPI path a table URL exercises."""
    url = url.split("?", 1)[0].replace("{ticket}", "{ticket_id}").replace("{key}", "{key_id}")
    url = url.replace("kb_missing", "{article_id}").replace("/AG-1", "/{agent_id}")
    url = url.replace("no-such-alert", "{alert_id}").replace("no-such-delivery", "{delivery_id}")
    url = url.replace("no-such-macro", "{macro_id}").replace("no-such-view", "{view_id}")
    url = url.replace("no-such-job", "{job_id}")
    return url.replace("/2147483647/", "/{message_id}/")


def test_every_route_is_in_the_role_table() -> None:
    """Secure by default: a new route fails here until it is given a role (and a row above)."""
    app = create_app(Settings(auth_disabled=False), sweeper=False)
    served = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if not path.startswith("/api/forecast/")  # relayed: the forecast service checks them (test_auth_forecast)
    }
    listed = {(m, openapi_path(p)) for m, p, _, _ in ROUTES} | PUBLIC
    assert served - listed == set(), "routes without an entry in the role table"
    assert listed - served == set(), "role table lists routes the app does not serve"


# Routes any agent reaches whose body decides whether more is needed: the team's view needs an admin, which the
# service checks (an agent may write their own); a caller below the route's role meets the route's check.
ROUTE_ROLE: dict[tuple[str, str], Role] = {("POST", "/api/views"): Role.agent}


@pytest.fixture
def secured(client_for: Callable, db_url: str, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """An auth-on gateway with one key per role, a ticket and an agent to act on."""
    # No rag_worker runs here: KB calls answer 503 quickly instead of waiting the default 10 s.
    api = client_for(db_url, auth_disabled=False, kb_task_timeout_s=0.2)
    keys: dict[Role, str] = {}
    with session_factory() as session:
        for role in Role:
            keys[role] = create_key(session, name=f"{role.value}-key", role=role)[1]
    admin = {"X-API-Key": keys[Role.admin]}
    assert api.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}, headers=admin).status_code == 201
    ticket = api.post("/api/tickets/create", json=SEED_TICKET, headers=admin).json()["ticket"]["ticket_id"]
    return api, keys, ticket, session_factory


@pytest.mark.parametrize(("method", "path", "needed", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_role_allowed_or_denied(secured, method: str, path: str, needed: Role, body: dict | None) -> None:
    api, keys, ticket, session_factory = secured
    for role in Role:
        url = path.replace("{ticket}", ticket)
        if "{key}" in url:  # a fresh victim key per attempt, so an allowed DELETE has something to revoke
            with session_factory() as session:
                url = url.replace("{key}", str(create_key(session, name="victim", role=Role.agent)[0].id))
        resp = api.request(method, url, json=body, headers={"Authorization": f"Bearer {keys[role]}"})
        if role.allows(needed):
            assert resp.status_code not in (401, 403), f"{role} denied on {method} {path}: {resp.text}"
            assert resp.status_code != 500, resp.text  # 503 = a dependency is down, deliberate
        else:
            assert resp.status_code == 403, f"{role} not denied on {method} {path}: {resp.status_code}"
            # below the route's own role its check refuses, naming that role; above it, the service's
            gate = ROUTE_ROLE.get((method, path), needed)
            assert (gate if not role.allows(gate) else needed).value in resp.json()["detail"]
    anonymous = api.request(method, path.replace("{ticket}", ticket).replace("{key}", "1"), json=body)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"


def test_public_probes_need_no_key(secured) -> None:
    api, *_ = secured
    assert api.get("/health").status_code == 200
    for page in ("requests", "rate"):
        assert api.get(f"/{page}/TKT-NONE.1.x").status_code == 404  # no key asked: a link that is not ours


def test_auth_disabled_lets_anonymous_callers_in(client_for, db_url, redis_client) -> None:
    api = client_for(db_url, auth_disabled=True)
    assert api.get("/api/keys").status_code == 200
    assert api.post("/api/tickets/create", json=SEED_TICKET).status_code == 201
