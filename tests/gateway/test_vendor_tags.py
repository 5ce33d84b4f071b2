"""The vendors' later changes of a ticket's tags (Zendesk `ticket.tags_changed`, Intercom
`conversation_part.tag.created`, and any other delivery that lists the ticket's tags), on SQLite and PostgreSQL:
what the vendor put on or took off is made here, an agent's own changes here stay, a late older list changes
nothing, and a ticket the vendor's change cannot land on is answered 2xx with why."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from gateway.services.tags import sync_vendor_tags
from shared.db import claim_row
from shared.models import Ticket, TicketTag
from shared.tags import MAX_TICKET_TAGS
from tests.gateway.conftest import keyed
from tests.gateway.test_tags import _tag, _tag_history
from tests.gateway.test_webhooks_api import IC, IC_SECRET, ZD, ZD_SECRET, intercom_headers, raw, zendesk_headers

ZD_ACTOR = "webhook:zendesk"
IC_ACTOR = "webhook:intercom"


@pytest.fixture
def vendor(client_for, db_url, redis_client):  # type: ignore[no-untyped-def]
    """The vendors' side: both secrets configured, so webhooks authenticate by signature alone."""
    return client_for(db_url, auth_disabled=False, zendesk_webhook_secret=ZD_SECRET, intercom_client_secret=IC_SECRET)


@pytest.fixture
def agents(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """The agents' side: tags put on and taken off here, the history read."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    api.actor = api.actors["alice"]
    return api


def _zendesk(api, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    return api.post(ZD, content=body, headers=zendesk_headers(body))


def _intercom(api, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    return api.post(IC, content=body, headers=intercom_headers(body))


def _tags_changed(tags: Any, updated_at: str | None, *, ticket: str = "5158") -> dict[str, Any]:
    detail: dict[str, Any] = {"id": ticket, "tags": tags, "status": "OPEN"}
    if updated_at is not None:
        detail["updated_at"] = updated_at
    return {
        "type": "zen:event-type:ticket.tags_changed",
        "id": f"evt-{updated_at}",
        "subject": f"zen:ticket:{ticket}",
        "detail": detail,
        "event": {},
    }


def _tags(api, ticket_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}", headers=api.agent).json()["tags"]


def _vendor_state(session_factory, ticket_id: str) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return session.execute(
            select(Ticket.vendor_tags, Ticket.vendor_tags_at).where(Ticket.ticket_id == ticket_id)
        ).one()


def test_zendesk_changes_are_made_here_and_an_agents_own_stay(vendor, agents, session_factory) -> None:  # type: ignore[no-untyped-def]
    created = vendor.post(ZD, content=(body := raw("zendesk_event_ticket_created.json")), headers=zendesk_headers(body))
    assert created.status_code == 201, created.text
    ticket_id = created.json()["ticket"]["ticket_id"]
    assert created.json()["ticket"]["tags"] == ["login", "mobile"]
    # Here an agent puts "vip" on and takes "login" off.
    assert _tag(agents, ticket_id, add=["vip"], remove=["login"]).status_code == 200

    # Zendesk: "priority_support" put on; "login" is still there, as it was.
    first = _zendesk(vendor, _tags_changed(["mobile", "login", "priority_support"], "2025-01-08T11:00:00Z"))
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "updated"
    assert first.json()["detail"] == "tags added priority_support"
    assert first.json()["ticket"]["tags"] == ["mobile", "priority_support", "vip"]

    # Zendesk: "mobile" and "priority_support" taken off; "vip" is the agent's, "login" the agent took off.
    second = _zendesk(vendor, _tags_changed(["login"], "2025-01-08T12:00:00Z"))
    assert second.status_code == 200, second.text
    assert second.json()["detail"] == "tags removed mobile, priority_support"
    assert _tags(agents, ticket_id) == ["vip"]
    assert _vendor_state(session_factory, ticket_id)[0] == ["login"]

    history = _tag_history(agents, ticket_id)
    assert history == [
        (None, "vip", agents.actor),
        ("login", None, agents.actor),
        (None, "priority_support", ZD_ACTOR),
        ("mobile", None, ZD_ACTOR),
        ("priority_support", None, ZD_ACTOR),
    ]
    updated_at = agents.get(f"/api/tickets/{ticket_id}", headers=agents.agent).json()["updated_at"]

    # A redelivery finds nothing left to change, and moves nothing.
    again = _zendesk(vendor, _tags_changed(["login"], "2025-01-08T12:00:00Z"))
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["detail"]) == ("updated", "tags unchanged")
    # A list older than the one read arrives late: not applied.
    late = _zendesk(vendor, _tags_changed(["mobile", "login", "priority_support"], "2025-01-08T11:30:00Z"))
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "ignored"
    assert "older than those already read" in late.json()["detail"]
    assert _tags(agents, ticket_id) == ["vip"]
    assert len(_tag_history(agents, ticket_id)) == len(history)
    assert agents.get(f"/api/tickets/{ticket_id}", headers=agents.agent).json()["updated_at"] == updated_at
    vendor_tags, vendor_at = _vendor_state(session_factory, ticket_id)
    assert vendor_tags == ["login"] and vendor_at.isoformat().startswith("2025-01-08T12:00:00")


def test_a_comment_and_a_trigger_bring_the_tags_they_list(vendor, agents) -> None:  # type: ignore[no-untyped-def]
    created = vendor.post(ZD, content=(body := raw("zendesk_trigger_rendered.json")), headers=zendesk_headers(body))
    assert created.status_code == 201, created.text
    ticket_id = created.json()["ticket"]["ticket_id"]
    assert created.json()["ticket"]["tags"] == ["apparel", "exchange"]

    # The same trigger fired again on an update, its {{ticket.tags}} now without "exchange" and with "returns".
    trigger = json.loads(body) | {"tags": "apparel returns"}
    fired = _zendesk(vendor, trigger)
    assert fired.status_code == 200, fired.text
    assert (fired.json()["status"], fired.json()["detail"]) == ("duplicate", "tags added returns; removed exchange")
    # One that sends no tags says nothing about them.
    untagged = _zendesk(vendor, {k: v for k, v in trigger.items() if k != "tags"})
    assert (untagged.json()["status"], untagged.json()["detail"]) == ("duplicate", None)
    # An unrendered placeholder says nothing either; "" says there are none.
    assert _zendesk(vendor, trigger | {"tags": "{{ticket.tags}}"}).json()["ticket"]["tags"] == [
        "apparel",
        "returns",
    ]

    comment = json.loads(raw("zendesk_event_comment_added.json"))
    comment["detail"] |= {"id": "9031", "tags": ["apparel", "returns", "damaged"], "updated_at": None}
    comment["subject"] = "zen:ticket:9031"
    appended = _zendesk(vendor, comment)
    assert appended.status_code == 200, appended.text
    assert (appended.json()["status"], appended.json()["detail"]) == ("appended", "tags added damaged")
    assert _tags(agents, ticket_id) == ["apparel", "damaged", "returns"]

    cleared = _zendesk(vendor, trigger | {"tags": ""})
    assert cleared.json()["detail"] == "tags removed apparel, damaged, returns"
    assert _tags(agents, ticket_id) == []


def test_intercom_tagging_and_a_reply_listing_the_tags(vendor, agents, session_factory) -> None:  # type: ignore[no-untyped-def]
    conversation = json.loads(raw("intercom_conversation_user_created_v2.json"))
    created = _intercom(vendor, conversation)
    assert created.status_code == 201, created.text
    ticket_id = created.json()["ticket"]["ticket_id"]
    assert created.json()["ticket"]["tags"] == []
    assert _vendor_state(session_factory, ticket_id) == (None, None)  # no tags listed: nothing known of them
    assert _tag(agents, ticket_id, add=["escalated"]).status_code == 200

    item = conversation["data"]["item"]
    tagged = {
        "type": "notification_event",
        "topic": "conversation_part.tag.created",
        "id": "notif_tagged_1",
        "data": {
            "type": "notification_event_data",
            "item": {
                "type": "conversation",
                "id": item["id"],
                "updated_at": 1_735_990_000,
                "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "7", "name": "VIP customer"}]},
            },
        },
    }
    answer = _intercom(vendor, tagged)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["detail"]) == ("updated", "tags added vip_customer")
    assert answer.json()["ticket"]["tags"] == ["escalated", "vip_customer"]

    reply = json.loads(raw("intercom_conversation_user_replied_v2.json"))
    reply["data"]["item"] |= {"id": item["id"], "updated_at": 1_735_990_100, "tags": {"type": "tag.list", "tags": []}}
    replied = _intercom(vendor, reply)
    assert replied.status_code == 200, replied.text
    assert (replied.json()["status"], replied.json()["detail"]) == ("appended", "tags removed vip_customer")
    assert _tags(agents, ticket_id) == ["escalated"]
    assert _tag_history(agents, ticket_id) == [
        (None, "escalated", agents.actor),
        (None, "vip_customer", IC_ACTOR),
        ("vip_customer", None, IC_ACTOR),
    ]


def test_a_change_that_cannot_land_is_answered_2xx_saying_why(vendor, agents, session_factory) -> None:  # type: ignore[no-untyped-def]
    unknown = _zendesk(vendor, _tags_changed(["vip"], "2025-01-08T11:00:00Z", ticket="404404"))
    assert unknown.status_code == 200, unknown.text
    assert unknown.json() == {
        "status": "ignored",
        "ticket": None,
        "agent": None,
        "detail": "no zendesk ticket 404404 here; tags not stored",
    }
    untold = _zendesk(vendor, {"type": "zen:event-type:ticket.tags_changed", "subject": "zen:ticket:5158"})
    assert (untold.status_code, untold.json()["status"]) == (200, "ignored")
    assert "without detail.tags" in untold.json()["detail"]
    no_id = _zendesk(vendor, {"type": "zen:event-type:ticket.tags_changed", "detail": {"tags": ["vip"]}})
    assert no_id.status_code == 422, no_id.text
    assert "needs `detail.id` or `subject` 'zen:ticket:<id>'" in no_id.json()["detail"]

    created = vendor.post(ZD, content=(body := raw("zendesk_event_ticket_created.json")), headers=zendesk_headers(body))
    ticket_id = created.json()["ticket"]["ticket_id"]
    erased = agents.post(f"/api/tickets/{ticket_id}/erase", headers=agents.admin)
    assert erased.status_code == 200, erased.text
    assert _vendor_state(session_factory, ticket_id) == (None, None)  # the vendor's tags go with the rest
    after = _zendesk(vendor, _tags_changed(["vip"], "2025-01-08T11:00:00Z"))
    assert after.status_code == 200, after.text
    assert (after.json()["status"], after.json()["detail"]) == (
        "ignored",
        f"ticket {ticket_id} was erased; tags not stored",
    )
    assert _tags(agents, ticket_id) == []


def test_the_vendors_new_tags_past_the_limit_are_dropped_and_named(vendor, agents) -> None:  # type: ignore[no-untyped-def]
    created = vendor.post(ZD, content=(body := raw("zendesk_event_ticket_created.json")), headers=zendesk_headers(body))
    ticket_id = created.json()["ticket"]["ticket_id"]
    for start in range(0, MAX_TICKET_TAGS - 4, 20):  # 2 from Zendesk, 46 put on here: room for 2 more
        batch = [f"t{i:02d}" for i in range(start, min(start + 20, MAX_TICKET_TAGS - 4))]
        assert _tag(agents, ticket_id, add=batch).status_code == 200
    # Zendesk takes "login" off and puts four on: room for three.
    answer = _zendesk(vendor, _tags_changed(["mobile", "z1", "z2", "z3", "z4"], "2025-01-08T11:00:00Z"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["detail"] == (
        f"tags added z1, z2, z3; removed login; not added (a ticket carries at most {MAX_TICKET_TAGS}): z4"
    )
    assert len(answer.json()["ticket"]["tags"]) == MAX_TICKET_TAGS


def test_a_vendor_change_waits_for_an_agents_and_counts_its_tags(vendor, session_factory) -> None:  # type: ignore[no-untyped-def]
    created = vendor.post(ZD, content=(body := raw("zendesk_event_ticket_created.json")), headers=zendesk_headers(body))
    ticket_id = created.json()["ticket"]["ticket_id"]  # "login" and "mobile"
    outcome: dict[str, Any] = {}

    def webhook() -> None:
        with session_factory() as session:
            outcome["sync"] = sync_vendor_tags(session, ticket_id, ["login", "mobile", "a", "b"], None)

    with session_factory() as agent:
        assert claim_row(agent, Ticket, ticket_id, erased_at=None)  # an agent's change holds the ticket
        thread = threading.Thread(target=webhook)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), outcome  # waiting for the agent's change to end
        agent.add_all(TicketTag(ticket_id=ticket_id, tag=f"t{i:02d}") for i in range(MAX_TICKET_TAGS - 3))
        agent.commit()
    thread.join(30)
    assert not thread.is_alive()
    # Room for one after the agent's 47: "a" on, "b" left off (not 2 + 2 on a ticket read before the agent's).
    assert (outcome["sync"].added, outcome["sync"].dropped) == (["a"], ["b"])
    with session_factory() as session:
        tags = session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id)).all()
    assert len(tags) == MAX_TICKET_TAGS and "a" in tags
