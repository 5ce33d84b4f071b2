"""Alerts to the team's own webhook when the AI rates a ticket urgent: the outbox side.

A critical ticket must reach someone now, not when an agent next opens the queue. The classifier writes
an `Alert` row in the transaction that stores the priority it is about (`raise_alert`), then sends the
delivery task (`send_alert`); the alert worker POSTs it, as `shared.outbox` describes: a row left
undelivered is sent again by the sweeper, at least once. Tickets about to miss a reply or resolution
target are alerted through the same outbox (`gateway.services.due_alerts`, raised by the sweeper), and so,
with ALERT_ON_AUTO_ASSIGN, is each ticket the rotation assigns (`raise_assignment_alert`, by `shared.routing`).
With ALERT_ON_BAD_RATING, each bad rating is alerted too (`raise_rating_alert`, by the rating). Every kind goes
to ALERT_WEBHOOK_URL, or to its ticket's category's webhook when ALERT_ROUTES names one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import Agent, Alert, Ticket, utcnow
from shared.outbox import ALERTS, send
from shared.schemas import DIGEST_EVENT, PRIORITY_RANK, AlertEvent, Priority, Satisfaction

TEXT_CHARS = 400


def new_alert(
    ticket: Ticket,
    event: AlertEvent,
    priority: str,
    settings: Settings,
    *,
    counted_from: datetime,
    now: datetime | None = None,
) -> Alert:
    """An alert row with a fresh id, routed by the ticket's working category (ALERT_ROUTES), its body still
    to be written: (ticket, event, priority, counted_from) is the occasion the unique key allows once."""
    return Alert(
        alert_id=str(uuid.uuid4()),
        ticket_id=ticket.ticket_id,
        event=event.value,
        priority=priority,
        counted_from=counted_from,
        created_at=now or utcnow(),
        route=settings.alert_route(ticket.category),
    )


def raise_alert(session: Session, ticket: Ticket, settings: Settings) -> str | None:
    """Add the alert `ticket`'s AI priority calls for, in the caller's transaction; returns its id, or None
    when none is due: no webhook for the ticket's category (neither ALERT_WEBHOOK_URL nor a route), a priority
    below ALERT_MIN_PRIORITY, or this priority already alerted.

    The caller holds the ticket's row (the classifier's claim), so two rounds of one ticket cannot both add
    one; the unique (ticket, priority) constraint backs that up.
    """
    priority = ticket.ai_suggested_priority
    if not settings.alerts_to(ticket.category) or priority is None:
        return None
    if PRIORITY_RANK[Priority(priority)] < PRIORITY_RANK[settings.alert_min_priority]:
        return None
    seen = select(Alert.alert_id).where(
        Alert.ticket_id == ticket.ticket_id, Alert.event == AlertEvent.urgent.value, Alert.priority == priority
    )
    if session.scalar(seen) is not None:
        return None
    alert = new_alert(ticket, AlertEvent.urgent, priority, settings, counted_from=ticket.created_at)
    alert.payload = payload(alert, ticket, settings.alert_ticket_url)
    session.add(alert)
    return alert.alert_id


def raise_assignment_alert(
    session: Session, ticket: Ticket, agent: Agent, settings: Settings, *, at: datetime
) -> str | None:
    """Add the alert that the rotation assigned `ticket` to `agent` at `at`, in the assignment's transaction;
    its id, or None when off (ALERT_ON_AUTO_ASSIGN, no webhook for its category) or it has no priority yet.

    Nobody else saw the assignment happen, so a chat the webhook feeds can tell the agent (the body names
    them and their email). One per assignment: its time is the occasion's key, so a ticket routed again after
    a release alerts again, and a redelivered task, which finds the ticket assigned, adds none.
    """
    priority = ticket.priority or ticket.ai_suggested_priority
    if not (settings.alerts_to(ticket.category) and settings.alert_on_auto_assign) or priority is None:
        return None
    alert = new_alert(ticket, AlertEvent.assigned, priority, settings, counted_from=at)
    line = f"Assigned to {agent.name}: {priority.upper()} {ticket.category or 'general'} ticket {ticket.ticket_id}"
    body = payload(alert, ticket, settings.alert_ticket_url, line=line)
    body["agent"] = {"agent_id": agent.agent_id, "name": agent.name, "email": agent.email}
    alert.payload = body
    session.add(alert)
    return alert.alert_id


def raise_rating_alert(session: Session, ticket: Ticket, settings: Settings) -> str | None:
    """Add the alert that `ticket`'s customer has just rated it bad, in the rating's transaction; its id, or
    None when off (ALERT_ON_BAD_RATING, no webhook for its category), the rating is not bad, or the ticket has
    no priority (never classified).

    A lead follows a bad rating up while the customer still remembers; nothing else told anyone. One per
    rating given: its time is the occasion's key, so a customer who rates good and then bad again alerts again.
    The body names the rating and the assignee, not the comment (the customer's words stay out of a chat, as
    the message does; the link leads to them).
    """
    priority = ticket.priority or ticket.ai_suggested_priority
    if not (settings.alert_on_bad_rating and settings.alerts_to(ticket.category)) or priority is None:
        return None
    if ticket.satisfaction != Satisfaction.bad.value or ticket.satisfaction_at is None:
        return None
    alert = new_alert(ticket, AlertEvent.rated_bad, priority, settings, counted_from=ticket.satisfaction_at)
    owner = f"assigned to {ticket.assigned_to}" if ticket.assigned_to else "unassigned"
    line = f"Bad rating on {priority.upper()} {ticket.category or 'general'} ticket {ticket.ticket_id}, {owner}"
    body = payload(alert, ticket, settings.alert_ticket_url, line=line)
    body["rating"] = {
        "rating": ticket.satisfaction,
        "rated_at": ticket.satisfaction_at.isoformat(),
        "has_comment": bool(ticket.satisfaction_comment),
    }
    alert.payload = body
    session.add(alert)
    return alert.alert_id


def payload(alert: Alert, ticket: Ticket, link: str | None = None, *, line: str | None = None) -> dict[str, Any]:
    """What the webhook receives: the subject and the AI's assessment as it stood, but not the message itself
    nor the customer's address (a chat channel is no place for them; the id, or the `link` made from
    ALERT_TICKET_URL, finds the ticket), and a one-line `text` for chat tools, opening with `line` (by
    default the AI's rating: what an urgent alert is about)."""
    line = line or f"{alert.priority.upper()} {ticket.ai_suggested_category or 'general'} ticket {ticket.ticket_id}"
    text = f"{line}: {ticket.subject}. {ticket.ai_reasoning or ''}".strip()
    url = link.replace("{ticket_id}", quote(ticket.ticket_id, safe="")) if link else None
    if len(text) > TEXT_CHARS:
        text = text[: TEXT_CHARS - 1] + "…"
    return {
        "id": alert.alert_id,
        "event": alert.event,
        "created_at": alert.created_at.isoformat(),
        "text": f"{text} {url}" if url else text,
        "ticket": {
            "ticket_id": ticket.ticket_id,
            "url": url,
            "subject": ticket.subject,
            "source": ticket.source,
            "status": ticket.status,
            "created_at": ticket.created_at.isoformat(),
            "priority": ticket.ai_suggested_priority,  # the AI's (an urgent alert's own)
            "working_priority": ticket.priority,  # an agent's, when they chose another
            "assigned_to": ticket.assigned_to,  # the agent id, for a chat to mention the owner
            "category": ticket.ai_suggested_category,
            "sentiment": ticket.sentiment,
            "confidence": ticket.ai_confidence,
            "urgency_keywords": list(ticket.urgency_keywords or []),
            "reasoning": ticket.ai_reasoning,
            "needs_review": ticket.needs_review,
        },
    }


def slack_message(body: dict[str, Any]) -> dict[str, Any]:
    """An alert's body as Slack's incoming webhooks take it (ALERT_FORMAT=slack): `text`, the line a
    notification shows, and two blocks, the line with a link to the ticket and the facts a lead reads first.
    Slack parses `&`, `<` and `>`, so a subject holding them is escaped, never read as a link or a mention."""
    ticket = body["ticket"]
    url, text = ticket.get("url"), _unlinked(body)
    line = _escaped(text) + (f" <{url}|Open {_escaped(ticket['ticket_id'])}>" if url else "")
    facts = [f"*{label}:* {_escaped(value)}" for label, value in _facts(body)]
    return {
        "text": _escaped(text),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": line}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(facts)}]},
        ],
    }


def teams_message(body: dict[str, Any]) -> dict[str, Any]:
    """An alert's body as a Teams channel's Workflows webhook takes it (ALERT_FORMAT=teams, the "Send webhook
    alerts to a channel" template): a message holding one Adaptive Card, the alert's line, the facts a lead reads
    first and a button opening the ticket. Teams reads a card's text as Markdown (no mention can be made from
    it), so the line is shown as written."""
    ticket = body["ticket"]
    facts = {"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in _facts(body)]}
    opens = {"type": "Action.OpenUrl", "title": f"Open {ticket['ticket_id']}", "url": ticket.get("url")}
    return _teams_card([_teams_line(body), facts], [opens] if ticket.get("url") else [])


def teams_digest(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Several alerts as one Teams card: the count, then each alert's line (linked to its ticket when
    ALERT_TICKET_URL is set)."""
    summary = {"type": "TextBlock", "text": _counted(bodies), "weight": "Bolder", "wrap": True}
    return _teams_card([summary, *(_teams_line(body, linked=True) for body in bodies)], [])


def _teams_line(body: dict[str, Any], *, linked: bool = False) -> dict[str, Any]:
    """The alert's line as a card's text block, its link left out (a button or, `linked`, a Markdown link)."""
    url, text = body["ticket"].get("url"), _unlinked(body)
    if linked and url:
        text += f" [Open {body['ticket']['ticket_id']}]({url})"
    return {"type": "TextBlock", "text": text, "wrap": True}


def _teams_card(blocks: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """A Workflows webhook's message holding one Adaptive Card of these blocks and actions (none: no action set)."""
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": blocks,
    }
    if actions:
        card["actions"] = actions
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def _unlinked(body: dict[str, Any]) -> str:
    """The alert's line without the ticket's link `payload` ends it with: a chat tool shows the link its own way."""
    url, text = body["ticket"].get("url"), body["text"]
    return text[: -len(url) - 1] if url and text.endswith(f" {url}") else text


def _facts(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The alert's facts a lead reads first, each (label, value), those without a value left out: the working
    priority (an agent's, whose target a due alert is about), category, status, assignee, due time, event."""
    ticket = body["ticket"]
    facts = (
        ("Priority", (ticket.get("working_priority") or ticket.get("priority") or "").upper()),
        ("Category", ticket.get("category")),
        ("Status", ticket.get("status")),
        ("Assigned", ticket.get("assigned_to") or "nobody"),
        ("Due", (body.get("due") or {}).get("due_at")),
        ("Event", body["event"]),
    )
    return [(label, str(value)) for label, value in facts if value]


def digest(bodies: list[dict[str, Any]], *, now: datetime) -> dict[str, Any]:
    """Several alerts' bodies as one (ALERT_BATCH_MAX): each as it would have been sent alone, under `alerts`, and
    a `text` that counts them by event ("12 alerts: 7 ticket.reply_due, 5 ticket.urgent"). Its `id` is the first
    alert's, the one whose delivery sent it."""
    return {
        "id": bodies[0]["id"],
        "event": DIGEST_EVENT,
        "created_at": now.isoformat(),
        "count": len(bodies),
        "text": _counted(bodies),
        "alerts": bodies,
    }


def slack_digest(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Several alerts as one Slack message: the count, then each alert's linked line (its first block alone, so
    MAX_ALERT_BATCH alerts stay within Slack's 50 blocks)."""
    summary = _escaped(_counted(bodies))
    lines = [slack_message(body)["blocks"][0] for body in bodies]
    return {
        "text": summary,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary}*"}}, *lines],
    }


def _counted(bodies: list[dict[str, Any]]) -> str:
    counts = Counter(body["event"] for body in bodies)
    return f"{len(bodies)} alerts: " + ", ".join(f"{n} {event}" for event, n in counts.most_common())


def _escaped(text: str) -> str:
    """Slack's three control characters as the entities it decodes (its documented escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_alert(alert_id: str) -> bool:
    """Send the delivery task of a committed alert; False (logged) leaves it to the sweeper."""
    return send(ALERTS, alert_id)
