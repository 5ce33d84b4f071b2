"""A macro's text: the placeholders it may hold and how they are filled in for one ticket.

A fixed set of `{{name}}` placeholders, not a template language: a macro is written by an admin and sent to
customers, so it must not be able to reach anything but the few values named here (Jinja would offer
attribute access and loops, and a sandbox to close them again). `check_text` refuses any other `{{` when
the macro is written, naming it, so a typo fails once, for the admin, not in every customer's reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A customer whose name is not known is greeted as "there" ("Hi {{customer.first_name}}," reads "Hi there,").
UNNAMED = "there"
# The agent applying the macro, from the key's link (`api_keys.agent_id`): a reply signed "Ann" rather than by a
# key's name. A key linked to no agent cannot apply a macro that holds one (`uses_agent`).
AGENT_PLACEHOLDERS: tuple[str, ...] = ("agent.name", "agent.first_name")
# What the ticket is about, as its lookup keys hold it (`shared.references`: "#a12 " reads "A12"). A ticket may
# have none: the macro is then refused for it (`missing`), never sent with a blank ("your order  has shipped").
REFERENCE_PLACEHOLDERS: tuple[str, ...] = ("ticket.order_id", "ticket.tracking_number")
PLACEHOLDERS: tuple[str, ...] = (
    "customer.name",
    "customer.first_name",
    "customer.email",
    "ticket.id",
    "ticket.subject",
    *REFERENCE_PLACEHOLDERS,
    *AGENT_PLACEHOLDERS,
)
_NAMES = "|".join(re.escape(name) for name in PLACEHOLDERS)
# What a macro's text must not contain: NUL, or a "{{" that does not open one of the placeholders above. The
# OpenAPI schema states it as `not: {pattern: REFUSED_PATTERN}` (ECMAScript reads it as Python does: spaces,
# not `\s`, inside the braces), and `check_text` searches for the same.
REFUSED_PATTERN = rf"\x00|\{{\{{(?! *(?:{_NAMES}) *\}}\}})"
_REFUSED = re.compile(REFUSED_PATTERN)
_FILL = re.compile(rf"\{{\{{ *({_NAMES}) *\}}\}}")


def check_text(text: str) -> str:
    """The text, if every `{{` in it opens a known placeholder; ValueError naming the first that does not.
    NUL is refused, not dropped as in other free text: dropped, it could join `{` and `{` after the check."""
    found = _REFUSED.search(text)
    if found is None:
        return text
    if found.group() == "\x00":
        raise ValueError("must not contain NUL characters")
    start = found.start()
    piece = text[start : start + 40]
    end = piece.find("}}")
    shown = piece[: end + 2] if end >= 0 else piece
    known = ", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)
    raise ValueError(f"unknown placeholder {shown!r} at character {start}; known: {known}")


def fill(text: str, values: Mapping[str, str]) -> str:
    """The text with each placeholder replaced by its value; one `values` has none for (the agent's, for a
    preview by a key linked to no agent) is left as written."""
    return _FILL.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def uses_agent(text: str) -> bool:
    """Whether the text holds one of the agent's placeholders."""
    return any(match.group(1) in AGENT_PLACEHOLDERS for match in _FILL.finditer(text))


def uses_references(text: str) -> bool:
    """Whether the text holds the ticket's order id or tracking number (read from the database when it does)."""
    return any(match.group(1) in REFERENCE_PLACEHOLDERS for match in _FILL.finditer(text))


def missing(text: str, values: Mapping[str, str]) -> list[str]:
    """The placeholders in `text` that `values` has none for, each once, in the order they first appear."""
    return list(dict.fromkeys(f"{{{{{m.group(1)}}}}}" for m in _FILL.finditer(text) if m.group(1) not in values))


def values_for(
    *,
    ticket_id: str,
    subject: str,
    name: str | None,
    email: str | None,
    agent_name: str | None = None,
    order_id: str | None = None,
    tracking_number: str | None = None,
) -> dict[str, str]:
    """What each placeholder reads for one ticket, its customer and the agent applying the macro (none: the
    agent's placeholders are left out, as are the ticket's order id and tracking number when it has none)."""
    name = (name or "").strip()
    values = {
        "customer.name": name or UNNAMED,
        "customer.first_name": name.split()[0] if name else UNNAMED,
        "customer.email": email or "",
        "ticket.id": ticket_id,
        "ticket.subject": subject,
    }
    for placeholder, reference in zip(REFERENCE_PLACEHOLDERS, (order_id, tracking_number), strict=True):
        if reference:
            values[placeholder] = reference
    agent = (agent_name or "").strip()
    if agent:
        values |= {"agent.name": agent, "agent.first_name": agent.split()[0]}
    return values
