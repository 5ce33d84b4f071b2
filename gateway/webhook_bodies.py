"""The webhook bodies the gateway accepts: one Pydantic model per vendor shape, for validation and for OpenAPI.

The same models check a delivery (before the parser reads it) and produce the documented request schema,
so the two cannot drift: a body valid under the documented schema is accepted, any other gets 422 naming
the field. Only the fields the parser reads are described; every other field is allowed and ignored.

Rules, stated once and used by both sides (each is written so that JSON Schema engines and Python agree):
  * a ticket/conversation id is an integer (0..2^63-1) or a string of at most 100 characters with no `{`,
    `}` or NUL and at least one character other than ASCII whitespace; an unrendered `{{placeholder}}` is
    therefore no id. Other ids (requester, comment, delivery) follow the same rule but may be null or "".
  * text fields (subject, description, bodies) are strings or null; a field "has text" when it contains a
    character other than ASCII whitespace and NUL. Each shape needs its id and at least one field with text.
  * people's emails and names are strings or null (an email that is not a valid address is ignored).
  * which shape applies is decided by `type` / `topic` / `ticket`, exactly as `dispatch_*` below does.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from shared.errors import InvalidInput

WS = " \t\n\r\f\v"  # ASCII whitespace: what JSON Schema regex engines and Python agree on
_NO_TEXT = WS + "\x00"
MAX_ID_LENGTH = 100  # the database's external_id columns
MAX_INT_ID = 2**63 - 1

# `[^{}\x00]*` also matches a newline, so `$` means the same in Python (which lets it match before a final
# newline) and in Rust/ECMAScript engines.
_ID_PATTERN = r"^[^{}\x00]*[^{}\x00 \t\n\r\f\v][^{}\x00]*$"
_ZEN_TICKET = "zen:ticket:"
_ZEN_EVENT = "zen:event-type:"
# Each event type / topic is written once, as the Literal its shape validates; dispatch reads the same values.
TicketCreatedType = Literal["zen:event-type:ticket.created"]
CommentAddedType = Literal["zen:event-type:ticket.comment_added"]
TagsChangedType = Literal["zen:event-type:ticket.tags_changed"]
CreateTopic = Literal["conversation.user.created", "conversation.admin.single.created", "ticket.created"]
ReplyTopic = Literal["conversation.user.replied", "conversation.admin.replied", "conversation.admin.noted"]
TaggedTopic = Literal["conversation_part.tag.created"]
AwayTopic = Literal["admin.away_mode_updated"]
(ZENDESK_TICKET_CREATED,) = get_args(TicketCreatedType)
(ZENDESK_COMMENT_ADDED,) = get_args(CommentAddedType)
(ZENDESK_TAGS_CHANGED,) = get_args(TagsChangedType)
(INTERCOM_TAGGED,) = get_args(TaggedTopic)
(INTERCOM_AWAY,) = get_args(AwayTopic)
INTERCOM_CREATE_TOPICS: tuple[str, ...] = get_args(CreateTopic)
INTERCOM_REPLY_TOPICS: tuple[str, ...] = get_args(ReplyTopic)

_STR_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": _ID_PATTERN}
_INT_ID: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_INT_ID}
KEY_ID_SCHEMA: dict[str, Any] = {"anyOf": [_STR_ID, _INT_ID]}
OPT_ID_SCHEMA: dict[str, Any] = {"anyOf": [_STR_ID, _INT_ID, {"type": "string", "maxLength": 0}, {"type": "null"}]}
STRING_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
HAS_TEXT: dict[str, Any] = {"type": "string", "pattern": r"[^ \t\n\r\f\v\x00]"}


def has_text(value: Any) -> bool:
    """The documented "has text" rule (HAS_TEXT)."""
    return isinstance(value, str) and any(ch not in _NO_TEXT for ch in value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", dict: "an object", list: "an array", float: "a number"}.get(type(value), "a number")


def is_id(value: Any) -> bool:
    """The documented id rule (KEY_ID_SCHEMA); JSON integers may arrive as floats like 5.0."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return 0 <= value <= MAX_INT_ID
    return (
        isinstance(value, str)
        and len(value) <= MAX_ID_LENGTH
        and not any(ch in "{}\x00" for ch in value)
        and any(ch not in WS for ch in value)
    )


def _check_key_id(value: Any) -> str:
    if is_id(value):
        return id_text(value) or ""
    if isinstance(value, str):
        if "{{" in value:
            raise ValueError(f"'{value[:40]}' is an unrendered placeholder: no ticket/conversation id in the body")
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(f"is longer than {MAX_ID_LENGTH} characters")
        raise ValueError("must contain a visible character and no '{', '}' or NUL")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"must be a whole number from 0 to {MAX_INT_ID} or a string")
    raise ValueError(f"must be a string or an integer, not {_kind(value)}")


def _check_opt_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _check_key_id(value)


def _check_string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"must be a string or null, not {_kind(value)}")


def id_text(value: Any) -> str | None:
    """A validated id as the text we store (None when absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = int(value)
    return str(value).strip(WS)


# Key ids are optional as fields (a shape may offer two places for one) but never null when present.
KeyId = Annotated[Any, BeforeValidator(_check_key_id), WithJsonSchema(KEY_ID_SCHEMA)]
OptId = Annotated[Any, BeforeValidator(_check_opt_id), WithJsonSchema(OPT_ID_SCHEMA)]
Text = Annotated[Any, BeforeValidator(_check_string), WithJsonSchema(STRING_OR_NULL)]


class _Body(BaseModel):
    """Vendor objects: only the fields we read are checked; the rest are allowed and ignored."""

    model_config = ConfigDict(extra="allow")


# Model-level rules go under `anyOf`/`allOf`/`not`: a `json_schema_extra` dict is merged key by key, so a
# top-level `properties`/`required` there would replace the model's own.
def _requirement(*options: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": list(options)}


def _prop(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


def _path(*names: str, leaf: dict[str, Any]) -> dict[str, Any]:
    """`{"required": [a], "properties": {a: {"type": "object", ...b...}}}` down to `leaf`."""
    schema = leaf
    for name in reversed(names[1:]):
        schema = {"type": "object", **_prop(name, schema)}
    return _prop(names[0], schema)


# --------------------------------------------------------------------------- Zendesk


class ZendeskPerson(_Body):
    """A requester or comment author."""

    id: OptId = None
    email: Text = None
    name: Text = None


class ZendeskComment(_Body):
    id: OptId = None
    body: Text = None
    html_body: Text = None
    author: ZendeskPerson | None = None


def _comment_from_text(value: Any) -> Any:
    return {"body": value} if isinstance(value, str) else value


def _also_string(schema: dict[str, Any]) -> None:
    schema["anyOf"].append({"type": "string"})


Comment = Annotated[
    ZendeskComment | None, BeforeValidator(_comment_from_text), Field(json_schema_extra=_also_string)
]  # a trigger may send `{{ticket.latest_comment}}` as a string


class ZendeskTicketFields(_Body):
    """A ticket as the Tickets API, a trigger's JSON or an event's `detail` carries it."""

    id: KeyId = None
    ticket_id: KeyId = None
    subject: Text = None
    title: Text = None
    raw_subject: Text = None
    description: Text = None
    comment: Comment = None
    latest_comment: Comment = None
    requester: ZendeskPerson | None = None
    requester_id: OptId = None
    requester_email: Text = None
    email: Text = None
    requester_name: Text = None
    name: Text = None

    def ticket_id_value(self) -> Any:
        return self.id if self.id is not None else self.ticket_id

    def has_ticket_text(self) -> bool:
        comments = [c.body for c in (self.comment, self.latest_comment) if c is not None]
        return any(has_text(v) for v in (self.subject, self.title, self.raw_subject, self.description, *comments))


_ZENDESK_ID_RULE = _requirement(_prop("id", KEY_ID_SCHEMA), _prop("ticket_id", KEY_ID_SCHEMA))
_ZENDESK_TEXT_RULE = _requirement(
    *(_prop(name, HAS_TEXT) for name in ("subject", "title", "raw_subject", "description")),
    *(_prop(name, HAS_TEXT) for name in ("comment", "latest_comment")),
    *(_path(name, "body", leaf=HAS_TEXT) for name in ("comment", "latest_comment")),
)
# The ticket shapes' own `type` (the ticket type, in a trigger's JSON) is anything but an event type.
NotZendeskEvent = Annotated[Any, WithJsonSchema({"not": {"type": "string", "pattern": f"^{_ZEN_EVENT}"}})]
_KNOWN_EVENTS = [ZENDESK_TICKET_CREATED, ZENDESK_COMMENT_ADDED, ZENDESK_TAGS_CHANGED]
OtherZendeskEvent = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": f"^{_ZEN_EVENT}", "not": {"enum": _KNOWN_EVENTS}})
]


class ZendeskTicket(ZendeskTicketFields):
    model_config = ConfigDict(json_schema_extra={"allOf": [_ZENDESK_ID_RULE, _ZENDESK_TEXT_RULE]})

    @model_validator(mode="after")
    def _id_and_text(self) -> ZendeskTicket:
        if self.id is None and self.ticket_id is None:
            raise ValueError("no ticket/conversation id found: the ticket needs `id` or `ticket_id`")
        if not self.has_ticket_text():
            raise ValueError(
                "the ticket has neither a subject nor a description (`subject`, `title`, `raw_subject`, "
                "`description` or a comment's `body` with text)"
            )
        return self


class ZendeskTicketBody(_Body):
    """The seed's / Tickets API body: `{"ticket": {...}}`."""

    model_config = ConfigDict(title="Zendesk ticket body")

    ticket: ZendeskTicket
    type: NotZendeskEvent = None


class ZendeskTriggerBody(ZendeskTicket):
    """A trigger/automation's JSON: the ticket's fields at the top level, no `ticket` key."""

    model_config = ConfigDict(
        title="Zendesk trigger JSON",
        json_schema_extra={"allOf": [_ZENDESK_ID_RULE, _ZENDESK_TEXT_RULE], "not": {"required": ["ticket"]}},
    )

    type: NotZendeskEvent = None


class ZendeskTicketCreated(_Body):
    model_config = ConfigDict(title="Zendesk event ticket.created")

    type: TicketCreatedType
    id: OptId = None
    detail: ZendeskTicket


class ZendeskCommentEvent(_Body):
    comment: ZendeskComment


_ZEN_SUBJECT = {
    "type": "string",
    "maxLength": len(_ZEN_TICKET) + MAX_ID_LENGTH,
    "pattern": "^zen:ticket:" + _ID_PATTERN[1:],
}


_ZENDESK_EVENT_ID_RULE = _requirement(
    _path("detail", "id", leaf=KEY_ID_SCHEMA),
    _path("detail", "ticket_id", leaf=KEY_ID_SCHEMA),
    _prop("subject", _ZEN_SUBJECT),
)


class _ZendeskTicketEvent(_Body):
    """An event about one ticket: its id in `detail`, or in `subject` ("zen:ticket:<id>") when `detail` is sparse."""

    id: OptId = None
    subject: Text = None
    detail: ZendeskTicketFields | None = None

    def ticket_id_value(self) -> Any:
        found = self.detail.ticket_id_value() if self.detail is not None else None
        if found is None and isinstance(self.subject, str) and self.subject.startswith(_ZEN_TICKET):
            suffix = self.subject.removeprefix(_ZEN_TICKET)
            found = suffix if is_id(suffix) else None
        return found

    def _require_ticket_id(self) -> None:
        if self.ticket_id_value() is None:
            raise ValueError("no ticket/conversation id found: needs `detail.id` or `subject` 'zen:ticket:<id>'")


class ZendeskCommentAdded(_ZendeskTicketEvent):
    model_config = ConfigDict(
        title="Zendesk event ticket.comment_added",
        json_schema_extra={
            "allOf": [
                _ZENDESK_EVENT_ID_RULE,
                _requirement(
                    _path("event", "comment", "body", leaf=HAS_TEXT),
                    _path("event", "comment", "html_body", leaf=HAS_TEXT),
                ),
            ]
        },
    )

    type: CommentAddedType
    event: ZendeskCommentEvent

    @model_validator(mode="after")
    def _id_and_text(self) -> ZendeskCommentAdded:
        self._require_ticket_id()
        comment = self.event.comment
        if not (has_text(comment.body) or has_text(comment.html_body)):
            raise ValueError("event.comment: the comment has no text in `body` or `html_body`")
        return self


class ZendeskTagsChanged(_ZendeskTicketEvent):
    """A ticket's tags changed in Zendesk: `detail.tags` holds them all, as they now are."""

    model_config = ConfigDict(
        title="Zendesk event ticket.tags_changed", json_schema_extra={"allOf": [_ZENDESK_EVENT_ID_RULE]}
    )

    type: TagsChangedType

    @model_validator(mode="after")
    def _id(self) -> ZendeskTagsChanged:
        self._require_ticket_id()
        return self


class ZendeskOtherEvent(_Body):
    """Any other event type: acknowledged and ignored."""

    model_config = ConfigDict(title="Zendesk event (other types, ignored)")

    type: OtherZendeskEvent
    id: OptId = None


ZENDESK_SHAPES: tuple[type[_Body], ...] = (
    ZendeskTicketBody,
    ZendeskTriggerBody,
    ZendeskTicketCreated,
    ZendeskCommentAdded,
    ZendeskTagsChanged,
    ZendeskOtherEvent,
)


def zendesk_shape(payload: dict[str, Any]) -> type[_Body]:
    """Which shape a Zendesk body claims to be (its `type`, else whether it wraps a `ticket`)."""
    kind = payload.get("type")
    if isinstance(kind, str) and kind.startswith(_ZEN_EVENT):
        events: dict[str, type[_Body]] = {
            ZENDESK_TICKET_CREATED: ZendeskTicketCreated,
            ZENDESK_COMMENT_ADDED: ZendeskCommentAdded,
            ZENDESK_TAGS_CHANGED: ZendeskTagsChanged,
        }
        return events.get(kind, ZendeskOtherEvent)
    return ZendeskTicketBody if "ticket" in payload else ZendeskTriggerBody


# --------------------------------------------------------------------------- Intercom


class IntercomPerson(_Body):
    """An author, user or contact."""

    id: OptId = None
    user_id: OptId = None
    email: Text = None
    name: Text = None


class IntercomPart(_Body):
    id: OptId = None
    body: Text = None
    author: IntercomPerson | None = None


class IntercomPartList(_Body):
    conversation_parts: list[IntercomPart] | None = None


def _unwrap_parts(value: Any) -> Any:
    return value.get("conversation_parts") if isinstance(value, dict) else value


def _also_part_list(schema: dict[str, Any]) -> None:
    array = next(s for s in schema["anyOf"] if s.get("type") == "array")
    schema["anyOf"].append(
        {"type": "object", "properties": {"conversation_parts": {"anyOf": [copy.deepcopy(array), {"type": "null"}]}}}
    )


SeedParts = Annotated[
    list[IntercomPart] | None, BeforeValidator(_unwrap_parts), Field(json_schema_extra=_also_part_list)
]  # the seed sends the list, the REST API nests it in `{"conversation_parts": [...]}`

_PARTS_WITH_TEXT = {"type": "array", "contains": _prop("body", HAS_TEXT)}
_NOTIFICATION = _requirement(
    {"required": ["topic"]}, {"required": ["type"], "properties": {"type": {"const": "notification_event"}}}
)


class IntercomSeed(_Body):
    """The seed's body: `{"conversation_id", "user", "conversation_parts": [{"body"}]}` (no `topic`)."""

    model_config = ConfigDict(
        title="Intercom conversation (seed body)",
        json_schema_extra={
            "not": _NOTIFICATION,
            "allOf": [
                _requirement(_prop("conversation_id", KEY_ID_SCHEMA), _prop("id", KEY_ID_SCHEMA)),
                _requirement(
                    _prop("subject", HAS_TEXT),
                    _prop("conversation_parts", _PARTS_WITH_TEXT),
                    _path("conversation_parts", "conversation_parts", leaf=_PARTS_WITH_TEXT),
                ),
            ],
        },
    )

    conversation_id: KeyId = None
    id: KeyId = None
    subject: Text = None
    user: IntercomPerson | None = None
    conversation_parts: SeedParts = None

    def conversation_id_value(self) -> Any:
        return self.conversation_id if self.conversation_id is not None else self.id

    @model_validator(mode="after")
    def _id_and_text(self) -> IntercomSeed:
        if self.conversation_id_value() is None:
            raise ValueError("no ticket/conversation id found: needs `conversation_id` or `id`")
        if not (has_text(self.subject) or any(has_text(p.body) for p in self.conversation_parts or [])):
            raise ValueError("the conversation has no text: `subject` or a `conversation_parts[].body` with text")
        return self


class IntercomMessage(_Body):
    """A conversation's first message: 2.x `source`, 1.x `conversation_message`."""

    subject: Text = None
    body: Text = None
    author: IntercomPerson | None = None


class IntercomTicketAttributes(_Body):
    default_title: Text = Field(None, alias="_default_title_")
    default_description: Text = Field(None, alias="_default_description_")


class IntercomContacts(_Body):
    contacts: list[IntercomPerson] | None = None


class IntercomItem(_Body):
    id: KeyId
    title: Text = None
    source: IntercomMessage | None = None
    conversation_message: IntercomMessage | None = None
    ticket_attributes: IntercomTicketAttributes | None = None
    user: IntercomPerson | None = None
    contacts: IntercomContacts | None = None
    conversation_parts: IntercomPartList | None = None

    def subjects(self) -> list[Any]:
        attrs = self.ticket_attributes
        return [
            attrs.default_title if attrs else None,
            self.source.subject if self.source else None,
            self.conversation_message.subject if self.conversation_message else None,
            self.title,
        ]

    def descriptions(self) -> list[Any]:
        attrs = self.ticket_attributes
        return [
            attrs.default_description if attrs else None,
            self.source.body if self.source else None,
            self.conversation_message.body if self.conversation_message else None,
        ]

    def parts(self) -> list[IntercomPart]:
        return (self.conversation_parts.conversation_parts or []) if self.conversation_parts else []


class IntercomCreatedItem(IntercomItem):
    model_config = ConfigDict(
        json_schema_extra=_requirement(
            _path("ticket_attributes", "_default_title_", leaf=HAS_TEXT),
            _path("ticket_attributes", "_default_description_", leaf=HAS_TEXT),
            _prop("title", HAS_TEXT),
            *(
                _path(where, field, leaf=HAS_TEXT)
                for where in ("source", "conversation_message")
                for field in ("subject", "body")
            ),
        )
    )

    @model_validator(mode="after")
    def _text(self) -> IntercomCreatedItem:
        if not any(has_text(v) for v in self.subjects() + self.descriptions()):
            raise ValueError(
                "the conversation/ticket has no text (`ticket_attributes._default_title_`/`_default_description_`, "
                "`title`, `source.subject`/`body` or `conversation_message.subject`/`body`)"
            )
        return self


class IntercomRepliedItem(IntercomItem):
    model_config = ConfigDict(
        json_schema_extra={"allOf": [_path("conversation_parts", "conversation_parts", leaf=_PARTS_WITH_TEXT)]}
    )

    @model_validator(mode="after")
    def _reply(self) -> IntercomRepliedItem:
        if not any(has_text(p.body) for p in self.parts()):
            raise ValueError("the reply has no text: no `conversation_parts.conversation_parts[].body` with text")
        return self


class IntercomCreatedData(_Body):
    item: IntercomCreatedItem


class IntercomRepliedData(_Body):
    item: IntercomRepliedItem


def _check_topic(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"must be a string, not {_kind(value)}")


class IntercomCreated(_Body):
    model_config = ConfigDict(title="Intercom notification: conversation or ticket created")

    topic: CreateTopic
    id: OptId = None
    data: IntercomCreatedData


class IntercomReplied(_Body):
    model_config = ConfigDict(title="Intercom notification: reply")

    topic: ReplyTopic
    id: OptId = None
    data: IntercomRepliedData


class IntercomTaggedData(_Body):
    item: IntercomItem


class IntercomTagged(_Body):
    """A conversation part was tagged: the conversation (`data.item`) carries all its tags (`tags.tags[].name`)."""

    model_config = ConfigDict(title="Intercom notification: conversation tagged")

    topic: TaggedTopic
    id: OptId = None
    data: IntercomTaggedData


class IntercomAdmin(_Body):
    """A teammate (Intercom calls them admins): who, and whether their away mode is on."""

    id: OptId = None
    email: Text = None
    name: Text = None
    away_mode_enabled: StrictBool


class IntercomAdminData(_Body):
    item: IntercomAdmin


class IntercomAwayMode(_Body):
    """A teammate's away mode turned on or off (`data.item.away_mode_enabled`): the agent with their email is made
    away or back."""

    model_config = ConfigDict(title="Intercom notification: teammate away mode")

    topic: AwayTopic
    id: OptId = None
    data: IntercomAdminData


class IntercomPing(_Body):
    model_config = ConfigDict(title="Intercom notification: ping")

    topic: Literal["ping"]
    id: OptId = None


_KNOWN_TOPICS = ("ping", *INTERCOM_CREATE_TOPICS, *INTERCOM_REPLY_TOPICS, INTERCOM_TAGGED, INTERCOM_AWAY)


OtherTopic = Annotated[
    Any, BeforeValidator(_check_topic), WithJsonSchema({"type": "string", "not": {"enum": list(_KNOWN_TOPICS)}})
]


class IntercomOtherNotification(_Body):
    """Any other topic (or none): acknowledged and ignored."""

    model_config = ConfigDict(title="Intercom notification: other topics (ignored)", json_schema_extra=_NOTIFICATION)

    topic: OtherTopic = None
    id: OptId = None


INTERCOM_SHAPES: tuple[type[_Body], ...] = (
    IntercomSeed,
    IntercomCreated,
    IntercomReplied,
    IntercomTagged,
    IntercomAwayMode,
    IntercomPing,
    IntercomOtherNotification,
)


def intercom_shape(payload: dict[str, Any]) -> type[_Body]:
    """Which shape an Intercom body claims to be: a notification (by `topic`) or the seed's body."""
    if payload.get("type") != "notification_event" and "topic" not in payload:
        return IntercomSeed
    topic = payload.get("topic")
    if topic == "ping":
        return IntercomPing
    if topic in INTERCOM_CREATE_TOPICS:
        return IntercomCreated
    if topic in INTERCOM_REPLY_TOPICS:
        return IntercomReplied
    if topic == INTERCOM_TAGGED:
        return IntercomTagged
    if topic == INTERCOM_AWAY:
        return IntercomAwayMode
    return IntercomOtherNotification


# --------------------------------------------------------------------------- validation and documentation

_MESSAGES = {
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be an array",
    "missing": "is required",
    "bool_type": "must be true or false",
}


def validate(vendor: str, payload: Any) -> BaseModel:
    """The body checked against its shape; InvalidInput (422) names the field and why."""
    if not isinstance(payload, dict):
        raise InvalidInput(f"{vendor.capitalize()} webhook body must be a JSON object")
    shape = zendesk_shape(payload) if vendor == "zendesk" else intercom_shape(payload)
    try:
        return shape.model_validate(payload)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:3]:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
            why = _MESSAGES.get(error["type"], error["msg"].removeprefix("Value error, "))
            if error["type"] == "literal_error":
                why = f"must be {error['msg'].removeprefix('Input should be ')}"
            problems.append(f"{where}: {why}" if where else why)
        title = shape.model_config.get("title") or shape.__name__
        raise InvalidInput(f"{vendor} webhook ({title}): " + "; ".join(problems)) from None


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """Resolve `$ref`s into `#/$defs` and drop Pydantic's `title`/`default` annotations (not constraints)."""
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "default", "$defs", "description"):
            continue
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _inline(value, defs)
    return out


def documented_schema(shapes: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """The request-body schema for OpenAPI: any one of the shapes, each inlined (no component refs)."""
    branches = []
    for shape in shapes:
        raw = shape.model_json_schema()
        branch = _inline(raw, raw.get("$defs", {}))
        branch["title"] = shape.model_config.get("title") or shape.__name__
        if shape.__doc__:
            branch["description"] = shape.__doc__.strip().splitlines()[0]
        branches.append(branch)
    return {"anyOf": branches}
