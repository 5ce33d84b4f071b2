"""Tickets that gave up after their retries are found, and re-run from the step they did not finish
(SQLite and PostgreSQL; the messages are read back from the real Redis queues)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from shared.models import Ticket
from shared.pipeline import record_failure
from tests.conftest import REDIS_URL, ROOT

GOOD = {"customer_email": "kim@example.com", "subject": "Refund", "description": "Please refund order #88."}


def _fail(session_factory, ticket_id: str, *, classified: bool) -> None:  # type: ignore[no-untyped-def]
    """What the last retry leaves: `failed` with the reason, with or without a classification."""
    with session_factory() as session:
        if classified:
            ticket = session.get(Ticket, ticket_id)
            ticket.category = ticket.ai_suggested_category = "refund"
            session.commit()
        record_failure(ticket_id, TimeoutError("LLM did not answer"), session)


def _newest(redis_client, queue: str) -> str:  # type: ignore[no-untyped-def]
    """The ticket id of the newest message on a Celery queue (kombu pushes to the left)."""
    message = json.loads(redis_client.lindex(queue, 0))
    args, _, _ = json.loads(base64.b64decode(message["body"]))
    return args[0]


def test_a_failed_ticket_is_listed_and_rerun_from_the_step_it_did_not_finish(
    api, session_factory, redis_client
) -> None:  # type: ignore[no-untyped-def]
    never = api.post("/api/tickets/create", json=GOOD).json()["ticket"]["ticket_id"]
    drafted = api.post("/api/tickets/create", json=GOOD).json()["ticket"]["ticket_id"]
    _fail(session_factory, never, classified=False)
    _fail(session_factory, drafted, classified=True)
    listed = api.get("/api/tickets/", params={"processing_state": "failed"}).json()
    assert {t["ticket_id"] for t in listed} == {never, drafted}
    assert {t["processing_error"] for t in listed} == {"TimeoutError: LLM did not answer"}

    # Never classified: a draft is refused (it needs the classification); retry re-runs classification.
    refused = api.post(f"/api/tickets/{never}/draft")
    assert refused.status_code == 409 and f"/api/tickets/{never}/retry" in refused.json()["detail"]
    response = api.post(f"/api/tickets/{never}/retry")
    assert response.status_code == 202 and response.json() == {"ticket_id": never, "processing_state": "queued"}
    assert _newest(redis_client, "classify") == never
    again = api.post(f"/api/tickets/{never}/retry")
    assert again.status_code == 409 and "is queued, not failed" in again.json()["detail"]

    # Classified, the draft failed: retry re-runs the draft only.
    assert api.post(f"/api/tickets/{drafted}/retry").json()["processing_state"] == "classified"
    assert _newest(redis_client, "draft") == drafted
    ticket = api.get(f"/api/tickets/{drafted}").json()
    assert (ticket["processing_state"], ticket["processing_error"], ticket["category"]) == (
        "classified",
        None,
        "refund",
    )
    assert api.get("/api/tickets/", params={"processing_state": "failed"}).json() == []
    assert api.post("/api/tickets/TKT-NOPE/retry").status_code == 404
    assert api.get("/api/tickets/", params={"processing_state": "stuck"}).status_code == 422


def test_a_done_ticket_is_not_rerun(api, session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    ticket_id = api.post("/api/tickets/create", json=GOOD).json()["ticket"]["ticket_id"]
    with session_factory() as session:
        session.get(Ticket, ticket_id).processing_state = "done"
        session.commit()
    response = api.post(f"/api/tickets/{ticket_id}/retry")
    assert response.status_code == 409 and f"POST /api/tickets/{ticket_id}/draft" in response.json()["detail"]


def test_the_cli_reruns_every_failed_ticket(api, db_url, session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    """After an outage: `python -m gateway.sweeper --retry-failed` sends all of them back at once."""
    ids = [api.post("/api/tickets/create", json=GOOD).json()["ticket"]["ticket_id"] for _ in range(3)]
    for ticket_id in ids[:2]:
        _fail(session_factory, ticket_id, classified=False)
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.sweeper", "--retry-failed"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "re-ran 2 failed ticket(s)" in done.stdout, done.stderr
    with session_factory() as session:
        assert [session.get(Ticket, t).processing_state for t in ids] == ["queued"] * 3
