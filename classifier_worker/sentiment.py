"""Ticket sentiment: a logistic regression over MiniLM embeddings, VADER scores and complaint cues.

Why not one of them alone: VADER and models trained on Reddit (GoEmotions) call a complaint
stated as fact ("my order is three weeks late") neutral, while a support desk calls it negative.
The regression is trained on GoEmotions plus in-domain examples (our own written ones, including
the labelled e-commerce messages, and customer queries whose intent is itself a complaint, e.g.
"transaction_charged_twice"), and sees VADER's lexicon scores and explicit complaint cues as extra
features, so it learns how far to trust each signal. Measured on real BANKING77 queries labelled by
hand and never trained on (`eval_sentiment_banking77.csv`): see `benchmarks/classify.py`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from shared.schemas import Sentiment

if TYPE_CHECKING:
    import numpy as np

LABELS = [Sentiment.negative, Sentiment.neutral, Sentiment.positive]
# Complaint stated as fact: things that went wrong, in the words customers use for them.
COMPLAINT_RE = re.compile(
    r"\b(not (?:working|received|arrived|delivered|showing|happy|acceptable)|doesn'?t work|"
    r"didn'?t (?:work|arrive|get|receive)|never (?:arrived|received|got|came)|hasn'?t (?:arrived|come|been)|"
    r"haven'?t (?:received|got|heard)|still (?:waiting|not|no)|"
    r"broken|broke|damaged|defective|faulty|missing|wrong|late|delayed|lost|stuck|crash\w*|fail\w*|declined|"
    r"charged (?:me )?twice|double charged|overcharged|refund|cancel\w*|terrible|awful|worst|ridiculous|unacceptable|"
    r"disappoint\w*|frustrat\w*|annoy\w*|angry|upset|useless|horrible|scam|rude|waste|nobody|no one|again|"
    r"can'?t|cannot|won'?t|unable|error|problem|issue)\b",
    re.IGNORECASE,
)
THANKS_RE = re.compile(
    r"\b(thanks?|thank you|thx|appreciate\w*|great|awesome|amazing|love|excellent|perfect|wonderful|helpful|"
    r"happy|pleased|glad|fantastic|best)\b",
    re.IGNORECASE,
)
QUESTION_RE = re.compile(r"^\s*(?:how|what|when|where|which|who|can|could|do|does|is|are|will|would)\b", re.IGNORECASE)
N_EXTRA = 8


@lru_cache
def _vader():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def lexical_features(texts: list[str]) -> np.ndarray:
    """Per text: VADER neg/neu/pos/compound, complaint and thanks cue counts, question and exclamation flags."""
    import numpy as np

    analyzer = _vader()
    rows = []
    for text in texts:
        scores = analyzer.polarity_scores(text)
        rows.append(
            [
                scores["neg"],
                scores["neu"],
                scores["pos"],
                scores["compound"],
                min(len(COMPLAINT_RE.findall(text)), 3) / 3,
                min(len(THANKS_RE.findall(text)), 3) / 3,
                1.0 if QUESTION_RE.match(text) or text.rstrip().endswith("?") else 0.0,
                1.0 if "!" in text else 0.0,
            ]
        )
    return np.asarray(rows, dtype=np.float32)


def features(embeddings: np.ndarray, texts: list[str], *, lexical_weight: float = 3.0) -> np.ndarray:
    """Embedding plus lexical features; the weight keeps the 8 lexical columns from drowning among 384."""
    import numpy as np

    return np.hstack([embeddings, lexical_weight * lexical_features(texts)]).astype(np.float32)


def tone(probs: np.ndarray) -> tuple[Sentiment, float]:
    """One text's label (the most likely) and score in [-1, 1], P(positive) - P(negative), from its row of
    probabilities (columns ordered as LABELS)."""
    return LABELS[int(probs.argmax())], min(1.0, max(-1.0, float(probs[2] - probs[0])))
