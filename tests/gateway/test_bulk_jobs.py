"""Bulk jobs (`/api/bulk-jobs`) on SQLite and PostgreSQL: the tickets chosen when the job is created, changed in
the background by the real bulk worker over Redis as their own requests would change them, each answering for
itself; what would refuse every ticket refused before anything is stored; a job cancelled, stopped when its
key loses its right, resumed without doing anything twice, and sent again by the sweeper."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from gateway.services.bulk_jobs import run_batch
from gateway.sweeper import sweep_once
from shared.config import Settings
from shared.models import BulkJob, BulkJobItem, TicketMessage, utcnow
from shared.schemas import BulkJobCreate
from tests.conftest import force_ticket, wait_until
from tests.gateway import test_key_agents
from tests.gateway.conftest import stored, web_ticket

team = test_key_agents.team  # the fixture: ALICE and BOB with keys linked to them, and unlinked keys
JOBS = "/api/bulk-jobs"
ACK = "Hi {{customer.first_name}}, we know about the outage and are on it.\n{{agent.first_name}}, Support"


def _macro(api) -> None:  # type: ignore[no-untyped-def]
    body = {"macro_id": "outage-ack", "title": "Outage", "body": ACK, "status": "pending", "tags": {"add": ["ack"]}}
    assert api.post("/api/macros", json=body, headers=api.admin).status_code == 201


def _tagged(api, ticket_ids: list[str], tag: str) -> None:  # type: ignore[no-untyped-def]
    done = api.post("/api/tickets/bulk", json={"ticket_ids": ticket_ids, "tags": {"add": [tag]}}, headers=api.alice)
    assert done.status_code == 200 and done.json()["failed"] == 0, done.text


def _job(api, headers: dict[str, str], **body: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    made = api.post(JOBS, json=body, headers=headers)
    assert made.status_code == 202, made.text
    return dict(made.json())


def _settings(api) -> Settings:  # type: ignore[no-untyped-def]
    return api.app.state.settings  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_bulk_worker_answers_an_outage_and_each_ticket_answers_for_itself(  # type: ignore[no-untyped-def]
    team, db_url, start_worker, session_factory
) -> None:
    _macro(team)
    outage = [web_ticket(team) for _ in range(4)]
    other = web_ticket(team)
    _tagged(team, outage, "outage")
    force_ticket(db_url, outage[2], status="closed")  # its workflow refuses the macro's move to pending
    full = web_ticket(team)  # 50 tags: the macro's reply and move are made, its tag refused, the job's not tried
    for n in range(0, 49, 10):
        tags = {"add": [f"t{i}" for i in range(n, min(n + 10, 49))]}
        assert team.post(f"/api/tickets/{full}/tags", json=tags, headers=team.alice).status_code == 200
    _tagged(team, [full], "outage")
    outage.append(full)
    job = _job(
        team, team.alice, filters={"tag": "outage", "sort": "oldest"}, macro_id="outage-ack",
        assign={"agent_id": "me"}, tags={"remove": ["outage"]}, expected_total=5,
    )  # fmt: skip
    assert (job["state"], job["total"], job["pending"], job["agent_id"]) == ("queued", 5, 5, "ALICE")
    assert job["source"] == {"filters": {"tag": "outage", "sort": "oldest"}}
    assert job["changes"]["assign"] == {"agent_id": "ALICE"}  # `me`, read when the job was made
    late = web_ticket(team)
    _tagged(team, [late], "outage")  # arrives after the job chose its tickets: not in it
    worker = start_worker("gateway", db_url, queues="bulk", app="bulk_worker", BULK_JOB_BATCH="3")

    def finished() -> dict[str, Any] | None:
        now = team.get(f"{JOBS}/{job['job_id']}", headers=team.bob).json()
        return now if now["state"] == "done" else None

    done = wait_until(finished, timeout=60)
    tasks = re.findall(r"Task gateway\.bulk_jobs\.run\[[^]]+\] succeeded in [0-9.]+s: (\d+)", worker.log())
    assert tasks == ["3", "2"]  # BULK_JOB_BATCH tickets a task, the first sending the second
    assert (done["done"], done["updated"], done["failed"], done["pending"]) == (5, 3, 2, 0)  # type: ignore[index]
    results = team.get(f"{JOBS}/{job['job_id']}/results", headers=team.bob).json()
    assert [r["ticket_id"] for r in results] == outage and [r["position"] for r in results] == [1, 2, 3, 4, 5]
    refused = results[2]
    assert (refused["outcome"], refused["status_code"], refused["applied"]) == ("failed", 409, [])
    assert "closed" in refused["detail"]
    failed = team.get(f"{JOBS}/{job['job_id']}/results?outcome=failed", headers=team.bob).json()
    assert [r["ticket_id"] for r in failed] == [outage[2], full]
    assert (failed[1]["applied"], failed[1]["status_code"]) == (["reply", "status"], 409)
    assert "at most 50" in failed[1]["detail"]
    kept = team.get(f"/api/tickets/{full}", headers=team.bob).json()
    assert (kept["status"], kept["assigned_to"], "outage" in kept["tags"]) == ("pending", None, True)
    for result in (results[0], results[1], results[3]):
        assert (result["outcome"], result["status_code"]) == ("updated", 200)
        assert result["applied"] == ["reply", "status", "tags", "assign", "tags"]  # the macro's, then the job's
        ticket = team.get(f"/api/tickets/{result['ticket_id']}", headers=team.bob).json()
        assert (ticket["status"], ticket["assigned_to"], ticket["tags"]) == ("pending", "ALICE", ["ack"])
        history = team.get(f"/api/tickets/{result['ticket_id']}/history", headers=team.bob).json()
        moved = [h for h in history if h["field"] == "status"]
        assert moved[-1]["new_value"] == "pending" and moved[-1]["actor"].endswith(f"alice-laptop via {job['job_id']}")
    thread = team.get(f"/api/tickets/{outage[0]}/messages", headers=team.bob).json()
    assert [(m["body"], m["author_name"], m["agent_id"]) for m in thread] == [
        ("Hi Ann, we know about the outage and are on it.\nAlice, Support", "Alice Moreau", "ALICE")
    ]
    for untouched in (outage[2], other, late):
        assert team.get(f"/api/tickets/{untouched}/messages", headers=team.bob).json() == []
    assert team.get(f"/api/tickets/{late}", headers=team.bob).json()["status"] != "pending"
    listed = team.get(f"{JOBS}?state=done", headers=team.bob).json()
    assert [j["job_id"] for j in listed] == [job["job_id"]]

    # A worker that died after changing a ticket but before writing its outcome tries it again: nothing twice.
    with session_factory() as session:
        session.execute(
            sa.update(BulkJobItem).where(BulkJobItem.job_id == job["job_id"]).values(ok=None, finished_at=None)
        )
        session.execute(sa.update(BulkJob).where(BulkJob.job_id == job["job_id"]).values(state="running"))
        session.commit()
        again = run_batch(session, job["job_id"], _settings(team))
    assert (again.tried, again.more) == (5, False)
    rerun = team.get(f"{JOBS}/{job['job_id']}", headers=team.bob).json()
    assert (rerun["state"], rerun["updated"], rerun["failed"]) == ("done", 3, 2)
    messages = stored(session_factory, TicketMessage, TicketMessage.id)
    assert len(messages) == 4  # one reply on each ticket the macro answered, none posted again
    assert team.get(f"/api/tickets/{outage[0]}", headers=team.bob).json()["tags"] == ["ack"]


def test_what_would_refuse_every_ticket_is_refused_before_anything_is_stored(  # type: ignore[no-untyped-def]
    team, client_for, db_url, session_factory
) -> None:
    _macro(team)
    ids = [web_ticket(team) for _ in range(3)]
    _tagged(team, ids, "outage")
    to_bob = {"macro_id": "to-bob", "title": "To Bob", "body": "Bob takes it.", "internal": True,
              "assign": {"agent_id": "BOB"}}  # fmt: skip
    assert team.post("/api/macros", json=to_bob, headers=team.admin).status_code == 201
    assert team.patch("/api/agents/BOB", json={"active": False}, headers=team.admin).status_code == 200
    inactive = {"macro_id": "off", "title": "Off", "body": "Closing this.", "active": False}
    assert team.post("/api/macros", json=inactive, headers=team.admin).status_code == 201

    def refused(code: int, text: str, headers: dict[str, str] | None = None, **body: Any) -> None:
        answer = team.post(JOBS, json=body, headers=headers or team.alice)
        assert answer.status_code == code, answer.text
        assert text in answer.text

    refused(422, "name the tickets one way", status="pending")
    refused(422, "got ticket_ids, filters", ticket_ids=ids, filters={}, status="pending")
    refused(422, "give a change to make", filters={"tag": "outage"})
    refused(422, "given twice", ticket_ids=[ids[0], ids[0]], status="pending")
    refused(422, "tagg", filters={"tagg": "outage"}, status="pending")  # a misspelt filter is not every ticket
    refused(404, "view 'nope' not found", view_id="nope", status="pending")
    refused(404, "macro 'nope' not found", filters={"tag": "outage"}, macro_id="nope")
    refused(409, "macro 'off' is inactive", filters={"tag": "outage"}, macro_id="off")
    refused(404, "agent 'NOBODY' not found", filters={"tag": "outage"}, assign={"agent_id": "NOBODY"})
    refused(409, "BOB", filters={"tag": "outage"}, assign={"agent_id": "BOB"})
    refused(409, "BOB", filters={"tag": "outage"}, macro_id="to-bob")  # the agent the macro assigns
    refused(409, "number 3 now, not the 2 expected", filters={"tag": "outage"}, status="pending", expected_total=2)
    refused(422, "key 'front-desk' is linked to no", team.shared, filters={"assigned_to": "me"}, status="pending")
    refused(422, "key 'front-desk' is linked to no", team.shared, ticket_ids=ids, assign={"agent_id": "me"})
    refused(422, "key 'front-desk' is linked to no agent", team.shared, ticket_ids=ids, macro_id="outage-ack")
    assert team.post(JOBS, json={"ticket_ids": ids, "status": "pending"}).status_code == 403  # the web form's key
    small = client_for(db_url, auth_disabled=False, bulk_job_max_tickets=2)
    over = small.post(JOBS, json={"filters": {"tag": "outage"}, "status": "pending"}, headers=team.alice)
    assert over.status_code == 422 and "more than 2 tickets (BULK_JOB_MAX_TICKETS)" in over.json()["detail"]
    named = small.post(JOBS, json={"ticket_ids": ids, "status": "pending"}, headers=team.alice)
    assert named.status_code == 422 and "at most 2" in named.json()["detail"]
    assert stored(session_factory, BulkJob, BulkJob.job_id) == []
    assert all(team.get(f"/api/tickets/{t}", headers=team.alice).json()["status"] == "new" for t in ids)

    nothing = _job(team, team.alice, filters={"tag": "no-such-tag"}, status="pending", expected_total=0)
    assert (nothing["state"], nothing["total"], nothing["pending"]) == ("done", 0, 0)
    assert nothing["finished_at"] is not None
    assert team.get(f"{JOBS}/nope", headers=team.alice).status_code == 404
    assert team.get(f"{JOBS}/nope/results", headers=team.alice).status_code == 404
    assert team.post(f"{JOBS}/nope/cancel", headers=team.alice).status_code == 404
    assert team.get(f"{JOBS}?state=finished", headers=team.alice).status_code == 422

    # A view of `me` holds the caller's own tickets.
    assert team.put(f"/api/tickets/{ids[1]}/assign", json={"agent_id": "me"}, headers=team.alice).status_code == 200
    mine = {"view_id": "mine", "title": "My tickets", "filters": {"assigned_to": "me"}}
    assert team.post("/api/views", json=mine, headers=team.admin).status_code == 201
    own = _job(team, team.alice, view_id="mine", tags={"add": ["mine"]}, expected_total=1)
    assert own["source"] == {"view_id": "mine", "filters": {"assigned_to": "ALICE"}}
    refused(422, "key 'front-desk' is linked to no", team.shared, view_id="mine", tags={"add": ["mine"]})


def test_a_job_stops_when_cancelled_or_when_its_key_loses_its_right(  # type: ignore[no-untyped-def]
    team, db_url, session_factory, redis_client
) -> None:
    ids = [web_ticket(team) for _ in range(3)]
    settings = _settings(team)
    view = {"view_id": "new-ones", "title": "New", "filters": {"status": "new", "sort": "newest"}}
    assert team.post("/api/views", json=view, headers=team.admin).status_code == 201
    job = _job(team, team.alice, view_id="new-ones", status="open")
    assert job["source"] == {"view_id": "new-ones", "filters": {"status": "new"}}  # newest first: the default
    sent = [json.loads(raw) for raw in redis_client.lrange("bulk", 0, -1)]
    assert [m["headers"]["argsrepr"] for m in sent] == [repr([job["job_id"]])]  # sent to the bulk worker
    with session_factory() as session:
        first = run_batch(session, job["job_id"], settings, size=1)
    assert (first.tried, first.more) == (1, True)
    cancelled = team.post(f"{JOBS}/{job['job_id']}/cancel", headers=team.bob)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["state"], body["done"], body["pending"]) == ("cancelled", 1, 2)
    assert body["cancelled_by"].endswith("bob-laptop") and body["finished_at"] is not None
    with session_factory() as session:
        assert run_batch(session, job["job_id"], settings) == (0, False)  # nothing more after a cancel
    statuses = [team.get(f"/api/tickets/{t}", headers=team.alice).json()["status"] for t in ids]
    assert statuses == ["new", "new", "open"]  # the view's order: the newest first
    again = team.post(f"{JOBS}/{job['job_id']}/cancel", headers=team.alice)
    assert again.status_code == 200 and again.json()["cancelled_by"] == body["cancelled_by"]
    pending = team.get(f"{JOBS}/{job['job_id']}/results?outcome=pending", headers=team.alice).json()
    assert [(r["ticket_id"], r["status_code"]) for r in pending] == [(ids[1], None), (ids[0], None)]

    whole = _job(team, team.alice, ticket_ids=[ids[0]], tags={"add": ["seen"]})
    with session_factory() as session:
        assert run_batch(session, whole["job_id"], settings) == (1, False)
    finished = team.post(f"{JOBS}/{whole['job_id']}/cancel", headers=team.alice)
    assert finished.status_code == 409 and "done" in finished.json()["detail"]

    # Bob is deactivated, then Alice's key revoked: each one's job stops before its next ticket.
    bobs = _job(team, team.bob, ticket_ids=ids, tags={"add": ["bob"]})
    alices = _job(team, team.alice, ticket_ids=ids, tags={"add": ["alice"]})
    assert team.patch("/api/agents/BOB", json={"active": False}, headers=team.admin).status_code == 200
    alice_key = next(k for k in team.get("/api/keys", headers=team.admin).json() if k["name"] == "alice-laptop")
    assert team.delete(f"/api/keys/{alice_key['id']}", headers=team.admin).status_code in (200, 204)
    for stopped, why in ((bobs, "agent 'BOB' was deactivated"), (alices, "key 'alice-laptop' was revoked")):
        with session_factory() as session:
            assert run_batch(session, stopped["job_id"], settings) == (0, False)
        now = team.get(f"{JOBS}/{stopped['job_id']}", headers=team.admin).json()
        assert (now["state"], now["pending"], now["cancelled_by"]) == ("cancelled", 3, None)
        assert why in now["detail"]
    assert all("bob" not in team.get(f"/api/tickets/{t}", headers=team.admin).json()["tags"] for t in ids)
    listed = {
        state: [j["job_id"] for j in team.get(f"{JOBS}?state={state}", headers=team.admin).json()]
        for state in ("cancelled", "done", "queued")
    }
    assert listed == {"cancelled": [alices["job_id"], bobs["job_id"], job["job_id"]], "done": [whole["job_id"]],
                      "queued": []}  # fmt: skip


def test_the_sweeper_sends_a_quiet_job_again(team, db_url, session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    ids = [web_ticket(team) for _ in range(2)]
    job = _job(team, team.alice, ticket_ids=ids, status="open")
    redis_client.delete("bulk")  # its task lost with Redis
    settings = _settings(team)
    factory = team.app.state.sessionmaker
    assert sweep_once(factory, settings).bulk_jobs == ()  # not quiet long enough yet
    with session_factory() as session:
        quiet_since = utcnow() - timedelta(seconds=settings.sweep_stale_after_s + 5)
        session.execute(sa.update(BulkJob).where(BulkJob.job_id == job["job_id"]).values(heartbeat_at=quiet_since))
        session.commit()
    assert sweep_once(factory, settings).bulk_jobs == (job["job_id"],)
    assert redis_client.llen("bulk") == 1
    assert sweep_once(factory, settings).bulk_jobs == ()  # marked as sent: not sent on every pass
    with session_factory() as session:
        run_batch(session, job["job_id"], settings)
    assert team.get(f"{JOBS}/{job['job_id']}", headers=team.alice).json()["state"] == "done"


def test_a_defect_fails_one_ticket_and_an_outage_leaves_it_for_the_retry(  # type: ignore[no-untyped-def]
    team, session_factory, monkeypatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from gateway.services import bulk_jobs

    ids = [web_ticket(team) for _ in range(3)]
    job = _job(team, team.alice, ticket_ids=ids, tags={"add": ["seen"]})
    make_changes = bulk_jobs.make_changes

    def flaky(session, ticket_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if ticket_id == ids[1]:
            raise failure
        return make_changes(session, ticket_id, *args, **kwargs)

    monkeypatch.setattr(bulk_jobs, "make_changes", flaky)
    failure: Exception = OperationalError("UPDATE tickets", {}, ConnectionError("server closed the connection"))
    with session_factory() as session, pytest.raises(OperationalError):
        run_batch(session, job["job_id"], _settings(team))  # the task retries it later
    outcomes = team.get(f"{JOBS}/{job['job_id']}/results", headers=team.alice).json()
    assert [r["outcome"] for r in outcomes] == ["updated", "pending", "pending"]
    failure = KeyError("a defect")
    with session_factory() as session:
        assert run_batch(session, job["job_id"], _settings(team)) == (2, False)  # not stalled on that ticket
    outcomes = team.get(f"{JOBS}/{job['job_id']}/results", headers=team.alice).json()
    assert [(r["outcome"], r["status_code"]) for r in outcomes] == [("updated", 200), ("failed", 500), ("updated", 200)]
    assert "unexpected error (KeyError)" in outcomes[1]["detail"]
    assert team.get(f"{JOBS}/{job['job_id']}", headers=team.alice).json()["state"] == "done"

    # Cancelled while a batch runs: the ticket being changed is finished, the next is not started.
    third = _job(team, team.alice, ticket_ids=ids, tags={"add": ["late"]})

    def cancelling(session, ticket_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if ticket_id == ids[0]:
            assert team.post(f"{JOBS}/{third['job_id']}/cancel", headers=team.bob).status_code == 200
        return make_changes(session, ticket_id, *args, **kwargs)

    monkeypatch.setattr(bulk_jobs, "make_changes", cancelling)
    with session_factory() as session:
        assert run_batch(session, third["job_id"], _settings(team)) == (1, False)
    outcomes = team.get(f"{JOBS}/{third['job_id']}/results", headers=team.alice).json()
    assert [r["outcome"] for r in outcomes] == ["updated", "pending", "pending"]
    assert team.get(f"{JOBS}/{third['job_id']}", headers=team.alice).json()["state"] == "cancelled"


def test_the_sweeper_deletes_jobs_finished_long_ago(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    ids = [web_ticket(team) for _ in range(2)]
    settings = _settings(team)
    jobs = [_job(team, team.alice, ticket_ids=ids, tags={"add": [f"j{n}"]})["job_id"] for n in range(4)]
    with session_factory() as session:
        for job_id in jobs[:3]:
            run_batch(session, job_id, settings)
    assert team.post(f"{JOBS}/{jobs[2]}/cancel", headers=team.alice).status_code == 409  # done: cancel another
    with session_factory() as session:
        days_ago = {jobs[0]: 91, jobs[1]: 89}  # done long ago, and not quite; jobs[2] done now, jobs[3] queued
        for job_id, days in days_ago.items():
            finished = utcnow() - timedelta(days=days)
            session.execute(sa.update(BulkJob).where(BulkJob.job_id == job_id).values(finished_at=finished))
        session.commit()
    factory = team.app.state.sessionmaker
    kept = settings.model_copy(update={"bulk_job_keep_days": None})
    assert sweep_once(factory, kept).bulk_jobs_deleted == ()  # empty keeps them
    assert sweep_once(factory, settings).bulk_jobs_deleted == (jobs[0],)  # BULK_JOB_KEEP_DAYS 90
    assert team.get(f"{JOBS}/{jobs[0]}", headers=team.alice).status_code == 404
    items = stored(session_factory, BulkJobItem, BulkJobItem.position)
    assert sorted({item.job_id for item in items}) == sorted(jobs[1:]) and len(items) == 6
    history = team.get(f"/api/tickets/{ids[0]}/history", headers=team.alice).json()
    assert any(h["new_value"] == "j0" and h["actor"].endswith(f"via {jobs[0]}") for h in history)  # still named


@pytest.mark.parametrize(
    "body",
    [{"ticket_ids": ["T-1"], "status": "open"}, {"view_id": "v", "macro_id": "m"},
     {"filters": {}, "tags": {"add": ["x"]}}, {"filters": {"tag": "x"}, "assign": {"agent_id": None}},
     {"status": "open"}, {"filters": {}},
     {"ticket_ids": ["T-1"], "view_id": "v", "status": "open"}, {"filters": {}, "view_id": None, "status": "open"},
     {"filters": None, "status": "open"}, {"view_id": "v", "macro_id": None, "status": None},
     {"filters": {}, "macro_id": "m", "expected_total": 3}],
)  # fmt: skip
def test_the_documented_job_schema_and_the_check_agree(body: dict[str, Any]) -> None:
    """What the OpenAPI schema's `oneOf` and `anyOf` refuse (no source or two, no change) is what the model refuses."""
    documented = jsonschema.Draft202012Validator(BulkJobCreate.model_json_schema()).is_valid(body)
    try:
        BulkJobCreate.model_validate(body)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert documented == accepted
    sources = [name for name in ("ticket_ids", "view_id", "filters") if body.get(name) is not None]
    changes = [name for name in ("macro_id", "status", "assign", "tags") if body.get(name) is not None]
    assert accepted == (len(sources) == 1 and bool(changes))


def test_a_macro_needing_an_order_id_fails_the_tickets_without_one(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Known only per ticket, an order id the macro holds is checked per ticket: the others are answered."""
    from shared.references import replace_found_references

    body = {"macro_id": "shipped", "title": "Shipped", "body": "Order {{ticket.order_id}} has shipped."}
    assert team.post("/api/macros", json=body, headers=team.admin).status_code == 201
    with_order, without = web_ticket(team), web_ticket(team)
    with session_factory() as session:
        replace_found_references(session, with_order, {"order_ids": ["ord-31"]})
        session.commit()
    job = _job(team, team.alice, ticket_ids=[with_order, without], macro_id="shipped")
    sending = _settings(team).model_copy(update={"reply_webhook_url": "http://127.0.0.1:9/hooks"})
    with session_factory() as session:
        run_batch(session, job["job_id"], sending)  # as a worker whose REPLY_WEBHOOK_URL is set
    results = team.get(f"{JOBS}/{job['job_id']}/results", headers=team.bob).json()
    assert [(r["outcome"], r["status_code"]) for r in results] == [("updated", 200), ("failed", 409)]
    assert "holds {{ticket.order_id}}" in results[1]["detail"]
    thread = team.get(f"/api/tickets/{with_order}/messages", headers=team.bob).json()
    assert [(m["body"], m["delivery"] and m["delivery"]["state"]) for m in thread] == [
        ("Order ORD-31 has shipped.", "pending")  # its reply goes to the channel like an agent's own
    ]
    assert team.get(f"/api/tickets/{without}/messages", headers=team.bob).json() == []
