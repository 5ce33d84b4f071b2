"""Alembic environment: the URL comes from the caller or from DATABASE_URL via shared.config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from shared.db import in_models, normalize_url
from shared.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    from shared.config import get_settings

    return config.get_main_option("sqlalchemy.url") or normalize_url(get_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True, include_object=in_models
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, include_object=in_models
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
