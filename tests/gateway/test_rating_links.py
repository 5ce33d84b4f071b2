"""Signed rating links (CUSTOMER_LINK_URL): carried by a resolve sent to the channel's backend, opening the
gateway's rating page (which records nothing), rated by its form as the customer, refused when altered, expired
or for a ticket open again, erased or a vendor's; and the links on demand for a backend. Both databases, a real
receiver."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr, ValidationError

from classifier_worker.delivery import deliver, with_customer_links
from gateway.services.erasure import erase_ticket
from shared.config import Settings
from shared.customer_links import ExpiredLink, InvalidLink, Purpose, make_token, read_token
from shared.models import StatusDelivery, Ticket, utcnow
from shared.outbox import STATUSES
from tests.conftest import force_ticket
from tests.gateway.conftest import CHANNEL_SECRET, read_ticket, stored, web_ticket

BASE = "https://support.example.com/"
SECRET = "rating-link-key"
LINKS = {"customer_link_url": BASE, "customer_link_secret": SECRET}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def linked(client_for, db_url, redis_client, receiver, settings_for):  # type: ignore[no-untyped-def]
    """A gateway sending resolves to `receiver` with rating links, and the alert worker's settings."""
    values = {"reply_webhook_url": receiver.url, "reply_webhook_secret": CHANNEL_SECRET, **LINKS}
    return client_for(db_url, **values), settings_for(db_url, **values)


def _move(api, ticket_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    response = api.put(f"/api/tickets/{ticket_id}/status", json={"status": status})
    assert response.status_code == 200, response.text
    return response.json()


def _page(url: str) -> str:
    """The gateway-relative path of a link (the test client serves the gateway at its root)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _expiry(body: dict) -> str:
    """When a status body's links stop working: SATISFACTION_LINK_DAYS (14) after the move, to the second."""
    return (datetime.fromisoformat(body["created_at"]) + timedelta(days=14)).replace(microsecond=0).isoformat()


def _links(api, ticket_id: str) -> dict:  # type: ignore[no-untyped-def]
    """A resolved ticket's rating links, as a backend asks for them."""
    response = api.get(f"/api/tickets/{ticket_id}/customer-links")
    assert response.status_code == 200, response.text
    return response.json()["satisfaction"]  # type: ignore[no-any-return]


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _sent(api, settings, session_factory, receiver, ticket_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    """Move the ticket, deliver the move's row as the alert worker would, and return the body received."""
    _move(api, ticket_id, status)
    row = stored(session_factory, StatusDelivery, StatusDelivery.created_at)[-1]
    assert deliver(row.delivery_id, settings=settings, factory=session_factory, outbox=STATUSES).status == "delivered"
    return json.loads(receiver.received[-1].body)  # type: ignore[no-any-return]


def test_a_resolve_carries_links_whose_page_records_nothing_and_whose_form_rates(  # type: ignore[no-untyped-def]
    linked, session_factory, receiver
):
    api, settings = linked
    ticket_id = web_ticket(api)
    body = _sent(api, settings, session_factory, receiver, ticket_id, "resolved")
    links = body["satisfaction"]
    assert links["expires_at"] == _expiry(body)
    assert links["good_url"].startswith(f"{BASE}rate/{ticket_id}.") and links["good_url"].endswith("?rating=good")
    assert links["bad_url"] == links["good_url"].removesuffix("good") + "bad"
    row = stored(session_factory, StatusDelivery, StatusDelivery.created_at)[-1]
    assert "satisfaction" not in row.payload  # added when sent, never stored: the same on every attempt
    assert with_customer_links(settings, STATUSES, row.payload)["satisfaction"] == links

    page = api.get(_page(links["good_url"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'value="good" required checked' in page.text and 'value="bad" required>' in page.text
    assert "Refund?" in page.text and '<form method="post">' in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert read_ticket(api, ticket_id)["satisfaction"] is None  # opening a link (a mail scanner does) rates nothing

    rated = api.post(_page(links["good_url"]), content="rating=bad&comment=Took+a+week.", headers=FORM)
    assert rated.status_code == 200 and "Your rating (bad) is recorded" in rated.text, rated.text
    ticket = read_ticket(api, ticket_id)
    assert (ticket["satisfaction"], ticket["satisfaction_comment"]) == ("bad", "Took a week.")
    history = api.get(f"/api/tickets/{ticket_id}/history").json()
    assert [(h["new_value"], h["actor"]) for h in history if h["field"] == "satisfaction"] == [
        ("bad", "customer:rating-link")
    ]
    again = api.get(_page(links["bad_url"]).removesuffix("?rating=bad"))  # no choice in the link: the one held
    assert 'value="bad" required checked' in again.text and "You rated it bad on" in again.text
    assert "Took a week.</textarea>" in again.text
    assert api.post(_page(links["bad_url"]), content="rating=good", headers=FORM).status_code == 200  # changed
    assert read_ticket(api, ticket_id)["satisfaction"] == "good"

    _move(api, ticket_id, "open")  # reopened: not a status sent here, and nothing to rate until solved again
    reopened = api.post(_page(links["good_url"]), content="rating=bad", headers=FORM)
    assert reopened.status_code == 409 and "is open again" in reopened.text
    assert api.get(_page(links["good_url"])).status_code == 409
    assert read_ticket(api, ticket_id)["satisfaction"] == "good"
    closed = _sent(api, settings, session_factory, receiver, ticket_id, "closed")
    assert closed["satisfaction"]["expires_at"] == _expiry(closed)  # its own time, from the close
    assert api.post(_page(links["good_url"]), content="rating=bad", headers=FORM).status_code == 200  # still works


def test_other_moves_carry_no_links_and_without_the_settings_none_are_sent(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client, receiver, settings_for, session_factory
):
    values = {"reply_webhook_url": receiver.url, "reply_webhook_statuses": "pending,resolved", **LINKS}
    api, settings = client_for(db_url, **values), settings_for(db_url, **values)
    ticket_id = web_ticket(api)
    assert _sent(api, settings, session_factory, receiver, ticket_id, "pending")["satisfaction"] is None
    plain = settings_for(db_url, reply_webhook_url=receiver.url)
    _move(api, ticket_id, "resolved")
    row = stored(session_factory, StatusDelivery, StatusDelivery.created_at)[-1]
    assert deliver(row.delivery_id, settings=plain, factory=session_factory, outbox=STATUSES).status == "delivered"
    assert "satisfaction" not in json.loads(receiver.received[-1].body)  # the body as before the setting


def test_a_link_is_refused_when_altered_expired_or_its_ticket_cannot_be_rated(  # type: ignore[no-untyped-def]
    linked, session_factory, db_url, client_for
):
    api, settings = linked
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "resolved")
    token = _token(_links(api, ticket_id)["good_url"])
    assert api.get(f"/rate/{token}").status_code == 200

    name, expires, mac = token.split(".")
    other = web_ticket(api)
    _move(api, other, "resolved")
    forged = (
        f"{other}.{expires}.{mac}",  # another ticket under this one's signature
        f"{name}.{int(expires) + 86_400}.{mac}",  # stretched by a day
        f"{name}.{expires}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # one character changed
        make_token(SecretStr("another key"), Purpose.rating, ticket_id, utcnow() + timedelta(days=1)),
        f"{name}.{expires}",
        "x" * 300,
    )
    for bad in forged:
        for response in (api.get(f"/rate/{bad}"), api.post(f"/rate/{bad}", content="rating=good", headers=FORM)):
            assert response.status_code == 404 and "This link is not valid" in response.text, bad
    past = make_token(settings.customer_link_secret, Purpose.rating, ticket_id, utcnow() - timedelta(minutes=1))
    expired = api.post(f"/rate/{past}", content="rating=good", headers=FORM)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert read_ticket(api, ticket_id)["satisfaction"] is None

    for body, headers, status, says in (
        ("comment=Fine", FORM, 422, "Choose good or bad."),
        ("rating=meh", FORM, 422, "Choose good or bad."),
        ("rating=good&comment=" + "x" * 2001, FORM, 422, "at most 2,000 characters"),
        ('{"rating": "good"}', {"content-type": "application/json"}, 415, "application/x-www-form-urlencoded"),
        (b"rating=good&comment=\xff", FORM, 422, "This form could not be read"),
    ):
        response = api.post(f"/rate/{token}", content=body, headers=headers)
        assert response.status_code == status and says in response.text, (body, response.text)
    kept = api.post(f"/rate/{token}", content="comment=Kept+for+you", headers=FORM)
    assert "Kept for you</textarea>" in kept.text  # the form again, the comment not lost
    assert read_ticket(api, ticket_id)["satisfaction"] is None
    assert api.get(f"/rate/{token}?rating=meh").status_code == 422

    vendor = web_ticket(api, source="zendesk")
    force_ticket(db_url, vendor, status="resolved")
    vendors = make_token(settings.customer_link_secret, Purpose.rating, vendor, utcnow() + timedelta(days=1))
    assert api.get(f"/rate/{vendors}").status_code == 404  # rated in Zendesk; and never sent a link
    with session_factory() as session:
        erase_ticket(session, ticket_id)
    gone = api.get(f"/rate/{token}")
    assert gone.status_code == 404 and "This request no longer exists" in gone.text
    erased = api.get(f"/api/tickets/{ticket_id}/customer-links")  # closed by the erasure, and nothing to show
    assert erased.status_code == 409 and "was erased at" in erased.text

    off = client_for(db_url)  # links not set up here: no page, whatever the token
    assert off.get(f"/rate/{token}").status_code == 404
    assert "<script" not in gone.text


def test_a_backend_asks_for_a_tickets_links(linked, db_url, client_for) -> None:  # type: ignore[no-untyped-def]
    api, settings = linked
    key = settings.customer_link_secret
    ticket_id = web_ticket(api)
    before = utcnow()
    links = api.get(f"/api/tickets/{ticket_id}/customer-links").json()
    assert (links["ticket_id"], links["satisfaction"]) == (ticket_id, None)  # nothing solved to rate yet
    expires_at = datetime.fromisoformat(links["conversation"]["expires_at"])
    assert before + timedelta(days=30, seconds=-1) <= expires_at <= utcnow() + timedelta(days=30)
    assert read_token(key, Purpose.conversation, _token(links["conversation"]["url"]), now=utcnow()) == ticket_id
    _move(api, ticket_id, "resolved")
    before = utcnow()
    rating = api.get(f"/api/tickets/{ticket_id}/customer-links").json()["satisfaction"]
    expires_at = datetime.fromisoformat(rating["expires_at"])
    assert before + timedelta(days=14, seconds=-1) <= expires_at <= utcnow() + timedelta(days=14)
    assert read_token(key, Purpose.rating, _token(rating["bad_url"]), now=utcnow()) == ticket_id
    assert api.get("/api/tickets/TKT-20990101-00000000/customer-links").status_code == 404
    vendor = web_ticket(api, source="intercom")
    refused = api.get(f"/api/tickets/{vendor}/customer-links")
    assert refused.status_code == 409 and "uses intercom's pages" in refused.text
    off = client_for(db_url).get(f"/api/tickets/{ticket_id}/customer-links")
    assert off.status_code == 409 and "set CUSTOMER_LINK_URL and CUSTOMER_LINK_SECRET" in off.text


def test_tokens_name_their_ticket_until_their_time() -> None:
    key = SecretStr(SECRET)
    at = datetime(2026, 12, 7, 12, 0, 0, 500_000).astimezone()
    token = make_token(key, Purpose.rating, "TKT-20261207-0A1B2C3D", at)
    assert read_token(key, Purpose.rating, token, now=at - timedelta(seconds=1)) == "TKT-20261207-0A1B2C3D"
    for now in (at.replace(microsecond=0), at):  # ends at its second, to the second
        with pytest.raises(ExpiredLink) as expired:
            read_token(key, Purpose.rating, token, now=now)
        assert expired.value.expired_at == at.replace(microsecond=0)
    with pytest.raises(InvalidLink):
        read_token(SecretStr("other"), Purpose.rating, token, now=at - timedelta(days=1))
    with pytest.raises(InvalidLink):  # a rating link never opens the conversation, nor the other way round
        read_token(key, Purpose.conversation, token, now=at - timedelta(days=1))


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"customer_link_url": BASE}, "CUSTOMER_LINK_URL needs CUSTOMER_LINK_SECRET"),
        ({"customer_link_secret": SECRET}, "CUSTOMER_LINK_SECRET needs CUSTOMER_LINK_URL"),
        ({**LINKS, "customer_link_url": "support.example.com"}, "must start with http:// or https://"),
        ({**LINKS, "satisfaction_link_days": 0}, "satisfaction_link_days"),
    ],
)
def test_the_links_settings_are_checked_at_start(values: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(**values)
    assert Settings(customer_link_url="", customer_link_secret="").customer_link_url is None


def test_a_ticket_reopened_while_the_form_is_sent_is_not_rated(linked, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The page's read finds it resolved; the customer's own message reopens it before the rating is stored:
    the page says so, as it now stands, and nothing is rated."""
    from gateway.services.customer_pages import FORM_TYPE
    from gateway.services.rating_pages import rate_from_page
    from tests.interleave import WriteBetween

    api, settings = linked
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "resolved")
    token = _token(_links(api, ticket_id)["good_url"])

    def reopen(other) -> None:  # type: ignore[no-untyped-def]
        other.get(Ticket, ticket_id).status = "open"
        other.commit()

    between = WriteBetween(session_factory, ticket_id, reopen)
    with between.listening(), session_factory() as session:
        between.armed = True
        page = rate_from_page(session, settings, token, b"rating=good", FORM_TYPE)
        assert between.fired
    assert (page.status, page.title) == (409, "We are still working on this")
    assert read_ticket(api, ticket_id)["satisfaction"] is None


def test_what_the_customer_wrote_is_shown_as_text(linked) -> None:  # type: ignore[no-untyped-def]
    api, _ = linked
    ticket_id = web_ticket(api, subject="<script>alert(1)</script> & <b>refund</b>")
    _move(api, ticket_id, "resolved")
    links = _links(api, ticket_id)
    page = api.get(_page(links["good_url"]))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;refund&lt;/b&gt;" in page.text
    assert "<script" not in page.text and "<b>" not in page.text
    kept = api.post(_page(links["good_url"]), content="comment=%3C%2Ftextarea%3E%3Cscript%3E", headers=FORM)
    assert kept.status_code == 422 and "&lt;/textarea&gt;&lt;script&gt;</textarea>" in kept.text
