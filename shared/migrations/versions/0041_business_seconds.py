"""business time: the function BUSINESS_HOURS' sorts and measures call on PostgreSQL

Revision ID: 0041_business_seconds
Revises: 0040_bulk_jobs
Create Date: 2026-12-07 04:00:00

With BUSINESS_HOURS set, the list sorted by due time and the week's resolution and reply times need each
ticket's business seconds (`shared.business_hours`), computed by the database. The calendar is a setting,
not stored: the function takes it as arrays (the week's spans, the closed days), so changing the hours needs
no migration. It converts the time to the zone's wall clock once per row. SQLite gets the same function from
Python on each connection (`register_sqlite`), so there is nothing to create there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041_business_seconds"
down_revision: str | Sequence[str] | None = "0040_bulk_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Mirrors BusinessCalendar._at_wall: `wall` is seconds from Monday 1970-01-05 00:00 on the zone's wall clock;
# `edges` the week's opening and closing times in turn, `elapsed` the business seconds of the week at each; a
# closed day holds its start's value. NULL in, NULL out (width_bucket of an empty array is 0).
FUNCTION = """
CREATE OR REPLACE FUNCTION copilot_business_seconds(
    at timestamptz, zone text, edges float8[], elapsed float8[], week_seconds float8,
    closed_starts float8[], removed float8[], flat float8[]
) RETURNS float8 LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    wall float8 := extract(epoch FROM timezone(zone, at)) - 345600;
    weeks float8 := floor(wall / 604800);
    into_week float8 := wall - weeks * 604800;
    j integer := width_bucket(into_week, edges);
    k integer := width_bucket(wall, closed_starts);
BEGIN
    IF k > 0 AND wall < closed_starts[k] + 86400 THEN
        RETURN flat[k];
    END IF;
    RETURN weeks * week_seconds
        + CASE WHEN j = 0 THEN 0 WHEN j % 2 = 1 THEN elapsed[j] + into_week - edges[j] ELSE elapsed[j] END
        - CASE WHEN k > 0 THEN removed[k] ELSE 0 END;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS copilot_business_seconds(timestamptz, text, float8[], float8[], float8,"
            " float8[], float8[], float8[])"
        )
