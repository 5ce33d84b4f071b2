"""What the benchmark scripts share: a free port and a fresh database for a live gateway, stopping the
processes they start, and the printed table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(name: str, payload: object) -> Path:
    """Write `payload` as benchmarks/results/<name>.json (the folder made if missing); return the path."""
    out = RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(backend: str, tmp: Path, name: str, pg_admin_url: str) -> str:
    """An empty database to migrate: a SQLite file `<name>.db` in `tmp`, or PostgreSQL's `name` dropped
    and created again through `pg_admin_url` (any database of that server)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'{name}.db'}"
    import sqlalchemy as sa

    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_admin_url.rsplit("/", 1)[0] + f"/{name}"


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM the process group of `proc` (started with `start_new_session=True`), SIGKILL what is left after
    `grace` s.

    A Celery worker's warm shutdown waits for its running task (a fuzzed KB reindex can outlast any grace),
    and a benchmark must not leave it, or a pool child whose parent already died, running behind it.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def start_worker(
    app: str, queues: str, *, name: str, env: Mapping[str, str], log_path: Path, timeout: float = 180
) -> subprocess.Popen[bytes]:
    """A real `celery worker` of `app` on `queues` in its own process group, logging to `log_path`; returned
    once it says it is ready. On failure it is stopped and the log's tail raised."""
    cmd = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "-c", "1", "-n", name,
           "--without-gossip", "--without-mingle", "--loglevel", "INFO"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if " ready." in log_path.read_text(errors="replace"):
            return proc
        time.sleep(0.3)
    state = "exited early" if proc.poll() is not None else f"was not ready in {timeout:.0f} s"
    stop_group(proc)
    raise SystemExit(f"{app} {state}:\n{log_path.read_text(errors='replace')[-3000:]}")


def print_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, align: str = "<", floats: str = ".3f"
) -> None:
    """Print rows under a header with " | " between columns, each column as wide as its widest cell,
    so a long label never pushes its row out of line. Floats use the `floats` format spec."""
    cells = [[format(v, floats) if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]

    def line(texts: Sequence[str]) -> str:
        return " | ".join(f"{text:{align}{w}}" for text, w in zip(texts, widths, strict=True)).rstrip()

    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(line(row))
