"""Mask the card numbers already stored: `python -m gateway.redact_stored [--batch 1000] [--dry-run]`.

Intake masks card numbers from now on (`shared.redaction`); this rewrites what came in before: every text
column that holds a customer's words or what was made from them, and the JSON that copies them (extracted
details, alerts' bodies). An order id or tracking number found in the text that is a card number is deleted
from the lookup keys. Run it once after upgrading; a second run changes nothing.

It walks each table in primary-key order, a batch per transaction, and rewrites only the rows that change.
A text column is rewritten only where it still holds what was read, so a write the service made meanwhile is
not overwritten with an older text (the next run picks it up). Prints what it changed per table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from sqlalchemy import Column, CursorResult, Table, and_, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shared.db import describe_db_error, in_chunks, session_scope
from shared.models import Alert, Ticket, TicketCorrection, TicketMessage, TicketMetadata, TicketReference
from shared.redaction import is_card_number, redact_card_numbers

# table: (text columns, JSON columns) that hold a customer's words or what was made from them
COLUMNS: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Ticket: (("subject", "description", "ai_reasoning", "ai_suggested_reply"), ("extracted_metadata",)),
    TicketMessage: (("body",), ()),
    TicketMetadata: (("value",), ()),
    TicketCorrection: (("text",), ()),
    Alert: ((), ("payload",)),
}


def redact_json(value: Any) -> Any:
    """Every string inside a JSON value, redacted."""
    if isinstance(value, str):
        return redact_card_numbers(value)
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_json(item) for key, item in value.items()}
    return value


def redact_table(session: Session, entity: Any, batch: int, *, dry_run: bool) -> int:
    """Rewrite the rows of `entity` whose columns hold a card number; how many rows changed."""
    table: Table = entity.__table__
    (key,) = table.primary_key.columns
    texts, documents = COLUMNS[entity]
    columns: list[Column[Any]] = [table.c[name] for name in (*texts, *documents)]
    changed, last = 0, None
    while True:
        query = select(key, *columns).order_by(key).limit(batch)
        rows = session.execute(query if last is None else query.where(key > last)).all()
        if not rows:
            return changed
        for row in rows:
            read = row._mapping
            values = {name: redact_card_numbers(read[name]) for name in texts if read[name]}
            values |= {name: redact_json(read[name]) for name in documents}
            new = {name: value for name, value in values.items() if value != read[name]}
            if not new:
                continue
            if dry_run:
                changed += 1
                continue
            unchanged = [table.c[name] == read[name] for name in texts if name in new]
            result = session.execute(update(table).where(key == row[0], and_(*unchanged)).values(**new))
            changed += cast(CursorResult[Any], result).rowcount  # 0: rewritten meanwhile, left for the next run
        session.commit()
        last = rows[-1][0]


def drop_card_references(session: Session, *, dry_run: bool) -> int:
    """Delete the lookup keys that are card numbers (found in a ticket's text as an order id); how many."""
    found = [
        row_id
        for row_id, value in session.execute(select(TicketReference.id, TicketReference.value))
        if value.isdigit() and is_card_number(value)
    ]
    if found and not dry_run:
        for ids in in_chunks(found):
            session.execute(delete(TicketReference).where(TicketReference.id.in_(ids)))
        session.commit()
    return len(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.redact_stored", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="rows read per transaction (default 1000)")
    parser.add_argument("--dry-run", action="store_true", help="count the rows that would change; write nothing")
    args = parser.parse_args(argv)
    if args.batch < 1:
        print("error: --batch must be at least 1", file=sys.stderr)
        return 2
    verb = "would change" if args.dry_run else "changed"
    try:
        with session_scope() as session:
            for entity in COLUMNS:
                count = redact_table(session, entity, args.batch, dry_run=args.dry_run)
                print(f"{entity.__tablename__}: {verb} {count} rows", file=sys.stderr)
            count = drop_card_references(session, dry_run=args.dry_run)
            print(f"ticket_references: {verb} {count} rows (card numbers deleted as lookup keys)", file=sys.stderr)
    except DBAPIError as exc:
        print(f"error: {describe_db_error(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
