"""Vendor payloads -> normalised events, HTML to text, and signature checks (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.webhooks import (
    ZENDESK_TEST_SECRET,
    EventKind,
    InvalidSignature,
    html_to_text,
    parse_intercom,
    parse_zendesk,
    sign_intercom,
    sign_zendesk,
    verify_intercom,
    verify_zendesk,
)
from shared.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------- Zendesk shapes


def test_zendesk_event_ticket_created_has_no_email_but_a_requester_id() -> None:
    event = parse_zendesk(load("zendesk_event_ticket_created.json"))
    assert event.kind == EventKind.ticket
    assert event.external_id == "5158"
    assert event.delivery_id == "cbe4028c-7239-495d-b020-f22348516046"
    assert event.subject == "Cannot login to mobile app"
    assert event.description == "Customer is experiencing login issues with the mobile app"
    assert event.requester_email is None and event.requester_id == "8447388090494"
    # enum case varies in events; stored lowercase
    assert event.metadata["zendesk_priority"] == "high" and event.metadata["zendesk_status"] == "open"
    assert event.metadata["zendesk_tags"] == "mobile login"


def test_zendesk_comment_added_is_a_message_on_the_ticket() -> None:
    event = parse_zendesk(load("zendesk_event_comment_added.json"))
    assert event.kind == EventKind.message
    assert event.external_id == "5158"
    assert event.message_id == "31987654321"
    assert event.message_body == "I reinstalled the app and it still says 'invalid session'."
    assert event.author_type == "customer" and event.author_name == "Ari Novak"


def test_zendesk_comment_ticket_id_falls_back_to_the_event_subject() -> None:
    payload = load("zendesk_event_comment_added.json")
    payload["detail"] = {}
    event = parse_zendesk(payload)
    assert event.external_id == "5158"
    assert event.subject  # derived from the comment when the detail carries none


def test_zendesk_seed_and_api_ticket_bodies() -> None:
    seed = parse_zendesk(load("zendesk_seed.json"))
    assert (seed.external_id, seed.requester_email, seed.requester_name) == (
        "12345",
        "customer@example.com",
        "Customer Name",
    )
    api = parse_zendesk(load("zendesk_api_ticket.json"))
    assert api.external_id == "35436" and api.requester_id == "20978392" and api.requester_email is None
    assert api.subject == "Help, my printer is on fire!"


def test_zendesk_trigger_json_rendered_and_unrendered() -> None:
    rendered = parse_zendesk(load("zendesk_trigger_rendered.json"))
    assert rendered.external_id == "9031" and rendered.requester_email == "mia.chen@example.net"
    assert not rendered.description.startswith("---")  # Zendesk's separator line is dropped
    # A template whose {{placeholders}} were not rendered carries no id: a clear 422, not a bogus ticket.
    template = json.loads((FIXTURES / "zendesk_trigger_template.txt").read_text())
    with pytest.raises(InvalidInput, match="no ticket/conversation id"):
        parse_zendesk(template)


def test_zendesk_other_event_types_are_ignored_and_bad_bodies_refused() -> None:
    payload = load("zendesk_event_ticket_created.json") | {"type": "zen:event-type:ticket.tags_changed"}
    assert parse_zendesk(payload).kind == EventKind.ignored
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_zendesk([1, 2])
    with pytest.raises(InvalidInput):
        parse_zendesk({"ticket": {"id": 1}})  # neither subject nor description


# --------------------------------------------------------------------------- Intercom shapes


def test_intercom_v2_conversation_html_becomes_text() -> None:
    event = parse_intercom(load("intercom_conversation_user_created_v2.json"))
    assert event.kind == EventKind.ticket and event.external_id == "40000000123"
    assert event.delivery_id == "notif_7d1c2f4e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
    assert event.requester_email == "dana.reyes@example.com" and event.requester_name == "Dana Reyes"
    assert event.description == (
        "Hi, my order #48213 never arrived.\n\n"
        'Tracking says "delivered" but nothing here.\nCan you help?\n\n'
        "- Ordered: 2 Jan\n- Paid with Visa\n\n"
        "See my tracking page (https://track.example.com/48213)"
    )
    assert event.subject == "Hi, my order #48213 never arrived."
    assert "<" not in event.description and "&quot;" not in event.description


def test_intercom_v1_conversation_uses_conversation_message_and_user() -> None:
    event = parse_intercom(load("intercom_conversation_user_created_v1.json"))
    assert event.external_id == "21321941764"
    assert event.description == "Hello everyone!"
    assert event.requester_id == "5c9553cb27e377f24eed49f7"
    assert event.requester_email is None  # "" in the payload
    assert event.requester_name == "Rose Poodle from St. John's"


def test_intercom_reply_ticket_created_ping_and_seed() -> None:
    reply = parse_intercom(load("intercom_conversation_user_replied_v2.json"))
    assert reply.kind == EventKind.message and reply.message_id == "19000000777"
    assert reply.message_body == "Any update? It's been three days."
    ticket = parse_intercom(load("intercom_ticket_created.json"))
    assert ticket.subject == "Refund for duplicate charge"
    assert ticket.description == "I was charged twice for invoice INV-2291. Please refund one."
    assert ticket.requester_email == "sam.lee@example.org"
    assert parse_intercom(load("intercom_ping.json")).kind == EventKind.ping
    seed = parse_intercom(load("intercom_seed.json"))
    assert seed.external_id == "123" and seed.description == "I need help with my subscription renewal."
    unknown = load("intercom_ping.json") | {"topic": "contact.created"}
    assert parse_intercom(unknown).kind == EventKind.ignored


def test_html_to_text_handles_scripts_entities_and_plain_text() -> None:
    assert html_to_text("<p>a &amp; b</p><script>alert(1)</script><p>c</p>") == "a & b\n\nc"
    assert html_to_text("line one<br>line two") == "line one\nline two"
    assert html_to_text("I paid <5 dollars") == "I paid <5 dollars"
    assert html_to_text("  plain   text  ") == "plain text"


# --------------------------------------------------------------------------- signatures


def test_zendesk_signature_valid_tampered_missing_and_replayed() -> None:
    body = b'{"ticket": {"id": 1}}'
    now = datetime(2025, 1, 8, 10, 0, tzinfo=UTC)
    ts = now.isoformat().replace("+00:00", "Z")
    good = sign_zendesk("s3cret", body, ts)
    verify_zendesk(secret="s3cret", body=body, signature=good, timestamp=ts, now=now)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_zendesk(secret="s3cret", body=body + b" ", signature=good, timestamp=ts, now=now)
    with pytest.raises(InvalidSignature, match="missing"):
        verify_zendesk(secret="s3cret", body=body, signature=None, timestamp=ts, now=now)
    with pytest.raises(InvalidSignature, match="replayed"):
        verify_zendesk(secret="s3cret", body=body, signature=good, timestamp=ts, now=now + timedelta(minutes=6))
    verify_zendesk(secret="s3cret", body=body, signature=good, timestamp=ts, now=now + timedelta(minutes=4))
    # Zendesk's public test-send secret proves nothing
    test_signed = sign_zendesk(ZENDESK_TEST_SECRET, body, ts)
    with pytest.raises(InvalidSignature):
        verify_zendesk(secret="s3cret", body=body, signature=test_signed, timestamp=ts, now=now)


def test_intercom_signature_valid_tampered_and_missing() -> None:
    body = json.dumps(load("intercom_ping.json")).encode()
    good = sign_intercom("client-secret", body)
    assert good.startswith("sha1=") and len(good) == 45
    verify_intercom(secret="client-secret", body=body, signature=good)
    verify_intercom(secret="client-secret", body=body, signature=good.upper().replace("SHA1=", "sha1="))
    with pytest.raises(InvalidSignature):
        verify_intercom(secret="client-secret", body=body[:-1], signature=good)
    with pytest.raises(InvalidSignature):
        verify_intercom(secret="other", body=body, signature=good)
    with pytest.raises(InvalidSignature, match="missing"):
        verify_intercom(secret="client-secret", body=body, signature="")
