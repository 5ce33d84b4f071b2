"""Zendesk and Intercom webhooks: signature checks and parsing into one normalised event.

Pure functions (no database, no HTTP framework) so every vendor shape is unit-tested directly. A body is
first validated against its documented shape (gateway.webhook_bodies, also the OpenAPI request schema),
so a key field of the wrong type is a 422 naming it, never a silent skip. Shapes accepted, all seen in
the vendors' documentation or real deliveries:

Zendesk
  * the seed's / Tickets API body `{"ticket": {"id", "subject", "description", "requester"|"requester_id"}}`
  * whatever JSON an admin writes in a trigger/automation ("Notify webhook") with `{{ticket.*}}` placeholders
  * event webhooks: `zen:event-type:ticket.created` (ticket under `detail`),
    `zen:event-type:ticket.comment_added` (text in `event.comment.body`) and
    `zen:event-type:ticket.tags_changed` (all the ticket's tags in `detail.tags`)
Intercom
  * the seed's body `{"conversation_id", "user", "conversation_parts": [{"body"}]}`
  * `notification_event` envelopes: 2.x conversations (`source.body`, `source.author`, `contacts`),
    legacy 1.x conversations (`conversation_message.body`, `user`), `ticket.created` tickets
    (`ticket_attributes._default_title_` / `_default_description_`), replies (`conversation_parts`),
    `conversation_part.tag.created` (the conversation's tags in `tags.tags[].name`), `ping`
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from gateway.webhook_bodies import (
    WS,
    IntercomAwayMode,
    IntercomCreated,
    IntercomOtherNotification,
    IntercomPerson,
    IntercomPing,
    IntercomReplied,
    IntercomSeed,
    IntercomTagged,
    ZendeskCommentAdded,
    ZendeskOtherEvent,
    ZendeskPerson,
    ZendeskTagsChanged,
    ZendeskTicketBody,
    ZendeskTicketCreated,
    ZendeskTicketFields,
    ZendeskTriggerBody,
    has_text,
    validate,
)
from shared.errors import CopilotError, InvalidInput
from shared.schemas import MAX_DESCRIPTION, MAX_SUBJECT, Email, without_nul

Vendor = Literal["zendesk", "intercom"]

# Zendesk signs "Test webhook" sends made before the webhook exists with this public secret. It is
# published in Zendesk's docs, so a body signed with it proves nothing and is never accepted.
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="

_EMAIL = TypeAdapter(Email)
_PLACEHOLDER = re.compile(r"^\s*\{\{.*\}\}\s*$")
MAX_NAME = 255  # the database's name/email columns


class InvalidSignature(CopilotError):
    """The webhook's signature is missing, wrong, or its timestamp is outside the replay window."""

    status_code = 401


class EventKind(StrEnum):
    ticket = "ticket"  # a new ticket / conversation
    message = "message"  # a reply on an existing ticket / conversation
    tags = "tags"  # the tags of an existing ticket / conversation changed
    away = "away"  # a teammate's away mode changed in the vendor's tool
    ping = "ping"  # the vendor checking the endpoint
    ignored = "ignored"  # a topic we do not act on


class InboundEvent(BaseModel):
    """One webhook delivery, vendor-neutral."""

    source: Vendor
    kind: EventKind
    delivery_id: str | None = None  # the vendor's id of this notification / event
    external_id: str | None = None  # the vendor's ticket or conversation id
    subject: str = ""
    description: str = ""  # first message of the ticket
    requester_id: str | None = None
    requester_email: str | None = None
    requester_name: str | None = None
    # For kind=message: the reply itself
    message_id: str | None = None
    message_body: str = ""
    author_type: Literal["customer", "agent", "system"] = "customer"
    author_name: str | None = None
    author_email: str | None = None
    internal: bool = False  # a note only agents see (Zendesk private comment, Intercom note): no answer to anyone
    metadata: dict[str, str] = Field(default_factory=dict)
    # The vendor's tags on the ticket as sent, all of them; None when the body does not say (no `tags` field).
    tags: list[str] | None = None
    tags_at: datetime | None = None  # when the ticket last changed in the vendor's tool, if the body says
    # For kind=away: the teammate (by email, as agents are matched), whether away, and since when if the body says
    agent_email: str | None = None
    away: bool | None = None
    away_at: datetime | None = None
    reason: str | None = None  # why an event is ignored


# --------------------------------------------------------------------------- signatures


def sign_zendesk(secret: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), what Zendesk sends in X-Zendesk-Webhook-Signature."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_intercom(secret: str, body: bytes) -> str:
    """`sha1=` + hex(HMAC-SHA1(client secret, body)), what Intercom sends in X-Hub-Signature."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify_zendesk(
    *,
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    window_s: int = 300,
    now: datetime | None = None,
) -> None:
    """Raise InvalidSignature unless the signature matches and the timestamp is within `window_s`."""
    if not signature or not timestamp:
        raise InvalidSignature("missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp header")
    expected = sign_zendesk(secret, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise InvalidSignature("Zendesk webhook signature does not match the body")
    try:
        sent = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise InvalidSignature(f"X-Zendesk-Webhook-Signature-Timestamp '{timestamp[:40]}' is not ISO-8601") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - sent).total_seconds()
    if abs(age) > window_s:
        raise InvalidSignature(
            f"Zendesk webhook timestamp is {int(abs(age))}s {'old' if age > 0 else 'in the future'}; "
            f"only {window_s}s are accepted (replayed delivery?)"
        )


def verify_intercom(*, secret: str, body: bytes, signature: str | None) -> None:
    """Raise InvalidSignature unless X-Hub-Signature is the body's HMAC-SHA1 under the client secret."""
    if not signature:
        raise InvalidSignature("missing X-Hub-Signature header")
    expected = sign_intercom(secret, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise InvalidSignature("Intercom X-Hub-Signature does not match the body")


# --------------------------------------------------------------------------- text helpers


class _TextExtractor(HTMLParser):
    BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
    )
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[tuple[int, str | None]] = []  # (where the link text starts, href)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n- " if tag == "li" else "\n")
        elif tag == "a":
            self._links.append((len(self.parts), dict(attrs).get("href")))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCK and tag != "li":  # an item's start already broke the line
            self.parts.append("\n")
        elif tag == "a" and self._links:
            start, href = self._links.pop()
            text = "".join(self.parts[start:])
            # keep the target of a link whose text does not show it; agents need it
            if href and href.startswith(("http://", "https://", "mailto:")) and href not in text:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Readable plain text from vendor HTML: paragraphs and <br> become line breaks, entities decoded."""
    if "<" not in value and "&" not in value:
        return _tidy(value)
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _str(value: Any) -> str | None:
    """A scalar as a stripped string (NULs dropped); None for missing, empty, non-scalars and `{{placeholders}}`.

    For metadata and names only: fields that decide whether a body is accepted use `_text` / ids, whose
    rules are the documented ones (gateway.webhook_bodies).
    """
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = without_nul(str(value)).strip()
    if not text or _PLACEHOLDER.match(text):
        return None
    return text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _email(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    try:
        return str(_EMAIL.validate_python(text)).lower()
    except ValidationError:
        return None


def _name(value: Any) -> str | None:
    text = _str(value)
    return text[:MAX_NAME] if text else None


def _first(*values: Any) -> str | None:
    for value in values:
        text = _str(value)
        if text is not None:
            return text
    return None


def _text(value: Any, *, html: bool = False) -> str | None:
    """The text of a documented text field: None unless it has text (`has_text`), and then never empty."""
    if not has_text(value):
        return None
    raw = without_nul(str(value))
    text = html_to_text(raw) if html else raw.strip(WS)
    return text or raw.strip(WS)  # markup with no visible text (`<br>`) is kept as sent


def _first_text(*values: Any, html: bool = False) -> str | None:
    for value in values:
        text = _text(value, html=html)
        if text is not None:
            return text
    return None


def _subject_from(text: str) -> str:
    """A subject for vendors that have none (chat conversations): the first line, shortened."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "") or text.strip(WS)
    return line if len(line) <= 80 else line[:77].rstrip() + "..."


def _finish(event: InboundEvent) -> InboundEvent:
    """Fill the subject/description from each other and bound their lengths.

    The body was validated against its documented shape first, so the checks here cannot fail for an
    accepted body; they stay as a guard for callers that build events by hand.
    """
    if event.kind in (EventKind.ping, EventKind.ignored):
        return event
    if not event.external_id:
        raise InvalidInput(f"{event.source} webhook: no ticket/conversation id found in the body")
    if event.kind == EventKind.tags:
        return event
    if event.kind == EventKind.message and not event.message_body:
        raise InvalidInput(f"{event.source} webhook: the reply has no text")
    description = event.description or event.message_body or event.subject
    subject = event.subject or _subject_from(description)
    if not subject or not description:
        raise InvalidInput(f"{event.source} webhook: the ticket has neither a subject nor a description")
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 3] + "..."
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 3] + "..."
    metadata = {k: v[:1000] for k, v in event.metadata.items() if v}
    return event.model_copy(
        update={
            "subject": subject,
            "description": description,
            "message_body": event.message_body[:MAX_DESCRIPTION],
            "metadata": metadata,
        }
    )


def _tags(value: Any) -> str | None:
    if isinstance(value, list):
        return " ".join(t for t in (_str(v) for v in value) if t) or None
    return _str(value)


def _zendesk_tags(value: Any) -> list[str] | None:
    """A Zendesk ticket's tags: a list, or a trigger's space-separated `{{ticket.tags}}` ("" when it has none);
    None when the body has no `tags` (or its placeholder went unrendered): it did not say."""
    if isinstance(value, str) and not _PLACEHOLDER.match(value):
        return without_nul(value).split()[:MAX_VENDOR_TAGS]
    if isinstance(value, list):
        return (_tags(value) or "").split()[:MAX_VENDOR_TAGS]
    return None


def _intercom_tags(value: Any) -> list[str] | None:
    """The names in an Intercom `tag.list` (`{"tags": [{"name": ...}]}`), a conversation's or a ticket's; None
    when there is no list (the body did not say)."""
    tags = _dict(value).get("tags")
    if not isinstance(tags, list):
        return None
    names = (_str(_dict(tag).get("name")) for tag in tags[:MAX_VENDOR_TAGS])
    return [name for name in names if name]


def _vendor_time(value: Any) -> datetime | None:
    """A vendor's timestamp (ISO-8601 text, or Unix seconds as Intercom sends them) in UTC; None if it is not one."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            found = datetime.fromisoformat(value.strip())
            return found if found.tzinfo else found.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


MAX_VENDOR_TAGS = 200  # read of a vendor's list; `shared.tags.vendor_tags` keeps at most MAX_TICKET_TAGS


# --------------------------------------------------------------------------- Zendesk


def parse_zendesk(payload: Any) -> InboundEvent:
    """Validate the body against its documented shape (422 names the field), then normalise it."""
    body = validate("zendesk", payload)
    if isinstance(body, ZendeskOtherEvent):
        return InboundEvent(
            source="zendesk",
            kind=EventKind.ignored,
            delivery_id=body.id,
            reason=f"event {body.type.removeprefix('zen:event-type:')}",
        )
    if isinstance(body, ZendeskTicketCreated):
        return _finish(_zendesk_ticket(body.detail, payload["detail"], delivery_id=body.id))
    if isinstance(body, ZendeskCommentAdded):
        return _finish(_zendesk_comment(body, payload))
    if isinstance(body, ZendeskTagsChanged):
        return _finish(_zendesk_tags_changed(body, _dict(payload.get("detail"))))
    if isinstance(body, ZendeskTicketBody):
        return _finish(_zendesk_ticket(body.ticket, payload["ticket"], delivery_id=None))
    assert isinstance(body, ZendeskTriggerBody)
    return _finish(_zendesk_ticket(body, payload, delivery_id=None))


def _zendesk_ticket(t: ZendeskTicketFields, raw: dict[str, Any], *, delivery_id: str | None) -> InboundEvent:
    requester = t.requester or ZendeskPerson()
    comments = [c.body for c in (t.comment, t.latest_comment) if c is not None]
    description = _first_text(t.description, *comments) or ""
    # {{ticket.description}} renders with a dashed separator line first
    description = re.sub(r"^\s*-{5,}\s*", "", description) or description
    return InboundEvent(
        source="zendesk",
        kind=EventKind.ticket,
        delivery_id=delivery_id,
        external_id=t.ticket_id_value(),
        subject=_first_text(t.subject, t.title, t.raw_subject) or "",
        description=description,
        requester_id=t.requester_id or requester.id,
        requester_email=_email(requester.email) or _email(t.requester_email) or _email(t.email),
        requester_name=_name(_first(requester.name, t.requester_name, t.name)),
        tags=_zendesk_tags(raw.get("tags")),
        tags_at=_vendor_time(raw.get("updated_at")),
        metadata={
            k: v
            for k, v in {
                "zendesk_priority": (_str(raw.get("priority")) or "").lower(),
                "zendesk_status": (_str(raw.get("status")) or "").lower(),
                "zendesk_type": (_str(raw.get("type")) or "").lower(),
                "zendesk_tags": _tags(raw.get("tags")) or "",
                "zendesk_url": _str(raw.get("url")) or "",
                "zendesk_channel": _str(_dict(raw.get("via")).get("channel")) or _str(raw.get("channel")) or "",
            }.items()
            if v
        },
    )


def _zendesk_tags_changed(body: ZendeskTagsChanged, detail: dict[str, Any]) -> InboundEvent:
    tags = _zendesk_tags(detail.get("tags"))
    if tags is None:  # Zendesk documents `detail.tags` on every ticket event; without it there is nothing to do
        reason = "event tags_changed without detail.tags"
        return InboundEvent(source="zendesk", kind=EventKind.ignored, delivery_id=body.id, reason=reason)
    return InboundEvent(
        source="zendesk",
        kind=EventKind.tags,
        delivery_id=body.id,
        external_id=body.ticket_id_value(),
        tags=tags,
        tags_at=_vendor_time(detail.get("updated_at")),
    )


def _zendesk_comment(body: ZendeskCommentAdded, payload: dict[str, Any]) -> InboundEvent:
    base = _zendesk_ticket(body.detail or ZendeskTicketFields(), _dict(payload.get("detail")), delivery_id=body.id)
    comment = body.event.comment
    author = comment.author or ZendeskPerson()
    is_staff = (author.model_extra or {}).get("is_staff")
    staff = is_staff is True or str(is_staff).lower() == "true"
    is_public = _dict(_dict(payload["event"]).get("comment")).get("is_public")
    return base.model_copy(
        update={
            "kind": EventKind.message,
            # `subject` is "zen:ticket:<id>" when `detail` is sparse
            "external_id": body.ticket_id_value(),
            "message_id": comment.id or body.id,
            "message_body": _first_text(comment.body, comment.html_body, html=True) or "",
            "author_type": "agent" if staff else "customer",
            "author_name": _name(author.name),
            "internal": str(is_public).lower() == "false",  # a JSON false or the string "false"
            "metadata": {
                **base.metadata,
                **({"zendesk_comment_public": str(is_public).lower()} if is_public is not None else {}),
            },
        }
    )


# --------------------------------------------------------------------------- Intercom

_CUSTOMER_TYPES = frozenset({"user", "lead", "contact"})


def parse_intercom(payload: Any) -> InboundEvent:
    """Validate the body against its documented shape (422 names the field), then normalise it."""
    body = validate("intercom", payload)
    if isinstance(body, IntercomSeed):
        return _finish(_intercom_seed(body))
    if isinstance(body, IntercomPing):
        return InboundEvent(source="intercom", kind=EventKind.ping, delivery_id=body.id)
    if isinstance(body, IntercomOtherNotification):
        return InboundEvent(
            source="intercom", kind=EventKind.ignored, delivery_id=body.id, reason=f"topic {body.topic or '(none)'}"
        )
    if isinstance(body, IntercomTagged):
        return _finish(_intercom_tagged(body, payload["data"]["item"]))
    if isinstance(body, IntercomAwayMode):
        admin = body.data.item
        return InboundEvent(
            source="intercom",
            kind=EventKind.away,
            delivery_id=body.id,
            agent_email=_email(admin.email),
            away=admin.away_mode_enabled,
            away_at=_vendor_time(payload.get("created_at")),
        )
    assert isinstance(body, IntercomCreated | IntercomReplied)
    return _finish(_intercom_notification(body, payload["data"]["item"]))


def _intercom_tagged(body: IntercomTagged, raw: dict[str, Any]) -> InboundEvent:
    tags = _intercom_tags(raw.get("tags"))
    if tags is None:
        return InboundEvent(
            source="intercom", kind=EventKind.ignored, delivery_id=body.id, reason=f"topic {body.topic} without tags"
        )
    return InboundEvent(
        source="intercom",
        kind=EventKind.tags,
        delivery_id=body.id,
        external_id=body.data.item.id,
        tags=tags,
        tags_at=_vendor_time(raw.get("updated_at")),
    )


def _intercom_seed(body: IntercomSeed) -> InboundEvent:
    user = body.user or IntercomPerson()
    texts = [_text(p.body, html=True) for p in body.conversation_parts or []]
    return InboundEvent(
        source="intercom",
        kind=EventKind.ticket,
        external_id=body.conversation_id_value(),
        subject=_text(body.subject, html=True) or "",
        description="\n\n".join(t for t in texts if t),
        requester_id=user.id or user.user_id,
        requester_email=_email(user.email),
        requester_name=_name(user.name),
    )


def _person(person: IntercomPerson | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(type, id, email, name) of an Intercom author/user/contact object."""
    p = person or IntercomPerson()
    return _str((p.model_extra or {}).get("type")), p.id or p.user_id, _email(p.email), _name(p.name)


def _intercom_notification(body: IntercomCreated | IntercomReplied, raw: dict[str, Any]) -> InboundEvent:
    item, topic = body.data.item, body.topic
    contacts = (item.contacts.contacts or []) if item.contacts else []
    _, c_id, c_email, c_name = _person(contacts[0] if contacts else None)

    if raw.get("type") == "ticket" or topic == "ticket.created":
        requester = (c_id, c_email, c_name)
        meta = {
            "intercom_ticket_id": _str(raw.get("ticket_id")) or "",
            "intercom_state": _str(raw.get("ticket_state")) or "",
        }
    else:
        first = item.source if item.source is not None else item.conversation_message  # 2.x, 1.x
        a_type, a_id, a_email, a_name = _person(first.author if first else None)
        _, u_id, u_email, u_name = _person(item.user)
        if a_type in _CUSTOMER_TYPES and a_id:
            same = u_id == a_id  # 1.x: the author carries only an id, `user` the rest
            requester = (a_id, a_email or (u_email if same else None), a_name or (u_name if same else None))
        elif u_id:
            requester = (u_id, u_email, u_name)
        else:
            requester = (c_id, c_email, c_name)
        meta = {
            "intercom_state": _str(raw.get("state")) or "",
            "intercom_url": _str(_dict(raw.get("links")).get("conversation_web")) or "",
            "intercom_delivered_as": _str(_dict(raw.get("source")).get("delivered_as")) or "",
        }

    event = InboundEvent(
        source="intercom",
        kind=EventKind.ticket,
        delivery_id=body.id,
        external_id=item.id,
        subject=_first_text(*item.subjects(), html=True) or "",
        description=_first_text(*item.descriptions(), html=True) or "",
        requester_id=requester[0],
        requester_email=requester[1],
        requester_name=requester[2],
        tags=_intercom_tags(raw.get("tags")),
        tags_at=_vendor_time(raw.get("updated_at")),
        metadata={"intercom_topic": topic, **meta},
    )
    if isinstance(body, IntercomCreated):
        return event

    part = next(p for p in reversed(item.parts()) if has_text(p.body))  # the shape guarantees one
    p_type, _p_id, p_email, p_name = _person(part.author)
    return event.model_copy(
        update={
            "kind": EventKind.message,
            "message_id": part.id or body.id,
            "message_body": _text(part.body, html=True) or "",
            "author_type": "customer" if p_type in _CUSTOMER_TYPES else "agent",
            "author_name": p_name,
            "author_email": p_email,
            "internal": topic == "conversation.admin.noted" or (part.model_extra or {}).get("part_type") == "note",
        }
    )
