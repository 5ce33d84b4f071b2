"""What the benchmark scripts that start a live gateway share: a free port and a fresh database."""

from __future__ import annotations

import socket
from pathlib import Path


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
