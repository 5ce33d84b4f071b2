"""A PostgreSQL restart under a running gateway and workers: a ticket caught mid-classification is
retried until the database is back and finishes on its own; the gateway answers 503 meanwhile.

The database is a private cluster (`initdb` in a temporary folder), so stopping it touches no other
test; skipped where the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.conftest import wait_until

pytestmark = pytest.mark.slow

TICKET = {
    "customer_email": "lee@example.com",
    "customer_name": "Lee Chan",
    "subject": "Refund not received",
    "description": "I returned order #2718 three weeks ago and the $84.00 refund has still not arrived.",
}


def _server_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PostgresCluster:
    """A throwaway cluster on a free port; as root it runs as the `postgres` user, as initdb requires."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.prefix: list[str] = []
        self.directory = tempfile.mkdtemp(prefix="copilot-pg-")
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a `postgres` user to run the cluster as")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.data = os.path.join(self.directory, "data")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/copilot"
        self._run(self.initdb, "-D", self.data, "-A", "trust", "-U", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, cwd=self.directory)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-l", os.path.join(self.directory, "log"), "-w", "start")

    def stop(self) -> None:
        """An immediate stop: open connections are cut, as in a crash."""
        self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    from shared.db import run_migrations

    server = PostgresCluster()
    try:
        server.start()
        admin = sa.create_engine(server.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE copilot"))
        admin.dispose()
        run_migrations(server.url)
        yield server
    finally:
        server.remove()


def _state(url: str, ticket_id: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT processing_state FROM tickets WHERE ticket_id = :t"), {"t": ticket_id}
            ).scalar_one()
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


def test_a_ticket_caught_by_a_database_restart_finishes_once_it_is_back(
    client_for, start_worker, cluster, redis_client
):  # type: ignore[no-untyped-def]
    from tests.test_pipeline_e2e import _hold_row_lock, _worker_is_blocked

    start_worker("classifier_worker", cluster.url, queues="classify")
    start_worker("rag_worker", cluster.url, queues="draft,kb")
    api = client_for(cluster.url)  # no sweeper: recovery must come from the tasks' own retries

    first = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    wait_until(lambda: _state(cluster.url, first) == "done", timeout=120)

    ticket_id = api.post("/api/tickets/create", json={**TICKET, "subject": "Refund (restart)"}).json()["ticket"][
        "ticket_id"
    ]
    engine, lock = _hold_row_lock(cluster.url, ticket_id)  # the classifier blocks in its write
    wait_until(lambda: _worker_is_blocked(cluster.url), timeout=90)

    cluster.stop()  # the worker's connection is cut mid-task
    lock.invalidate()
    engine.dispose()
    down = api.get(f"/api/tickets/{ticket_id}")
    assert down.status_code == 503 and "database unavailable" in down.json()["detail"]
    refused = api.post("/api/tickets/create", json=TICKET)  # not stored, so refused: the client retries
    assert refused.status_code == 503
    time.sleep(4)  # a few of the task's retries fail too
    cluster.start()

    wait_until(lambda: _state(cluster.url, ticket_id) == "done", timeout=120)
    ticket = api.get(f"/api/tickets/{ticket_id}").json()
    assert ticket["category"] == "refund" and ticket["ai_suggested_reply"] and ticket["processing_error"] is None
