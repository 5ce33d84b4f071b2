"""Request-scoped dependencies: settings and a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_sessionmaker_dep(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessionmaker


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, rolled back if the handler fails."""
    session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_sessionmaker_dep)]
