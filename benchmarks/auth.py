"""What checking an API key costs each request, now that a key may be linked to an agent (migration 0038).

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_auth`) with 200 agents (10
deactivated) and N keys (the agents' keys linked to them, the rest unlinked services), then times, in
process, over fresh sessions, `shared.auth.authenticate` (one indexed lookup by the key's hash, joined to
its agent) for:
- a service's key, linked to no agent;
- an agent's key, read with the agent's name and address;
- a deactivated agent's key, refused;
- an unknown key.
Prints a table and writes benchmarks/results/auth.json.

    python benchmarks/auth.py [--keys 5000] [--runs 200] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import PG_ADMIN, timed  # noqa: E402
from benchmarks.support import fresh_database, print_table, write_results  # noqa: E402
from shared.auth import AgentDeactivated, Role, authenticate, generate_key, hash_key  # noqa: E402
from shared.db import make_engine, run_migrations  # noqa: E402
from shared.models import Agent, ApiKey, utcnow  # noqa: E402

AGENTS = 200
DEACTIVATED = 10


def fill(url: str, keys: int) -> dict[str, str]:
    """Agents and keys in bulk; one key in clear of each kind timed."""
    engine = make_engine(url)
    now = utcnow()
    agents = [
        {"agent_id": f"AG-{i:03d}", "name": f"Agent {i}", "email": f"agent{i}@support.example",
         "active": i >= DEACTIVATED, "created_at": now}
        for i in range(AGENTS)
    ]  # fmt: skip
    clear = [generate_key() for _ in range(keys)]
    rows = [
        {"name": f"key-{n}", "role": Role.agent.value if n < AGENTS else Role.integration.value,
         "key_prefix": key[:10], "key_hash": hash_key(key), "created_at": now,
         "agent_id": agents[n]["agent_id"] if n < AGENTS else None}
        for n, key in enumerate(clear)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Agent), agents)
        conn.execute(sa.insert(ApiKey), rows)
    engine.dispose()
    return {
        "service key (no agent)": clear[-1],
        "agent's key": clear[AGENTS - 1],
        "deactivated agent's key (refused)": clear[0],
        "unknown key": generate_key(),
    }


def checking(key: str) -> Callable[[Session], object]:
    def check(session: Session) -> object:
        try:
            return authenticate(session, key)
        except AgentDeactivated:
            return None

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = fresh_database(backend, Path(tmp), "copilot_bench_auth", PG_ADMIN)
            run_migrations(url)
            samples = fill(url, args.keys)
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            for kind, key in samples.items():
                p50, worst = timed(factory, checking(key), args.runs)
                rows.append({"backend": backend, "keys": args.keys, "key": kind, "p50_ms": p50, "max_ms": worst})
            engine.dispose()

    print_table(
        ["backend", "keys", "key", "p50 ms", "max ms"],
        [[r["backend"], r["keys"], r["key"], r["p50_ms"], r["max_ms"]] for r in rows],
        floats=".3f",
    )
    print(f"wrote {write_results('auth', {'benchmark': 'auth', 'rows': rows})}")


if __name__ == "__main__":
    main()
