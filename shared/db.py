"""Engine and session helpers shared by the gateway, the workers and the forecast service."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, inspect, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.business_hours import register_sqlite
from shared.config import ROOT, get_settings
from shared.errors import Conflict

if TYPE_CHECKING:
    from alembic.config import Config


def normalize_url(url: str) -> str:
    """Pick psycopg 3 for plain PostgreSQL URLs and anchor relative SQLite paths at the repo root."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            path = ROOT / path
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine tuned for the dialect: WAL and a busy timeout on SQLite, a bounded pool on PostgreSQL."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            register_sqlite(dbapi_conn)  # business time for BUSINESS_HOURS' sorts and measures

        return engine
    # No pre-ping: it costs a round trip per checkout. A connection the server dropped fails one
    # request with a 503 (workers retry) and SQLAlchemy then recycles the whole pool.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured DATABASE_URL."""
    settings = get_settings()
    return make_engine(settings.database_url, pool_size=settings.db_pool_size)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """Session factory bound to the process-wide engine."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (workers, CLIs)."""
    session = (factory or get_sessionmaker())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def claim_row(session: Session, entity: type[Any], key: object, **seen: object) -> bool:
    """Hold the row of `entity` with primary key `key` until commit, if its columns still hold `seen`.

    Read, decide, write loses a change another session commits in between. This no-op UPDATE
    matches only while the row is as the caller read it (None matches NULL) and holds it (a row lock
    on PostgreSQL, the write lock on SQLite) until commit: a concurrent writer waits, then matches
    nothing. On False the row changed since it was read: read it again and decide again.
    """
    if not seen:
        raise ValueError("claim_row needs at least one column whose read value the decision rests on")
    (primary_key,) = inspect(entity).primary_key
    columns = {name: getattr(entity, name) for name in seen}
    matches = [columns[name].is_(None) if value is None else columns[name] == value for name, value in seen.items()]
    touched = next(iter(columns))
    claim = update(entity).where(primary_key == key, *matches).values({touched: columns[touched]})
    result = session.execute(claim, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount == 1


def insert_named(session: Session, row: object, name: str, path: str) -> None:
    """Add and commit a row whose primary key the client may choose; a 409 naming the PUT at `path` that
    replaces it when `name` is taken, by an earlier row or one written at this moment (the key decides)."""
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{name} exists; PUT {path} replaces it") from None


T = TypeVar("T")
IDS_PER_STATEMENT = 1000  # in one IN list: SQLite binds at most 32,766 parameters per statement


def in_chunks(ids: Sequence[T]) -> Iterator[Sequence[T]]:
    """`ids` in slices short enough for one statement's IN list on either backend."""
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[start : start + IDS_PER_STATEMENT]


def read_one_snapshot(session: Session) -> None:
    """Make the session's next transaction read from one snapshot, so reads that must add up (the overview's
    counts, a customer's export, a list's CSV written a chunk at a time) do while tickets keep changing; call
    before its first read, and end the transaction (commit, close) before writing.

    PostgreSQL's default isolation gives each statement its own: REPEATABLE READ holds the first one's.
    SQLite's driver opens no transaction for a read, so each statement read as of its own start too; an
    explicit BEGIN holds the snapshot of its first read under WAL, while writers go on committing.
    """
    if session.in_transaction():
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    elif dialect == "sqlite":
        session.connection().exec_driver_sql("BEGIN")


def alembic_config(url: str | None = None) -> Config:
    """Alembic's config for the migrations in shared/migrations against `url` (default: DATABASE_URL)."""
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "shared" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url or get_settings().database_url))
    return cfg


# PostgreSQL's trigram indexes for the ticket search (migration 0027). The models leave them out: an index
# declared for one dialect only is hidden from Alembic's comparison (`Index.ddl_if`) or created on both.
SEARCH_INDEXES = frozenset(
    {"idx_tickets_subject_trgm", "idx_tickets_description_trgm", "idx_ticket_messages_body_trgm"}
)


def in_models(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's `include_object`: all the schema but `SEARCH_INDEXES`, which the models do not declare."""
    return not (type_ == "index" and name in SEARCH_INDEXES)


def run_migrations(url: str | None = None) -> None:
    """Bring the schema at `url` (default: DATABASE_URL) to the newest revision of every branch."""
    from alembic import command

    command.upgrade(alembic_config(url), "heads")


MIGRATE_HINT = "run `make migrate` (alembic upgrade heads)"


@lru_cache
def _known_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision of shared/migrations, the heads this code needs)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(r.revision for r in script.walk_revisions()), frozenset(script.get_heads())


def schema_gap(connection: Connection) -> str | None:
    """None when the database has every migration this code needs, else what is missing and the fix.

    A database ahead of the code (revisions this code does not know, as in a rolling deploy after
    the new release migrated) counts as current: migrations add, they do not take away.
    """
    from alembic.runtime.migration import MigrationContext

    current = set(MigrationContext.configure(connection).get_current_heads())
    known, needed = _known_revisions()
    if current - known or needed <= current:
        return None
    at = ", ".join(sorted(current)) or "no revision (never migrated)"
    return f"database schema is at {at}, this code needs {', '.join(sorted(needed))}: {MIGRATE_HINT}"


# undefined_table, undefined_column (PostgreSQL); SQLite only says so in words.
_MISSING_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})
_MISSING_SCHEMA_SQLITE = ("no such table", "no such column", "has no column named")


def is_missing_schema(exc: DBAPIError) -> bool:
    """Whether a statement failed because a table or column is missing: an unmigrated database."""
    if getattr(exc.orig, "sqlstate", None) in _MISSING_SCHEMA_SQLSTATES:
        return True
    return any(words in str(exc.orig) for words in _MISSING_SCHEMA_SQLITE)


def describe_db_error(exc: DBAPIError) -> str:
    """One line for a CLI user: the database lacks migrations, or what the driver said."""
    if is_missing_schema(exc):
        return f"the database is not migrated: {MIGRATE_HINT}"
    return f"database unavailable: {(str(exc.orig).strip().splitlines() or ['no reason given'])[0]}"
