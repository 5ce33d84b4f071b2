"""Pydantic schemas at the service edges, and the messages that pass between services."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from shared.macros import PLACEHOLDERS as MACRO_PLACEHOLDERS
from shared.macros import REFUSED_PATTERN as MACRO_REFUSED_PATTERN
from shared.macros import UNNAMED as MACRO_UNNAMED
from shared.macros import check_text as check_macro_text
from shared.tags import MAX_TAGS_PER_CHANGE, TAG_MAX_LENGTH, TAG_PATTERN, normalize_tag
from shared.text import REFERENCE_MAX_LENGTH, SEARCH_MAX_LENGTH, SPACE_CLASS, search_terms

MAX_DESCRIPTION = 20_000
MAX_SUBJECT = 500
MAX_SATISFACTION_COMMENT = 2_000
# Ids clients may choose or send back (agents, articles, customers): URL-safe, no spaces.
ID_PATTERN = r"^[A-Za-z0-9_\-]+$"
AGENT_ID_PATTERN = ID_PATTERN
SOURCE_PATTERN = r"^[a-z0-9_\-]+$"  # a ticket's channel: lower case, so one channel is never listed under two names


class Category(StrEnum):
    shipping = "shipping"
    billing = "billing"
    refund = "refund"
    account = "account"
    order = "order"
    product = "product"
    subscription = "subscription"
    technical = "technical"
    general = "general"


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


# Low to critical.
PRIORITY_RANK = {p: rank for rank, p in enumerate(Priority)}


class Sentiment(StrEnum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


class Status(StrEnum):
    new = "new"
    open = "open"
    in_progress = "in_progress"
    pending = "pending"
    resolved = "resolved"
    closed = "closed"


class Satisfaction(StrEnum):
    """The customer's rating of a solved ticket (`POST /api/tickets/{id}/satisfaction`)."""

    good = "good"
    bad = "bad"


class ProcessingState(StrEnum):
    queued = "queued"  # stored, waiting for classification
    classified = "classified"  # classified, waiting for a draft
    done = "done"  # all AI results in
    failed = "failed"  # gave up after retries; see processing_error


# Which status may follow which. Reopening a resolved ticket is allowed, a closed one is final.
STATUS_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.new: frozenset({Status.open, Status.in_progress, Status.pending, Status.resolved, Status.closed}),
    Status.open: frozenset({Status.in_progress, Status.pending, Status.resolved, Status.closed}),
    Status.in_progress: frozenset({Status.open, Status.pending, Status.resolved, Status.closed}),
    Status.pending: frozenset({Status.open, Status.in_progress, Status.resolved, Status.closed}),
    Status.resolved: frozenset({Status.open, Status.closed}),
    Status.closed: frozenset(),
}


# What JSON Schema's (ECMAScript's) `\s` matches. Python's str.strip() also strips \x1c-\x1f and \x85,
# so a value the documented pattern accepts would be refused; stripping exactly this set keeps the two equal.
_SPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(map(chr, range(0x2000, 0x200B)))
# The same set inside an enforced pattern's character class (shared.text.SPACE_CLASS, which the search's
# terms are split on too).
_WS = SPACE_CLASS

# Documents what `_strip_nonempty` enforces (JSON Schema patterns search: "has a character other than
# whitespace and NUL"; NUL is dropped from free text, see FreeText).
NON_BLANK: JsonDict = {"pattern": r"[^\s\x00]"}


def without_nul(value: Any) -> Any:
    """The value with NUL characters dropped (strings only): PostgreSQL text cannot hold them."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def clean_text(value: str) -> str:
    """Without NUL characters and surrounding whitespace (as the documented patterns define it)."""
    return without_nul(value).strip(_SPACE)


def _strip_nonempty(value: str) -> str:
    value = clean_text(value)
    if not value:
        raise ValueError("must not be empty or whitespace")
    return value


# Free text (subjects, bodies, names, tags): NUL characters are dropped on the way in. PostgreSQL text
# cannot store them and they carry nothing in a ticket. Fields with a pattern or an enum refuse NUL instead.
FreeText = Annotated[str, AfterValidator(without_nul)]  # after the length checks, as documented


def _email(value: str) -> str:
    """RFC 5321 syntax via email-validator, without a deliverability (DNS) check.

    `test_environment` lets `.test` domains through: they are well-formed addresses (the documented
    `format: email`), and refusing them is a deliverability judgement this API does not make.
    """
    try:
        return email_validator.validate_email(value, check_deliverability=False, test_environment=True).normalized
    except email_validator.EmailNotValidError as exc:
        reason = {"reason": str(exc)}
        raise PydanticCustomError("value_error", "value is not a valid email address: {reason}", reason) from exc


# 254: the longest address RFC 5321 allows, which email-validator enforces; documented so clients know.
Email = Annotated[str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email", "maxLength": 254})]


# An order id to search by: something besides spaces and leading '#'s (see shared.text.normalize_order_id),
# said as a pattern so the OpenAPI document states exactly what is accepted.
OrderIdQuery = Annotated[
    str,
    StringConstraints(max_length=REFERENCE_MAX_LENGTH, pattern=rf"^[{_WS}]*#*[{_WS}]*[^{_WS}#]"),
    AfterValidator(without_nul),
]

# A tracking number to search by: something besides spaces and hyphens (see shared.text.normalize_tracking_number).
TrackingNumberQuery = Annotated[
    str,
    StringConstraints(max_length=REFERENCE_MAX_LENGTH, pattern=rf"^[{_WS}-]*[^{_WS}-]"),
    AfterValidator(without_nul),
]


def _searchable(value: str) -> str:
    if not search_terms(value):
        raise ValueError("has nothing to search for: give a word, or a phrase in double quotes")
    return value


# A ticket search: words and "quoted phrases" (see shared.text.search_terms). The documented pattern says
# exactly what `_searchable` enforces, a character besides spaces, quotes and NUL (NUL dropped, as from the
# ticket's own text).
SearchQuery = Annotated[
    str,
    Field(max_length=SEARCH_MAX_LENGTH, json_schema_extra={"pattern": r'[^\s"\x00]'}),
    AfterValidator(without_nul),
    AfterValidator(_searchable),
]


# A ticket tag as given (see shared.tags): the documented pattern is exactly what is accepted; stored lower-cased.
Tag = Annotated[
    str,
    StringConstraints(max_length=TAG_MAX_LENGTH, pattern=TAG_PATTERN),
    AfterValidator(normalize_tag),
]

MAX_TAGS_PER_FILTER = 10  # in one `tag` or `without_tag` of the list: "any of these" / "none of these"
_ONE_TAG = TAG_PATTERN.strip("^$")
TAG_LIST_PATTERN = rf"^{_ONE_TAG}(,{_ONE_TAG}){{0,{MAX_TAGS_PER_FILTER - 1}}}$"


def _tag_list(value: str) -> str:
    """The stored form of a filter's tags: each normalised as a tag is, a tag given twice once, in the order
    given, comma-joined (a string still, so a view stored with one tag reads as before)."""
    tags = dict.fromkeys(normalize_tag(tag) for tag in value.split(","))
    return ",".join(tags)


# One tag, or up to MAX_TAGS_PER_FILTER comma-separated, as the list's `tag` and `without_tag` take them.
TagList = Annotated[
    str,
    StringConstraints(max_length=(TAG_MAX_LENGTH + 1) * MAX_TAGS_PER_FILTER, pattern=TAG_LIST_PATTERN),
    AfterValidator(_tag_list),
]


def _utc(value: datetime) -> datetime:
    """A moment without an offset is UTC, as every stored time is; one with an offset is moved to UTC."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC moment Python holds
        raise PydanticCustomError("moment_range", "moment is outside the years 1-9999 in UTC") from None


def _written_moment(value: Any) -> Any:
    """Only a date or a date-time as written (ISO 8601): the lax parse would also take a number of seconds
    since 1970, which the schema does not offer and a typo could give."""
    if isinstance(value, datetime) or (isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value)):
        return value
    raise PydanticCustomError("moment_format", "expected a date or date-time, e.g. 2026-11-01 or 2026-11-01T09:00Z")


Moment = Annotated[
    datetime,
    BeforeValidator(_written_moment),
    AfterValidator(_utc),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_DESCRIPTION)


# --------------------------------------------------------------------------- tickets


class TicketCreate(StrictModel):
    customer_email: Email
    customer_name: FreeText | None = Field(None, max_length=255)
    subject: FreeText = Field(..., min_length=1, max_length=MAX_SUBJECT, json_schema_extra=NON_BLANK)
    description: FreeText = Field(..., min_length=1, max_length=MAX_DESCRIPTION, json_schema_extra=NON_BLANK)
    order_id: FreeText | None = Field(None, max_length=100)
    source: str = Field("api", min_length=1, max_length=20, pattern=SOURCE_PATTERN)

    _strip = field_validator("subject", "description")(_strip_nonempty)


class TicketQuery(BaseModel):
    """The ticket list's filters and order: each given field narrows it; newest first unless `sort` says
    otherwise. A saved view stores one (`ViewFilters`)."""

    status: Status | None = None
    priority: Priority | None = None
    category: Category | None = None
    assigned_to: str | None = Field(
        None,
        max_length=20,
        pattern=AGENT_ID_PATTERN,
        description="The agent's id; `me`: the agent the caller's key is linked to (a view of `me` shows each "
        "agent their own)",
    )
    customer_id: str | None = Field(None, max_length=20, pattern=ID_PATTERN, description="The customer's other tickets")
    follow_up_of: str | None = Field(
        None,
        max_length=30,
        pattern=ID_PATTERN,
        description="The follow-up tickets a customer's messages to this closed ticket opened",
    )
    merged_into: str | None = Field(
        None, max_length=30, pattern=ID_PATTERN, description="The duplicates merged into this ticket"
    )
    customer_email: Email | None = Field(
        None, description="The tickets of the customer with this email (any letter case)"
    )
    order_id: OrderIdQuery | None = Field(
        None,
        description="Tickets given this order id on the form or mentioning it in the text (case and a leading "
        "'#' ignored)",
    )
    tracking_number: TrackingNumberQuery | None = Field(
        None,
        description="Tickets mentioning this carrier tracking number in the text, found once classified (case, "
        "spaces and hyphens ignored)",
    )
    q: SearchQuery | None = Field(
        None,
        description='Words to find (a "quoted phrase" counts as one; the first 8 count): a ticket matches when '
        "each is in its subject, description, messages (internal notes included) or its customer's name or "
        "email, in any letter case, inside words too",
    )
    tag: TagList | None = Field(
        None,
        description="Tickets carrying this tag (any letter case), put on by an agent or by Zendesk or Intercom; "
        f"up to {MAX_TAGS_PER_FILTER} comma-separated for those carrying any of them (`vip,enterprise`)",
    )
    without_tag: TagList | None = Field(
        None,
        description="Tickets not carrying this tag (any letter case): e.g. the open queue but what waits on a "
        f"vendor, `?status=open&without_tag=waiting-vendor`; up to {MAX_TAGS_PER_FILTER} comma-separated for "
        "those carrying none of them",
    )
    source: str | None = Field(
        None,
        max_length=20,
        pattern=SOURCE_PATTERN,
        description="Where tickets came from: `zendesk`, `intercom`, or the `source` given on create (`api` unless "
        "said)",
    )
    answered: bool | None = Field(
        None,
        description="`false`: no public agent reply yet (`first_response_at` null), whether posted here or brought "
        "in by the Zendesk or Intercom webhook; `true`: answered",
    )
    assigned: bool | None = Field(None, description="`false`: the unassigned queue; `true`: assigned to anyone")
    awaiting_assignment: bool | None = Field(
        None,
        description="`true`: tickets waiting for the automatic assignment (`routing_requested_at` set: every agent "
        "in the rotation who takes their category is at `max_open`); `false`: every other ticket",
    )
    needs_review: bool | None = Field(None, description="Only tickets the AI flagged for review (or only the others)")
    reopened: bool | None = Field(
        None,
        description="`true`: tickets reopened at least once (resolved, then open again: their customer wrote, or "
        "an agent reopened them); `false`: the others",
    )
    processing_state: ProcessingState | None = Field(
        None, description="e.g. `failed`: the tickets to re-run with POST /api/tickets/{id}/retry"
    )
    satisfaction: Satisfaction | None = Field(
        None, description="Tickets whose customer's latest rating is this: `bad` lists the ones to follow up"
    )
    created_from: Moment | None = Field(
        None,
        description="Tickets that arrived at or after this moment (ISO 8601; without an offset, UTC; a date alone "
        "is its midnight), e.g. `2026-11-01`",
    )
    created_before: Moment | None = Field(
        None,
        description="Tickets that arrived before this moment (not at it), so `created_from=2026-11-01&"
        "created_before=2026-12-01` is November",
    )
    resolved_from: Moment | None = Field(
        None,
        description="Tickets resolved at or after this moment (`resolved_at`: the latest resolve; a ticket reopened "
        "since has none), as `created_from` reads it: with `assigned_to`, what one agent resolved this week",
    )
    resolved_before: Moment | None = Field(
        None, description="Tickets resolved before this moment (not at it), as `created_before` reads it"
    )
    created_within_hours: int | None = Field(
        None,
        ge=1,
        le=8784,
        description="Tickets that arrived in the last this many hours, counted back from each request: the range "
        "a view keeps (`24`: the day's arrivals, whenever the view is opened)",
    )
    resolved_within_hours: int | None = Field(
        None,
        ge=1,
        le=8784,
        description="Tickets resolved in the last this many hours (`resolved_at`), counted back from each request "
        "(`168`: the week's resolves)",
    )
    overdue: bool | None = Field(
        None,
        description="`true`: unresolved tickets past their priority's resolution target (SLA_*_HOURS; with "
        "SLA_PAUSE_IN_PENDING, never a pending one); `false`: every other ticket",
    )
    unanswered_overdue: bool | None = Field(
        None,
        description="`true`: unresolved tickets with no public agent reply yet, past their priority's first "
        "response target (FIRST_RESPONSE_*_HOURS); `false`: every other ticket",
    )
    awaiting_reply: bool | None = Field(
        None,
        description="`true`: unresolved tickets whose customer is waiting for a reply (`awaiting_reply_since` set: "
        "never answered, or wrote again since the last public agent reply); `false`: every other ticket",
    )
    reply_overdue: bool | None = Field(
        None,
        description="`true`: unresolved tickets whose customer has waited past `reply_due_at` (the first response "
        "target before any reply, the next reply target, NEXT_REPLY_*_HOURS, after); `false`: every other ticket",
    )
    due_within_minutes: int | None = Field(
        None,
        ge=1,
        le=1440,
        description="Unresolved tickets whose reply target (`reply_due_at`) or resolution target (`due_at`) runs out "
        "within this many minutes and has not yet: still in time (with `sort=reply_due` or `sort=due`)",
    )
    sort: Literal["newest", "oldest", "due", "first_response_due", "awaiting", "reply_due", "flagged"] = Field(
        "newest",
        description="`oldest`: the longest-waiting first; `due`: by `due_at`, the furthest past its target first "
        "and tickets without a priority last (e.g. with `overdue=true`, or a `status` to see what runs out next); "
        "`first_response_due`: the same by the first response target (e.g. with `answered=false`); `awaiting`: "
        "by `awaiting_reply_since`, the customer waiting longest for a reply first, those awaiting none last; "
        "`reply_due`: by `reply_due_at`, the reply that runs out next first (e.g. with `awaiting_reply=true`); "
        "`flagged`: by `flagged_at`, the ticket flagged for review longest ago first (e.g. with `needs_review=true`)",
    )


class TicketFilters(TicketQuery):
    """The ticket list's query string: its filters and order, and the page."""

    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class TicketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticket_id: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    subject: str
    description: str
    category: str | None
    priority: str | None
    status: str
    ai_suggested_category: str | None
    ai_suggested_priority: str | None
    ai_suggested_reply: str | None
    ai_confidence: float | None
    ai_reasoning: str | None
    ai_model: str | None
    needs_review: bool
    sentiment: str | None
    sentiment_score: float | None
    urgency_keywords: list[Any]
    extracted_metadata: dict[str, Any]
    kb_article_ids: list[Any]
    assigned_to: str | None
    routing_requested_at: datetime | None = Field(
        default=None,
        description="While it waits for the automatic assignment (every agent in the rotation who takes its "
        "category is at max_open): since when; null once assigned, and for tickets the rotation does not take",
    )
    source: str
    external_id: str | None
    processing_state: str
    processing_error: str | None
    metadata: dict[str, str | None] = Field(default_factory=dict)
    tags: list[str] = Field(
        default_factory=list,
        description="Its tags, lower-cased, in alphabetical order: an agent's (POST /api/tickets/{id}/tags) and "
        "those a Zendesk or Intercom ticket arrived with",
    )
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    reopens: int = Field(
        default=0,
        description="How many times it went from resolved back to open (its customer wrote again, or an agent "
        "reopened it): resolutions that did not hold",
    )
    reopened_at: datetime | None = Field(default=None, description="When it was last reopened; null: never")
    pending_since: datetime | None = Field(
        default=None,
        description="While the ticket is pending (waiting on its customer): since when, its last move to pending, "
        "which AUTO_SOLVE_PENDING_AFTER_HOURS counts from; null in every other status",
    )
    follow_up_of: str | None = Field(
        default=None,
        description="The closed ticket whose customer wrote again, opening this one; null for every other ticket",
    )
    merged_into: str | None = Field(
        default=None,
        description="The ticket this duplicate was merged into (closing it), where its customer's later messages "
        "go; null for every other ticket",
    )
    first_response_at: datetime | None = Field(
        default=None,
        description="When the first public agent reply was posted here (POST /api/tickets/{id}/messages) or "
        "arrived through the Zendesk or Intercom webhook; null until then",
    )
    due_at: datetime | None = Field(
        default=None,
        description="When its priority's resolution target (SLA_*_HOURS) runs out, counted from arrival (with "
        "SLA_PAUSE_IN_PENDING, less the time spent pending, and null while pending: the clock stands still); "
        "null until it has a priority. Past it and not resolved or closed, the ticket is overdue. Under "
        "BUSINESS_HOURS the target counts business hours only, as every target does.",
    )
    awaiting_reply_since: datetime | None = Field(
        default=None,
        description="Since when the customer has waited for an agent's reply: the ticket's arrival, or their first "
        "message after the last public agent reply; null once an agent replies publicly or the ticket is resolved",
    )
    first_response_due_at: datetime | None = Field(
        default=None,
        description="When its priority's first response target (FIRST_RESPONSE_*_HOURS) runs out, counted from "
        "arrival (in business hours under BUSINESS_HOURS); null once answered (`first_response_at`) or while it "
        "has no priority",
    )
    reply_due_at: datetime | None = Field(
        default=None,
        description="When the customer's current wait (`awaiting_reply_since`) runs past its target: the first "
        "response target until the ticket is first answered, then the next reply target (NEXT_REPLY_*_HOURS); "
        "null while nobody waits for a reply or while it has no priority",
    )
    flagged_at: datetime | None = Field(
        default=None,
        description="Since when the ticket has been flagged for review (`needs_review`), across the rounds of AI "
        "work that kept it flagged; null while not flagged",
    )
    reviewed_at: datetime | None = Field(
        default=None,
        description="When an agent last reviewed the AI's results (POST /api/tickets/{id}/review), clearing "
        "`needs_review`; a later round of AI work (after the customer writes again) can flag the ticket again",
    )
    reviewed_by: str | None = Field(
        default=None, description="Who last reviewed them, as the history names the caller (`key:ID:NAME`)"
    )
    satisfaction: Satisfaction | None = Field(
        default=None,
        description="The customer's latest rating of the solved ticket, relayed by its channel's backend (POST "
        "/api/tickets/{id}/satisfaction); null until rated",
    )
    satisfaction_comment: str | None = Field(
        default=None, description="What the customer wrote with it, card numbers masked; erased with their data"
    )
    satisfaction_at: datetime | None = Field(default=None, description="When the latest rating was given")
    erased_at: datetime | None = Field(
        default=None,
        description="When its customer's personal data was erased (POST /api/customers/erase): subject and "
        "description read `[erased]`, messages and extracted details are gone; null otherwise",
    )


class TicketEnvelope(BaseModel):
    ticket: TicketRead


class TagsUpdate(StrictModel):
    """Tags to put on a ticket and to take off it: one side may be empty, not both. A tag named on both sides
    (in any letter case) ends up on the ticket."""

    # The documented schema says what `_something_to_do` enforces.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [side], "properties": {side: {"type": "array", "minItems": 1}}}
                for side in ("add", "remove")
            ]
        }
    )

    add: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS_PER_CHANGE)
    remove: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS_PER_CHANGE)

    @model_validator(mode="after")
    def _something_to_do(self) -> TagsUpdate:
        if not self.add and not self.remove:
            raise ValueError("give a tag to add or to remove")
        return self


class TagFilters(BaseModel):
    """The tags in use: every one, or those starting with `prefix` (as an agent types one), most used first."""

    prefix: Tag | None = Field(None, description="Only tags starting with this (any letter case)")
    limit: int = Field(50, ge=1, le=200)


class TagCount(BaseModel):
    tag: str
    tickets: int = Field(description="Tickets carrying it")


class TagsRead(BaseModel):
    ticket_id: str
    tags: list[str] = Field(description="The ticket's tags now, in alphabetical order")
    added: list[str] = Field(description="Tags this request put on (those already on it are left out)")
    removed: list[str] = Field(description="Tags this request took off (those not on it are left out)")
    updated_at: datetime


class StatusUpdate(StrictModel):
    status: Status


class CategoryUpdate(StrictModel):
    """An agent's correction of the ticket's category (the classifier learns from it)."""

    category: Category


class PriorityUpdate(StrictModel):
    """An agent's correction of the ticket's priority (the classifier learns from it)."""

    priority: Priority


class ReviewRequest(StrictModel):
    """An agent has looked at the AI's results: clear `needs_review`."""

    updated_at: datetime | None = Field(
        None,
        description="The ticket's `updated_at` as the agent read it; if the ticket changed since (a new round of AI "
        "results, a message, another agent), the review is refused with 409 so that what is there now gets read",
    )


class SatisfactionCreate(StrictModel):
    """The customer's answer to "how did we do?" on a resolved or closed ticket, relayed by its channel's backend."""

    rating: Satisfaction
    comment: FreeText | None = Field(
        None, max_length=MAX_SATISFACTION_COMMENT, description="Optional; card numbers are masked before it is stored"
    )

    @field_validator("comment")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        """A survey's empty comment box is no comment."""
        return (clean_text(value) or None) if value is not None else None


class SatisfactionRead(BaseModel):
    """The rating the ticket now holds."""

    model_config = ConfigDict(from_attributes=True)

    ticket_id: str
    satisfaction: Satisfaction
    satisfaction_comment: str | None
    satisfaction_at: datetime


class RatingLinksRead(BaseModel):
    """Links for a resolved ticket's customer to rate it on the gateway's page (`GET /rate/{token}`): each opens
    the page with its choice made, and the page's button rates."""

    good_url: str
    bad_url: str
    expires_at: datetime


class ConversationLinkRead(BaseModel):
    """A link to the request's page (`GET /requests/{token}`): its public conversation and a reply box."""

    url: str
    expires_at: datetime


class CustomerLinksRead(BaseModel):
    """A web or API ticket's links for its customer, working from now (CONVERSATION_LINK_DAYS,
    SATISFACTION_LINK_DAYS)."""

    ticket_id: str
    conversation: ConversationLinkRead
    satisfaction: RatingLinksRead | None = Field(description="Null until the ticket is resolved or closed")


class CorrectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: str
    field: str
    old_value: str | None
    new_value: str
    ai_value: str | None
    actor: str
    created_at: datetime


class StatusChanged(BaseModel):
    ticket_id: str
    status: str
    updated_at: datetime
    resolved_at: datetime | None


class AssignUpdate(StrictModel):
    agent_id: str | None = Field(
        ...,
        min_length=1,
        max_length=20,
        pattern=AGENT_ID_PATTERN,
        description="null unassigns the ticket; `me`: the agent the caller's key is linked to (in a macro, whoever "
        "applies it)",
    )


def _once_each(ticket_ids: list[str]) -> None:
    """ValueError naming the first ticket id given twice (a bulk change's or job's list, one pass)."""
    seen: set[str] = set()
    for ticket_id in ticket_ids:
        if ticket_id in seen:
            raise ValueError(f"ticket_ids: '{ticket_id}' is given twice")
        seen.add(ticket_id)


MAX_BULK_TICKETS = 100  # in one bulk change: each ticket is its own transaction, so a request stays short

BulkTicketId = Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=ID_PATTERN)]


class BulkUpdate(StrictModel):
    """One change made to many tickets: a status move, an assignment (`{"agent_id": null}` unassigns), tags put on
    and taken off, or any of them together, applied to each ticket in the order given."""

    # The documented schema says what `_something_to_do` enforces (a null change is no change).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["status"], "properties": {"status": {"type": "string"}}},
                {"required": ["assign"], "properties": {"assign": {"type": "object"}}},
                {"required": ["tags"], "properties": {"tags": {"type": "object"}}},
            ]
        }
    )

    ticket_ids: list[BulkTicketId] = Field(
        ..., min_length=1, max_length=MAX_BULK_TICKETS, json_schema_extra={"uniqueItems": True}
    )
    status: Status | None = None
    assign: AssignUpdate | None = None
    tags: TagsUpdate | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> BulkUpdate:
        if self.status is None and self.assign is None and self.tags is None:
            raise ValueError("give a change to make: `status`, `assign` or `tags`")
        _once_each(self.ticket_ids)
        return self


class BulkResult(BaseModel):
    ticket_id: str
    ok: bool = Field(description="Every change given was made (or was already so)")
    applied: list[str] = Field(description="The changes made, of status, assign and tags, in that order")
    status_code: int = Field(description="200, or the status the ticket's own request would have answered")
    detail: str | None = Field(None, description="Why the next change was not made")
    ticket: TicketRead | None = Field(None, description="The ticket as it now is (null when there is no such ticket)")


class BulkRead(BaseModel):
    updated: int = Field(description="Tickets every change was made to")
    failed: int = Field(description="Tickets a change was not made to (`results` says which and why)")
    results: list[BulkResult]


class MergeCreate(StrictModel):
    """Merging a duplicate ticket (the path's) into the ticket kept."""

    into: str = Field(..., min_length=1, max_length=30, pattern=ID_PATTERN, description="The ticket kept")


class MergeRead(BaseModel):
    ticket: TicketRead = Field(description="The duplicate, now closed, naming the ticket kept in `merged_into`")
    into: TicketRead = Field(description="The ticket kept")
    note: TicketMessageRead = Field(
        description="The internal note on the ticket kept, holding the duplicate's subject, text and messages"
    )


# --------------------------------------------------------------------------- macros

MAX_MACRO_TEXT = 10_000
MACRO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"
MacroText = Annotated[
    str,
    AfterValidator(check_macro_text),
    Field(
        min_length=1,
        max_length=MAX_MACRO_TEXT,
        json_schema_extra={**NON_BLANK, "not": {"pattern": MACRO_REFUSED_PATTERN}},
        description="The reply or note, with placeholders filled in for each ticket: "
        + ", ".join(f"{{{{{name}}}}}" for name in MACRO_PLACEHOLDERS)
        + f' (a customer without a name is "{MACRO_UNNAMED}"); any other {{{{...}}}} is refused',
    ),
]


class MacroSort(StrEnum):
    by_title = "title"
    by_usage = "usage"  # most messages posted in the last 7 days first, then the last 30


class MacroWrite(StrictModel):
    """A macro as an admin writes it: a saved reply (or internal note) and what applying it also does."""

    title: FreeText = Field(..., min_length=1, max_length=200, json_schema_extra=NON_BLANK)
    body: MacroText
    internal: StrictBool = Field(False, description="Post it as an internal note rather than a reply")
    status: Status | None = Field(None, description="The status to move the ticket to after posting; null: none")
    assign: AssignUpdate | None = Field(
        None,
        description='The agent to assign the ticket to after posting ({"agent_id": null} unassigns it); null: no '
        "change. The agent must exist and be active when the macro is written and when it is applied",
    )
    tags: TagsUpdate | None = Field(None, description="Tags to put on and take off after posting; null: none")
    active: StrictBool = Field(True, description="Agents may apply it; an inactive macro is kept, not offered")

    _strip = field_validator("title", "body")(_strip_nonempty)


class MacroCreate(MacroWrite):
    macro_id: str | None = Field(
        None, min_length=1, max_length=50, pattern=MACRO_ID_PATTERN, description="Generated when not given"
    )


class MacroRead(BaseModel):
    macro_id: str
    title: str
    body: str
    internal: bool
    status: Status | None
    assign: AssignUpdate | None
    tags: TagsUpdate | None
    active: bool
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    used_last_7d: int = Field(description="Messages it posted in the last 7 days (a retry posts none)")
    used_last_30d: int = Field(description="Messages it posted in the last 30 days")
    last_used_at: datetime | None = Field(description="When it last posted a message; null: never")


class MacroApply(StrictModel):
    """Applying a macro to a ticket: optionally the caller's id for the message, so a retry posts nothing new."""

    client_message_id: str | None = Field(
        None,
        max_length=100,
        pattern=ID_PATTERN,
        description="The caller's id for the message: sent again (a retry), nothing new is posted and the "
        "status and tag changes, made again, change nothing already made",
    )


class MacroPreview(BaseModel):
    """What applying the macro to the ticket would post and change, for an agent to read (or edit and post as a
    reply of their own) first."""

    macro_id: str
    ticket_id: str
    body: str = Field(description="The text with its placeholders filled in for this ticket and customer")
    missing: list[str] = Field(
        description="Placeholders left as written: the ticket has no order id or tracking number, or the key no "
        "agent, for them; applying the macro is refused while any remains"
    )
    internal: bool
    status: Status | None
    assign: AssignUpdate | None
    tags: TagsUpdate | None


class MacroApplied(BaseModel):
    macro_id: str
    ok: bool = Field(description="The message was posted and every change the macro makes was made")
    applied: list[str] = Field(description="What was done, of reply (or note), status, assign and tags, in that order")
    status_code: int = Field(description="200, or the status the change's own request would have answered")
    detail: str | None = Field(None, description="Why the next change was not made")
    message: TicketMessageRead
    ticket: TicketRead = Field(description="The ticket as it now is")


# --------------------------------------------------------------------------- agents


def _distinct_categories(value: list[Category] | None) -> list[Category] | None:
    """A rotation's categories once each, in the enum's order, so the stored list and its history are stable."""
    return None if value is None else [category for category in Category if category in value]


# The categories an agent in the rotation takes (`shared.routing`); null: every category.
RoutedCategories = Annotated[
    list[Category] | None,
    Field(min_length=1, max_length=len(Category), description="Categories routed to them; null: every one"),
    AfterValidator(_distinct_categories),
]


def _whole_number(value: Any) -> Any:
    """A JSON number with no fraction (3 or 3.0, as JSON Schema's integer allows); not "3", not true."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a whole number")
    return value


MaxOpen = Annotated[
    int | None,
    Field(
        ge=1,
        le=10_000,
        description="At most this many tickets new, open or in progress at a time are routed to them; null: no limit",
    ),
    BeforeValidator(_whole_number),
]


ME = "me"  # in `assigned_to` (and an assignment's `agent_id`): the agent the caller's key is linked to


def _not_me(agent_id: str | None) -> str | None:
    if agent_id is not None and agent_id.lower() == ME:
        raise PydanticCustomError("reserved_id", "'me' is reserved: in `assigned_to` it means the caller's own agent")
    return agent_id


class AgentCreate(StrictModel):
    agent_id: Annotated[
        str | None, Field(min_length=1, max_length=20, pattern=AGENT_ID_PATTERN), AfterValidator(_not_me)
    ] = None
    name: FreeText = Field(..., min_length=1, max_length=255, json_schema_extra=NON_BLANK)
    email: Email | None = None
    active: StrictBool = True  # the documented type: 0, 1, "yes" are refused, not read as booleans
    auto_assign: StrictBool = Field(False, description="In the rotation: new tickets are assigned to them")
    categories: RoutedCategories = None
    max_open: MaxOpen = None

    _strip = field_validator("name")(_strip_nonempty)


class AgentUpdate(StrictModel):
    """Change what is given: rename, change or clear (null) the email, deactivate or reactivate."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    # Optional to leave unchanged, never null: the documented schema has no null for them.
    name: Annotated[str | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, **NON_BLANK})] = (
        Field(None, min_length=1, max_length=255)
    )
    email: Email | None = None
    active: Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})] = None
    auto_assign: Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})] = None
    categories: RoutedCategories = None
    max_open: MaxOpen = None
    away: Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})] = Field(
        None, description="Away: the rotation passes them by (as `PUT /api/me/away` sets it for oneself)"
    )

    @field_validator("name", "active", "auto_assign", "away", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave it out to keep it unchanged)")
        return value

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        return _strip_nonempty(value)

    @model_validator(mode="after")
    def _something_to_change(self) -> AgentUpdate:
        if not self.model_fields_set:
            raise ValueError(
                "nothing to change: give at least one of name, email, active, auto_assign, categories, max_open, away"
            )
        return self


class AwayUpdate(StrictModel):
    """An agent going away (lunch, end of shift, leave) or coming back."""

    away: StrictBool = Field(description="true: the rotation passes them by; false: it routes to them again")


class ReleaseRequest(StrictModel):
    include_pending: StrictBool = Field(
        False, description="Release their pending tickets too (unassigned; the rotation takes only open work)"
    )


class ReleasedTicket(BaseModel):
    ticket_id: str
    status: Status
    assigned_to: str | None = Field(description="The agent of the rotation it went to; null: unassigned now")
    awaiting_assignment: bool = Field(
        description="Waiting for the rotation: nobody in it who takes its category has room yet"
    )


class ReleaseRead(BaseModel):
    agent_id: str
    released: int = Field(description="Tickets taken from the agent")
    results: list[ReleasedTicket] = Field(description="Each, oldest first, and where it went")


class ActivityQuery(BaseModel):
    days: int = Field(7, ge=1, le=90, description="The window: this many days back from now")


class AgentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    agent_id: str
    name: str
    email: str | None
    active: bool
    created_at: datetime
    auto_assign: bool = Field(description="In the rotation: new tickets are assigned to them")
    categories: list[Category] | None = Field(description="Categories routed to them; null: every one")
    max_open: int | None = Field(description="Most tickets new, open or in progress routed to them; null: no limit")
    open_tickets: int = Field(description="Tickets assigned to them now new, open or in progress: their load")
    last_routed_at: datetime | None = Field(description="When the rotation last assigned them a ticket")
    away: bool = Field(description="Away: the rotation passes them by, keeping their settings")
    away_since: datetime | None = Field(description="Since when they are away; null when they are not")
    away_set_at: datetime | None = Field(
        description="When `away` was last set (changed or confirmed), here or by Intercom's away mode; null if not "
        "since migration 0046"
    )


# --------------------------------------------------------------------------- views


def _json_boolean(value: Any) -> Any:
    """true or false (or null), as JSON types them: "true" and 1 are a query string's spelling, not a body's."""
    if value is not None and not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be true or false")
    return value


# --------------------------------------------------------------------------- exports

# A CSV cell holds one value: every field of the API's ticket but the lists and objects, its tags (joined by
# spaces, as Zendesk's exports write them) and the order id given on the form.
EXPORT_COLUMNS: tuple[str, ...] = (
    *(
        name
        for name, field in TicketRead.model_fields.items()
        if not any(str(field.annotation).startswith(kind) for kind in ("list", "dict"))
    ),
    "tags",
    "order_id",
)
# A ticket's metadata field by its key (`metadata.zendesk_url`): the vendors' facts, the form's order id.
METADATA_COLUMN = r"metadata\.[A-Za-z0-9_.:-]{1,100}"
_COLUMN = f"({'|'.join(EXPORT_COLUMNS)}|{METADATA_COLUMN})"
EXPORT_COLUMNS_PATTERN = f"^ *{_COLUMN} *(, *{_COLUMN} *)*$"  # what `_export_columns` takes, for the schema
DEFAULT_EXPORT_COLUMNS: tuple[str, ...] = (
    "ticket_id",
    "created_at",
    "status",
    "priority",
    "category",
    "sentiment",
    "source",
    "customer_email",
    "customer_name",
    "subject",
    "assigned_to",
    "tags",
    "due_at",
    "first_response_at",
    "resolved_at",
    "satisfaction",
)


def _export_columns(value: str | None) -> str | None:
    """A comma-separated choice of `EXPORT_COLUMNS` and `metadata.KEY` columns: an unknown or empty name is
    refused, naming the known ones."""
    if value is None:
        return None
    names = [name.strip(" ") for name in value.split(",")]
    unknown = [name for name in names if name not in EXPORT_COLUMNS and not re.fullmatch(METADATA_COLUMN, name)]
    if unknown:
        raise PydanticCustomError(
            "export_column",
            "unknown column {unknown}; the columns are {known}, and metadata.KEY for a metadata field (letters,"
            " digits and _.:- in KEY, e.g. metadata.zendesk_url)",
            {"unknown": ", ".join(repr(name) for name in unknown), "known": ", ".join(EXPORT_COLUMNS)},
        )
    return ",".join(dict.fromkeys(names))  # a name given twice is one column


class ExportOptions(BaseModel):
    """How a ticket list is written as CSV (an unknown option is refused, not ignored)."""

    model_config = ConfigDict(extra="forbid")

    columns: Annotated[str | None, AfterValidator(_export_columns)] = Field(
        None,
        max_length=2000,
        description="The columns, comma-separated, in this order (default: "
        + ",".join(DEFAULT_EXPORT_COLUMNS)
        + "); any field of a ticket but its lists and objects, `tags` (space-separated), `order_id` (the form's) and"
        " `metadata.KEY`, one field of its metadata (e.g. `metadata.zendesk_url`; empty where a ticket has none)",
        json_schema_extra={"pattern": EXPORT_COLUMNS_PATTERN},
    )
    bom: bool = Field(False, description="Start with a UTF-8 byte order mark, for Excel to read the accents right")

    def column_names(self) -> tuple[str, ...]:
        return tuple(self.columns.split(",")) if self.columns else DEFAULT_EXPORT_COLUMNS


class TicketExport(TicketQuery, ExportOptions):
    """The ticket list's filters and order with the CSV's options. A name the list does not take is refused,
    as in a view: a misspelt filter would export every ticket. There is no page (`limit`, `offset`): every
    match is written, up to EXPORT_MAX_ROWS."""


class ViewFilters(TicketQuery):
    """A view's query as JSON: the ticket list's filters and order, by the names `GET /api/tickets/` takes,
    without the page. A name the list does not take is refused rather than ignored, since a misspelt filter
    would save a view of every ticket."""

    model_config = ConfigDict(extra="forbid")

    _booleans = field_validator(
        *(name for name, field in TicketQuery.model_fields.items() if field.annotation == bool | None), mode="before"
    )(_json_boolean)
    _whole = field_validator("due_within_minutes", "created_within_hours", "resolved_within_hours", mode="before")(
        _whole_number
    )


class ViewWrite(StrictModel):
    """A view as an admin writes it: a title over a saved ticket list ("Unassigned urgent", "Billing overdue")."""

    title: FreeText = Field(..., min_length=1, max_length=200, json_schema_extra=NON_BLANK)
    filters: ViewFilters = Field(
        default_factory=ViewFilters, description="The list's filters and `sort`; {} (the default): every ticket"
    )
    position: Annotated[int, BeforeValidator(_whole_number)] = Field(
        0, ge=0, le=10_000, description="Where it is listed: lower first, then by title"
    )
    active: StrictBool = Field(True, description="Offered to agents; an inactive view is kept and can still be read")

    _strip = field_validator("title")(_strip_nonempty)


class ViewCreate(ViewWrite):
    view_id: str | None = Field(
        None, min_length=1, max_length=50, pattern=MACRO_ID_PATTERN, description="Generated when not given"
    )
    personal: StrictBool = Field(
        False,
        description="The caller's own view, listed, opened and written by them alone (any agent whose key is "
        "linked to an agent); false: the team's view, which only an admin writes",
    )


class ViewRead(BaseModel):
    view_id: str
    title: str
    filters: dict[str, Any] = Field(description="The filters and `sort` given (those left at their default omitted)")
    query: str = Field(
        description="The same filters as a query string: `GET /api/tickets/?{query}` lists what the view lists"
    )
    position: int
    active: bool
    personal: bool = Field(description="The caller's own view; false: the team's")
    owner: str | None = Field(description="The agent whose personal view it is; null for the team's")
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    count: int | None = Field(
        None,
        description="How many tickets the view holds now (the single view always; the list with `?counts=true`); "
        "null in the list for a view that cannot be counted (`problem`)",
    )
    count_as_of: datetime | None = Field(
        None,
        description="When `count` was made: now for the single view; in the list up to VIEW_COUNTS_MAX_AGE_S ago "
        "(a count kept from an earlier request); null when not counted",
    )
    problem: str | None = Field(
        None,
        description="Why the view cannot be opened now: stored filters this version does not take (a filter "
        "renamed or removed by an upgrade), and the PUT that rewrites them; null when it can. Opening it is a 409 "
        "saying the same; the list shows it so that one such view does not refuse the whole list.",
    )


# --------------------------------------------------------------------------- bulk jobs

MAX_BULK_JOB_TICKETS = 10_000  # named in one job; BULK_JOB_MAX_TICKETS bounds what filters or a view may hold


class BulkJobState(StrEnum):
    queued = "queued"  # stored, its tickets chosen, not started
    running = "running"
    done = "done"  # every ticket was tried (`failed` says which could not take a change)
    cancelled = "cancelled"  # stopped before the end: by `POST /api/bulk-jobs/{id}/cancel`, or its key lost its right


class BulkJobCreate(StrictModel):
    """One change made to many tickets in the background: the tickets named, those a view holds, or those the
    list's filters hold, chosen when the job is created; the change is a macro applied, a status move, an
    assignment, tags, or several (the macro first)."""

    # The documented schema says what `_one_source_and_a_change` enforces.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "oneOf": [
                        {"required": [source], "properties": {source: {"not": {"type": "null"}}}}
                        for source in ("ticket_ids", "view_id", "filters")
                    ]
                },
                {
                    "anyOf": [
                        {"required": [change], "properties": {change: {"not": {"type": "null"}}}}
                        for change in ("macro_id", "status", "assign", "tags")
                    ]
                },
            ]
        }
    )

    ticket_ids: list[BulkTicketId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BULK_JOB_TICKETS,
        json_schema_extra={"uniqueItems": True},
        description="The tickets, in the order to change them",
    )
    view_id: str | None = Field(
        None,
        min_length=1,
        max_length=50,
        pattern=MACRO_ID_PATTERN,
        description="The tickets the view holds now, in its order (`me` in it: the caller's)",
    )
    filters: ViewFilters | None = Field(
        None,
        description="The tickets the list's filters hold now, in its order (a view's `filters`; `{}`: every ticket)",
    )
    expected_total: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="How many tickets the caller expects (the count it showed the agent); when the view or filters "
        "hold another number now, the job is refused (409) and nothing changes",
    )
    macro_id: str | None = Field(
        None, min_length=1, max_length=50, pattern=MACRO_ID_PATTERN, description="A macro to apply to each ticket"
    )
    status: Status | None = None
    assign: AssignUpdate | None = None
    tags: TagsUpdate | None = None

    @model_validator(mode="after")
    def _one_source_and_a_change(self) -> BulkJobCreate:
        sources = [name for name in ("ticket_ids", "view_id", "filters") if getattr(self, name) is not None]
        if len(sources) != 1:
            given = f"got {', '.join(sources)}" if sources else "got none"
            raise ValueError(f"name the tickets one way: `ticket_ids`, `view_id` or `filters` ({given})")
        if self.macro_id is None and self.status is None and self.assign is None and self.tags is None:
            raise ValueError("give a change to make: `macro_id`, `status`, `assign` or `tags`")
        if self.ticket_ids is not None:
            _once_each(self.ticket_ids)
        return self


class BulkJobChanges(BaseModel):
    macro_id: str | None = None
    status: Status | None = None
    assign: AssignUpdate | None = None
    tags: TagsUpdate | None = None


class BulkJobRead(BaseModel):
    job_id: str
    state: BulkJobState
    total: int = Field(description="The tickets chosen when the job was created")
    done: int = Field(description="Tickets tried so far")
    updated: int = Field(description="Tickets every change was made to")
    failed: int = Field(
        description="Tickets a change was not made to (`GET /api/bulk-jobs/{id}/results?outcome=failed`)"
    )
    pending: int = Field(description="Tickets not tried yet (left so when the job was cancelled)")
    source: dict[str, Any] = Field(
        description="How the tickets were chosen: `ticket_ids` (how many), or `view_id` and the `filters` it held, "
        "or `filters` (with `me` read as the caller's agent)"
    )
    changes: BulkJobChanges
    created_by: str
    agent_id: str | None = Field(
        None, description="The agent the creator's key is linked to: macros are signed by them"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_by: str | None
    detail: str | None = Field(None, description="Why the job was cancelled")


class BulkJobOutcome(StrEnum):
    updated = "updated"
    failed = "failed"
    pending = "pending"


class BulkJobResult(BaseModel):
    ticket_id: str
    position: int = Field(description="Its place in the job's order, from 1")
    outcome: BulkJobOutcome
    applied: list[str] = Field(description="The changes made, of reply or note (the macro's), status, assign, tags")
    status_code: int | None = Field(description="200, or the status the ticket's own request would have answered")
    detail: str | None = Field(None, description="Why the next change was not made")
    finished_at: datetime | None


# --------------------------------------------------------------------------- deliveries: alerts, replies, statuses


class DeliveryState(StrEnum):
    """How an alert's or a reply's delivery to its webhook stands."""

    pending = "pending"  # not delivered yet: being tried, or waiting out a retry's backoff
    delivered = "delivered"
    failed = "failed"  # refused by the webhook, or ALERT_MAX_ATTEMPTS spent; POST .../retry sends it again


class AlertEvent(StrEnum):
    """What an alert is about: the body's `event`."""

    urgent = "ticket.urgent"  # the AI rated the ticket ALERT_MIN_PRIORITY or above
    reply_due = "ticket.reply_due"  # its customer's wait nears its reply target (ALERT_DUE_WITHIN_MINUTES)
    resolution_due = "ticket.resolution_due"  # it nears its resolution target, likewise
    assigned = "ticket.assigned"  # the rotation assigned it to an agent (ALERT_ON_AUTO_ASSIGN)
    rated_bad = "ticket.rated_bad"  # its customer rated it bad (ALERT_ON_BAD_RATING)


class MessageEvent(StrEnum):
    """What a message sent to REPLY_WEBHOOK_URL is: the body's `event`."""

    reply = "ticket.reply"  # an agent's public reply
    customer_message = "ticket.customer_message"  # its customer's, from the request's page


DIGEST_EVENT = "alert.digest"  # several alerts' bodies in one POST (ALERT_BATCH_MAX), each under `alerts`


class DeliveryFilters(BaseModel):
    """A delivery list's query (replies; alerts add their event): newest first."""

    state: DeliveryState | None = None
    ticket_id: str | None = Field(None, max_length=30, pattern=ID_PATTERN)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class AlertFilters(DeliveryFilters):
    event: AlertEvent | None = None
    route: Category | None = Field(None, description="Only the alerts sent by this category's ALERT_ROUTES route")


class DeliveryRead(BaseModel):
    """How a delivery to a webhook went."""

    model_config = ConfigDict(from_attributes=True)

    state: DeliveryState
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None = Field(description="While pending: when the next attempt is due")
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None = Field(description="The latest failed attempt's error, kept after a later success")


class AlertRead(DeliveryRead):
    """One alert to ALERT_WEBHOOK_URL or a route's, and how its delivery went (the body is built from the ticket)."""

    alert_id: str = Field(description="Sent as X-Copilot-Alert-Id and the body's `id`: a receiver drops repeats by it")
    ticket_id: str
    event: AlertEvent
    priority: Priority = Field(
        description="`ticket.urgent`: the AI priority alerted (a ticket is alerted once per priority); a due alert: "
        "the ticket's working priority, whose target it is; `ticket.assigned` and `ticket.rated_bad`: its working "
        "priority then"
    )
    route: Category | None = Field(
        None,
        description="The ticket's working category when ALERT_ROUTES sent the alert to that category's webhook;"
        " null: ALERT_WEBHOOK_URL",
    )


class ReplyDeliveryRead(DeliveryRead):
    """A public agent reply on a web or API ticket, or its customer's message from the request's page
    (REPLY_WEBHOOK_CUSTOMER_MESSAGES), POSTed to REPLY_WEBHOOK_URL, and how its delivery went."""

    message_id: int = Field(
        description="Sent as X-Copilot-Message-Id and the body's `id`: a receiver drops repeats by it"
    )
    ticket_id: str
    event: MessageEvent


class StatusDeliveryRead(DeliveryRead):
    """An agent's move of a web or API ticket to one of REPLY_WEBHOOK_STATUSES POSTed to REPLY_WEBHOOK_URL,
    and how its delivery went."""

    delivery_id: str = Field(
        description="Sent as X-Copilot-Event-Id and the body's `id`: a receiver drops repeats by it"
    )
    ticket_id: str
    previous_status: Status
    status: Status = Field(description="The status the agent moved the ticket to")


# --------------------------------------------------------------------------- customers


class CustomerSelector(StrictModel):
    """Whose personal data to erase or export: the customer with this email (any letter case) or this id."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})
    # Optional to allow either, never null: the documented schema has no null for them.
    email: Annotated[Email | None, WithJsonSchema({"type": "string", "format": "email", "maxLength": 254})] = None
    customer_id: Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": 20, "pattern": ID_PATTERN})] = (
        Field(None, max_length=20, pattern=ID_PATTERN)
    )

    @field_validator("email", "customer_id", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (give either email or customer_id)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerSelector:
        if len(self.model_fields_set) != 1:
            raise ValueError("give exactly one of email, customer_id")
        return self


class ErasureRead(BaseModel):
    """What an erasure removed. The tickets stay, under an anonymous customer, for statistics and forecasts."""

    customer_id: str = Field(description="The anonymous customer the erased tickets now belong to")
    erased_at: datetime
    tickets: list[str] = Field(description="The erased tickets, now closed, their text replaced by `[erased]`")
    messages_deleted: int
    alerts_deleted: int
    corrections_deleted: int = Field(description="Agents' corrections, which held the ticket's text to learn from")


# --------------------------------------------------------------------------- AI results (worker output)


class Classification(BaseModel):
    """What the classifier_worker stores for a ticket; the LLM's JSON is validated against it too."""

    category: Category
    priority: Priority
    sentiment: Sentiment
    sentiment_score: float = Field(0.0, ge=-1, le=1)
    urgency_keywords: list[str] = Field(default_factory=list)
    extracted_metadata: dict[str, Any] = Field(default_factory=dict)
    confidence: float = Field(..., ge=0, le=1)
    needs_review: bool = False
    reasoning: str = ""
    model: str = ""


class TicketContext(BaseModel):
    """What the AI steps see of a ticket (built by the worker from the database row)."""

    ticket_id: str
    subject: str
    description: str
    customer_name: str | None = None
    customer_email: str | None = None
    order_id: str | None = None
    # Filled once classified; the drafter uses them.
    category: str | None = None
    priority: str | None = None
    sentiment: str | None = None
    urgency_keywords: list[str] = Field(default_factory=list)
    extracted_metadata: dict[str, Any] = Field(default_factory=dict)
    # Customer history for priority scoring: tickets in the last 30 days, of which still open.
    recent_tickets: int = 0
    open_tickets: int = 0
    # The conversation since the ticket was opened, for a draft written after the customer wrote back:
    # their messages since the last public agent reply (oldest first), and that reply.
    follow_up: str | None = None
    last_reply: str | None = None


class KBHit(BaseModel):
    article_id: str
    title: str
    passage: str
    relevance_score: float = Field(..., ge=0, le=1)
    category: str | None = None


class Draft(BaseModel):
    """What the rag_worker stores for a ticket."""

    reply: str
    articles: list[dict[str, Any]] = Field(default_factory=list)  # [{"article_id", "title", "relevance_score"}]
    needs_review: bool = False
    model: str = ""


# --------------------------------------------------------------------------- knowledge base


class KBArticleCreate(StrictModel):
    """Create or replace an article; without `article_id` a new `kb_<hex>` id is given."""

    article_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN)
    title: FreeText = Field(..., min_length=1, max_length=255, json_schema_extra=NON_BLANK)
    content: FreeText = Field(..., min_length=1, max_length=MAX_DESCRIPTION, json_schema_extra=NON_BLANK)
    category: Category | None = None
    tags: list[FreeText] = Field(default_factory=list, max_length=30)

    _strip = field_validator("title", "content")(_strip_nonempty)


class KBArticleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    article_id: str
    title: str
    content: str
    category: str | None
    tags: list[str]
    index_state: str
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class KBSearchResult(BaseModel):
    query: str
    category: str | None
    hits: list[KBHit]


class HealthRead(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- integrations and access


class WebhookAck(BaseModel):
    """What a webhook answers: the outcome, and the ticket it concerns (also on redelivery)."""

    status: str = Field(..., description="created | duplicate | appended | updated | ignored | pong")
    ticket: TicketRead | None = None
    agent: AgentRead | None = Field(None, description="The agent a teammate's away-mode notification matched")
    detail: str | None = None


class TicketMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: str
    source: str
    external_id: str | None
    author_type: str
    author_name: str | None
    author_email: str | None
    agent_id: str | None = Field(
        default=None,
        description="The agent who posted it here, for a key linked to one; null for customers, the vendors' "
        "agents, unlinked keys and messages stored before this was recorded",
    )
    body: str
    internal: bool | None = Field(
        default=None,
        description="An internal note only agents see (Zendesk private comment, Intercom note); null for "
        "messages stored before this was recorded",
    )
    created_at: datetime
    follow_up_ticket_id: str | None = Field(
        default=None,
        description="On a customer's message to a closed ticket, kept there: the follow-up ticket it opened; null "
        "on every other message",
    )
    macro_id: str | None = Field(
        default=None, description="The macro an agent applied to post it; null on every other message"
    )
    waited_since: datetime | None = Field(
        default=None,
        description="On a public agent reply that answered a customer writing again after an earlier public reply: "
        "when their wait began (their first message since that reply); null on every other message",
    )
    delivery: DeliveryRead | None = Field(
        default=None,
        description="A public agent reply on a web or API ticket while REPLY_WEBHOOK_URL is set, or a customer's "
        "message from the request's page while REPLY_WEBHOOK_CUSTOMER_MESSAGES is on too: how its delivery to the "
        "channel's backend went; null on every other message, and in a customer's export",
    )


class MessageCreate(StrictModel):
    """A customer's message on a web or API ticket, relayed by the channel's backend."""

    body: FreeText = Field(..., min_length=1, max_length=MAX_DESCRIPTION, json_schema_extra=NON_BLANK)
    client_message_id: str | None = Field(
        None,
        max_length=100,
        pattern=ID_PATTERN,
        description="The caller's id for this message: sent again (a retry), it stores nothing new",
    )

    _strip = field_validator("body")(_strip_nonempty)


class ReplyCreate(MessageCreate):
    """An agent's reply, or an internal note, written in Support Copilot (e.g. from the AI's draft)."""

    internal: StrictBool = Field(
        False, description='A note only agents see: it answers nobody (0, 1, "yes" are refused)'
    )


class ReplyRead(BaseModel):
    """The stored message and the ticket after it (`first_response_at` set by a first public reply, `status`
    reopened by a customer's message)."""

    message: TicketMessageRead
    ticket: TicketRead
    follow_up: TicketRead | None = Field(
        default=None,
        description="A customer's message to a closed ticket: the follow-up ticket it opened, or the open follow-up "
        "it was stored on (then `message.ticket_id` names it). Relay the customer's next messages there; null "
        "otherwise",
    )


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: str
    field: str
    old_value: str | None
    new_value: str | None
    actor: str
    created_at: datetime


class AgentAuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agent_id: str
    field: str = Field(..., description="name, email, active, auto_assign, categories or max_open")
    old_value: str | None
    new_value: str | None
    actor: str
    created_at: datetime


# --------------------------------------------------------------------------- a customer's data, exported


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: str
    email: str | None
    name: str | None
    source: str | None = Field(description="The vendor that named them without an email (zendesk, intercom)")
    external_id: str | None = Field(description="Their id there (a Zendesk requester, an Intercom contact)")
    created_at: datetime


class ReferenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str = Field(description="order_id (given on the form), order_id_found or tracking_found (read in the text)")
    value: str


class AlertSentRead(BaseModel):
    """An alert about the ticket, whose body goes to the team's ALERT_WEBHOOK_URL (a recipient of their data);
    `delivered_at` says whether it has."""

    model_config = ConfigDict(from_attributes=True)

    alert_id: str
    event: AlertEvent
    priority: str
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body sent, as it was when the alert was raised")


class ExportedTicket(TicketRead):
    """One of the customer's tickets, with everything stored about it."""

    messages: list[TicketMessageRead] = Field(description="Every message after the first, internal notes included")
    history: list[AuditEntryRead] = Field(description="Its audit trail, oldest first")
    references: list[ReferenceRead] = Field(description="The order ids and tracking numbers it is found by")
    alerts: list[AlertSentRead]


class CustomerExport(BaseModel):
    """Everything stored about one customer (GDPR art. 15 and 20: a copy, in a machine-readable format)."""

    exported_at: datetime
    customer: CustomerRead
    tickets: list[ExportedTicket] = Field(description="Oldest first")


class WaitingTicket(BaseModel):
    """The oldest ticket still waiting for its AI results."""

    ticket_id: str
    processing_state: str = Field(..., description="queued (waiting to be classified) or classified (for a draft)")
    created_at: datetime
    waiting_since: datetime = Field(
        ..., description="When this round of AI work was asked for: arrival, a retry, a customer's message, a redraft"
    )
    age_s: float = Field(..., description="Seconds since `waiting_since`: what an alert on the pipeline watches")


class ResolutionTimes(BaseModel):
    """How long the tickets resolved in a window took, from arrival to `resolved_at` (with SLA_PAUSE_IN_PENDING,
    less the time they spent pending)."""

    resolved: int = Field(..., description="Tickets resolved in the window (and not reopened since)")
    p50_hours: float | None = Field(..., description="Median hours to resolution; null when none was resolved")
    p90_hours: float | None = Field(..., description="90th percentile hours to resolution")
    within_target: float | None = Field(
        ...,
        description="Share of them, among those with a priority, resolved within their priority's target; "
        "null when none had one",
    )


class ReopenCounts(BaseModel):
    """The resolutions that did not hold in a window: tickets resolved, then open again because their customer
    wrote or an agent reopened them."""

    reopened: int = Field(..., description="Tickets reopened in the window, once each (by their latest reopening)")
    rate: float | None = Field(
        ...,
        description="reopened / (reopened + resolved): of the tickets the window left resolved or saw reopened, the "
        "share reopened; null when there were none",
    )


class FirstResponseTimes(BaseModel):
    """How long the tickets first answered in a window waited, from arrival to the first agent reply."""

    answered: int = Field(..., description="Tickets whose first public agent reply came in the window")
    p50_hours: float | None = Field(..., description="Median hours to the first reply; null when none came")
    p90_hours: float | None = Field(..., description="90th percentile hours to the first reply")
    within_target: float | None = Field(
        ...,
        description="Share of them, among those with a priority, answered within their priority's first "
        "response target; null when none had one",
    )


class DeliveryCounts(BaseModel):
    pending: int = Field(description="Not delivered yet: being tried, or backing off after a failed attempt")
    failed: int = Field(description="Given up on (refused, or ALERT_MAX_ATTEMPTS spent): listed with ?state=failed")
    oldest_pending_since: datetime | None = Field(description="When the longest-pending one was written")


class ReviewTimes(BaseModel):
    """How long the review flags agents cleared in a window had stood (`POST /api/tickets/{id}/review`)."""

    reviews: int = Field(..., description="Reviews in the window that cleared a flag (a ticket's latest only)")
    p50_hours: float | None = Field(..., description="Median hours from the flag to its review; null when none")
    p90_hours: float | None = Field(..., description="90th percentile hours from the flag to its review")


class NextReplyTimes(BaseModel):
    """How long customers who wrote again after a public agent reply waited for the next one, over the replies
    that answered them in a window."""

    replies: int = Field(..., description="Public agent replies in the window that answered a customer writing again")
    p50_hours: float | None = Field(..., description="Median hours from the customer's message; null when none came")
    p90_hours: float | None = Field(..., description="90th percentile hours from the customer's message")
    within_target: float | None = Field(
        ...,
        description="Share of them, on tickets with a priority, within their priority's next reply target "
        "(NEXT_REPLY_*_HOURS); null when none had one",
    )


class SatisfactionTally(BaseModel):
    """Customers' ratings of solved tickets given in a window (each ticket's latest), and how many of the window's
    solved tickets their customers rated (the response rate: a score from few answers shows as such)."""

    rated: int = Field(..., description="Tickets rated in the window")
    good: int
    bad: int
    score: float | None = Field(..., description="Share of them rated good (CSAT); null when none was rated")
    solved: int = Field(
        ...,
        description="Web and API tickets resolved in the window and not reopened since: those whose customers can "
        "rate them here (a ticket closed without being resolved is not counted)",
    )
    solved_rated: int = Field(..., description="Of the solved ones, how many carry a rating, whenever it was given")
    response_rate: float | None = Field(
        ...,
        description="solved_rated / solved: the share of solved tickets whose customers answered (the CSAT response "
        "rate); null when none was solved",
    )


class AgentActivity(BaseModel):
    """One agent's work over the last `days`: what they wrote here (from keys linked to them), how fast they
    answered, and the tickets assigned to them now that were resolved or rated in the window."""

    agent_id: str
    name: str
    active: bool
    days: int
    since: datetime = Field(description="The window's start: `days` before `as_of`")
    as_of: datetime
    open_tickets: int = Field(description="Tickets assigned to them now new, open or in progress: their load")
    replies: int = Field(description="Public replies they posted here in the window (macros' included)")
    notes: int = Field(description="Internal notes they posted here in the window (merges' included)")
    tickets_replied: int = Field(description="Tickets they replied to publicly in the window")
    first_responses: FirstResponseTimes = Field(
        description="The tickets whose first public reply in the window was theirs, and how long each waited for it"
    )
    next_replies: NextReplyTimes = Field(
        description="Their replies in the window to customers who wrote again, and how long each had waited"
    )
    resolved: ResolutionTimes = Field(description="Tickets assigned to them now, resolved in the window")
    reopened: ReopenCounts = Field(
        description="Tickets assigned to them now, reopened in the window, and their share beside `resolved`"
    )
    satisfaction: SatisfactionTally = Field(
        description="Ratings given in the window on tickets assigned to them now, and their solved tickets' "
        "response rate"
    )


class SatisfactionCounts(SatisfactionTally):
    by_agent: dict[str, SatisfactionTally] = Field(
        ...,
        description="The same for each agent holding tickets rated or solved in the window (the ticket's assignee "
        "now); unassigned tickets count in the totals only",
    )
    by_category: dict[str, SatisfactionTally] = Field(
        ...,
        description="The same for each working category of tickets rated or solved in the window (an agent's "
        "correction counts); a ticket never classified counts in the totals only",
    )


class BusinessHoursRead(BaseModel):
    """The calendar every target counts in (BUSINESS_HOURS): targets are business hours, and so are the
    measured times compared with them."""

    hours: str = Field(..., description="BUSINESS_HOURS as set, e.g. 'mon-fri 09:00-17:00'")
    timezone: str = Field(..., description="BUSINESS_TIMEZONE: the zone of the hours and of the closed days")
    holidays: str = Field(..., description="BUSINESS_HOLIDAYS as set: country codes and dates; empty for none")
    open_now: bool = Field(..., description="Whether the clocks run at `as_of` (within the hours, not a closed day)")


class TicketOverview(BaseModel):
    """The queue at a glance: what a shift lead reads first, and what an alert watches.

    Every status, priority, category and processing state is listed, zeros included, so a dashboard
    or an alert rule never has to tell a missing key from an empty queue.
    """

    as_of: datetime
    total: int
    by_status: dict[str, int] = Field(..., description="Every ticket, by status")
    unresolved: int = Field(..., description="Tickets new, open, in_progress or pending")
    unresolved_by_priority: dict[str, int] = Field(
        ..., description="Unresolved tickets by priority; `unclassified`: not classified yet"
    )
    unresolved_by_category: dict[str, int] = Field(
        ..., description="Unresolved tickets by category; `unclassified`: not classified yet"
    )
    unresolved_unassigned: int = Field(..., description="Unresolved tickets no agent holds")
    awaiting_assignment: int = Field(
        ...,
        description="Of them, those waiting for the automatic assignment: no agent in the rotation who takes their "
        "category has room (listed by /api/tickets/?awaiting_assignment=true)",
    )
    oldest_awaiting_assignment_since: datetime | None = Field(
        ..., description="The earliest `routing_requested_at` among them: how long the longest has waited"
    )
    unresolved_needs_review: int = Field(..., description="Unresolved tickets the AI flagged for review")
    oldest_needs_review_since: datetime | None = Field(
        None, description="The earliest `flagged_at` among them: how long the review queue's oldest has waited"
    )
    unresolved_by_agent: dict[str, int] = Field(..., description="Each agent holding unresolved tickets: how many")
    processing: dict[str, int] = Field(..., description="Every ticket, by processing state (`failed`: see /retry)")
    oldest_waiting: WaitingTicket | None = Field(
        ..., description="The oldest ticket not yet done or failed; null when none waits"
    )
    created_last_hour: int
    created_last_24h: int
    business_hours: BusinessHoursRead | None = Field(
        None,
        description="The calendar the targets count in (BUSINESS_HOURS): each target's hours and the measured "
        "times (`*_last_7d` hours and `within_target`, reviews excepted) are business hours; null: every hour counts",
    )
    resolution_targets_hours: dict[str, float] = Field(
        ...,
        description="Each priority's resolution target in hours, from arrival (SLA_*_HOURS; business hours when "
        "`business_hours` is set)",
    )
    unresolved_overdue: int = Field(
        ..., description="Unresolved tickets past their priority's target (listed by /api/tickets/?overdue=true)"
    )
    unresolved_overdue_by_priority: dict[str, int]
    first_response_targets_hours: dict[str, float] = Field(
        ...,
        description="Each priority's first response target in hours, from arrival (FIRST_RESPONSE_*_HOURS; business "
        "hours when `business_hours` is set)",
    )
    unanswered_overdue: int = Field(
        ...,
        description="Unresolved tickets with no public agent reply, past their priority's first response target "
        "(listed by /api/tickets/?unanswered_overdue=true)",
    )
    unanswered_overdue_by_priority: dict[str, int]
    awaiting_reply: int = Field(
        ..., description="Unresolved tickets whose customer is waiting for a reply (/api/tickets/?awaiting_reply=true)"
    )
    oldest_awaiting_reply_since: datetime | None = Field(
        ..., description="The longest such wait's start (sort=awaiting lists that ticket first); null when none"
    )
    next_reply_targets_hours: dict[str, float] = Field(
        ...,
        description="Each priority's next reply target in hours, from the customer's first message after the last "
        "public agent reply (NEXT_REPLY_*_HOURS; business hours when `business_hours` is set)",
    )
    reply_overdue: int = Field(
        ...,
        description="Unresolved tickets whose customer has waited for a reply past its target, answered before or "
        "not (listed by /api/tickets/?reply_overdue=true&sort=reply_due)",
    )
    reply_overdue_by_priority: dict[str, int]
    resolved_last_24h: int
    resolved_last_7d: ResolutionTimes
    reopened_last_7d: ReopenCounts = Field(
        description="Tickets reopened in the last 7 days, and their share beside those resolved (`resolved_last_7d`)"
    )
    first_response_last_7d: FirstResponseTimes
    next_reply_last_7d: NextReplyTimes
    reviews_last_7d: ReviewTimes
    satisfaction_last_7d: SatisfactionCounts = Field(
        description="Customers' ratings of solved web and API tickets in the last 7 days (POST "
        "/api/tickets/{id}/satisfaction): how many, good and bad, and the share good; and the share of the week's "
        "solved tickets rated"
    )
    alerts: DeliveryCounts = Field(
        description="Alerts to ALERT_WEBHOOK_URL not delivered: a webhook refusing or unreachable leaves urgent "
        "tickets unannounced, so watch `failed` (and a growing `oldest_pending_since`)"
    )
    replies: DeliveryCounts = Field(
        description="Agents' replies to REPLY_WEBHOOK_URL not delivered (GET /api/replies): their customers have "
        "not been sent them"
    )
    status_changes: DeliveryCounts = Field(
        description="Agents' status moves to REPLY_WEBHOOK_URL not delivered (GET /api/status-changes): their "
        "customers have not been told"
    )


KeyAgentId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=20,
        pattern=AGENT_ID_PATTERN,
        description="The agent who uses the key: `me` means them, replies carry their name, and the key is "
        "refused while they are deactivated; null: a key for a service",
    ),
]


SERVICE_KEY_UNLINKED = (
    "a service's key (integration or monitor) cannot be linked to an agent; give the key the agent role or higher"
)
SERVICE_ROLES = ("monitor", "integration")  # the roles below `agent`: a service's keys, linked to no agent


class ApiKeyCreate(StrictModel):
    # The documented schema says what `_agents_key` enforces: a service's key is linked to no agent.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"agent_id": {"type": "null"}}},
                {"properties": {"role": {"not": {"enum": list(SERVICE_ROLES)}}}},
            ]
        }
    )

    name: FreeText = Field(..., min_length=1, max_length=100, json_schema_extra=NON_BLANK)
    role: str = Field(..., pattern=r"^(monitor|integration|agent|manager|admin)$")
    agent_id: KeyAgentId = None

    _strip = field_validator("name")(_strip_nonempty)

    @model_validator(mode="after")
    def _agents_key(self) -> ApiKeyCreate:
        if self.agent_id is not None and self.role in SERVICE_ROLES:
            raise ValueError(SERVICE_KEY_UNLINKED)
        return self


class ApiKeyLink(StrictModel):
    agent_id: KeyAgentId = Field(...)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    key_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None = Field(None, description="Who created the key: an API key (`key:ID:NAME`) or `cli:USER`")
    revoked_by: str | None = Field(None, description="Who revoked the key, named the same way")
    agent_id: str | None = Field(None, description="The agent who uses the key; null: none")


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(..., description="The key in clear; shown only in this answer")


class MeRead(BaseModel):
    """Who the caller's key says they are."""

    key_id: int | None = Field(description="The key's id; null when authentication is disabled")
    name: str = Field(description="The key's name")
    role: str
    agent: AgentRead | None = Field(description="The agent the key is linked to (their load counted now); null: none")
