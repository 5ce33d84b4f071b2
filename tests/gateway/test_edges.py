"""Input the documented schemas allow, or that PostgreSQL cannot store, on SQLite and PostgreSQL: a 2xx
or a clear 4xx, never a 500 (found by the schemathesis run on PostgreSQL)."""

from __future__ import annotations

import json

GOOD = {"customer_email": "ann@example.com", "subject": "Where is my parcel?", "description": "Order 1001 is late."}


def _post(api, **overrides):  # type: ignore[no-untyped-def]
    return api.post("/api/tickets/create", json={**GOOD, **overrides})


def test_nul_in_free_text_is_dropped_and_the_ticket_stored(api):
    response = _post(
        api, subject="late\x00 parcel", description="\x00order 1001", customer_name="A\x00nn", order_id="1\x001"
    )
    assert response.status_code == 201, response.text
    ticket = api.get(f"/api/tickets/{response.json()['ticket']['ticket_id']}").json()
    assert (ticket["subject"], ticket["description"]) == ("late parcel", "order 1001")
    assert ticket["customer_name"] == "Ann" and ticket["metadata"] == {"order_id": "11"}

    agent = api.post("/api/agents", json={"agent_id": "AG-NUL", "name": "Bo\x00b"})
    assert agent.status_code == 201, agent.text
    assert agent.json()["name"] == "Bob"


def test_text_of_only_nul_or_whitespace_is_blank(api):
    for subject in ("\x00", "\u3000\u00a0", " \x00 "):
        response = _post(api, subject=subject)
        assert response.status_code == 422, (subject, response.text)
        assert "subject" in response.json()["detail"]


def test_control_separators_are_text_as_the_documented_pattern_says(api):
    # JSON Schema's \S (ECMAScript) counts \x1c-\x1f as non-space; Python's str.strip() does not.
    response = _post(api, description="\x1d")
    assert response.status_code == 201, response.text
    assert response.json()["ticket"]["description"] == "\x1d"


def test_nul_in_a_path_is_404_and_in_a_filter_is_422(api):
    for path in ("/api/tickets/TKT%00X", "/api/tickets/TKT%00X/history", "/api/kb/articles/kb%00"):
        response = api.get(path)
        assert response.status_code == 404, (path, response.text)
        assert "NUL" in response.json()["detail"]
    response = api.get("/api/tickets/?assigned_to=AG%00")
    assert response.status_code == 422
    assert "assigned_to" in response.json()["detail"]


def test_a_path_ending_in_a_line_feed_is_404_not_the_path_without_it(api):
    """Starlette's route patterns match before a final newline: `/api/tickets/%0A` was the ticket list."""
    for path in ("/api/tickets/%0A", "/api/tickets/%0A?wait=23", "/api/tags%0A", "/api/tickets/TKT-1/history%0A"):
        response = api.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["detail"] == "not found: the path ends with a line feed (%0A)"
    assert api.get("/api/tickets/%0Ax").status_code == 404  # an id holding one: no such ticket, as before


def test_email_is_checked_for_syntax_not_deliverability(api):
    # `.test` is well-formed (format: email); a display name or a missing domain is not an address.
    response = _post(api, customer_email="a`b@shop.test")
    assert response.status_code == 201, response.text
    assert response.json()["ticket"]["customer_email"] == "a`b@shop.test"
    for bad in ("Ann <ann@example.com>", "ann@", "ann@localhost"):
        response = _post(api, customer_email=bad)
        assert response.status_code == 422, (bad, response.text)
        assert "customer_email" in response.json()["detail"] and "not a valid email" in response.json()["detail"]


def test_a_key_id_beyond_the_column_is_422_not_a_database_error(api):
    response = api.delete("/api/keys/8589934591")
    assert response.status_code == 422
    assert "key_id" in response.json()["detail"]
    assert api.delete("/api/keys/2147483647").status_code == 404


def test_a_value_the_database_refuses_is_a_422_naming_the_reason(client_for, sqlite_url):
    from sqlalchemy.exc import DataError

    client = client_for(sqlite_url)

    @client.app.get("/refused")
    def refused() -> None:
        raise DataError("INSERT ...", {}, ValueError("value too long for type character varying(20)"))

    response = client.get("/refused")
    assert response.status_code == 422
    assert response.json()["detail"].endswith("value too long for type character varying(20)")
    assert response.json()["errors"][0]["type"] == "value_error"


def test_a_key_name_of_a_control_character_is_text_as_documented(api):
    # NEL (U+0085) is not whitespace to JSON Schema's \s, though Python's str.strip() removes it.
    response = api.post("/api/keys", json={"name": "\u0085", "role": "agent"})
    assert response.status_code == 201, response.text
    assert api.post("/api/keys", json={"name": "\u3000", "role": "agent"}).status_code == 422


def test_bodies_over_max_body_bytes_get_413_before_they_are_read(client_for, db_url, redis_client):
    api = client_for(db_url, max_body_bytes=65_536, webhook_max_body_bytes=200_000)
    body = json.dumps({**GOOD, "description": "x" * 70_000}).encode()  # 413 comes before any validation
    for content in (body, iter([body[:40_000], body[40_000:]])):  # with Content-Length, then chunked
        response = api.post("/api/tickets/create", content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 413, response.text
        assert response.json()["detail"] == "request body exceeds 65536 bytes (MAX_BODY_BYTES)"

    small = json.dumps(GOOD).encode()
    chunked = api.post(
        "/api/tickets/create", content=iter([small[:20], small[20:]]), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 201, chunked.text
    # Webhooks keep their own bound (WEBHOOK_MAX_BODY_BYTES), larger here.
    hook = api.post(
        "/api/tickets/webhook/zendesk", json={"ticket": {"id": 7, "subject": "s", "description": "d" * 100_000}}
    )
    assert hook.status_code != 413, hook.text


def test_head_is_answered_wherever_get_is(api, client_for, db_url):
    """Uptime monitors and load balancers probe with HEAD: GET's status and headers, no body."""
    ticket_id = _post(api).json()["ticket"]["ticket_id"]
    for path in ("/health", f"/api/tickets/{ticket_id}", "/api/tickets/?limit=5", "/api/kb/articles"):
        got, head = api.get(path), api.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
        assert head.headers["content-length"] == got.headers["content-length"], path

    missing = api.head("/api/tickets/TKT-NOPE")
    assert missing.status_code == 404 and missing.content == b""
    post_only = api.head("/api/tickets/webhook/zendesk")  # a 405 lists what the path serves
    assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"
    # HEAD is a GET in all but the body: it needs the same key.
    locked = client_for(db_url, auth_disabled=False).head("/api/tickets/")
    assert locked.status_code == 401 and locked.headers["www-authenticate"] == "Bearer" and locked.content == b""


def test_booleans_in_bodies_are_json_booleans(api):
    """Found by schemathesis: `"active": 0` was read as false. The schema says boolean, so 0, 1 and
    "yes" are refused with the field named, as any other type mismatch is."""
    for active in (0, 1, "yes", "false"):
        created = api.post("/api/agents", json={"agent_id": "AG-BOOL", "name": "Bo", "active": active})
        assert created.status_code == 422 and "active" in created.json()["detail"], (active, created.text)
    assert api.post("/api/agents", json={"agent_id": "AG-BOOL", "name": "Bo", "active": False}).status_code == 201
    patched = api.patch("/api/agents/AG-BOOL", json={"active": 1})
    assert patched.status_code == 422 and "active" in patched.json()["detail"]
    assert api.patch("/api/agents/AG-BOOL", json={"active": True}).json()["active"] is True
