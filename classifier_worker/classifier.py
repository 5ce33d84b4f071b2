"""Ticket classification: pure prediction logic, no Celery and no database.

Two providers behind one interface:
- local (default): MiniLM embeddings -> fine-intent probabilities (a logistic regression on the
  embeddings, combined log-linearly with a nearest-neighbour vote and a word/character n-gram
  regression) summed per category, a nearest-neighbour gate for text that is no support request at
  all, an embedding+lexicon sentiment model, rule-based priority and regex/dateparser entities;
- an OpenAI-compatible LLM (Groq by default) when `GROQ_API_KEY` is set; any failure (timeouts,
  429s after retries, invalid JSON twice) falls back to the local provider, and
  `Classification.model` records which one answered.

Agents' corrections are a nearest-neighbour memory on top of both: a new ticket nearly identical
to a corrected one gets the corrected category / priority. The caller supplies them (the worker
reads them from the database) through `corrections_source`, polled every few seconds. A ticket the
customer wrote back to is then updated by what they wrote (`follow_up`): priority only goes up, the tone
is theirs now, entities are added.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from classifier_worker import sentiment as sentiment_model
from classifier_worker.entities import extract_entities
from classifier_worker.follow_up import rescore
from classifier_worker.priority import score_priority
from shared.config import Settings
from shared.embeddings import Embedder, get_embedder
from shared.errors import TransientError
from shared.llm import LLMClient, llm_enabled
from shared.schemas import Category, Classification, Priority, Sentiment, TicketContext
from shared.text import ticket_text as join_ticket_text

log = logging.getLogger(__name__)

CATEGORIES = list(Category)
# A new ticket at least this similar (cosine) to a corrected one takes the agent's answer.
CORRECTION_SIMILARITY = 0.9
OUT_OF_SCOPE_CONFIDENCE = 0.2
GATE_CONFIDENT = 0.9
LLM_TEMPERATURE = 0.1
# Texts per onnxruntime call inside one classify batch. Tickets are short: a 32-row batch's activations
# overflow the per-core L2 cache, and 4-8 rows (sorted by length, so little padding) ran ~1.4x faster per
# ticket on our 2 cores (measured: 369/s at 4 vs 317/s at 12 and ~190/s at 32, same 32-ticket calls).
EMBED_BATCH = 4


CorrectedField = Literal["category", "priority"]


@dataclass(frozen=True)
class Correction:
    """An agent's verdict on a ticket's text: `field` ("category" or "priority") should be `value`."""

    text: str
    field: CorrectedField
    value: str


def ticket_text(ticket: TicketContext) -> str:
    """The ticket's subject and description as one text (see `shared.text.ticket_text`)."""
    return join_ticket_text(ticket.subject, ticket.description)


def knn_vote(
    similarity: np.ndarray,
    memory_intents: np.ndarray,
    memory_weights: np.ndarray,
    n_intents: int,
    k: int,
    temperature: float,
) -> np.ndarray:
    """Intent distribution of the `k` most similar memory rows, weighted by softmax(temperature * similarity)."""
    k = min(k, similarity.shape[1])
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    sims = np.take_along_axis(similarity, top, axis=1)
    weights = np.exp(temperature * (sims - sims.max(axis=1, keepdims=True))) * memory_weights[top]
    votes = np.zeros((len(similarity), n_intents), dtype=np.float64)
    np.add.at(votes, (np.arange(len(similarity))[:, None], memory_intents[top]), weights)
    return votes / votes.sum(axis=1, keepdims=True)


def log_linear(probs: dict[str, np.ndarray], weights: dict[str, float], floor: float) -> np.ndarray:
    """Weighted geometric mean of several intent distributions, renormalised per row."""
    logits = sum(w * np.log(probs[name] + floor) for name, w in weights.items() if w)
    assert isinstance(logits, np.ndarray)
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


class SoftmaxHead:
    """A fitted multinomial logistic regression as one matmul + softmax.

    For one ticket sklearn's `predict_proba` spends ~10x longer checking its input than computing;
    this gives the same probabilities (checked in the tests) at the cost of the arithmetic alone.
    """

    def __init__(self, model: Any) -> None:
        self.weights = np.ascontiguousarray(model.coef_.T, dtype=np.float32)
        self.bias = np.asarray(model.intercept_, dtype=np.float32)

    def __call__(self, features: Any) -> np.ndarray:
        logits = np.asarray(features @ self.weights) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)


class NgramHead:
    """The fitted word+character TF-IDF regression (`train.fit_lexical`), computed without sklearn's per-call checks.

    Same arithmetic as the pipeline (checked in the tests): each vectorizer's analyzer, counts of
    known n-grams, sublinear tf, idf, L2 norm per vectorizer block; then the regression's softmax.
    Through the pipeline a single ticket spent ~5 ms validating its input; this takes a fraction of that.
    """

    def __init__(self, pipeline: Any) -> None:
        union, regression = pipeline[0], pipeline[-1]
        self.blocks = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            assert vectorizer.sublinear_tf and vectorizer.norm == "l2" and vectorizer.use_idf
            self.blocks.append(
                (vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_.astype(np.float32), offset)
            )
            offset += len(vectorizer.vocabulary_)
        self.n_features = offset
        self.head = SoftmaxHead(regression)

    def features(self, texts: list[str]) -> Any:
        """The TF-IDF rows of `texts` (a CSR matrix), as the pipeline's FeatureUnion would give them."""
        from collections import Counter

        from scipy.sparse import csr_matrix

        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        for text in texts:
            stored = indptr[-1]
            for analyze, vocabulary, idf, offset in self.blocks:
                counts = Counter(j for gram in analyze(text) if (j := vocabulary.get(gram)) is not None)
                if not counts:
                    continue
                cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * idf[cols]
                indices.append(cols + offset)
                data.append(values / np.linalg.norm(values))
                stored += len(cols)
            indptr.append(stored)
        return csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0, dtype=np.float32),
                np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
                np.asarray(indptr),
            ),
            shape=(len(texts), self.n_features),
        )

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.head(self.features(texts))


def _pretty(intent: str) -> str:
    return intent.split(":", 1)[-1].replace("_", " ").strip(" ?").lower()


class CorrectionMemory:
    """Embeddings of corrected tickets; the latest correction of a text and field wins."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], str] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._matrix: dict[str, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def replace(self, corrections: Sequence[Correction]) -> None:
        """Make `corrections` the memory (embedding only texts not seen before)."""
        items: dict[tuple[str, str], str] = {(c.text, c.field): c.value for c in corrections}
        new_texts = sorted({text for text, _ in items} - set(self._vectors))
        if new_texts:
            for text, vector in zip(new_texts, self._embedder.encode(new_texts), strict=True):
                self._vectors[text] = vector
        matrix: dict[str, tuple[np.ndarray, list[str]]] = {}
        for field in ("category", "priority"):
            rows = [(text, value) for (text, f), value in items.items() if f == field]
            if rows:
                matrix[field] = (np.stack([self._vectors[t] for t, _ in rows]), [v for _, v in rows])
        with self._lock:
            self._items = items
            self._matrix = matrix

    def lookup(self, vectors: np.ndarray, field: str) -> list[tuple[str, float] | None]:
        """Per row: (corrected value, similarity) of the most similar corrected text, if close enough."""
        with self._lock:
            entry = self._matrix.get(field)
        if entry is None:
            return [None] * len(vectors)
        matrix, values = entry
        sims = vectors @ matrix.T
        best = sims.argmax(axis=1)
        return [
            (values[j], float(sims[i, j])) if sims[i, j] >= CORRECTION_SIMILARITY else None for i, j in enumerate(best)
        ]


class LocalModel:
    """The trained artifact: category, out-of-scope gate and sentiment over one set of embeddings."""

    def __init__(self, payload: dict[str, Any], metadata: dict[str, Any], embedder: Embedder) -> None:
        self.embedder = embedder
        self.metadata = metadata
        self.intents: list[str] = payload["intents"]
        self.category_model = payload["category_model"]
        self.lexical_model = payload["lexical_model"]
        self.blend: dict[str, float] = payload["blend"]
        self.blend_floor = float(payload["blend_floor"])
        self.knn_k = int(payload["knn_k"])
        self.knn_temperature = float(payload["knn_temperature"])
        self.sentiment_model = payload["sentiment_model"]
        self._regression = SoftmaxHead(self.category_model)
        self._ngrams = NgramHead(self.lexical_model)
        self._sentiment = SoftmaxHead(self.sentiment_model)
        from threadpoolctl import ThreadpoolController

        self._blas = ThreadpoolController()
        self.gate_threshold = float(payload["gate_threshold"])
        self.memory = np.asarray(payload["memory_vectors"], dtype=np.float32)
        self.memory_intents = np.asarray(payload["memory_intents"])
        self.memory_weights = np.asarray(payload["memory_weights"], dtype=np.float32)
        self.in_scope = np.asarray(payload["memory_in_scope"], dtype=bool)
        oos = payload.get("out_of_scope_intent")
        self.out_of_scope_intent = self.intents.index(oos) if oos else -1
        # intents x categories 0/1 matrix: category probability = sum of its intents' probabilities.
        category_of_intent = payload["category_of_intent"]
        self.intent_to_category = np.zeros((len(self.intents), len(CATEGORIES)), dtype=np.float32)
        for i, intent in enumerate(self.intents):
            self.intent_to_category[i, CATEGORIES.index(Category(category_of_intent[intent]))] = 1.0
        if oos:
            # Out-of-scope mass belongs to no category: confidence is P(this category and a real ticket).
            self.intent_to_category[self.out_of_scope_intent] = 0.0
        self.name = f"local:{embedder.name}+logreg-v{metadata.get('version')}"

    def predict(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Raw model outputs for a batch: embeddings, intent and category probabilities, gate similarity, sentiment."""
        vectors = self.embedder.encode(texts, batch_size=EMBED_BATCH)
        # numpy's BLAS on one thread here: its pool and onnxruntime's take turns on the same 2 cores, and
        # each pool's threads spin-waiting after its call slowed the other's next call (measured: p50 per
        # ticket ~20 -> ~11 ms, 32-ticket batches ~125 -> ~200 tickets/s). The matmuls here are small.
        with self._blas.limit(limits=1, user_api="blas"):
            similarity = vectors @ self.memory.T
            vote = knn_vote(
                similarity,
                self.memory_intents,
                self.memory_weights,
                len(self.intents),
                self.knn_k,
                self.knn_temperature,
            )
            intent_probs = log_linear(
                {"regression": self._regression(vectors), "knn": vote, "lexical": self._ngrams(texts)},
                self.blend,
                self.blend_floor,
            )
            category_probs = intent_probs @ self.intent_to_category
            nearest = similarity[:, self.in_scope].max(axis=1)
            sentiment_probs = self._sentiment(sentiment_model.features(vectors, texts))
        return {
            "vectors": vectors,
            "intent_probs": intent_probs,
            "category_probs": category_probs,
            "nearest": nearest,
            "sentiment_probs": sentiment_probs,
        }


class LLMVerdict(BaseModel):
    """The JSON the LLM must return; validated before use."""

    category: Category
    priority: Priority
    sentiment: Sentiment
    sentiment_score: float = Field(0.0, ge=-1, le=1)
    urgency_keywords: list[str] = Field(default_factory=list)
    confidence: float = Field(..., ge=0, le=1)
    reasoning: str = Field("", max_length=500)


LLM_SYSTEM_PROMPT = (
    "You triage customer-support tickets. Reply with one JSON object and nothing else, with keys: "
    '"category" (one of: shipping, billing, refund, account, order, product, subscription, technical, general), '
    '"priority" (low, medium, high, critical; critical ONLY for fraud, security breaches, legal threats, '
    "physical safety or service outages), "
    '"sentiment" (positive, neutral, negative; a complaint stated as fact is negative), '
    '"sentiment_score" (number from -1 to 1), "urgency_keywords" (list of words from the ticket that signal urgency), '
    '"confidence" (your probability, 0 to 1, that the category is right), '
    '"reasoning" (one sentence). Text that is not a support request (spam, chit-chat, questions for other '
    'businesses) is category "general" with confidence below 0.3.'
)


class TicketClassifier:
    """Classifies tickets with the configured provider; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        local: LocalModel,
        *,
        llm: LLMClient | None = None,
        corrections_source: Callable[[], Sequence[Correction]] | None = None,
    ) -> None:
        self.settings = settings
        self.local = local
        self.llm = llm
        self.review_threshold = settings.classify_review_threshold
        self.memory = CorrectionMemory(local.embedder)
        self._corrections_source = corrections_source
        self._refresh_every = settings.classifier_corrections_refresh_s
        self._refreshed_at = float("-inf")
        self._refresh_lock = threading.Lock()

    # ------------------------------------------------------------------ corrections

    def set_corrections(self, corrections: Sequence[Correction]) -> None:
        """Replace the correction memory (the worker passes what agents stored)."""
        self.memory.replace(corrections)

    def refresh_corrections(self, *, force: bool = False) -> None:
        """Re-read corrections from the source when they are older than the refresh interval."""
        if self._corrections_source is None:
            return
        now = time.monotonic()
        if not force and now - self._refreshed_at < self._refresh_every:
            return
        with self._refresh_lock:
            try:
                self.memory.replace(self._corrections_source())
            except Exception as exc:  # stale corrections beat no classification
                log.warning("could not refresh corrections: %s", exc)
            self._refreshed_at = now

    # ------------------------------------------------------------------ classification

    def classify(self, ticket: TicketContext) -> Classification:
        """Classification of one ticket."""
        return self.classify_batch([ticket])[0]

    def classify_batch(self, tickets: Sequence[TicketContext]) -> list[Classification]:
        """Classifications in input order; one embedding pass for the whole batch on the local path."""
        if not tickets:
            return []
        self.refresh_corrections()
        texts = [ticket_text(t) for t in tickets]
        local_results, vectors = self._classify_local(list(tickets), texts)
        if self.llm is not None:
            results = [
                self._classify_llm(t, text, fallback)
                for t, text, fallback in zip(tickets, texts, local_results, strict=True)
            ]
        else:
            results = local_results
        return self._follow_ups(list(tickets), self._apply_corrections(results, vectors))

    def _follow_ups(self, tickets: list[TicketContext], results: list[Classification]) -> list[Classification]:
        """Each ticket the customer wrote back to, updated by what they wrote (`follow_up.rescore`): one
        more local pass, over the follow-ups only, for their tone, whichever provider classified the opening."""
        wrote_again = [i for i, ticket in enumerate(tickets) if ticket.follow_up]
        if not wrote_again:
            return results
        out = self.local.predict([tickets[i].follow_up or "" for i in wrote_again])
        for row, i in enumerate(wrote_again):
            results[i] = rescore(results[i], tickets[i], *sentiment_model.tone(out["sentiment_probs"][row]))
        return results

    def _classify_local(
        self, tickets: list[TicketContext], texts: list[str]
    ) -> tuple[list[Classification], np.ndarray]:
        out = self.local.predict(texts)
        results = []
        for i, (ticket, text) in enumerate(zip(tickets, texts, strict=True)):
            category_probs = out["category_probs"][i]
            best = int(category_probs.argmax())
            category = CATEGORIES[best]
            confidence = float(category_probs[best])
            top_intent = self.local.intents[int(out["intent_probs"][i].argmax())]
            nearest = float(out["nearest"][i])
            # Recognised as chit-chat/spam/another business's question: general. Far from every training
            # example with no confident match: maybe no support request, maybe a ticket worded like none
            # we know, so it keeps its best-guess category and goes to review. (A confident match slightly
            # below the gate is a real ticket phrased unusually.)
            said_out_of_scope = int(out["intent_probs"][i].argmax()) == self.local.out_of_scope_intent
            unfamiliar = nearest < self.local.gate_threshold and confidence < GATE_CONFIDENT
            out_of_scope = said_out_of_scope or unfamiliar

            sentiment, s_score = sentiment_model.tone(out["sentiment_probs"][i])

            if said_out_of_scope:
                reasoning = "Reads like chit-chat, spam or a question for another business, so treated as general"
                reasoning += " and sent to review"
                category = Category.general
                confidence = min(confidence, OUT_OF_SCOPE_CONFIDENCE)
            elif unfamiliar:
                reasoning = (
                    f"Unlike any known support request (similarity {nearest:.2f} < {self.local.gate_threshold:.2f}); "
                    f"best guess '{_pretty(top_intent)}' ({category.value}), sent to review"
                )
                confidence = min(confidence, OUT_OF_SCOPE_CONFIDENCE)
            else:
                reasoning = f"Reads as '{_pretty(top_intent)}' ({category.value}, p={confidence:.2f})"
            prio = score_priority(
                text,
                category=category,
                sentiment=sentiment,
                sentiment_score=s_score,
                recent_tickets=ticket.recent_tickets,
                open_tickets=ticket.open_tickets,
            )
            reasoning += f"; {sentiment.value} tone; {prio.priority.value} priority"
            reasoning += f" ({', '.join(prio.reasons)})." if prio.reasons else "."
            results.append(
                Classification(
                    category=category,
                    priority=prio.priority,
                    sentiment=sentiment,
                    sentiment_score=round(s_score, 4),
                    urgency_keywords=prio.keywords,
                    extracted_metadata=extract_entities(text, order_id=ticket.order_id),
                    confidence=round(confidence, 4),
                    needs_review=out_of_scope or confidence < self.review_threshold,
                    reasoning=reasoning,
                    model=self.local.name,
                )
            )
        return results, out["vectors"]

    def _classify_llm(self, ticket: TicketContext, text: str, fallback: Classification) -> Classification:
        assert self.llm is not None
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": LLM_SYSTEM_PROMPT},
            {"role": "user", "content": f"Subject: {ticket.subject}\n\n{ticket.description}"},
        ]
        reason = ""
        for attempt in range(2):  # invalid JSON gets one more try, with the error shown to the model
            try:
                raw = self.llm.chat(messages, temperature=LLM_TEMPERATURE, json_mode=True, max_tokens=400)
            except TransientError as exc:
                reason = str(exc)
                break
            try:
                verdict = LLMVerdict.model_validate(json.loads(raw))
            except (ValueError, ValidationError) as exc:
                reason = f"invalid JSON from the LLM: {str(exc)[:200]}"
                if attempt == 0:
                    messages += [
                        {"role": "assistant", "content": raw[:2000]},
                        {
                            "role": "user",
                            "content": f"That was not valid: {str(exc)[:300]}. Reply with the JSON object only.",
                        },
                    ]
                continue
            return self._from_verdict(verdict, text, fallback)
        log.warning("LLM classification failed, using the local model: %s", reason)
        return fallback.model_copy(
            update={
                "model": f"{fallback.model} (fallback from {self.settings.llm_model})",
                "reasoning": f"{fallback.reasoning} LLM unavailable: {reason[:120]}",
            }
        )

    def _from_verdict(self, verdict: LLMVerdict, text: str, local: Classification) -> Classification:
        priority = verdict.priority
        # CRITICAL stays reserved for the documented cues, whichever provider answered.
        if local.priority == Priority.critical:
            priority = Priority.critical
        elif priority == Priority.critical:
            priority = Priority.high
        keywords = list(dict.fromkeys([*verdict.urgency_keywords, *local.urgency_keywords]))
        return Classification(
            category=verdict.category,
            priority=priority,
            sentiment=verdict.sentiment,
            sentiment_score=verdict.sentiment_score,
            urgency_keywords=keywords,
            extracted_metadata=local.extracted_metadata,
            confidence=verdict.confidence,
            needs_review=verdict.confidence < self.review_threshold,
            reasoning=verdict.reasoning or local.reasoning,
            model=f"llm:{self.settings.llm_model}",
        )

    def _apply_corrections(self, results: list[Classification], vectors: np.ndarray) -> list[Classification]:
        if not len(self.memory):
            return results
        categories = self.memory.lookup(vectors, "category")
        priorities = self.memory.lookup(vectors, "priority")
        updated = []
        for result, cat, prio in zip(results, categories, priorities, strict=True):
            update: dict[str, Any] = {}
            notes = []
            if cat is not None:
                update.update(
                    category=Category(cat[0]), confidence=round(max(result.confidence, cat[1]), 4), needs_review=False
                )
                notes.append(f"category {cat[0]}")
            if prio is not None:
                update["priority"] = Priority(prio[0])
                notes.append(f"priority {prio[0]}")
            if update:
                update["reasoning"] = (
                    f"An agent corrected a near-identical ticket to {' and '.join(notes)}; " + result.reasoning
                )
                result = result.model_copy(update=update)
            updated.append(result)
        return updated


def load_classifier(
    settings: Settings,
    *,
    corrections_source: Callable[[], Sequence[Correction]] | None = None,
    embedder: Embedder | None = None,
) -> TicketClassifier:
    """The classifier for this process: loads the artifact, training it first when missing or stale."""
    import joblib

    from classifier_worker import train

    embedder = embedder or get_embedder()
    if not train.artifact_is_current(settings, embedder.name):
        log.warning(
            "no current classifier artifact in %s: training it now (a few minutes; `make models` does this ahead)",
            train.artifact_dir(settings),
        )
        train.train(settings, embedder=embedder)
    folder = train.artifact_dir(settings)
    local = LocalModel(joblib.load(folder / "model.joblib"), train.read_metadata(settings) or {}, embedder)
    llm = LLMClient(settings) if llm_enabled(settings) else None
    classifier = TicketClassifier(settings, local, llm=llm, corrections_source=corrections_source)
    classifier.refresh_corrections(force=True)
    # dateparser builds its timezone tables (~1 s) on first use: pay that here, not on a customer's ticket.
    extract_entities("ordered on 3 March 2024")
    return classifier
