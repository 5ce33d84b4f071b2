"""Domain errors. Services raise these; the gateway maps them to HTTP in one place."""

from __future__ import annotations


class CopilotError(Exception):
    """Base class; `str(error)` is the message shown to the caller."""

    status_code = 400


class NotFound(CopilotError):
    status_code = 404


class Forbidden(CopilotError):
    """The caller's role allows the route but not this use of it (an agent writing the team's view)."""

    status_code = 403


class Conflict(CopilotError):
    status_code = 409


class InvalidInput(CopilotError):
    status_code = 422


class Unavailable(CopilotError):
    status_code = 503


class TransientError(CopilotError):
    """A failure worth retrying (LLM timeout, 429, a dependency briefly down)."""

    status_code = 503
