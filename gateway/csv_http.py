"""Answering with a CSV file: the media type, the download's file name and the OpenAPI entry, for every
route that exports one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse

from shared.models import utcnow

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A CSV file (RFC 4180): a header of the columns, then one row per ticket",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    422: {
        "description": "An unknown filter or column, or more tickets than EXPORT_MAX_ROWS",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
    },
}


def csv_response(lines: Iterator[str], name: str) -> StreamingResponse:
    """`lines` streamed as a download named `name` and the time, e.g. `tickets-20261206T2031Z.csv`."""
    filename = f"{name}-{utcnow():%Y%m%dT%H%MZ}.csv"
    return StreamingResponse(
        lines, media_type=CSV_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
