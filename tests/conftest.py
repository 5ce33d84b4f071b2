"""Real-service fixtures: PostgreSQL and SQLite databases, a private Redis database, real Celery workers.

Tests never touch what `make run` uses: each pytest session claims a free Redis database number
(1-15, by a lock key in DB 0) and creates its own PostgreSQL database, dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from benchmarks.support import stop_group
from tests.alert_receiver import AlertReceiver

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("TEST_REDIS_BASE", "redis://127.0.0.1:6379")
SESSION_TAG = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _claim_redis_db() -> int:
    """A Redis DB number no other running test session holds (lock keys live in DB 0)."""
    client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    for number in range(15, 0, -1):
        if client.set(f"copilot-test-lock:{number}", SESSION_TAG, nx=True, ex=3 * 3600):
            return number
    raise RuntimeError("no free Redis database for tests (15 sessions running?)")


REDIS_DB = _claim_redis_db()
REDIS_URL = f"{REDIS_BASE}/{REDIS_DB}"

# Everything this process (and the workers it starts) reads through shared.config.
os.environ["REDIS_URL"] = REDIS_URL
os.environ.setdefault("AUTH_DISABLED", "true")
os.environ.pop("GROQ_API_KEY", None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    redis.Redis.from_url(REDIS_URL).flushdb()
    if client.get(f"copilot-test-lock:{REDIS_DB}") == SESSION_TAG.encode():
        client.delete(f"copilot-test-lock:{REDIS_DB}")


# --------------------------------------------------------------------------- databases


def _truncate(url: str) -> None:
    from shared.db import make_engine
    from shared.models import Base

    engine = make_engine(url)
    with engine.begin() as conn:
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test session."""
    from shared.db import run_migrations

    name = f"copilot_test_{SESSION_TAG}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run_migrations(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file of this test session."""
    from shared.db import run_migrations

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'copilot.db'}"
    run_migrations(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, never migrated: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bare.db'}"
        return
    name = f"copilot_test_{SESSION_TAG}_bare"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once on SQLite and once on PostgreSQL, on emptied tables."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    _truncate(url)
    return url


@pytest.fixture
def session_factory(db_url: str) -> Iterator[sa.orm.sessionmaker]:
    from sqlalchemy.orm import sessionmaker

    from shared.db import make_engine

    engine = make_engine(db_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@contextlib.contextmanager
def cli_on(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the process-wide settings (what a CLI reads) at `url`."""
    from shared import db as shared_db
    from shared.config import get_settings

    monkeypatch.setenv("DATABASE_URL", url)
    for cached in (get_settings, shared_db.get_engine, shared_db.get_sessionmaker):
        cached.cache_clear()
    yield url
    shared_db.get_engine().dispose()
    for cached in (get_settings, shared_db.get_engine, shared_db.get_sessionmaker):
        cached.cache_clear()


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`db_url`, with a CLI's settings pointed at it (the keys CLI, `gateway.redact_stored`)."""
    with cli_on(db_url, monkeypatch) as url:
        yield url


# --------------------------------------------------------------------------- redis


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The session's private Redis database, emptied before the test."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.close()


# --------------------------------------------------------------------------- app and workers


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., object]:
    """Settings bound to a test database and the session's Redis, with private Chroma/model folders."""
    from shared.config import Settings

    def make(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "redis_url": REDIS_URL,
            "chroma_path": str(tmp_path / "chroma"),
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client_for(settings_for: Callable[..., object]) -> Iterator[Callable[..., object]]:
    """Build a TestClient over a gateway bound to the given database (lifespan runs)."""
    from fastapi.testclient import TestClient

    from gateway.main import create_app

    clients: list[TestClient] = []

    def make(database_url: str, **overrides: object) -> TestClient:
        app = create_app(settings_for(database_url, **overrides), sweeper=False)  # type: ignore[arg-type]
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(client_for: Callable[..., object], db_url: str, redis_client: redis.Redis):  # type: ignore[no-untyped-def]
    """A gateway TestClient on `db_url` (both databases) with an empty Redis."""
    return client_for(db_url)


class WorkerProcess:
    """A real `celery worker` subprocess; stop() is graceful, then SIGKILL; kill() is SIGKILL of the whole group."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, name: str) -> None:
        self.proc = proc
        self.log_path = log_path
        self.name = name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_group(self.proc, grace=20)


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    """A local HTTP receiver standing in for a webhook (the team's, or a channel's backend)."""
    with AlertReceiver().running() as running:
        yield running


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real Celery workers (`classifier_worker` or `rag_worker`, or another `app` module of theirs such as
    `alert_worker`) against a test database."""
    workers: list[WorkerProcess] = []

    def start(
        module: str, database_url: str, *, queues: str, app: str = "worker", ready_timeout: float = 180, **env: str
    ) -> WorkerProcess:
        name = f"{module}-{uuid.uuid4().hex[:6]}@test"
        log_path = tmp_path / f"{name}.log"
        child_env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "CHROMA_PATH": str(tmp_path / "chroma"),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        cmd = [
            sys.executable, "-m", "celery", "-A", f"{module}.{app}", "worker", "-Q", queues, "-c", "1",
            "-P", "prefork", "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=child_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = WorkerProcess(proc, log_path, name)
        workers.append(worker)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            text = worker.log()
            if " ready." in text and worker.child_pids():
                return worker
            if proc.poll() is not None:
                raise RuntimeError(f"worker {module} exited early:\n{text[-4000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker {module} not ready in {ready_timeout}s:\n{worker.log()[-4000:]}")

    yield start
    for worker in workers:
        worker.stop()


def wait_until(predicate: Callable[[], object], timeout: float = 60, interval: float = 0.2) -> object:
    """Poll `predicate` until truthy; return its value or fail with the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def force_ticket(url: str, ticket_id: str, **values: object) -> None:
    """Set one ticket's columns directly: the state a step this test does not run would have left."""
    from shared.models import Ticket

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(Ticket.__table__).where(Ticket.__table__.c.ticket_id == ticket_id).values(**values))
    engine.dispose()
