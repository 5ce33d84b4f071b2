"""A ticket list as CSV, for the team's spreadsheets and reports: last month's billing tickets, a view's
backlog, what one agent resolved this week.

The rows are exactly what `GET /api/tickets/?{filters}` lists, every page at once and in its order, each
cell as the API shows the field (times in UTC ISO 8601, due times against the same targets). They are
written a chunk at a time, so a large export starts at once and never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.tickets import DERIVED_FROM, derived_values, matching_ids
from shared.config import Targets
from shared.db import in_chunks, read_one_snapshot
from shared.errors import InvalidInput
from shared.models import Customer, Ticket, TicketMetadata, TicketTag, current_actor
from shared.schemas import ExportOptions, TicketQuery

log = logging.getLogger(__name__)

# A spreadsheet runs a cell starting with one of these as a formula (OWASP's "CSV injection"): a customer's
# subject "=HYPERLINK(...)" must stay text, so such a cell is written after an apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UNLOGGED = frozenset({"customer_email", "q"})
METADATA = "metadata."  # a column naming one metadata field: `metadata.zendesk_url`


def export_csv(
    session: Session, filters: TicketQuery, options: ExportOptions, targets: Targets, max_rows: int
) -> Iterator[str]:
    """The CSV of the tickets `filters` hold: checked now (InvalidInput over `max_rows`, before anything is
    sent), then written as the returned iterator is read, from the same snapshot. The iterator
    owns `session` and closes it."""
    with closed_on_error(session):
        read_one_snapshot(session)
        ids = matching_ids(session, filters, targets, max_rows + 1)
        if len(ids) > max_rows:
            raise InvalidInput(
                f"the filters hold more than {max_rows} tickets (EXPORT_MAX_ROWS); narrow them, e.g. by arrival "
                "with created_from and created_before"
            )
    # Many customers' data leave in one file: the operator's log says who took which (not a customer's
    # address or the words searched for, which would put personal data in the log).
    given = filters.model_dump(mode="json", exclude_defaults=True, exclude=set(ExportOptions.model_fields))
    shown = {name: "(given)" if name in UNLOGGED else value for name, value in given.items()}
    log.info("ticket export by %s: %d tickets, filters %s", current_actor(), len(ids), shown)
    return _lines(session, ids, options.column_names(), targets, bom=options.bom)


@contextmanager
def closed_on_error(session: Session) -> Iterator[None]:
    """Close `session` if the block fails: an export owns its session, and until its lines are returned
    nobody else will close it."""
    try:
        yield
    except BaseException:
        session.close()
        raise


def _lines(session: Session, ids: list[str], columns: Sequence[str], targets: Targets, *, bom: bool) -> Iterator[str]:
    """The header, then the rows a statement's chunk of ids at a time, in the ids' order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    try:
        writer.writerow(columns)
        yield ("\ufeff" if bom else "") + taken()
        for chunk in in_chunks(ids):
            rows = _values(session, chunk, columns, targets)
            writer.writerows([cell(rows[ticket_id][name]) for name in columns] for ticket_id in chunk)
            yield taken()
    finally:
        session.close()


def _values(
    session: Session, ids: Sequence[str], columns: Sequence[str], targets: Targets
) -> dict[str, dict[str, Any]]:
    """Each ticket's fields as the API shows them, by id: table rows, not ORM objects (as the customer's export
    reads them; `read_values`' getattr per column cost a third of the time), its tags and metadata fields (the
    form's order id among them) read only when asked for."""
    tags: defaultdict[str, list[str]] = defaultdict(list)
    if "tags" in columns:
        for ticket_id, tag in session.execute(
            select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_(ids)).order_by(TicketTag.tag)
        ):
            tags[ticket_id].append(tag)
    # The metadata fields asked for (`metadata.KEY`, and `order_id`, the form's), in one query; a key a ticket
    # holds twice shows the value stored last.
    keys = sorted(
        {name.removeprefix(METADATA) for name in columns if name.startswith(METADATA)}
        | ({"order_id"} if "order_id" in columns else set())
    )
    fields: defaultdict[str, dict[str, str | None]] = defaultdict(dict)
    if keys:
        given = (
            select(TicketMetadata.ticket_id, TicketMetadata.key, TicketMetadata.value)
            .where(TicketMetadata.ticket_id.in_(ids), TicketMetadata.key.in_(keys))
            .order_by(TicketMetadata.id)
        )
        for ticket_id, key, value in session.execute(given):
            fields[ticket_id][key] = value
    # Only the columns asked for and those the due times are computed from: the texts and the JSON lists a
    # default export leaves out were most of what was read and decoded (20,000 tickets on SQLite: 2.0 -> 0.9 s).
    wanted = {"ticket_id", *columns, *DERIVED_FROM}
    rows = session.execute(
        select(
            *(column for column in Ticket.__table__.columns if column.key in wanted),
            Customer.email.label("customer_email"),
            Customer.name.label("customer_name"),
        )
        .join(Customer, Customer.customer_id == Ticket.customer_id)
        .where(Ticket.ticket_id.in_(ids))
    )
    return {
        row.ticket_id: row._asdict()
        | derived_values(row, targets)
        | {"tags": tags[row.ticket_id], "order_id": fields[row.ticket_id].get("order_id")}
        | {f"{METADATA}{key}": fields[row.ticket_id].get(key) for key in keys}
        for row in rows
    }


def cell(value: Any) -> Any:
    """A field as one CSV cell: empty for null, booleans and times as the API's JSON spells them, a list
    joined by spaces, text that a spreadsheet would run as a formula after an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return to_jsonable_python(value)
    if isinstance(value, list):
        value = " ".join(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
