"""Ticket text as the classifier sees it, shared so the gateway's stored corrections match the worker's input."""

from __future__ import annotations


def ticket_text(subject: str | None, description: str | None) -> str:
    """Subject and description as one text (the description alone when it already opens with the subject)."""
    subject, description = (subject or "").strip(), (description or "").strip()
    if not subject or subject.lower() in description.lower()[: len(subject) + 20]:
        return description
    if not description:
        return subject
    return f"{subject}. {description}"
