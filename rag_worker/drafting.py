"""Reply drafting grounded in retrieved knowledge-base passages, with citations.

The local drafter (default, offline) composes the reply from the ticket and the most relevant
sentences of the retrieved passages. With an LLM key configured, the LLM drafter writes it from the
seed's reply prompt and falls back to the local drafter when the provider keeps failing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.schemas import Draft, KBHit, TicketContext

if TYPE_CHECKING:
    from shared.config import Settings

log = logging.getLogger(__name__)

LOCAL_MODEL = "local-extractive"
MAX_SENTENCES = 4
MIN_SENTENCES = 2
# Sentences less similar to the ticket than this are not worth quoting, however good their article.
SENTENCE_FLOOR = 0.2
# ...or less than this share of the best sentence's score (keeps the reply on the main point).
RELATIVE_FLOOR = 0.6
CACHE_SIZE = 20_000

_ORDER_RE = re.compile(
    r"(?:order|purchase)\s*(?:number|no\.?|id)?\s*[:#]?\s*#?\s*([A-Za-z0-9\-]*\d[A-Za-z0-9\-]*)", re.I
)
_HASH_NUMBER_RE = re.compile(r"#\s?(\d{3,})")
_STEP_RE = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")
_BULLET_RE = re.compile(r"^\s*[-*]\s+(.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")

# How each category's issue is named back to the customer.
ISSUE = {
    "shipping": "your delivery",
    "order": "your order",
    "billing": "the payment on your account",
    "refund": "your refund",
    "account": "access to your account",
    "product": "the product you received",
    "subscription": "your subscription",
    "technical": "the technical problem you ran into",
}
ISSUE_WITH_ORDER = {
    "shipping": "the delivery of order #{order}",
    "billing": "the payment for order #{order}",
    "refund": "your refund for order #{order}",
    "product": "the product from order #{order}",
}
# What the agent asks for when the knowledge base has nothing relevant.
MISSING_DETAILS = {
    "shipping": ["your order number", "the delivery address", "what the tracking page shows"],
    "order": ["your order number", "what you would like to change"],
    "billing": ["the order number or invoice number", "the date and amount of the charge"],
    "refund": ["your order number", "which items the refund is for"],
    "account": ["the email address on your account", "any error message you see"],
    "product": ["your order number", "a short description or photo of the problem"],
    "subscription": ["the email address on your subscription", "what you would like to change"],
}
DEFAULT_MISSING = ["your order number, if this is about an order", "what happened and when", "any error message"]


@dataclass(frozen=True)
class _Unit:
    """A quotable piece of a passage: a sentence, a numbered step or a bullet point."""

    text: str
    kind: str  # "sentence" | "step" | "bullet"
    hit: int  # index of the KBHit it came from
    order: int  # position inside the passage
    group: int = -1  # which numbered list a step belongs to
    lead_in: str = ""  # the line introducing a numbered list ("To reset your password:")


def first_name(name: str | None) -> str | None:
    """The first word of a customer's name, if it looks like a name."""
    if not name or "@" in name:
        return None
    word = name.strip().split()[0] if name.strip() else ""
    return word[:1].upper() + word[1:] if word else None


def order_reference(ticket: TicketContext) -> str | None:
    """The order the ticket is about: the form field, the classifier's entities, or the text."""
    meta = ticket.extracted_metadata or {}
    candidates: list[Any] = [ticket.order_id, meta.get("order_id"), meta.get("order_number")]
    ids = meta.get("order_ids")
    if isinstance(ids, list):
        candidates.extend(ids)
    for value in candidates:
        if value:
            return str(value).lstrip("#").strip() or None
    text = f"{ticket.subject}\n{ticket.description}"
    match = _HASH_NUMBER_RE.search(text) or _ORDER_RE.search(text)
    return match.group(1) if match else None


def search_text(ticket: TicketContext) -> str:
    """The ticket's text as a query, the customer's latest messages (if they wrote back) first: the embedding
    reads only the first 256 tokens, and the newest question is the one to answer."""
    if ticket.follow_up:
        return f"{ticket.subject}\n{ticket.follow_up}\n{ticket.description}"
    return f"{ticket.subject}\n{ticket.description}"


def grounding(search: Callable[..., list[KBHit]], ticket: TicketContext, n: int = 3) -> list[KBHit]:
    """The passages a draft is written from; `search(query, **options)` is the retriever's (thresholded).

    A follow-up is searched on its own first, without the category hint (the classifier labelled the
    opening message, and a customer who moves on to another topic must not be pulled back to it). If it
    finds nothing relevant on its own ("any update?" means something only with the ticket), the ticket's
    text is searched with the follow-up first. `benchmarks/follow_ups.py` measured the alternatives.
    """
    if ticket.follow_up and (alone := search(ticket.follow_up, n=n)):
        return alone
    return search(search_text(ticket), category=ticket.category, n=n)


def split_units(passage: str, hit: int) -> list[_Unit]:
    """A passage as sentences, numbered steps and bullets, in reading order."""
    units: list[_Unit] = []
    prose: list[str] = []
    groups = 0
    in_list = False

    def flush() -> None:
        for sentence in _SENTENCE_END.split(" ".join(prose)):
            if len(sentence.split()) >= 4:
                units.append(_Unit(sentence.strip(), "sentence", hit, len(units)))
        prose.clear()

    for line in [*passage.splitlines(), ""]:
        step, bullet = _STEP_RE.match(line), _BULLET_RE.match(line)
        if step:
            if not in_list:
                # The sentence just before a numbered list introduces it ("If it is late:").
                lead_in = ""
                if prose and prose[-1].rstrip().endswith(":"):
                    *before, lead_in = _SENTENCE_END.split(prose.pop())
                    prose.extend(before)
                flush()
                groups += 1
                in_list = True
            units.append(_Unit(step.group(2).strip(), "step", hit, len(units), groups, lead_in))
            continue
        in_list = False
        if bullet:
            flush()
            units.append(_Unit(bullet.group(1).strip(), "bullet", hit, len(units)))
        elif line.strip():
            prose.append(line.strip())
        else:
            flush()
    return units


def _normalized(text: str) -> str:
    return " ".join(text.split()).rstrip(".!?:;,").lower()


def _with_period(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", ":")) else text.rstrip(";,") + "."


class LocalDrafter:
    """Composes a grounded reply offline: acknowledgement, the best KB sentences, next steps, citations."""

    model = LOCAL_MODEL

    def __init__(self, embedder: Any, *, signature: str = "The Support Team") -> None:
        self.embedder = embedder
        self.signature = signature
        self._cache: dict[str, np.ndarray] = {}

    def draft(self, ticket: TicketContext, hits: list[KBHit]) -> Draft:
        """A reply citing the articles it quotes; needs_review when nothing relevant was retrieved (or all
        of it was in the reply the customer is answering)."""
        greeting = f"Hi {name}," if (name := first_name(ticket.customer_name)) else "Hello,"
        chosen = self._select(ticket, hits) if hits else []
        if not chosen:
            acknowledgement = self._acknowledge(ticket, grounded=False)
            return Draft(
                reply="\n\n".join([greeting, acknowledgement, self._ask_for_details(ticket), self._sign_off()]),
                articles=[],
                needs_review=True,
                model=self.model,
            )
        acknowledgement = self._acknowledge(ticket, grounded=True)
        used = sorted({u.hit for u in chosen})
        cited = [hits[i] for i in used]
        body = self._render(chosen, hits)
        sources = "Sources: " + "; ".join(f"{h.title} ({h.article_id})" for h in cited)
        paragraphs = [greeting, acknowledgement, body, self._next_steps(ticket, cited), self._sign_off(), sources]
        return Draft(
            reply="\n\n".join(p for p in paragraphs if p),
            articles=[
                {"article_id": h.article_id, "title": h.title, "relevance_score": h.relevance_score} for h in cited
            ],
            needs_review=False,
            model=self.model,
        )

    def _acknowledge(self, ticket: TicketContext, *, grounded: bool) -> str:
        order = order_reference(ticket)
        category = ticket.category or ""
        if order and category not in ("account", "subscription"):
            issue = ISSUE_WITH_ORDER.get(category, "order #{order}").format(order=order)
        else:
            issue = ISSUE.get(category, "your request")
        subject = ticket.subject.strip().rstrip(".!?")
        if ticket.follow_up:  # the category named the opening message's issue, maybe not this one's
            about = f" about order #{order}" if order else ""
            follow = "here is what I can add." if grounded else "I need a few more details to help."
            return f"Thank you for getting back to us{about}. I've read your latest message and {follow}"
        if ticket.sentiment == "negative" or ticket.priority in ("high", "critical"):
            opening = f"I'm sorry about the trouble with {issue}, and I understand how frustrating this is."
        elif ticket.sentiment == "positive":
            opening = f"Thank you for your kind message about {issue}."
        else:
            opening = f"Thank you for contacting us about {issue}."
        follow = "here is what we can do." if grounded else "I need a few details to point you to the right answer."
        return f'{opening} I\'ve looked into your message ("{subject}") and {follow}'

    def _select(self, ticket: TicketContext, hits: list[KBHit]) -> list[_Unit]:
        """The 2-4 pieces most similar to the ticket, weighted by their article's relevance.

        A numbered step brings its whole procedure (half a procedure is not an answer) and counts
        as two pieces; at most one procedure is quoted so the reply stays short.
        """
        units = [u for i, h in enumerate(hits) for u in split_units(h.passage, i)]
        if ticket.last_reply:  # what the customer was already sent is not worth sending again
            sent = _normalized(ticket.last_reply)
            units = [u for u in units if _normalized(u.text) not in sent]
        if not units:
            return []
        query = self.embedder.encode([search_text(ticket)])[0]
        similarity = self._unit_vectors([u.text for u in units]) @ query
        weight = np.array([hits[u.hit].relevance_score for u in units])
        score = similarity * (0.5 + 0.5 * weight)
        ranked = [int(i) for i in np.argsort(-score)]
        floor = max(SENTENCE_FLOOR, RELATIVE_FLOOR * float(score[ranked[0]]))
        picked: list[_Unit] = []
        budget = MAX_SENTENCES
        procedure: tuple[int, int] | None = None
        for rank, i in enumerate(ranked):
            unit = units[i]
            if budget <= 0 or (rank >= MIN_SENTENCES and score[i] < floor):
                break
            if unit in picked:
                continue
            if unit.kind == "step":
                if procedure is not None:
                    continue
                procedure = (unit.hit, unit.group)
                picked.extend(u for u in units if (u.hit, u.group) == procedure and u.kind == "step")
                budget -= 2
            else:
                picked.append(unit)
                budget -= 1
        # Most relevant article first, and each article's pieces in their reading order.
        return sorted(set(picked), key=lambda u: (u.hit, u.order))

    def _unit_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings of KB sentences, cached: articles change rarely and drafting must stay fast."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            if len(self._cache) + len(missing) > CACHE_SIZE:
                self._cache.clear()
            for text, vector in zip(missing, self.embedder.encode(missing), strict=True):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts])

    def _render(self, units: list[_Unit], hits: list[KBHit]) -> str:
        parts: list[str] = []
        steps: list[_Unit] = []
        for unit in [*units, None]:
            if unit is not None and unit.kind == "step":
                steps.append(unit)
                continue
            if steps:
                lead_in = steps[0].lead_in or "Here's what to do:"
                parts.append(lead_in + "\n" + "\n".join(f"{n}. {_with_period(s.text)}" for n, s in enumerate(steps, 1)))
                steps = []
            if unit is not None:
                parts.append(("- " if unit.kind == "bullet" else "") + _with_period(unit.text))
        return "\n\n".join(parts)

    def _next_steps(self, ticket: TicketContext, cited: list[KBHit]) -> str:
        order = order_reference(ticket)
        reference = f"order #{order}" if order else "your order number"
        if ticket.category in ("shipping", "order", "refund", "product") or order:
            return (
                f"If this doesn't solve it, just reply to this email with {reference} and any details or photos, "
                "and we'll take it from there."
            )
        return "If anything is still unclear or the problem continues, reply to this email and we'll help right away."

    def _ask_for_details(self, ticket: TicketContext) -> str:
        wanted = MISSING_DETAILS.get(ticket.category or "", DEFAULT_MISSING)
        if order_reference(ticket):
            wanted = [w for w in wanted if "order number" not in w] or DEFAULT_MISSING[1:]
        listed = "\n".join(f"- {w}" for w in wanted)
        return f"So that we can help you quickly, could you please send us:\n{listed}"

    def _sign_off(self) -> str:
        return f"Best regards,\n{self.signature}"


REPLY_PROMPT = """Generate a professional response to this ticket:

Subject: {subject}
Description: {description}
Category: {category}
Customer name: {name}
{entities}{conversation}
Relevant Knowledge Base:
{kb_context}

Write a helpful, empathetic response that:
1. Acknowledges the issue
2. Provides a solution
3. Is professional but friendly
4. Is concise (2-3 paragraphs)

Use only facts from the knowledge base above. End with a line "Sources:" listing the ids of the
articles you used, e.g. "Sources: kb_001, kb_006"."""

# Added to the prompt when the customer wrote back after the ticket was opened.
FOLLOW_UP_PROMPT = """{last_reply}The customer has since written:
{follow_up}

Answer the customer's latest message; do not repeat what our last reply already said.
"""

_CITED_RE = re.compile(r"\b[A-Za-z0-9_\-]+\b")


class LLMDrafter:
    """Drafts with an OpenAI-compatible LLM (Groq by default); the local drafter is the fallback."""

    def __init__(self, settings: Settings, fallback: LocalDrafter, client: Any = None) -> None:
        from shared.llm import LLMClient

        self.client = client or LLMClient(settings)
        self.model = settings.llm_model
        self.fallback = fallback

    def draft(self, ticket: TicketContext, hits: list[KBHit]) -> Draft:
        """The LLM's reply citing the articles it names; local drafting when no passage is relevant or the LLM fails."""
        from shared.errors import TransientError

        if not hits:
            return self.fallback.draft(ticket, hits)
        try:
            reply = self.client.chat(self._messages(ticket, hits), temperature=0.7).strip()
        except TransientError as exc:
            log.warning("LLM drafting failed for %s, using the local drafter: %s", ticket.ticket_id, exc)
            return self.fallback.draft(ticket, hits)
        if not reply:
            return self.fallback.draft(ticket, hits)
        named = set(_CITED_RE.findall(reply))
        cited = [h for h in hits if h.article_id in named] or hits
        return Draft(
            reply=reply,
            articles=[
                {"article_id": h.article_id, "title": h.title, "relevance_score": h.relevance_score} for h in cited
            ],
            needs_review=False,
            model=self.model,
        )

    @staticmethod
    def _messages(ticket: TicketContext, hits: list[KBHit]) -> list[dict[str, str]]:
        kb_context = "\n\n".join(f"[{h.article_id}] {h.title}\n{h.passage}" for h in hits)
        order = order_reference(ticket)
        prompt = REPLY_PROMPT.format(
            subject=ticket.subject,
            description=ticket.description,
            category=ticket.category or "unknown",
            name=ticket.customer_name or "unknown",
            entities=f"Order: #{order}\n" if order else "",
            conversation=LLMDrafter._conversation(ticket),
            kb_context=kb_context,
        )
        return [
            {"role": "system", "content": "You are a customer-support agent writing a reply to a customer."},
            {"role": "user", "content": prompt},
        ]

    @staticmethod
    def _conversation(ticket: TicketContext) -> str:
        if not ticket.follow_up:
            return ""
        last_reply = f"Our last reply to the customer:\n{ticket.last_reply}\n\n" if ticket.last_reply else ""
        return "\n" + FOLLOW_UP_PROMPT.format(last_reply=last_reply, follow_up=ticket.follow_up)


def load_drafter(settings: Settings) -> LocalDrafter | LLMDrafter:
    """The LLM drafter when an LLM key is configured, otherwise the local one."""
    from shared.embeddings import get_embedder

    local = LocalDrafter(get_embedder())
    if settings.groq_key:
        return LLMDrafter(settings, local)
    return local
