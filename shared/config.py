"""The one place environment variables are read (STYLE rule 1).

Every service builds its behaviour from `get_settings()`. Defaults are the embedded,
offline set-up `make run` gives on a fresh machine: a SQLite file, a ChromaDB folder,
local models and Redis on localhost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.business_hours import BusinessCalendar, calendar_for
from shared.schemas import Category, Priority, Status

ROOT = Path(__file__).resolve().parent.parent
# Slack takes at most 50 blocks a message: a digest is a header block and one block per alert.
MAX_ALERT_BATCH = 40


@dataclass(frozen=True)
class Targets:
    """A team's service targets by priority: to resolve a ticket and to answer it (the first public agent
    reply), both from its arrival, and to answer its customer again (from their first message after the last
    public agent reply)."""

    resolution: dict[str, timedelta]
    first_response: dict[str, timedelta]
    next_reply: dict[str, timedelta]
    # SLA_PAUSE_IN_PENDING: the resolution clock counts from `resolution_counted_from` (arrival, moved later by
    # each stay in pending) and stands still while pending; else from arrival, through every unresolved status.
    pause_in_pending: bool = False
    # BUSINESS_HOURS: every target counts the calendar's business time; None counts every hour.
    calendar: BusinessCalendar | None = None


# What each URL setting's start-up error shows as a well-formed value.
_URL_EXAMPLES = {
    "forecast_url": "http://forecast_service:8001",
    "alert_webhook_url": "https://hooks.example.com/support",
    "alert_ticket_url": "https://hooks.example.com/support",
    "reply_webhook_url": "https://forms.example.com/hooks/replies",
    "customer_link_url": "https://support.example.com",
}


class Settings(BaseSettings):
    """Runtime configuration; see the README's configuration table."""

    # hide_input_in_errors: a rejected DATABASE_URL or key must not print its password into a log.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    # Storage and queue
    database_url: str = Field("sqlite:///var/copilot.db", description="SQLAlchemy URL; PostgreSQL in production")
    redis_url: str = Field("redis://localhost:6379/0", description="Celery broker, result backend, events")
    db_pool_size: int = Field(10, ge=1, description="Connections per process (PostgreSQL)")

    # LLM (optional; local models are used without a key)
    groq_api_key: SecretStr | None = Field(None, description="Enables Groq / any OpenAI-compatible LLM")
    llm_base_url: str = Field("https://api.groq.com/openai/v1", description="OpenAI-compatible base URL")
    llm_model: str = Field("llama-3.3-70b-versatile", description="Chat model name")
    llm_timeout_s: float = Field(20.0, gt=0, description="Per-request LLM timeout")
    llm_max_retries: int = Field(3, ge=0, description="Retries on timeout / 429 / 5xx before local fallback")

    # Models and knowledge base
    model_dir: str = Field("var/models", description="Trained artifacts (classifier, forecaster)")
    embedding_backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        "onnx-int8", description="How MiniLM embeddings are computed; artifacts and indexes record it"
    )
    chroma_path: str = Field("var/chroma", description="Embedded ChromaDB folder")
    chroma_host: str | None = Field(None, description="Chroma server host; when set, HttpClient is used")
    chroma_port: int = Field(8000, description="Chroma server port")
    kb_dir: str = Field(str(ROOT / "rag_worker" / "kb"), description="Knowledge-base articles loaded at start")
    kb_relevance_threshold: float = Field(0.5, ge=0, le=1, description="Minimum passage relevance used")
    kb_task_timeout_s: float = Field(
        10.0, gt=0, description="How long the gateway waits for the rag_worker to search or index the KB"
    )
    classify_batch_size: int = Field(
        32, ge=1, le=256, description="Most queued tickets one classify task takes into its model call"
    )
    classify_review_threshold: float = Field(
        0.5, ge=0, le=1, description="Below this confidence a ticket gets needs_review"
    )
    classifier_corrections_refresh_s: float = Field(
        5.0, ge=0, description="How often a classifier worker re-reads agents' corrections"
    )

    # Resolution targets by priority: the overview's overdue counts and the ticket list's ?overdue=
    sla_critical_hours: float = Field(
        4.0, gt=0, le=8760, description="A critical ticket still unresolved this long after it arrived is overdue"
    )
    sla_high_hours: float = Field(24.0, gt=0, le=8760, description="Resolution target of a high-priority ticket")
    sla_medium_hours: float = Field(72.0, gt=0, le=8760, description="Resolution target of a medium-priority ticket")
    sla_low_hours: float = Field(168.0, gt=0, le=8760, description="Resolution target of a low-priority ticket")
    sla_pause_in_pending: bool = Field(
        False,
        description="Stop a ticket's resolution clock while it is pending (waiting on its customer): its `due_at` "
        "moves later by the time spent there, and a pending ticket is never overdue",
    )
    # Business hours: with BUSINESS_HOURS set, every target above and below counts only these hours (a high
    # ticket arriving on Friday at 16:00 with an 8 h target is due on Monday at 16:00 in a Mon-Fri 09-17 week)
    business_hours: str | None = Field(
        None,
        description="The hours targets count, e.g. 'mon-fri 09:00-17:00; sat 10:00-14:00' (local time in "
        "BUSINESS_TIMEZONE); empty counts every hour",
    )
    business_timezone: str = Field(
        "UTC", description="The IANA time zone of BUSINESS_HOURS and BUSINESS_HOLIDAYS (e.g. Europe/Berlin)"
    )
    business_holidays: str = Field(
        "",
        description="Days closed under BUSINESS_HOURS: country codes of public holidays (US, GB, DE-BY) and dates "
        "(2026-12-24), comma-separated",
    )
    # First response targets by priority: an unresolved ticket with no public agent reply this long after it
    # arrived is past its first response target (the overview's unanswered_overdue, ?unanswered_overdue=)
    first_response_critical_hours: float = Field(
        1.0, gt=0, le=8760, description="A critical ticket with no agent reply this long after it arrived is late"
    )
    first_response_high_hours: float = Field(
        4.0, gt=0, le=8760, description="First response target of a high-priority ticket"
    )
    first_response_medium_hours: float = Field(
        8.0, gt=0, le=8760, description="First response target of a medium-priority ticket"
    )
    first_response_low_hours: float = Field(
        24.0, gt=0, le=8760, description="First response target of a low-priority ticket"
    )
    # Next reply targets by priority: once a ticket has been answered, a customer who writes again and has had
    # no public agent reply this long is past it (reply_due_at, the overview's reply_overdue, ?reply_overdue=)
    next_reply_critical_hours: float = Field(
        2.0, gt=0, le=8760, description="An answered critical ticket whose customer wrote again is late this long after"
    )
    next_reply_high_hours: float = Field(8.0, gt=0, le=8760, description="Next reply target of a high-priority ticket")
    next_reply_medium_hours: float = Field(
        16.0, gt=0, le=8760, description="Next reply target of a medium-priority ticket"
    )
    next_reply_low_hours: float = Field(24.0, gt=0, le=8760, description="Next reply target of a low-priority ticket")
    # Closing what is done: a resolved ticket still reopens when its customer writes; a closed one does not
    auto_close_after_hours: float | None = Field(
        96.0,
        gt=0,
        le=8760,
        description="A resolved ticket the customer has not written back to is closed this long after it was"
        " resolved (by the sweeper); empty disables",
    )
    auto_solve_pending_after_hours: float | None = Field(
        None,
        gt=0,
        le=8760,
        description="A ticket left pending on its customer this long (since it was set pending) is resolved by the"
        " sweeper; empty (the default) never",
    )

    # Services
    gateway_port: int = Field(8000, description="Gateway HTTP port")
    forecast_port: int = Field(8001, description="Forecast service HTTP port")
    forecast_url: str | None = Field(
        None,
        description="Where the gateway relays /api/forecast/* (default http://localhost:FORECAST_PORT)",
    )
    forecast_timeout_s: float = Field(
        30.0, gt=0, description="How long the gateway waits for the forecast service before answering 504"
    )
    # Forecasting and staffing (forecast_service)
    forecast_model_subdir: str = Field("forecast", description="Forecaster artifacts folder under MODEL_DIR")
    forecast_aht_minutes: float = Field(6.0, gt=0, description="Average handle time of a ticket, minutes")
    forecast_service_level: float = Field(
        0.8, gt=0, lt=1, description="Target share of tickets answered within the answer time"
    )
    forecast_answer_time_s: float = Field(20.0, gt=0, description="Target answer time for the service level")
    forecast_shrinkage: float = Field(0.3, ge=0, lt=1, description="Share of paid time agents are unavailable")
    forecast_max_occupancy: float = Field(0.85, gt=0, le=1, description="Highest acceptable agent occupancy")
    forecast_shift_hours: int = Field(8, ge=1, le=24, description="Shift length used for shift staffing")
    forecast_min_real_weeks: int = Field(
        4, ge=1, description="Weeks of real ticket history needed before it replaces the synthetic history"
    )
    forecast_holiday_country: str = Field("US", description="Country whose public holidays are a model input")
    forecast_max_epochs: int = Field(40, ge=0, description="Upper bound of LSTM training epochs")
    forecast_validation_days: int = Field(
        42,
        ge=7,
        description="Days at the end of history kept from training: the first third stops it, the rest "
        "choose the blend and intervals (fewer on short histories)",
    )
    forecast_retrain_hour: int | None = Field(
        3, ge=0, le=23, description="UTC hour of the daily retrain; empty disables the schedule"
    )
    forecast_synthetic_seed: int = Field(42, description="Seed of the synthetic history for new installs")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000"], description="Comma-separated allowed origins"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")

    # Access control and integrations
    auth_disabled: bool = Field(
        False, description="Turn API-key checks off (local experiments and tests only); secure by default"
    )
    zendesk_webhook_secret: SecretStr | None = Field(
        None, description="Zendesk webhook signing secret; when set, unsigned/badly signed posts get 401"
    )
    intercom_client_secret: SecretStr | None = Field(
        None, description="Intercom app client secret; when set, X-Hub-Signature is verified"
    )
    webhook_max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger webhook bodies get 413")
    max_body_bytes: int = Field(
        1_048_576, ge=65_536, description="Larger bodies on the other routes get 413, before they are read"
    )
    webhook_replay_window_s: int = Field(
        300, ge=1, description="Signed webhooks with an older (or further future) timestamp are rejected"
    )
    rate_limit_per_key: int = Field(600, ge=1, description="Requests per API key per rate-limit window")
    rate_limit_per_webhook_source: int = Field(
        1200, ge=1, description="Webhook deliveries per vendor per rate-limit window"
    )
    rate_limit_per_customer_link: int = Field(
        30,
        ge=1,
        description="Requests per customer link (its page's views and its form's posts) per rate-limit window: whoever"
        " holds a link cannot flood its ticket with messages, each of which the AI works on again",
    )
    rate_limit_window_s: int = Field(60, ge=1, description="Length of the fixed rate-limit window")
    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token (32+ characters) GET /metrics accepts beside any API key, checked without the"
        " database: a scrape during a database outage still answers, saying so; rate-limited as one key",
    )

    # Alerts: the team's own webhook hears of tickets the AI rates urgent and of targets about to run out (an
    # outbox, delivered by the alert worker)
    alert_webhook_url: str | None = Field(
        None,
        description="Where a signed JSON alert is POSTed (a ticket the AI rates urgent, a target about to run out);"
        " empty disables",
    )
    alert_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of the X-Copilot-Signature header on each alert; unsigned without it"
    )
    alert_routes: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Space-separated CATEGORY=URL pairs (e.g. billing=https://hooks.example.com/billing"
        " refund=https://hooks.example.com/billing): an alert about a ticket of that working category goes there"
        " instead of ALERT_WEBHOOK_URL; with routes alone, only those categories are alerted",
    )
    alert_format: Literal["json", "slack", "teams"] = Field(
        "json",
        description="The alerts' body: json (the documented body), slack (Slack's incoming-webhook message, text"
        " and blocks, for URLs that are Slack channels' webhooks) or teams (a message holding an Adaptive Card, for"
        " a Teams channel's Workflows webhook)",
    )
    alert_ticket_url: str | None = Field(
        None,
        description="Where an agent opens a ticket, with {ticket_id} in it (e.g. https://desk.example.com/t/{ticket_id});"
        " each alert then links to its ticket",
    )
    alert_min_priority: Priority = Field(
        Priority.critical, description="The lowest AI priority alerted (each ticket once per priority it reaches)"
    )
    alert_due_within_minutes: float | None = Field(
        30.0,
        ge=0,
        le=1440,
        description="Alert a ticket whose reply or resolution target runs out within this many minutes (once per"
        " wait for a reply, once per resolution); 0 alerts when it has run out, empty disables",
    )
    alert_on_auto_assign: bool = Field(
        False,
        description="Also alert each ticket the rotation assigns (ticket.assigned, naming the agent and their email,"
        " for a chat to tell them); needs ALERT_WEBHOOK_URL or a route",
    )
    alert_on_bad_rating: bool = Field(
        False,
        description="Also alert each bad rating a customer gives (ticket.rated_bad, naming the assignee), for a lead"
        " to follow up; needs ALERT_WEBHOOK_URL or a route",
    )
    alert_due_min_priority: Priority = Field(
        Priority.high, description="The lowest working priority whose targets running out are alerted"
    )
    alert_timeout_s: float = Field(
        5.0, gt=0, le=60, description="How long one delivery (an alert or a reply) waits for its webhook"
    )
    alert_batch_max: int = Field(
        1,
        ge=1,
        le=MAX_ALERT_BATCH,
        description="Most alerts sent in one POST: a delivery takes the other alerts due for the same webhook with"
        " it, as one digest (event alert.digest, or one Slack message or Teams card), so a morning's 150 alerts"
        " arrive as a few messages; 1 sends each alone",
    )
    alert_max_attempts: int = Field(
        10,
        ge=1,
        le=50,
        description="Delivery attempts (backing off up to 5 min apart) before an alert or a reply is failed",
    )

    # Replies: the web form's or API client's backend hears of each public agent reply on its tickets, to send
    # it to the customer (an outbox, delivered by the alert worker); Zendesk and Intercom tickets are answered there
    reply_webhook_url: str | None = Field(
        None,
        description="Where each public agent reply on a web or API ticket is POSTed as signed JSON, for the"
        " channel's backend to send to its customer; empty disables (the backend reads the messages)",
    )
    reply_webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key of the X-Copilot-Signature header on each reply and status change; unsigned"
        " without it",
    )
    reply_webhook_statuses: Annotated[list[Status], NoDecode] = Field(
        default_factory=lambda: [Status.resolved, Status.closed],
        description="Comma-separated statuses whose reaching, by an agent's move of a web or API ticket, is POSTed to"
        " REPLY_WEBHOOK_URL too (for the backend to tell its customer); empty sends none",
    )
    reply_webhook_customer_messages: bool = Field(
        False,
        description="POST to REPLY_WEBHOOK_URL too each message a customer writes on their request's page"
        " (ticket.customer_message), which the backend did not relay; off: it reads the messages",
    )

    # Customer links: replies and status changes sent to REPLY_WEBHOOK_URL carry signed links to the gateway's pages
    # for the ticket's customer (its conversation, with a reply box; a resolve's rating), for the backend's emails
    customer_link_url: str | None = Field(
        None,
        description="The gateway's address as customers reach it (e.g. https://support.example.com); with"
        " CUSTOMER_LINK_SECRET, replies and status changes sent to REPLY_WEBHOOK_URL carry links to the customer's"
        " pages there (/requests/: the conversation and a reply box; /rate/: a resolve's rating)",
    )
    customer_link_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key signing the customer links; changing it ends every link sent"
    )
    conversation_link_days: int = Field(
        30, ge=1, le=365, description="How long a conversation link works after the reply or status change it came with"
    )
    satisfaction_link_days: int = Field(
        14, ge=1, le=365, description="How long a rating link works after the resolve or close it was sent with"
    )

    # Pipeline robustness
    sweep_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often the sweeper looks for stuck tickets, pending KB articles, undelivered alerts,"
        " targets about to run out and tickets waiting for the rotation",
    )
    sweep_stale_after_s: float = Field(
        120.0,
        gt=0,
        description="A ticket queued/classified, or a KB article pending, this long without progress is sent again",
    )
    kb_reconcile_interval_s: float = Field(
        600.0,
        gt=0,
        description="How often the sweeper has a rag_worker check its index against kb_articles (lost deletes)",
    )
    task_max_retries: int = Field(
        5, ge=0, description="Retries of a pipeline or KB index task on transient errors (31-62 s in all at 5)"
    )
    broker_visibility_timeout_s: int = Field(
        600, ge=10, description="Unacked messages of a dead worker return to the queue after this"
    )
    worker_heartbeat_s: float = Field(
        15, ge=0.5, le=300, description="How often a worker says it is alive; 3 missed and /metrics counts it gone"
    )
    max_wait_s: int = Field(30, ge=0, le=30, description="Upper bound of ?wait= long-polling")
    view_counts_max_age_s: float = Field(
        0,
        ge=0,
        le=3600,
        description="How long a view's count in GET /api/views?counts=true may be reused (per gateway process, by"
        " filters and agent) before it is counted again; 0 counts at every request",
    )
    export_max_rows: int = Field(
        100_000,
        ge=1,
        le=1_000_000,
        description="Most tickets one CSV export writes; over it the export is refused (422), to be narrowed",
    )
    bulk_job_max_tickets: int = Field(
        10_000,
        ge=1,
        le=100_000,
        description="Most tickets one bulk job changes; a view or filters holding more are refused (422), to be "
        "narrowed",
    )
    bulk_job_keep_days: int | None = Field(
        90,
        ge=1,
        le=3650,
        description="A bulk job done or cancelled this many days ago is deleted with its tickets' outcomes (by the "
        "sweeper; the tickets keep their history); empty keeps them",
    )
    bulk_job_batch: int = Field(
        50,
        ge=1,
        le=1000,
        description="Tickets the bulk worker changes per task before sending the next: a cancel, a revoked key or "
        "a worker's death is noticed within one batch",
    )

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        """SQLite or PostgreSQL only (the two the migrations and tests cover); said at start, not at first use."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError("is not a database URL; use sqlite:///PATH or postgresql://USER@HOST:PORT/DB") from None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"uses {backend!r}; only sqlite:///PATH and postgresql://USER@HOST:PORT/DB are supported")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)")
        return value

    @field_validator(
        "forecast_retrain_hour",
        "forecast_url",
        "alert_webhook_url",
        "alert_webhook_secret",
        "alert_ticket_url",
        "alert_due_within_minutes",
        "auto_close_after_hours",
        "auto_solve_pending_after_hours",
        "bulk_job_keep_days",
        "business_hours",
        "reply_webhook_url",
        "customer_link_url",
        "customer_link_secret",
        "reply_webhook_secret",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`FORECAST_RETRAIN_HOUR=` or `ALERT_DUE_WITHIN_MINUTES=` (documented: each disables its feature),
        `FORECAST_URL=` or an empty alert variable (compose passes them through empty) means None, not a parse
        error or an empty key."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("forecast_url", "alert_webhook_url", "alert_ticket_url", "reply_webhook_url", "customer_link_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Said at start: a typo here would otherwise surface only later, as a relay that fails, or during an
        incident, as failed alerts or links that lead nowhere."""
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (e.g. {_URL_EXAMPLES[str(info.field_name)]})")
        if info.field_name == "alert_ticket_url" and "{ticket_id}" not in value:
            raise ValueError(
                "must hold {ticket_id}, where the ticket's id goes (e.g. https://desk.example.com/t/{ticket_id})"
            )
        return value.rstrip("/") if info.field_name == "forecast_url" else value

    @field_validator("alert_routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        """`billing=https://a refund=https://a technical=https://b`: said at start, naming the pair that is not a
        category and an http(s) URL, since a typo would otherwise send a team's alerts to the wrong channel."""
        if isinstance(value, dict):  # given in code: checked as the environment's text is
            value = " ".join(f"{name}={url}" for name, url in value.items())
        if not isinstance(value, str):
            return value
        routes: dict[str, str] = {}
        for pair in value.split():
            name, equals, url = pair.partition("=")
            if not equals or not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"{pair!r} is not CATEGORY=URL with an http(s) URL (e.g. billing=https://hooks.example.com/billing)"
                )
            if name not in Category.__members__:
                raise ValueError(f"{name!r} is not a category; one of {', '.join(Category)}")
            if name in routes:
                raise ValueError(f"{name!r} is routed twice")
            routes[name] = url
        return routes

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        """Said at start: a short token is guessable, and it opens the metrics without any key."""
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(f"METRICS_TOKEN must be at least 32 characters; it is {len(value.get_secret_value())}")
        return value

    @model_validator(mode="after")
    def _customer_links(self) -> Settings:
        """Said at start: the links need both their address and their key, and one alone would send none."""
        if (self.customer_link_url is None) != (self.customer_link_secret is None):
            given, lacking = ("URL", "SECRET") if self.customer_link_secret is None else ("SECRET", "URL")
            raise ValueError(
                f"CUSTOMER_LINK_{given} needs CUSTOMER_LINK_{lacking}: customer links are sent with both or neither"
            )
        return self

    @model_validator(mode="after")
    def _business_calendar(self) -> Settings:
        """Said at start: BUSINESS_HOURS, its zone and its holidays make a calendar (`business_calendar`), or
        the error names the part that does not."""
        if self.business_hours is not None:
            self.business_calendar  # noqa: B018 - made (and cached) here for its errors
        elif self.business_holidays.strip():
            raise ValueError("BUSINESS_HOLIDAYS needs BUSINESS_HOURS: without business hours every day counts")
        return self

    @property
    def business_calendar(self) -> BusinessCalendar | None:
        """The calendar targets count in, or None to count every hour."""
        if self.business_hours is None:
            return None
        return calendar_for(self.business_hours.strip(), self.business_timezone, self.business_holidays.strip())

    @field_validator("cors_origins", "reply_webhook_statuses", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def alerts_on(self) -> bool:
        """Whether any alert has somewhere to go: ALERT_WEBHOOK_URL or a route."""
        return bool(self.alert_webhook_url or self.alert_routes)

    def alerts_to(self, category: str | None) -> bool:
        """Whether an alert about a ticket of this working category has somewhere to go."""
        return self.alert_webhook_url is not None or category in self.alert_routes

    def alert_route(self, category: str | None) -> str | None:
        """The route an alert about a ticket of this working category takes: the category when ALERT_ROUTES
        names it, else None (ALERT_WEBHOOK_URL). Stored on the alert, so its retries go where it first went."""
        return category if category in self.alert_routes else None

    @property
    def forecast_base_url(self) -> str:
        """FORECAST_URL, or the forecast service `make run` starts on this host's FORECAST_PORT."""
        return self.forecast_url or f"http://localhost:{self.forecast_port}"

    @property
    def sent_statuses(self) -> frozenset[Status]:
        """The statuses whose reaching is POSTed to REPLY_WEBHOOK_URL: none while it is unset."""
        return frozenset(self.reply_webhook_statuses) if self.reply_webhook_url else frozenset()

    @property
    def delivers_replies(self) -> bool:
        """Whether an agent's public reply on a web or API ticket is POSTed to REPLY_WEBHOOK_URL."""
        return self.reply_webhook_url is not None

    @property
    def delivers_page_messages(self) -> bool:
        """Whether a customer's message from the request's page is POSTed to REPLY_WEBHOOK_URL."""
        return self.reply_webhook_customer_messages and self.delivers_replies

    @property
    def groq_key(self) -> str | None:
        """The LLM key in clear, or None when the local providers are to be used."""
        return self.groq_api_key.get_secret_value() if self.groq_api_key else None

    @property
    def resolution_targets(self) -> dict[str, timedelta]:
        """Each priority's resolution target, by the priority's stored value."""
        return self._by_priority("sla")

    @property
    def first_response_targets(self) -> dict[str, timedelta]:
        """Each priority's first response target, by the priority's stored value."""
        return self._by_priority("first_response")

    @property
    def targets(self) -> Targets:
        """Every set of targets, as the ticket views, the list and the overview read them."""
        return Targets(
            resolution=self.resolution_targets,
            first_response=self.first_response_targets,
            next_reply=self._by_priority("next_reply"),
            pause_in_pending=self.sla_pause_in_pending,
            calendar=self.business_calendar,
        )

    def _by_priority(self, prefix: str) -> dict[str, timedelta]:
        return {p.value: timedelta(hours=getattr(self, f"{prefix}_{p.value}_hours")) for p in Priority}

    def resolved_path(self, value: str) -> Path:
        """A configured path, relative ones taken from the repository root."""
        path = Path(value)
        return path if path.is_absolute() else ROOT / path


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def settings_table() -> str:
    """The README's configuration table, generated from the fields above so the two never drift."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, list):
            default = ",".join(default)
        elif isinstance(default, dict):
            default = " ".join(f"{k}={v}" for k, v in default.items())
        shown = "" if default is None else str(default).replace(str(ROOT) + "/", "")
        rows.append(f"| `{name.upper()}` | `{shown}` | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
