"""Reads agents' corrections from the database for the classifier's correction memory (DB glue)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from classifier_worker.classifier import CorrectedField, Correction
from shared.db import session_scope
from shared.models import TicketCorrection

# The newest corrections are the ones that matter; bounding keeps worker start and refresh cheap.
MAX_CORRECTIONS = 20_000


def load_corrections(factory: sessionmaker[Session] | None = None) -> list[Correction]:
    """Every stored correction, oldest first, so a later correction of the same text wins."""
    with session_scope(factory) as session:
        rows = session.execute(
            select(TicketCorrection.text, TicketCorrection.field, TicketCorrection.new_value)
            .where(TicketCorrection.field.in_(("category", "priority")))
            .order_by(TicketCorrection.id.desc())
            .limit(MAX_CORRECTIONS)
        ).all()
    return [
        Correction(text=text, field=cast(CorrectedField, field), value=value) for text, field, value in reversed(rows)
    ]
