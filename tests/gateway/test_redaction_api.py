"""Card numbers never reach the database: masked in a new ticket (form or vendor webhook), in every message
either way, and in the answers (each database)."""

from __future__ import annotations

import json

from tests.gateway.test_erasure import everything_stored
from tests.gateway.test_webhooks_api import ZD, raw, zendesk_headers

CARD = "4242 4242 4242 4242"
TRACES = ("4242 4242 4242 4242", "4242424242424242", "5555-5555-5555-4444", "5555555555554444", "CVV 737")


def test_a_ticket_and_its_messages_are_stored_without_card_numbers(api, db_url) -> None:  # type: ignore[no-untyped-def]
    created = api.post(
        "/api/tickets/create",
        json={
            "customer_email": "card@example.com",
            "subject": f"Charged twice on {CARD}",
            "description": f"You charged {CARD} twice for order #55213, CVV 737. Tracking 1Z999AA10123456784.",
            "order_id": "55213",
        },
    )
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["subject"] == "Charged twice on [card ending 4242]"
    assert ticket["description"] == (
        "You charged [card ending 4242] twice for order #55213, CVV [removed]. Tracking 1Z999AA10123456784."
    )
    assert api.get(f"/api/tickets/{ticket['ticket_id']}").json()["description"] == ticket["description"]
    path = f"/api/tickets/{ticket['ticket_id']}"
    customer = api.post(f"{path}/customer-messages", json={"body": "Or use my other card 5555-5555-5555-4444"})
    agent = api.post(f"{path}/messages", json={"body": f"Noted: refund to {CARD}", "internal": True})
    assert customer.json()["message"]["body"] == "Or use my other card [card ending 4444]"
    assert agent.json()["message"]["body"] == "Noted: refund to [card ending 4242]"

    # A card typed into the form's order id field: neither its custom field nor its lookup key keeps it.
    form = {"customer_email": "card@example.com", "subject": "Refund", "description": "Refund please."}
    wrong_field = api.post("/api/tickets/create", json={**form, "order_id": "5555-5555-5555-4444"})
    assert wrong_field.json()["ticket"]["metadata"] == {"order_id": "[card ending 4444]"}

    stored = everything_stored(db_url)
    assert [trace for trace in TRACES if trace in stored] == []
    assert "55213" in stored and "1Z999AA10123456784" in stored  # what only looks like one is kept


def test_a_vendor_ticket_and_comment_are_stored_without_card_numbers(client_for, db_url) -> None:  # type: ignore[no-untyped-def]
    api = client_for(db_url, zendesk_webhook_secret="zd-signing-secret")
    event = json.loads(raw("zendesk_event_ticket_created.json"))
    event["detail"]["description"] = f"Please update my card to {CARD}"
    event["detail"]["tags"] = ["billing", "5555555555554444"]  # vendor fields become custom fields
    created = json.dumps(event).encode()
    answer = api.post(ZD, content=created, headers=zendesk_headers(created))
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["ticket"]["description"] == "Please update my card to [card ending 4242]"
    assert "[card ending 4444]" in answer.json()["ticket"]["metadata"]["zendesk_tags"]

    comment = raw("zendesk_event_comment_added.json").replace(
        b"I reinstalled the app and it still says 'invalid session'.", b"New card: 5555555555554444, CVV 737"
    )
    assert api.post(ZD, content=comment, headers=zendesk_headers(comment)).status_code in (200, 201)
    (message,) = api.get(f"/api/tickets/{answer.json()['ticket']['ticket_id']}/messages").json()
    assert message["body"] == "New card: [card ending 4444], CVV [removed]"
    assert [trace for trace in TRACES if trace in everything_stored(db_url)] == []
