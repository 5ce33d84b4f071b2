"""The local provider end to end on the served artifact: categories, out-of-scope gate, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from classifier_worker import train
from classifier_worker.classifier import TicketClassifier
from classifier_worker.evaluate import expected_calibration_error
from shared.config import Settings
from shared.schemas import Category, Priority, Sentiment, TicketContext


@pytest.fixture(scope="module")
def classifier(local_model) -> TicketClassifier:  # type: ignore[no-untyped-def]
    return TicketClassifier(Settings(groq_api_key=None), local_model)


def ticket(description: str, subject: str = "", **kw: object) -> TicketContext:
    return TicketContext(ticket_id="T-1", subject=subject, description=description, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I was charged twice for the same purchase", Category.billing),
        ("I want a refund for the broken blender", Category.refund),
        ("My parcel has not been delivered yet, can you track it?", Category.shipping),
        ("I forgot my password and can't log in", Category.account),
        ("Please cancel my order, I don't need it anymore", Category.order),
        ("Please cancel my order", Category.order),
        ("Where is my parcel?", Category.shipping),
        ("The zip on my new backpack broke after two days", Category.product),
        ("I get an error message when I try to log in on your website", Category.technical),
        ("Does this jacket come in XXL?", Category.product),
        ("The app crashes every time I open my cart", Category.technical),
        ("Unsubscribe me from the newsletter", Category.subscription),
    ],
)
def test_categories(classifier: TicketClassifier, text: str, category: Category) -> None:
    result = classifier.classify(ticket(text))
    assert result.category == category, result.reasoning
    assert result.model.startswith("local:")


@pytest.mark.parametrize(
    "text",
    [
        "What's the weather going to be like in Paris tomorrow?",
        "Congratulations! You won a free cruise, click here to claim your prize",
        "Can you recommend a good pizza place near the station?",
        "Who won the football match last night?",
    ],
)
def test_out_of_scope_is_low_confidence_general(classifier: TicketClassifier, text: str) -> None:
    result = classifier.classify(ticket(text))
    assert result.category == Category.general
    assert result.needs_review
    assert result.confidence < 0.5


def test_everyday_ecommerce_tickets_are_not_sent_to_review(classifier: TicketClassifier) -> None:
    """Plain e-commerce requests (the product's own domain) are answered confidently, not flagged."""
    for text in ("Please cancel my order", "Where is my parcel?", "How do I return an item?"):
        result = classifier.classify(ticket(text))
        assert not result.needs_review and result.confidence >= 0.5, (text, result.reasoning)


def test_evaluation_sets_are_never_trained_on() -> None:
    """The shipped evaluation texts are absent from every category and sentiment training example."""
    train_set, _ = train.training_split()
    sentiment_texts, _, _ = train.load_sentiment_examples(train_set)
    never = train.evaluation_texts()
    assert len(never) > 500
    assert not never & set(sentiment_texts)
    assert not never & {e.text for e in train_set}


def test_full_result(classifier: TicketClassifier) -> None:
    result = classifier.classify(
        ticket(
            "I was charged $89.99 twice for order #2021 and nobody answers. Fix it ASAP!",
            subject="Double charge",
            recent_tickets=3,
        )
    )
    assert result.category == Category.billing
    assert result.sentiment == Sentiment.negative and result.sentiment_score < 0
    assert result.priority == Priority.high
    assert "asap" in result.urgency_keywords
    assert result.extracted_metadata["order_ids"] == ["2021"]
    assert result.extracted_metadata["amounts"][0] == {"amount": 89.99, "currency": "USD", "text": "$89.99"}
    assert not result.needs_review and result.confidence > 0.5
    assert result.reasoning.endswith(".")


def test_fraud_is_critical(classifier: TicketClassifier) -> None:
    result = classifier.classify(ticket("There are unauthorized transactions on my card, I think it's fraud"))
    assert result.priority == Priority.critical


def test_positive_thanks(classifier: TicketClassifier) -> None:
    result = classifier.classify(ticket("Thank you so much, the replacement arrived and works great!"))
    assert result.sentiment == Sentiment.positive and result.sentiment_score > 0


def test_batch_matches_single(classifier: TicketClassifier) -> None:
    texts = ["Where is my refund?", "How do I change my address?", "My card got declined"]
    batch = classifier.classify_batch([ticket(t) for t in texts])
    singles = [classifier.classify(ticket(t)) for t in texts]
    assert [r.category for r in batch] == [r.category for r in singles]
    assert classifier.classify_batch([]) == []


def test_confidence_is_calibrated_on_held_out_sample(classifier: TicketClassifier) -> None:
    """Sanity, not the benchmark: on never-trained held-out tickets confidence tracks accuracy."""
    _, held_out = train.split_examples(train.load_category_examples())
    sample = held_out[::10]
    results = classifier.classify_batch([ticket(e.text) for e in sample])
    confidence = np.array([r.confidence for r in results])
    correct = np.array([r.category.value == e.category for r, e in zip(results, sample, strict=True)])
    assert expected_calibration_error(confidence, correct) < 0.1
    # Confident answers are right more often than unsure ones.
    assert correct[confidence >= 0.9].mean() > correct[confidence < 0.9].mean()


def test_served_probabilities_equal_the_fitted_models(local_model) -> None:  # type: ignore[no-untyped-def]
    """The matmul+softmax shortcuts the worker serves give the fitted sklearn models' own probabilities."""
    from classifier_worker import sentiment

    texts = ["Where is my refund?", "My card got declined twice at the shop", "Does this come in XXL?", "hi", "", "ʘʘ"]
    vectors = local_model.embedder.encode(texts)
    np.testing.assert_allclose(
        local_model._regression(vectors), local_model.category_model.predict_proba(vectors), atol=1e-5
    )
    np.testing.assert_allclose(local_model._ngrams(texts), local_model.lexical_model.predict_proba(texts), atol=1e-5)
    features = sentiment.features(vectors, texts)
    np.testing.assert_allclose(
        local_model._sentiment(features), local_model.sentiment_model.predict_proba(features), atol=1e-5
    )
    # The blend is a distribution over intents, and category probabilities never exceed it.
    out = local_model.predict(texts)
    np.testing.assert_allclose(out["intent_probs"].sum(axis=1), 1.0, atol=1e-5)
    assert (out["category_probs"].sum(axis=1) <= 1.0 + 1e-5).all()


def test_artifact_built_with_other_settings_is_stale(local_model, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Changing a model setting in the code makes `make models` / worker start retrain, not serve the old blend."""
    settings = Settings(groq_api_key=None)
    assert train.artifact_is_current(settings, local_model.embedder.name)
    monkeypatch.setattr(train, "KNN_K", train.KNN_K + 1)
    assert not train.artifact_is_current(settings, local_model.embedder.name)
