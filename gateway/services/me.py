"""`me`: the agent the caller's key is linked to (`api_keys.agent_id`), wherever an agent's id is taken.

`assigned_to=me` lists the caller's own tickets, and a view saved with it ("My open tickets") shows each agent
theirs; `{"agent_id": "me"}` assigns to the caller, and a macro saved with it assigns to whoever applies it.
It is resolved per request, so a view or a macro stores `me`, never one agent's id.
"""

from __future__ import annotations

from typing import TypeVar

from shared.auth import Principal
from shared.errors import InvalidInput
from shared.schemas import ME, AssignUpdate, TicketQuery

Query = TypeVar("Query", bound=TicketQuery)


def is_me(agent_id: str | None) -> bool:
    return agent_id is not None and agent_id.lower() == ME


def resolve_agent(agent_id: str | None, caller: Principal) -> str | None:
    """`agent_id`, or the caller's agent for `me` (422 when their key is linked to none)."""
    if not is_me(agent_id):
        return agent_id
    if caller.agent_id is None:
        raise InvalidInput(
            f"'me' means the agent the caller's key is linked to, and key '{caller.name}' is linked to none; "
            + how_to_link(caller)
        )
    return caller.agent_id


def resolve_assignment(assign: AssignUpdate | None, caller: Principal) -> AssignUpdate | None:
    """The assignment with `me` read as the caller's agent (422 when their key is linked to none)."""
    return None if assign is None else AssignUpdate(agent_id=resolve_agent(assign.agent_id, caller))


def how_to_link(caller: Principal) -> str:
    """What links the caller's key to an agent, for the messages refusing what needs one (with authentication
    disabled there is no key to patch: a new one is made)."""
    where = f"PATCH /api/keys/{caller.key_id}" if caller.key_id is not None else "POST /api/keys"
    return f"an admin links it with {where} and an agent_id"


def mine(query: Query, caller: Principal) -> Query:
    """The list's filters with `assigned_to=me` read as the caller's agent."""
    if not is_me(query.assigned_to):
        return query
    return query.model_copy(update={"assigned_to": resolve_agent(query.assigned_to, caller)})
