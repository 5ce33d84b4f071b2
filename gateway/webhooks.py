"""Zendesk and Intercom webhooks: signature checks and parsing into one normalised event.

Pure functions (no database, no HTTP framework) so every vendor shape is unit-tested directly.
Shapes accepted, all seen in the vendors' documentation or real deliveries:

Zendesk
  * the seed's / Tickets API body `{"ticket": {"id", "subject", "description", "requester"|"requester_id"}}`
  * whatever JSON an admin writes in a trigger/automation ("Notify webhook") with `{{ticket.*}}` placeholders
  * event webhooks: `zen:event-type:ticket.created` (ticket under `detail`) and
    `zen:event-type:ticket.comment_added` (text in `event.comment.body`)
Intercom
  * the seed's body `{"conversation_id", "user", "conversation_parts": [{"body"}]}`
  * `notification_event` envelopes: 2.x conversations (`source.body`, `source.author`, `contacts`),
    legacy 1.x conversations (`conversation_message.body`, `user`), `ticket.created` tickets
    (`ticket_attributes._default_title_` / `_default_description_`), replies (`conversation_parts`), `ping`
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

from pydantic import BaseModel, EmailStr, Field, TypeAdapter, ValidationError

from shared.errors import CopilotError, InvalidInput
from shared.schemas import MAX_DESCRIPTION, MAX_SUBJECT

Vendor = Literal["zendesk", "intercom"]

# Zendesk signs "Test webhook" sends made before the webhook exists with this public secret. It is
# published in Zendesk's docs, so a body signed with it proves nothing and is never accepted.
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="

_EMAIL = TypeAdapter(EmailStr)
_PLACEHOLDER = re.compile(r"^\s*\{\{.*\}\}\s*$")


class InvalidSignature(CopilotError):
    """The webhook's signature is missing, wrong, or its timestamp is outside the replay window."""

    status_code = 401


class EventKind(StrEnum):
    ticket = "ticket"  # a new ticket / conversation
    message = "message"  # a reply on an existing ticket / conversation
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
    metadata: dict[str, str] = Field(default_factory=dict)
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
    """A scalar as a stripped string; None for missing, empty, non-scalars and unrendered `{{placeholders}}`."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
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


def _first(*values: Any) -> str | None:
    for value in values:
        text = _str(value)
        if text is not None:
            return text
    return None


def _subject_from(text: str) -> str:
    """A subject for vendors that have none (chat conversations): the first line, shortened."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= 80 else line[:77].rstrip() + "..."


def _finish(event: InboundEvent) -> InboundEvent:
    """Fill the subject/description from each other, bound their lengths, insist on the ids we key by."""
    if event.kind in (EventKind.ping, EventKind.ignored):
        return event
    if not event.external_id:
        raise InvalidInput(f"{event.source} webhook: no ticket/conversation id found in the body")
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
        return " ".join(str(t) for t in value if _str(t)) or None
    return _str(value)


# --------------------------------------------------------------------------- Zendesk


def parse_zendesk(payload: Any) -> InboundEvent:
    """Normalise any accepted Zendesk body; InvalidInput (422) names what is missing."""
    if not isinstance(payload, dict):
        raise InvalidInput("Zendesk webhook body must be a JSON object")
    event_type = _str(payload.get("type")) or ""
    if event_type.startswith("zen:event-type:"):
        return _finish(_zendesk_event(payload, event_type.removeprefix("zen:event-type:")))
    ticket = payload.get("ticket") if isinstance(payload.get("ticket"), dict) else payload
    return _finish(_zendesk_ticket(ticket, delivery_id=None))


def _zendesk_ticket(t: dict[str, Any], *, delivery_id: str | None) -> InboundEvent:
    requester = _dict(t.get("requester"))
    comment = t.get("comment") or t.get("latest_comment")
    comment_text = _str(_dict(comment).get("body")) if isinstance(comment, dict) else _str(comment)
    return InboundEvent(
        source="zendesk",
        kind=EventKind.ticket,
        delivery_id=delivery_id,
        external_id=_first(t.get("id"), t.get("ticket_id")),
        subject=_first(t.get("subject"), t.get("title"), t.get("raw_subject")) or "",
        # {{ticket.description}} renders with a dashed separator line first
        description=re.sub(r"^\s*-{5,}\s*", "", _first(t.get("description"), comment_text) or ""),
        requester_id=_first(t.get("requester_id"), requester.get("id")),
        requester_email=_email(requester.get("email")) or _email(t.get("requester_email")) or _email(t.get("email")),
        requester_name=_first(requester.get("name"), t.get("requester_name"), t.get("name")),
        metadata={
            k: v
            for k, v in {
                "zendesk_priority": (_str(t.get("priority")) or "").lower(),
                "zendesk_status": (_str(t.get("status")) or "").lower(),
                "zendesk_type": (_str(t.get("type")) or "").lower(),
                "zendesk_tags": _tags(t.get("tags")) or "",
                "zendesk_url": _str(t.get("url")) or "",
                "zendesk_channel": _str(_dict(t.get("via")).get("channel")) or _str(t.get("channel")) or "",
            }.items()
            if v
        },
    )


def _zendesk_event(payload: dict[str, Any], event_type: str) -> InboundEvent:
    detail = _dict(payload.get("detail"))
    delivery_id = _str(payload.get("id"))
    if event_type == "ticket.created":
        return _zendesk_ticket(detail, delivery_id=delivery_id)
    if event_type == "ticket.comment_added":
        base = _zendesk_ticket(detail, delivery_id=delivery_id)
        # `subject` is "zen:ticket:<id>" when `detail` is sparse
        ticket_id = base.external_id or (_str(payload.get("subject")) or "").rsplit(":", 1)[-1] or None
        comment = _dict(_dict(payload.get("event")).get("comment"))
        author = _dict(comment.get("author"))
        is_staff = author.get("is_staff")
        staff = is_staff is True or str(is_staff).lower() == "true"
        return base.model_copy(
            update={
                "kind": EventKind.message,
                "external_id": ticket_id,
                "message_id": _first(comment.get("id"), delivery_id),
                "message_body": html_to_text(_first(comment.get("body"), comment.get("html_body")) or ""),
                "author_type": "agent" if staff else "customer",
                "author_name": _str(author.get("name")),
                "metadata": {
                    **base.metadata,
                    **({"zendesk_comment_public": str(comment["is_public"]).lower()} if "is_public" in comment else {}),
                },
            }
        )
    return InboundEvent(source="zendesk", kind=EventKind.ignored, delivery_id=delivery_id, reason=f"event {event_type}")


# --------------------------------------------------------------------------- Intercom

_CUSTOMER_TYPES = frozenset({"user", "lead", "contact"})
_REPLY_TOPICS = frozenset({"conversation.user.replied", "conversation.admin.replied", "conversation.admin.noted"})
_CREATE_TOPICS = frozenset({"conversation.user.created", "conversation.admin.single.created", "ticket.created"})


def parse_intercom(payload: Any) -> InboundEvent:
    """Normalise any accepted Intercom body; InvalidInput (422) names what is missing."""
    if not isinstance(payload, dict):
        raise InvalidInput("Intercom webhook body must be a JSON object")
    if payload.get("type") == "notification_event" or "topic" in payload:
        return _finish(_intercom_notification(payload))
    return _finish(_intercom_seed(payload))


def _intercom_seed(payload: dict[str, Any]) -> InboundEvent:
    user = _dict(payload.get("user"))
    parts = payload.get("conversation_parts")
    if isinstance(parts, dict):  # the real API nests the list
        parts = parts.get("conversation_parts")
    texts = [html_to_text(_str(_dict(p).get("body")) or "") for p in parts or [] if isinstance(p, dict)]
    body = "\n\n".join(t for t in texts if t)
    return InboundEvent(
        source="intercom",
        kind=EventKind.ticket,
        external_id=_first(payload.get("conversation_id"), payload.get("id")),
        subject=html_to_text(_str(payload.get("subject")) or ""),
        description=body,
        requester_id=_first(user.get("id"), user.get("user_id")),
        requester_email=_email(user.get("email")),
        requester_name=_str(user.get("name")),
    )


def _person(value: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(type, id, email, name) of an Intercom author/user/contact object."""
    p = _dict(value)
    return _str(p.get("type")), _first(p.get("id"), p.get("user_id")), _email(p.get("email")), _str(p.get("name"))


def _intercom_notification(payload: dict[str, Any]) -> InboundEvent:
    topic = _str(payload.get("topic")) or ""
    delivery_id = _str(payload.get("id"))
    if topic == "ping":
        return InboundEvent(source="intercom", kind=EventKind.ping, delivery_id=delivery_id)
    if topic not in _CREATE_TOPICS | _REPLY_TOPICS:
        return InboundEvent(
            source="intercom", kind=EventKind.ignored, delivery_id=delivery_id, reason=f"topic {topic or '(none)'}"
        )
    item = _dict(_dict(payload.get("data")).get("item"))
    if not item:
        raise InvalidInput("Intercom notification has no data.item")

    contacts = _dict(item.get("contacts")).get("contacts") or []
    contact = contacts[0] if contacts and isinstance(contacts[0], dict) else {}
    _, c_id, c_email, c_name = _person(contact)

    if item.get("type") == "ticket" or topic == "ticket.created":
        attrs = _dict(item.get("ticket_attributes"))
        subject = html_to_text(_first(attrs.get("_default_title_"), item.get("title")) or "")
        description = html_to_text(_first(attrs.get("_default_description_")) or "")
        requester = (c_id, c_email, c_name)
        meta = {
            "intercom_ticket_id": _str(item.get("ticket_id")) or "",
            "intercom_state": _str(item.get("ticket_state")) or "",
        }
    else:
        source = _dict(item.get("source"))
        legacy = _dict(item.get("conversation_message"))
        first = source or legacy  # 2.x `source`, 1.x `conversation_message`
        description = html_to_text(_str(first.get("body")) or "")
        subject = html_to_text(_first(first.get("subject"), item.get("title")) or "")
        a_type, a_id, a_email, a_name = _person(first.get("author"))
        _, u_id, u_email, u_name = _person(item.get("user"))
        if a_type in _CUSTOMER_TYPES and a_id:
            same = u_id == a_id  # 1.x: the author carries only an id, `user` the rest
            requester = (a_id, a_email or (u_email if same else None), a_name or (u_name if same else None))
        elif u_id:
            requester = (u_id, u_email, u_name)
        else:
            requester = (c_id, c_email, c_name)
        meta = {
            "intercom_state": _str(item.get("state")) or "",
            "intercom_url": _str(_dict(item.get("links")).get("conversation_web")) or "",
            "intercom_delivered_as": _str(source.get("delivered_as")) or "",
        }

    event = InboundEvent(
        source="intercom",
        kind=EventKind.ticket,
        delivery_id=delivery_id,
        external_id=_str(item.get("id")),
        subject=subject,
        description=description,
        requester_id=requester[0],
        requester_email=requester[1],
        requester_name=requester[2],
        metadata={"intercom_topic": topic, **meta},
    )
    if topic not in _REPLY_TOPICS:
        return event

    parts = [p for p in _dict(item.get("conversation_parts")).get("conversation_parts") or [] if isinstance(p, dict)]
    part = next((p for p in reversed(parts) if _str(p.get("body"))), None)
    if part is None:
        raise InvalidInput(f"Intercom {topic} notification carries no conversation part with a body")
    p_type, _p_id, p_email, p_name = _person(part.get("author"))
    return event.model_copy(
        update={
            "kind": EventKind.message,
            "message_id": _first(part.get("id"), delivery_id),
            "message_body": html_to_text(_str(part.get("body")) or ""),
            "author_type": "customer" if p_type in _CUSTOMER_TYPES else "agent",
            "author_name": p_name,
            "author_email": p_email,
        }
    )
