"""The customer's conversation page (CUSTOMER_LINK_URL): its link carried by each reply sent to the channel's
backend, the public conversation shown (never a note), the reply box storing the customer's message as the
relay would (reopening, once per form, to a follow-up for a closed request, to the request a duplicate joined),
and refused links. Both databases, a real receiver."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest

from classifier_worker.delivery import deliver
from gateway.services.erasure import erase_ticket
from shared.celery import REPLY_TASK
from shared.customer_links import Purpose, make_token, read_token
from shared.models import ReplyDelivery, utcnow
from shared.outbox import REPLIES, verify
from tests.conftest import force_ticket
from tests.gateway.conftest import CHANNEL_SECRET, queued_replies, read_ticket, stored, web_ticket

BASE = "https://support.example.com"
SECRET = "customer-link-key"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def linked(client_for, db_url, redis_client, receiver, settings_for):  # type: ignore[no-untyped-def]
    values = {
        "reply_webhook_url": receiver.url,
        "reply_webhook_secret": CHANNEL_SECRET,
        "customer_link_url": BASE,
        "customer_link_secret": SECRET,
        "rate_limit_per_customer_link": 1_000_000,  # a test's many posts are not a flood
    }
    return client_for(db_url, **values), settings_for(db_url, **values)


def _reply(api, ticket_id: str, body: str, *, internal: bool = False) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": body, "internal": internal})
    assert response.status_code == 201, response.text
    return response.json()["message"]  # type: ignore[no-any-return]


def _move(api, ticket_id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": status}).status_code == 200


def _token_of(settings, ticket_id: str) -> str:  # type: ignore[no-untyped-def]
    return make_token(settings.customer_link_secret, Purpose.conversation, ticket_id, utcnow() + timedelta(days=1))


def _send(api, token: str, text: str, client_id: str = "", **headers: str):  # type: ignore[no-untyped-def]
    body = f"body={text}" + (f"&client_message_id={client_id}" if client_id else "")
    return api.post(f"/requests/{token}", content=body, headers=headers or FORM, follow_redirects=False)


def _customer_messages(api, ticket_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [m["body"] for m in api.get(f"/api/tickets/{ticket_id}/messages").json() if m["author_type"] == "customer"]


def test_a_reply_carries_the_link_and_the_page_shows_the_conversation_and_takes_an_answer(  # type: ignore[no-untyped-def]
    linked, session_factory, receiver
):
    api, settings = linked
    ticket_id = web_ticket(api)
    reply = _reply(api, ticket_id, "We have asked the warehouse.\nBack to you tomorrow.")
    _reply(api, ticket_id, "Warehouse is slow this week", internal=True)
    (row,) = stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)
    assert deliver(row.message_id, settings=settings, factory=session_factory, outbox=REPLIES).status == "delivered"
    sent = json.loads(receiver.received[-1].body)
    link = sent["conversation"]
    expected = (datetime.fromisoformat(sent["created_at"]) + timedelta(days=30)).replace(microsecond=0)
    assert link["expires_at"] == expected.isoformat() and link["url"].startswith(f"{BASE}/requests/{ticket_id}.")
    token = urlsplit(link["url"]).path.rsplit("/", 1)[1]
    assert read_token(settings.customer_link_secret, Purpose.conversation, token, now=utcnow()) == ticket_id

    page = api.get(f"/requests/{token}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store", page.text
    assert "<title>Refund?</title>" in page.text and "Open: we have your request" in page.text
    text = page.text
    assert text.index("Where is my refund for order ORD-1234?") < text.index("We have asked the warehouse.\nBack to")
    assert "Warehouse is slow" not in text  # a note is the team's alone
    assert f'<div class="meta">{reply["author_name"]} · ' in text and '<div class="meta">You · ' in text
    assert 'name="client_message_id" value="page-' in text and "How did we do?" not in text

    _move(api, ticket_id, "pending")
    posted = _send(api, token, "Still+nothing+%3Cb%3Ehere%3C%2Fb%3E.", "page-once")
    assert posted.status_code == 303 and posted.headers["location"] == token
    assert _send(api, token, "Still+nothing+%3Cb%3Ehere%3C%2Fb%3E.", "page-once").status_code == 303  # a double click
    assert _customer_messages(api, ticket_id) == ["Still nothing <b>here</b>."]  # stored once
    assert [d.message_id for d in stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)] == [row.message_id]
    message = next(m for m in api.get(f"/api/tickets/{ticket_id}/messages").json() if m["author_type"] == "customer")
    assert (message["author_name"], message["author_email"]) == ("Ann Lee", "ann@example.com")
    ticket = read_ticket(api, ticket_id)
    assert ticket["status"] == "open" and ticket["awaiting_reply_since"] is not None  # reopened, waiting for us
    history = api.get(f"/api/tickets/{ticket_id}/history").json()
    assert ("pending", "open", "customer:conversation-link") in [
        (h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == "status"
    ]
    again = api.get(f"/requests/{token}").text
    assert "Still nothing &lt;b&gt;here&lt;/b&gt;." in again and "<b>here" not in again


def test_a_message_from_the_page_is_sent_to_the_backend_when_asked(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client, receiver, settings_for, session_factory
):
    values = {
        "reply_webhook_url": receiver.url,
        "reply_webhook_secret": CHANNEL_SECRET,
        "reply_webhook_customer_messages": True,
        "customer_link_url": BASE,
        "customer_link_secret": SECRET,
    }
    api, settings = client_for(db_url, **values), settings_for(db_url, **values)
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "pending")
    token = _token_of(settings, ticket_id)
    assert _send(api, token, "Did+it+ship%3F+Card+4111+1111+1111+1111", "page-1").status_code == 303
    assert _send(api, token, "Did+it+ship%3F+Card+4111+1111+1111+1111", "page-1").status_code == 303  # a double click
    relayed = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "By email: did it ship?"})
    assert relayed.status_code == 201  # the backend's own relay: it has the message, nothing is sent back
    _reply(api, ticket_id, "Checking with the warehouse", internal=True)
    messages = {m["body"]: m for m in api.get(f"/api/tickets/{ticket_id}/messages").json()}
    page_message = messages["Did it ship? Card [card ending 1111]"]
    assert page_message["delivery"]["state"] == "pending"
    assert messages["By email: did it ship?"]["delivery"] is None
    assert messages["Checking with the warehouse"]["delivery"] is None
    (row,) = stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)
    assert row.message_id == page_message["id"]
    (task,) = queued_replies(redis_client)  # sent with the commit: a worker takes it without the sweeper
    assert task["headers"]["task"] == REPLY_TASK and task["headers"]["argsrepr"] == repr([page_message["id"]])

    assert deliver(row.message_id, settings=settings, factory=session_factory, outbox=REPLIES).status == "delivered"
    (received,) = receiver.received
    assert received.headers["x-copilot-message-id"] == str(page_message["id"])
    assert verify(CHANNEL_SECRET, received.headers["x-copilot-signature"], received.body, now=int(time.time()))
    sent = json.loads(received.body)
    assert (sent["id"], sent["event"], sent["created_at"]) == (
        page_message["id"],
        "ticket.customer_message",
        sent["message"]["created_at"],
    )
    assert sent["ticket"]["ticket_id"] == ticket_id and sent["ticket"]["status"] == "open"  # reopened by it
    assert sent["ticket"]["customer"]["email"] == "ann@example.com"
    assert sent["message"] == {
        "id": page_message["id"],
        "body": "Did it ship? Card [card ending 1111]",
        "author_name": "Ann Lee",
        "created_at": sent["message"]["created_at"],
        "follow_up_ticket_id": None,
    }
    assert datetime.fromisoformat(sent["message"]["created_at"]) == datetime.fromisoformat(page_message["created_at"])
    assert sent["conversation"]["url"].startswith(f"{BASE}/requests/{ticket_id}.")

    reply = _reply(api, ticket_id, "It left today.")  # an agent's reply is sent as before, as a reply
    _move(api, ticket_id, "closed")
    posted = _send(api, token, "It+arrived+broken.")
    follow_up = read_token(
        settings.customer_link_secret, Purpose.conversation, posted.headers["location"], now=utcnow()
    )
    rows = stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)
    assert [r.message_id for r in rows][1] == reply["id"] and len(rows) == 3
    for each in rows[1:]:
        assert (
            deliver(each.message_id, settings=settings, factory=session_factory, outbox=REPLIES).status == "delivered"
        )
    answer, broken = (json.loads(r.body) for r in receiver.received[1:])
    assert answer["event"] == "ticket.reply" and "follow_up_ticket_id" not in answer["message"]
    assert broken["event"] == "ticket.customer_message" and broken["message"]["body"] == "It arrived broken."
    assert broken["ticket"]["ticket_id"] == ticket_id and broken["ticket"]["status"] == "closed"  # kept on it
    assert broken["message"]["follow_up_ticket_id"] == follow_up != ticket_id  # where the team answers it
    listed = {d["message_id"]: (d["event"], d["state"]) for d in api.get("/api/replies").json()}
    assert listed == {
        page_message["id"]: ("ticket.customer_message", "delivered"),
        reply["id"]: ("ticket.reply", "delivered"),
        rows[2].message_id: ("ticket.customer_message", "delivered"),
    }


def test_page_messages_need_the_backends_url_too(client_for, db_url, redis_client, settings_for, session_factory):  # type: ignore[no-untyped-def]
    values = {"reply_webhook_customer_messages": True, "customer_link_url": BASE, "customer_link_secret": SECRET}
    api, settings = client_for(db_url, **values), settings_for(db_url, **values)
    ticket_id = web_ticket(api)
    assert _send(api, _token_of(settings, ticket_id), "Any+news%3F").status_code == 303
    assert _customer_messages(api, ticket_id) == ["Any news?"]
    assert stored(session_factory, ReplyDelivery, ReplyDelivery.message_id) == [] and queued_replies(redis_client) == []


def test_a_closed_request_goes_on_in_a_follow_up_and_a_merged_one_where_it_joined(  # type: ignore[no-untyped-def]
    linked, session_factory
):
    api, settings = linked
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "closed")
    token = _token_of(settings, ticket_id)
    page = api.get(f"/requests/{token}").text
    assert "Closed. Writing below starts a new request" in page
    assert f'href="{BASE}/rate/{ticket_id}.' in page and "?rating=good" in page  # closed and not rated yet

    posted = _send(api, token, "It+broke+again.")
    assert posted.status_code == 303
    follow_up = read_token(
        settings.customer_link_secret, Purpose.conversation, posted.headers["location"], now=utcnow()
    )
    assert follow_up != ticket_id and read_ticket(api, follow_up)["follow_up_of"] == ticket_id
    assert "It broke again." in api.get(f"/requests/{posted.headers['location']}").text
    assert _customer_messages(api, ticket_id) == ["It broke again."]  # kept on the closed one, as the relay does
    later = api.get(f"/requests/{token}").text
    assert f'href="{follow_up}.' in later and "new request</a>" in later

    assert api.post(f"/api/tickets/{ticket_id}/satisfaction", json={"rating": "good"}).status_code == 200
    assert "/rate/" not in api.get(f"/requests/{token}").text  # rated: the links are not offered again

    kept, duplicate = web_ticket(api, subject="Kept"), web_ticket(api, subject="Duplicate")
    assert api.post(f"/api/tickets/{duplicate}/merge", json={"into": kept}).status_code == 200
    joined = api.get(f"/requests/{_token_of(settings, duplicate)}").text
    assert "<title>Kept</title>" in joined and "joined to another of yours" in joined
    posted = _send(api, _token_of(settings, duplicate), "Any+news%3F")
    assert (
        read_token(settings.customer_link_secret, Purpose.conversation, posted.headers["location"], now=utcnow())
        == kept
    )
    assert _customer_messages(api, kept) == ["Any news?"]
    with session_factory() as session:
        erase_ticket(session, kept)  # the request it joined, erased on its own
    assert api.get(f"/requests/{_token_of(settings, duplicate)}").status_code == 404
    answered = _send(api, _token_of(settings, duplicate), "Hello%3F")  # where it would go is gone too
    assert answered.status_code == 404 and "This request no longer exists" in answered.text


def test_a_conversation_link_is_refused_when_it_is_not_one_or_its_request_is_gone(  # type: ignore[no-untyped-def]
    linked, db_url, client_for, session_factory
):
    api, settings = linked
    ticket_id = web_ticket(api)
    token = _token_of(settings, ticket_id)
    rating = make_token(settings.customer_link_secret, Purpose.rating, ticket_id, utcnow() + timedelta(days=1))
    for bad in (rating, token[:-1], f"{web_ticket(api)}.{token.split('.', 1)[1]}"):
        for response in (api.get(f"/requests/{bad}"), _send(api, bad, "Hi")):
            assert response.status_code == 404 and "This link is not valid" in response.text
    past = make_token(settings.customer_link_secret, Purpose.conversation, ticket_id, utcnow() - timedelta(seconds=1))
    assert api.get(f"/requests/{past}").status_code == 410 and _send(api, past, "Hi").status_code == 410

    for text, headers, status, says in (
        ("+++", FORM, 422, "Write your message"),
        ("x" * 20_001, FORM, 422, "at most 20,000 characters"),
        ("Hi", {"content-type": "text/plain"}, 415, "could not be read"),
    ):
        response = _send(api, token, text, **headers)
        assert response.status_code == status and says in response.text, response.text
    kept = _send(api, token, "Half+a+thought", "not an id!")
    assert kept.status_code == 422 and "Half a thought</textarea>" in kept.text  # what they wrote is kept
    assert _customer_messages(api, ticket_id) == []

    vendor = web_ticket(api, source="zendesk")
    assert api.get(f"/requests/{_token_of(settings, vendor)}").status_code == 404
    assert client_for(db_url).get(f"/requests/{token}").status_code == 404  # links not in use there
    with session_factory() as session:
        erase_ticket(session, ticket_id)
    assert api.get(f"/requests/{token}").status_code == 404 and _send(api, token, "Hi").status_code == 404
    force_ticket(db_url, vendor, status="closed")


def test_a_request_erased_while_the_form_is_sent_stores_nothing(linked, session_factory) -> None:  # type: ignore[no-untyped-def]
    from gateway.services.conversation_pages import reply_from_page
    from gateway.services.customer_pages import FORM_TYPE
    from tests.interleave import WriteBetween

    api, settings = linked
    ticket_id = web_ticket(api)
    between = WriteBetween(session_factory, ticket_id, lambda other: erase_ticket(other, ticket_id))
    with between.listening(), session_factory() as session:
        between.armed = True
        page = reply_from_page(session, settings, _token_of(settings, ticket_id), b"body=Hello", FORM_TYPE)
        assert between.fired
    assert (page.status, page.title) == (404, "This request no longer exists")
    assert _customer_messages(api, ticket_id) == []


def test_the_page_shows_what_was_written_as_text_and_any_form_is_answered_without_a_5xx(linked) -> None:  # type: ignore[no-untyped-def]
    """A subject and a description full of markup show as text (the title included); and any bytes posted as the
    form (hypothesis: random field names, values, encodings) get a 303, 415 or 422, never a server error."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    api, settings = linked
    markup = "</title><script>alert(1)</script>"
    ticket_id = web_ticket(api, subject=markup, description=f"{markup} & more")
    page = api.get(f"/requests/{_token_of(settings, ticket_id)}").text
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert "<script" not in page and "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page

    token = _token_of(settings, ticket_id)
    field = st.sampled_from(["body", "client_message_id", "comment", "x", ""])

    @hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        pairs=st.lists(st.tuples(field, st.text(max_size=40)), max_size=4),
        raw=st.binary(max_size=40),
        as_form=st.booleans(),
    )
    def answered(pairs: list[tuple[str, str]], raw: bytes, as_form: bool) -> None:
        from urllib.parse import urlencode

        body = urlencode(pairs).encode() if as_form else raw
        response = api.post(f"/requests/{token}", content=body, headers=FORM, follow_redirects=False)
        assert response.status_code in (303, 415, 422), (body, response.status_code, response.text[-300:])

    answered()


def test_a_link_is_limited_to_its_own_requests_per_window(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client
):
    """RATE_LIMIT_PER_CUSTOMER_LINK counts each link's views and posts (real Redis): past it a 429 with
    Retry-After, and another link of the same ticket, or another ticket's, is not held up."""
    values = {"customer_link_url": BASE, "customer_link_secret": SECRET, "rate_limit_per_customer_link": 3}
    api = client_for(db_url, **values)
    ticket_id, other = web_ticket(api), web_ticket(api)
    key = api.app.state.settings.customer_link_secret
    token = make_token(key, Purpose.conversation, ticket_id, utcnow() + timedelta(days=1))
    assert [api.get(f"/requests/{token}").status_code for _ in range(2)] == [200, 200]
    assert _send(api, token, "One").status_code == 303  # a post counts as one request too
    refused = _send(api, token, "Two")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert api.get(f"/requests/{token}").status_code == 429
    assert _customer_messages(api, ticket_id) == ["One"]
    again = make_token(key, Purpose.conversation, ticket_id, utcnow() + timedelta(days=2))  # another link, itself
    assert api.get(f"/requests/{again}").status_code == 200
    assert api.get(f"/requests/{_token_of(api.app.state.settings, other)}").status_code == 200
    rating = make_token(key, Purpose.rating, ticket_id, utcnow() + timedelta(days=1))
    assert [api.get(f"/rate/{rating}").status_code for _ in range(4)] == [409, 409, 409, 429]  # its own count
