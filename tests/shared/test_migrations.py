"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

A column or index added to a model without a migration would exist in tests that create tables from the
models and be missing in production; Alembic's own comparison names any such difference.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.db import in_models, make_engine, run_migrations
from shared.models import Base


def test_migrated_schema_matches_the_models(bare_db_url):
    run_migrations(bare_db_url)
    engine = make_engine(bare_db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": in_models})
        diffs = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diffs == []
