"""`GET /metrics` on SQLite and PostgreSQL with real Redis: each figure checked against tickets and queue
messages set up by hand, a store that is down reported as down, and a `monitor` key that reads nothing else."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError

from shared.auth import Role, create_key
from shared.celery import CLASSIFY_QUEUE, CLASSIFY_TASK, get_producer
from shared.config import Settings
from shared.models import utcnow
from tests.conftest import force_ticket, wait_until
from tests.gateway.conftest import web_ticket
from tests.prometheus_text import Samples, parse_samples

TICKET = {
    "customer_email": "metrics@example.com",
    "subject": "Where is my parcel?",
    "description": "Order #5521 has not arrived.",
}
UNREACHABLE = "127.0.0.1:9"  # the discard port: nothing listens


def _create(api, **forced) -> str:  # type: ignore[no-untyped-def]
    """A web ticket, its columns then set as `forced` says."""
    ticket_id = web_ticket(api)
    if forced:
        force_ticket(api.app.state.settings.database_url, ticket_id, **forced)
    return ticket_id


def scrape(api, **headers: str) -> Samples:  # type: ignore[no-untyped-def]
    """Each sample's value by name and labels."""
    response = api.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_samples(response.text)


def by(samples, name: str, label: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """A family's values by its one label."""
    return {dict(labels)[label]: v for labels, v in samples[f"support_copilot_{name}"].items()}


def one(samples, name: str) -> float:  # type: ignore[no-untyped-def]
    (value,) = samples[f"support_copilot_{name}"].values()
    return value


def test_figures_follow_the_tickets_and_the_queues(api, redis_client):
    assert api.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}).status_code == 201
    now = utcnow()
    done = {"processing_state": "done"}
    days_ago = now - timedelta(days=3)
    late = _create(api, priority="high", category="shipping", needs_review=True, flagged_at=now - timedelta(hours=1),
                   created_at=days_ago, awaiting_reply_since=days_ago, **done)  # fmt: skip
    # answered at once, then kept waiting a day after the customer wrote back: past its resolution and next
    # reply targets, not its first response's
    _create(api, priority="critical", category="shipping", created_at=days_ago, first_response_at=days_ago,
            awaiting_reply_since=now - timedelta(days=1), **done)  # fmt: skip
    _create(api, priority="low", category="billing", status="pending", **done)
    _create(api, priority="critical", category="refund", status="closed", processing_state="failed")
    _create(api, processing_requested_at=now - timedelta(minutes=30))  # queued for half an hour
    assert api.put(f"/api/tickets/{late}/assign", json={"agent_id": "AG-1"}).status_code == 200

    samples = scrape(api)
    assert by(samples, "up", "component") == {"database": 1.0, "redis": 1.0}
    assert one(samples, "tickets_created_total") == 5
    assert by(samples, "tickets", "status") == {
        "new": 3, "open": 0, "in_progress": 0, "pending": 1, "resolved": 0, "closed": 1,
    }  # fmt: skip
    assert by(samples, "ai_tickets", "state") == {"queued": 1, "classified": 0, "done": 3, "failed": 1}
    assert 30 * 60 <= one(samples, "ai_oldest_waiting_seconds") < 30 * 60 + 60
    assert by(samples, "unresolved_tickets", "priority") == {
        "low": 1, "medium": 0, "high": 1, "critical": 1, "unclassified": 1,
    }  # fmt: skip
    categories = by(samples, "unresolved_tickets_by_category", "category")
    assert {c: n for c, n in categories.items() if n} == {"shipping": 2, "billing": 1, "unclassified": 1}
    assert one(samples, "unassigned_tickets") == 3
    assert one(samples, "needs_review_tickets") == 1
    assert 3600 <= one(samples, "needs_review_oldest_seconds") < 3600 + 60
    overdue = {tuple(v for _, v in labels): n for labels, n in samples["support_copilot_overdue_tickets"].items() if n}
    # 3 days without a reply: past each target (the customer's wait counts against the first response's too)
    assert overdue == {
        ("high", "resolution"): 1, ("high", "first_response"): 1, ("high", "next_reply"): 1,
        ("critical", "resolution"): 1, ("critical", "next_reply"): 1,
    }  # fmt: skip
    assert one(samples, "awaiting_reply_tickets") == 4  # every unresolved ticket here waits for a reply
    assert 3 * 86400 <= one(samples, "awaiting_reply_oldest_seconds") < 3 * 86400 + 60
    assert "support_copilot_business_hours_open" not in samples  # no calendar set

    # Redis: the five intakes' classify tasks wait (no worker runs here), and one sent with a priority, which
    # kombu keeps in the queue's list for that priority; one taken and not acknowledged moves from the queue to
    # the unacked count, as a worker running it would.
    get_producer().send_task(CLASSIFY_TASK, args=["TKT-X"], queue=CLASSIFY_QUEUE, priority=9)
    samples = scrape(api)
    assert by(samples, "queue_messages", "queue") == {
        "classify": 6, "draft": 0, "kb": 0, "alerts": 0, "replies": 0, "bulk": 0,
    }  # fmt: skip
    assert one(samples, "queue_unacked_messages") == 0
    with get_producer().connection_for_read() as connection:
        taken = connection.SimpleQueue("classify", no_ack=False).get(timeout=5)
        samples = scrape(api)
        assert by(samples, "queue_messages", "queue")["classify"] == 5
        assert one(samples, "queue_unacked_messages") == 1
        taken.ack()
    assert one(scrape(api), "queue_unacked_messages") == 0


def test_undelivered_webhooks_by_kind(api, session_factory):
    from shared.models import Alert, StatusDelivery

    ticket_id = _create(api)
    now = utcnow()

    def alert(name: str, age: timedelta, **state: object) -> Alert:
        return Alert(alert_id=name, ticket_id=ticket_id, event=f"test.{name}", priority="high", counted_from=now,
                     payload={}, created_at=now - age, next_attempt_at=now, **state)  # fmt: skip

    with session_factory() as session:
        session.add_all([
            alert("pending", timedelta(minutes=10)),
            alert("failed", timedelta(hours=2), failed_at=now),
            alert("sent", timedelta(hours=3), delivered_at=now),
            StatusDelivery(delivery_id="s-failed", ticket_id=ticket_id, previous_status="open", status="resolved",
                           payload={}, created_at=now, next_attempt_at=now, failed_at=now),
        ])  # fmt: skip
        session.commit()
    samples = scrape(api)
    deliveries = {tuple(v for _, v in labels): n for labels, n in samples["support_copilot_deliveries"].items()}
    assert deliveries == {
        ("alert", "pending"): 1, ("alert", "failed"): 1, ("reply", "pending"): 0, ("reply", "failed"): 0,
        ("status_change", "pending"): 0, ("status_change", "failed"): 1,
    }  # fmt: skip
    oldest = by(samples, "delivery_oldest_pending_seconds", "kind")
    assert (
        600 <= oldest["alert"] < 660 and oldest["reply"] == oldest["status_change"] == 0
    )  # the failed one waits no more


def test_worker_task_runs_are_read_from_redis(api):
    """Each run of a task of ours is added to Redis at its end (here run in this process by `apply`, which sends
    the signals a worker's run sends), and a scrape reads the sum: begun, ended by state, and timed."""
    from shared.celery import make_celery

    app = make_celery("metrics-test", api.app.state.settings)

    @app.task(name="tests.metrics.quick")
    def quick() -> str:
        return "ok"

    @app.task(name="tests.metrics.slow")
    def slow() -> None:
        time.sleep(0.06)

    @app.task(name="tests.metrics.broken")
    def broken() -> None:
        raise ValueError("broken on purpose")

    for _ in range(3):
        quick.apply()
    slow.apply()
    assert broken.apply().failed()
    samples = scrape(api)
    assert by(samples, "worker_task_starts_total", "task") == {
        "tests.metrics.quick": 3, "tests.metrics.slow": 1, "tests.metrics.broken": 1,
    }  # fmt: skip
    ends = {tuple(v for _, v in labels): n for labels, n in samples["support_copilot_worker_tasks_total"].items()}
    assert ends == {
        ("success", "tests.metrics.quick"): 3, ("success", "tests.metrics.slow"): 1,
        ("failure", "tests.metrics.broken"): 1,
    }  # fmt: skip
    buckets = {
        (dict(labels)["task"], dict(labels)["le"]): n
        for labels, n in samples["support_copilot_worker_task_duration_seconds_bucket"].items()
    }
    assert [buckets["tests.metrics.slow", le] for le in ("0.01", "0.05", "0.1", "120.0", "+Inf")] == [0, 0, 1, 1, 1]
    assert [buckets["tests.metrics.quick", le] for le in ("0.05", "+Inf")] == [3, 3]  # a first run may pass 10 ms
    counts = by(samples, "worker_task_duration_seconds_count", "task")
    assert counts == {"tests.metrics.quick": 3, "tests.metrics.slow": 1, "tests.metrics.broken": 1}
    assert 0.06 <= by(samples, "worker_task_duration_seconds_sum", "task")["tests.metrics.slow"] < 0.1

    quick.apply()  # a later scrape reads the new total, whichever process added it
    assert by(scrape(api), "worker_task_starts_total", "task")["tests.metrics.quick"] == 4


@pytest.mark.slow
def test_workers_are_counted_by_queue_while_they_beat(client_for, sqlite_url, start_worker, redis_client):
    """Real workers beat into Redis: a queue nobody consumes shows 0, a worker stopped on purpose leaves at once,
    and a killed one once it has missed three beats."""
    api = client_for(sqlite_url)
    workers = lambda: by(scrape(api), "workers", "queue")  # noqa: E731
    assert workers() == {"classify": 0, "draft": 0, "kb": 0, "alerts": 0, "replies": 0, "bulk": 0}
    beat = {"WORKER_HEARTBEAT_S": "0.5"}
    alerts = start_worker("classifier_worker", sqlite_url, queues="alerts,replies", app="alert_worker", **beat)
    bulk = start_worker("gateway", sqlite_url, queues="bulk", app="bulk_worker", **beat)
    also_bulk = start_worker("gateway", sqlite_url, queues="bulk", app="bulk_worker", **beat)
    wait_until(lambda: workers()["bulk"] == 2)
    assert workers() == {"classify": 0, "draft": 0, "kb": 0, "alerts": 1, "replies": 1, "bulk": 2}

    alerts.stop()
    assert workers() == {"classify": 0, "draft": 0, "kb": 0, "alerts": 0, "replies": 0, "bulk": 2}
    bulk.kill()  # no goodbye: counted until its last beat runs out (1.5 s)
    wait_until(lambda: workers()["bulk"] == 1, timeout=8)
    time.sleep(1.5)  # the one still beating stays counted past its first beats' expiry
    assert workers()["bulk"] == 1
    assert redis_client.zcard("support_copilot:workers") == 1  # its beats dropped the dead worker's member
    also_bulk.kill()  # the last: nobody beats to drop its member, and the scrape does not count it once run out
    wait_until(lambda: workers()["bulk"] == 0, timeout=8)
    assert redis_client.zcard("support_copilot:workers") == 1


def test_business_hours_open_or_closed(client_for, db_url, redis_client):
    always = client_for(db_url, business_hours="mon-sun 00:00-24:00")
    assert one(scrape(always), "business_hours_open") == 1.0
    never = client_for(db_url, business_hours="mon-fri 09:00-17:00", business_holidays=utcnow().date().isoformat())
    assert one(scrape(never), "business_hours_open") == 0.0  # today is a holiday


def test_a_store_that_is_down_is_reported_and_its_figures_left_out(client_for, db_url, redis_client):
    """A scrape answers 200 with `up` 0 for what did not answer, so the other store's figures still come."""
    no_redis = client_for(db_url, redis_url=f"redis://{UNREACHABLE}/0")
    _create(no_redis)
    samples = scrape(no_redis)
    assert by(samples, "up", "component") == {"database": 1.0, "redis": 0.0}
    assert one(samples, "tickets_created_total") == 1
    assert "support_copilot_queue_messages" not in samples
    redis = {"support_copilot_workers", "support_copilot_worker_tasks_total", "support_copilot_sweeper_items_total"}
    assert not redis & samples.keys()

    no_database = client_for(f"postgresql+psycopg://postgres@{UNREACHABLE}/test?connect_timeout=1")
    samples = scrape(no_database)
    assert by(samples, "up", "component") == {"database": 0.0, "redis": 1.0}
    assert by(samples, "queue_messages", "queue")["classify"] == 1  # the ticket above, still waiting
    assert "support_copilot_tickets" not in samples and "support_copilot_tickets_created_total" not in samples


def test_openmetrics_when_the_scraper_asks_for_it(api):
    _create(api)
    response = api.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert "support_copilot_tickets_created_total 1.0\n" in response.text and response.text.endswith("# EOF\n")


def test_a_monitor_key_reads_the_metrics_and_nothing_else(client_for, db_url, redis_client, session_factory):
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        monitor = {"X-API-Key": create_key(session, name="prometheus", role=Role.monitor)[1]}
        web = {"X-API-Key": create_key(session, name="web", role=Role.integration)[1]}
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers=monitor).status_code == 200
    assert api.get("/metrics", headers=web).status_code == 200  # a higher role includes it
    assert api.get("/api/me", headers=monitor).json()["role"] == "monitor"
    for method, path in (("POST", "/api/tickets/create"), ("GET", "/api/tickets/"), ("GET", "/api/overview")):
        refused = api.request(method, path, json=TICKET, headers=monitor)
        assert refused.status_code == 403, (method, path, refused.text)


def _answered(samples, route: str, status: str, method: str = "GET") -> float:  # type: ignore[no-untyped-def]
    key = (("method", method), ("route", route), ("service", "gateway"), ("status", status))
    return samples.get("support_copilot_http_requests_total", {}).get(key, 0.0)


def test_requests_are_counted_by_route_template_and_status(api):
    """By the route's template, never the path (ids and scanners' paths would grow the series without end)."""
    ticket_id = _create(api)
    before = scrape(api)
    for _ in range(2):
        assert api.get(f"/api/tickets/{ticket_id}").status_code == 200
    assert api.get("/api/tickets/TKT-NOPE").status_code == 404
    assert api.get("/wp-login.php").status_code == 404
    assert api.head("/health").status_code == 200  # counted as the GET it runs
    assert api.request("BREW", "/health").status_code == 405
    after = scrape(api)

    def added(route: str, status: str, method: str = "GET") -> float:
        return _answered(after, route, status, method) - _answered(before, route, status, method)

    assert added("/api/tickets/{ticket_id}", "200") == 2 and added("/api/tickets/{ticket_id}", "404") == 1
    assert added("unmatched", "404") == 1 and added("/health", "200") == 1 and added("/health", "405", "other") == 1
    assert added("/metrics", "200") == 1  # the first scrape, counted once it was answered
    assert not any("TKT-" in dict(labels)["route"] for labels in after["support_copilot_http_requests_total"])
    timed = after["support_copilot_http_request_duration_seconds_count"]
    key = (("method", "GET"), ("route", "/api/tickets/{ticket_id}"), ("service", "gateway"))
    assert timed[key] - before["support_copilot_http_request_duration_seconds_count"].get(key, 0) == 3


HEALTH_OK = (("method", "GET"), ("route", "/health"), ("service", "gateway"), ("status", "200"))


def test_two_gateway_processes_answer_one_sum(sqlite_url, redis_client, tmp_path):
    """compose's `uvicorn --workers 2` with PROMETHEUS_MULTIPROC_DIR: whichever process a scrape reaches, it
    answers every process's requests."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": sqlite_url, "AUTH_DISABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gateway.main:app", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(base), timeout=60)
        sent = 0
        # Fresh connections until both processes have answered some (each writes its own files).
        while len({p.stem.rsplit("_", 1)[1] for p in folder.glob("counter_*.db")}) < 2:
            assert sent < 2000, "one process answered every request"
            assert httpx.get(f"{base}/health", headers={"Connection": "close"}).status_code == 200
            sent += 1
        for _ in range(6):  # several scrapes, which either process answers: each the same sum
            body = httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text
            total = parse_samples(body)["support_copilot_http_requests_total"][HEALTH_OK]
            assert total >= sent + 1 and total == _health_counted(folder)  # + the polls while it started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", headers={"Connection": "close"}).status_code == 200
    except httpx.HTTPError:
        return False


def _health_counted(folder) -> float:  # type: ignore[no-untyped-def]
    """The `/health` 200s every process has written, read from the files as prometheus_client reads them."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return parse_samples(generate_latest(registry).decode())["support_copilot_http_requests_total"][HEALTH_OK]


TOKEN = "metrics-token-" + "x" * 30
WINDOW = 3600


def _clear_of_a_window_edge() -> None:
    """Past the next fixed-window boundary if it is under 30 s away (a burst that crossed one counts twice)."""
    left = WINDOW - time.time() % WINDOW
    if left < 30:
        time.sleep(left + 0.05)


def test_the_metrics_token_is_read_without_the_database(client_for, db_url, redis_client, session_factory):
    """METRICS_TOKEN answers a scrape through a database outage, where a key (looked up there) gets 503; it
    opens /metrics alone, and is rate-limited as a key."""
    api = client_for(db_url, auth_disabled=False, metrics_token=TOKEN, rate_limit_per_key=3, rate_limit_window_s=WINDOW)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    _clear_of_a_window_edge()  # the four scrapes below count in one fixed window
    assert by(scrape(api, **bearer), "up", "component")["database"] == 1.0
    assert api.get("/metrics", headers={"X-API-Key": TOKEN}).status_code == 200  # either header
    assert api.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}y"}).status_code == 401
    assert api.get("/api/me", headers=bearer).status_code == 401  # not a key
    assert api.get("/metrics", headers={"Authorization": "Bearer caf\xe9".encode("latin-1")}).status_code == 401
    assert api.get("/metrics", headers=bearer).status_code == 200  # the third of RATE_LIMIT_PER_KEY's 3
    limited = api.get("/metrics", headers=bearer)
    assert limited.status_code == 429 and "Retry-After" in limited.headers

    with session_factory() as session:
        key = {"X-API-Key": create_key(session, name="prometheus", role=Role.monitor)[1]}
    down = f"postgresql+psycopg://postgres@{UNREACHABLE}/test?connect_timeout=1"
    outage = client_for(down, auth_disabled=False, metrics_token=TOKEN)
    samples = scrape(outage, **bearer)
    assert by(samples, "up", "component") == {"database": 0.0, "redis": 1.0}
    assert "support_copilot_queue_messages" in samples
    assert outage.get("/metrics", headers=key).status_code == 503


def test_a_short_metrics_token_is_refused_at_start():
    with pytest.raises(ValidationError, match="METRICS_TOKEN must be at least 32 characters; it is 9"):
        Settings(metrics_token="too-short")
    with pytest.raises(ValidationError, match="it is 31"):
        Settings(metrics_token="x" * 31)
    assert Settings(metrics_token="x" * 32).metrics_token is not None
    assert Settings(metrics_token="").metrics_token is None  # compose passes it through empty
