"""Vendor payloads -> normalised events, HTML to text, and signature checks (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
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


def test_internal_notes_are_told_from_replies() -> None:
    """A note only agents see answers nobody: it must not count as a first response."""
    assert parse_zendesk(load("zendesk_event_comment_added.json")).internal is False
    for is_public in (False, "false"):
        private = load("zendesk_event_comment_added.json")
        private["event"]["comment"]["is_public"] = is_public
        assert parse_zendesk(private).internal is True
    reply = load("intercom_conversation_user_replied_v2.json")
    assert parse_intercom(reply).internal is False
    admin = {"type": "admin", "id": "814860", "name": "Ann"}
    reply["data"]["item"]["conversation_parts"]["conversation_parts"][0]["author"] = admin
    reply["topic"] = "conversation.admin.replied"
    answer = parse_intercom(reply)
    assert answer.author_type == "agent" and answer.internal is False
    reply["topic"] = "conversation.admin.noted"
    reply["data"]["item"]["conversation_parts"]["conversation_parts"][0]["part_type"] = "note"
    assert parse_intercom(reply).internal is True
    reply["topic"] = "conversation.admin.replied"  # a note delivered under another topic: its part says so
    assert parse_intercom(reply).internal is True


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
    payload = load("zendesk_event_ticket_created.json") | {"type": "zen:event-type:ticket.status_changed"}
    assert parse_zendesk(payload).kind == EventKind.ignored
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_zendesk([1, 2])
    with pytest.raises(InvalidInput):
        parse_zendesk({"ticket": {"id": 1}})  # neither subject nor description


def test_a_ticket_s_tags_are_read_with_their_time_or_left_unknown() -> None:
    """A list (even empty) is all the ticket's tags; no `tags` field, or an unrendered one, says nothing."""
    changed = load("zendesk_event_ticket_created.json") | {"type": "zen:event-type:ticket.tags_changed"}
    event = parse_zendesk(changed)
    assert (event.kind, event.external_id, event.tags) == (EventKind.tags, "5158", ["mobile", "login"])
    assert event.tags_at == datetime(2025, 1, 8, 10, 12, 7, tzinfo=UTC)
    sparse = parse_zendesk({"type": "zen:event-type:ticket.tags_changed", "subject": "zen:ticket:9", "detail": {}})
    assert (sparse.kind, sparse.reason) == (EventKind.ignored, "event tags_changed without detail.tags")
    trigger = load("zendesk_trigger_rendered.json")
    assert parse_zendesk(trigger).tags == ["apparel", "exchange"]
    assert parse_zendesk(trigger | {"tags": ""}).tags == []
    assert parse_zendesk(trigger | {"tags": " {{ticket.tags}} "}).tags is None
    assert parse_zendesk({k: v for k, v in trigger.items() if k != "tags"}).tags is None
    assert parse_zendesk(trigger | {"updated_at": "not a time"}).tags_at is None

    tagged = {
        "topic": "conversation_part.tag.created",
        "data": {"item": {"id": 77, "updated_at": 1_735_990_000, "tags": {"tags": [{"name": "VIP"}, {"id": "3"}]}}},
    }
    event = parse_intercom(tagged)
    assert (event.kind, event.external_id, event.tags) == (EventKind.tags, "77", ["VIP"])
    assert event.tags_at == datetime.fromtimestamp(1_735_990_000, UTC)
    untold = parse_intercom(tagged | {"data": {"item": {"id": 77}}})
    assert untold.kind == EventKind.ignored and untold.reason == "topic conversation_part.tag.created without tags"
    assert parse_intercom(load("intercom_conversation_user_created_v2.json")).tags is None


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


# --------------------------------------------------------------------------- documented shapes: wrong types get 422


def _with(body: dict, path: str, value: object) -> dict:
    """A deep copy of `body` with the dotted `path` set to `value`."""
    body = json.loads(json.dumps(body))
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[leaf] = value
    return body


@pytest.mark.parametrize(
    ("fixture", "path", "value", "expected"),
    [
        ("zendesk_seed.json", "ticket.id", {"id": 1}, "ticket.id: must be a string or an integer, not an object"),
        ("zendesk_seed.json", "ticket.id", [12345], "ticket.id: must be a string or an integer, not an array"),
        ("zendesk_seed.json", "ticket.id", True, "ticket.id: must be a string or an integer, not a boolean"),
        ("zendesk_seed.json", "ticket.id", None, "ticket.id: must be a string or an integer, not null"),
        ("zendesk_seed.json", "ticket.id", -5, "ticket.id: must be a whole number from 0"),
        ("zendesk_seed.json", "ticket.id", 1.5, "ticket.id: must be a whole number from 0"),
        ("zendesk_seed.json", "ticket.id", "x" * 101, "ticket.id: is longer than 100 characters"),
        ("zendesk_seed.json", "ticket.id", "   ", "ticket.id: must contain a visible character"),
        ("zendesk_seed.json", "ticket.requester.email", 42, "ticket.requester.email: must be a string or null"),
        ("zendesk_seed.json", "ticket.requester", "Customer Name", "ticket.requester: must be a JSON object"),
        ("zendesk_seed.json", "ticket.subject", {"text": "Help"}, "ticket.subject: must be a string or null"),
        ("zendesk_seed.json", "ticket", [], "ticket: must be a JSON object"),
        ("zendesk_api_ticket.json", "ticket.requester_id", {"id": 1}, "ticket.requester_id: must be a string"),
        ("zendesk_trigger_rendered.json", "requester_email", ["a@b.co"], "requester_email: must be a string or null"),
        ("zendesk_event_ticket_created.json", "detail.id", {"id": "5158"}, "detail.id: must be a string or an integer"),
        ("zendesk_event_ticket_created.json", "detail", None, "detail: must be a JSON object"),
        ("zendesk_event_comment_added.json", "event.comment.body", {"html": "x"}, "event.comment.body: must be a"),
        ("zendesk_event_comment_added.json", "event.comment.id", False, "event.comment.id: must be a string"),
    ],
)
def test_zendesk_key_fields_of_the_wrong_type_are_refused_naming_the_field(fixture, path, value, expected) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_zendesk(_with(load(fixture), path, value))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("fixture", "path", "value", "expected"),
    [
        ("intercom_seed.json", "conversation_id", {"id": "123"}, "conversation_id: must be a string or an integer"),
        ("intercom_seed.json", "user.email", 7, "user.email: must be a string or null, not a number"),
        ("intercom_seed.json", "conversation_parts", "hello", "conversation_parts: must be an array"),
        ("intercom_seed.json", "conversation_parts.0.body", ["hi"], "conversation_parts[0].body: must be a string"),
        ("intercom_conversation_user_created_v2.json", "data.item.id", [1], "data.item.id: must be a string or an"),
        ("intercom_conversation_user_created_v2.json", "data.item", "x", "data.item: must be a JSON object"),
        ("intercom_conversation_user_created_v2.json", "data.item.source.author.email", {}, "author.email: must be a"),
        ("intercom_conversation_user_created_v1.json", "data.item.user.id", True, "data.item.user.id: must be a"),
        ("intercom_ticket_created.json", "data.item.ticket_attributes._default_title_", 3, "_default_title_: must"),
        ("intercom_conversation_user_replied_v2.json", "id", {"n": 1}, "id: must be a string or an integer"),
        ("intercom_ping.json", "topic", 5, "topic: must be a string, not a number"),
    ],
)
def test_intercom_key_fields_of_the_wrong_type_are_refused_naming_the_field(fixture, path, value, expected) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_intercom(_with(load(fixture), path, value))
    assert expected in str(caught.value)


def test_missing_ids_and_text_are_named() -> None:
    with pytest.raises(InvalidInput, match="needs `id` or `ticket_id`"):
        parse_zendesk({"subject": "Printer on fire"})
    with pytest.raises(InvalidInput, match=r"data\.item\.id: is required"):
        parse_intercom(_with(load("intercom_conversation_user_created_v2.json"), "data.item", {"type": "conversation"}))
    reply = load("intercom_conversation_user_replied_v2.json")
    with pytest.raises(InvalidInput, match="the reply has no text"):
        parse_intercom(_with(reply, "data.item.conversation_parts.conversation_parts.0.body", " \n "))
    comment = load("zendesk_event_comment_added.json") | {"subject": "zen:ticket:{{ticket.id}}", "detail": {}}
    with pytest.raises(InvalidInput, match="no ticket/conversation id"):
        parse_zendesk(comment)


def test_what_the_documented_shapes_allow_is_accepted() -> None:
    # integer ids, nulls and "" where vendors send them, markup with no visible text, unknown extra fields
    event = parse_zendesk({"ticket": {"id": 7.0, "subject": "<br>", "requester": None, "custom": {"x": [1]}}})
    assert (event.external_id, event.subject, event.requester_id) == ("7", "<br>", None)
    v1 = _with(load("intercom_conversation_user_created_v1.json"), "data.item.user.user_id", "")
    assert parse_intercom(v1).requester_id == "5c9553cb27e377f24eed49f7"
    zero_width = parse_intercom(
        {"conversation_id": 9, "conversation_parts": {"conversation_parts": [{"body": "\u2003"}]}}
    )
    assert zero_width.external_id == "9" and zero_width.description == "\u2003"
    long_name = parse_zendesk(load("zendesk_seed.json") | {"ticket": {"id": 1, "subject": "s", "name": "n" * 300}})
    assert len(long_name.requester_name or "") == 255  # the column's size; a name is never a reason to refuse


# --------------------------------------------------------------------------- the documented schema is the validator


def _documented(vendor: str) -> dict:
    from gateway.routes.webhooks import INTERCOM_BODY, ZENDESK_BODY

    return ZENDESK_BODY if vendor == "zendesk" else INTERCOM_BODY


def _accepted(vendor: str, body: object) -> bool:
    try:
        (parse_zendesk if vendor == "zendesk" else parse_intercom)(body)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_vendor_sample_is_valid_under_the_documented_schema(name: str) -> None:
    vendor = name.split("_", 1)[0]
    jsonschema.validate(load(name), _documented(vendor))
    assert _accepted(vendor, load(name))


@pytest.mark.parametrize(
    ("vendor", "body"),
    [
        ("zendesk", json.loads((FIXTURES / "zendesk_trigger_template.txt").read_text())),
        ("zendesk", {"ticket": {"id": {"a": 1}, "subject": "s"}}),
        ("zendesk", {"ticket": {"id": 1, "subject": "   "}}),
        ("zendesk", {"ticket": {"id": 1, "subject": "s", "requester": {"email": 5}}}),
        ("zendesk", {"ticket": None, "ticket_id": 1, "subject": "s"}),
        ("zendesk", {"type": "zen:event-type:ticket.created", "detail": {"id": 1}}),
        ("zendesk", {"type": "zen:event-type:ticket.comment_added", "subject": "zen:ticket:5", "event": {}}),
        ("zendesk", {"type": "zen:event-type:ticket.tags_changed", "id": []}),
        ("zendesk", {"type": "zen:event-type:ticket.tags_changed", "subject": "zen:ticket:5", "detail": {"tags": "a"}}),
        ("zendesk", {"type": "zen:event-type:ticket.tags_changed", "detail": {"tags": ["a"]}}),
        ("zendesk", {"type": "zen:event-type:ticket.tags_changed", "detail": {"ticket_id": 5}}),
        ("zendesk", {"type": "zen:event-type:ticket.tags_changed", "subject": "zen:ticket:{{x}}"}),
        ("intercom", {"topic": "conversation_part.tag.created", "data": {"item": {"id": "c1", "tags": {"tags": []}}}}),
        ("intercom", {"topic": "conversation_part.tag.created", "data": {"item": {"tags": {"tags": []}}}}),
        ("intercom", {"topic": "conversation_part.tag.created"}),
        ("zendesk", {"ticket_id": "1", "subject": "s", "type": "zen:event-type:ticket.created"}),
        ("intercom", {"conversation_id": "1", "conversation_parts": [{"body": ""}]}),
        ("intercom", {"conversation_id": "1", "subject": "s", "conversation_parts": [1]}),
        ("intercom", {"conversation_id": "1", "subject": "s", "conversation_parts": {"conversation_parts": None}}),
        ("intercom", {"topic": None}),
        ("intercom", {"topic": "conversation.user.created", "data": {"item": {"id": "1"}}}),
        ("intercom", {"topic": "conversation.user.replied", "data": {"item": {"id": "1", "title": "t"}}}),
        ("intercom", {"topic": "conversation.admin.noted",
                      "data": {"item": {"conversation_parts": {"conversation_parts": [{"body": "b"}]}}}}),
        ("intercom", {"topic": "conversation.user.replied",
                      "data": {"item": {"id": 1,
                                        "conversation_parts": {"conversation_parts": [None, {"body": "b"}]}}}}),
        ("zendesk", {"ticket": {"id": 1, "subject": "s"}, "type": "incident"}),
        ("zendesk", {"ticket_id": 5, "description": "-----"}),
        ("zendesk", {"type": "zen:event-type:ticket.comment_added", "subject": "zen:ticket:5158",
                     "event": {"comment": {"html_body": "<p>hi</p>"}}}),
        ("intercom", {"type": "notification_event", "topic": "contact.created", "data": 5}),
        ("intercom", {"type": "notification_event"}),
        ("intercom", {"id": 3, "subject": "<p>s</p>", "user": {"email": "not an address"}}),
        ("intercom", {"topic": "ticket.created",
                      "data": {"item": {"id": 2, "ticket_attributes": {"_default_title_": "t"}}}}),
    ],
)  # fmt: skip
def test_documented_schema_and_parser_agree(vendor: str, body: object) -> None:
    """Schema-valid bodies are accepted and schema-invalid ones refused (what schemathesis checks)."""
    valid = jsonschema.Draft202012Validator(_documented(vendor)).is_valid(body)
    assert _accepted(vendor, body) == valid
