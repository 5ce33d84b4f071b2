"""`GET /api/alerts` and `POST /api/alerts/{id}/retry`: what was sent to the team's webhook, and a failed alert
sent again once the webhook is fixed (each database, a real receiver, the task queued in real Redis)."""

from __future__ import annotations

from classifier_worker.delivery import deliver
from tests.classifier_worker.test_alerts import add_alert, rated


def test_alerts_are_listed_and_a_failed_one_sent_again(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for, receiver, redis_client
):
    settings = settings_for(db_url, alert_webhook_url=receiver.url)
    delivered = add_alert(session_factory, rated(api, db_url, "critical"), settings)
    assert deliver(delivered, settings=settings, factory=session_factory).status == "delivered"
    failed_ticket = rated(api, db_url, "critical")
    failed = add_alert(session_factory, failed_ticket, settings)
    receiver.answer(404)
    assert deliver(failed, settings=settings, factory=session_factory).status == "failed"
    pending = add_alert(session_factory, rated(api, db_url, "critical"), settings)

    listed = api.get("/api/alerts").json()
    assert [(a["alert_id"], a["state"]) for a in listed] == [
        (pending, "pending"), (failed, "failed"), (delivered, "delivered"),
    ]  # fmt: skip
    (only,) = api.get("/api/alerts", params={"state": "failed"}).json()
    assert only["alert_id"] == failed and only["attempts"] == 1 and only["last_error"].startswith("HTTP 404")
    assert [a["alert_id"] for a in api.get("/api/alerts", params={"ticket_id": failed_ticket}).json()] == [failed]
    assert [a["alert_id"] for a in api.get("/api/alerts", params={"state": "pending"}).json()] == [pending]
    pending_row = next(a for a in listed if a["alert_id"] == pending)
    counts = api.get("/api/overview").json()["alerts"]
    assert counts == {"pending": 1, "failed": 1, "oldest_pending_since": pending_row["created_at"]}
    bad = api.get("/api/alerts", params={"state": "lost"})
    assert bad.status_code == 422 and "state" in bad.text

    refused = api.post(f"/api/alerts/{delivered}/retry")
    assert refused.status_code == 409 and "was delivered" in refused.json()["detail"]
    refused = api.post(f"/api/alerts/{pending}/retry")
    assert refused.status_code == 409 and "still being delivered" in refused.json()["detail"]
    assert api.post("/api/alerts/no-such-alert/retry").status_code == 404

    assert redis_client.llen("alerts") == 0
    again = api.post(f"/api/alerts/{failed}/retry")
    assert again.status_code == 202, again.text
    body = again.json()
    assert body["state"] == "pending" and body["attempts"] == 0 and body["failed_at"] is None
    assert redis_client.llen("alerts") == 1  # its delivery task, for the alert worker
    assert deliver(failed, settings=settings, factory=session_factory).status == "delivered"
    assert api.get("/api/alerts", params={"state": "failed"}).json() == []
    assert api.get("/api/overview").json()["alerts"] == {
        "pending": 1, "failed": 0, "oldest_pending_since": pending_row["created_at"],
    }  # fmt: skip
    assert [r.headers["x-copilot-alert-id"] for r in receiver.received] == [delivered, failed, failed]
