"""Grounded drafts: the local drafter, and the LLM drafter against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag_worker.drafting import LLMDrafter, LocalDrafter, grounding, load_drafter, order_reference, search_text
from rag_worker.retrieval import Retriever
from shared.config import Settings
from shared.embeddings import get_embedder
from shared.schemas import TicketContext

LATE = TicketContext(
    ticket_id="TKT-1",
    subject="My order hasn't arrived",
    description="I ordered a lamp two weeks ago (order #2021) and it still hasn't been delivered.",
    customer_name="maria lopez",
    category="shipping",
    sentiment="negative",
)


@pytest.fixture(scope="module")
def local() -> LocalDrafter:
    return LocalDrafter(get_embedder())


def test_local_draft_is_grounded_and_cited(local: LocalDrafter, retriever: Retriever) -> None:
    hits = retriever.search(f"{LATE.subject}\n{LATE.description}", category=LATE.category)

    draft = local.draft(LATE, hits)

    assert draft.reply.startswith("Hi Maria,")
    assert "order #2021" in draft.reply and "sorry" in draft.reply
    cited = [a["article_id"] for a in draft.articles]
    assert cited and set(cited) <= {"kb_001", "kb_006", "kb_009"}
    assert cited[0] in {"kb_001", "kb_006"}
    assert all(f"({a})" in draft.reply for a in cited)  # the sources line names each one
    # The advice is the article's, quoted as steps.
    assert "\n1. " in draft.reply and "tracking" in draft.reply.lower()
    assert not draft.needs_review and draft.model == "local-extractive"


def test_steps_come_whole_and_in_order(local: LocalDrafter, retriever: Retriever) -> None:
    ticket = TicketContext(ticket_id="T", subject="Forgot password", description="How do I reset my password?")

    draft = local.draft(ticket, retriever.search("How do I reset my password?"))

    assert draft.reply.startswith("Hello,")
    steps = [line for line in draft.reply.splitlines() if line[:2] in {"1.", "2.", "3.", "4."}]
    assert [s[:2] for s in steps] == ["1.", "2.", "3.", "4."]
    assert "Forgot password" in steps[0]


def test_no_relevant_passage_asks_for_details(local: LocalDrafter, retriever: Retriever) -> None:
    ticket = TicketContext(ticket_id="T", subject="Question", description="Do you sponsor football teams?")
    hits = retriever.search(ticket.description)

    draft = local.draft(ticket, hits)

    assert hits == []
    assert draft.needs_review and draft.articles == []
    assert "could you please send us" in draft.reply


def test_order_reference_sources() -> None:
    assert order_reference(LATE) == "2021"
    assert order_reference(LATE.model_copy(update={"order_id": "#A-77"})) == "A-77"
    assert (
        order_reference(TicketContext(ticket_id="T", subject="s", description="purchase number 99812 broke")) == "99812"
    )
    assert order_reference(TicketContext(ticket_id="T", subject="s", description="no number")) is None


class _FakeLLM(BaseHTTPRequestHandler):
    """Speaks enough of the OpenAI chat-completions protocol; `status` decides the answer."""

    status = 200
    requests: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if type(self).status != 200:
            self.send_response(type(self).status)
            self.end_headers()
            return
        kb = [line.split("]")[0][1:] for line in body["messages"][1]["content"].splitlines() if line.startswith("[kb_")]
        reply = f"Hi Maria, sorry for the wait on order #2021. Check your tracking link.\n\nSources: {kb[0]}"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def llm_server() -> Iterator[str]:
    _FakeLLM.status, _FakeLLM.requests = 200, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_llm_draft_uses_prompt_and_cites(llm_server: str, retriever: Retriever) -> None:
    settings = Settings(groq_api_key="test-key", llm_base_url=llm_server, llm_max_retries=0)
    drafter = load_drafter(settings)
    hits = retriever.search(f"{LATE.subject}\n{LATE.description}")

    draft = drafter.draft(LATE, hits)

    assert isinstance(drafter, LLMDrafter)
    request = _FakeLLM.requests[0]
    assert request["temperature"] == 0.7 and request["model"] == settings.llm_model
    assert "Acknowledges the issue" in request["messages"][1]["content"]
    assert f"[{hits[0].article_id}]" in request["messages"][1]["content"]
    assert draft.reply.startswith("Hi Maria") and draft.model == settings.llm_model
    assert [a["article_id"] for a in draft.articles] == [hits[0].article_id]


def test_llm_failure_falls_back_to_local(llm_server: str, retriever: Retriever) -> None:
    _FakeLLM.status = 503
    drafter = load_drafter(Settings(groq_api_key="test-key", llm_base_url=llm_server, llm_max_retries=1))

    draft = drafter.draft(LATE, retriever.search(f"{LATE.subject}\n{LATE.description}"))

    assert len(_FakeLLM.requests) == 2  # one retry, then the local drafter
    assert draft.model == "local-extractive" and draft.reply.startswith("Hi Maria,")


# ----------------------------------------------------------------------- drafts after the customer wrote back

MOVED_ON = LATE.model_copy(
    update={"follow_up": "It arrived today, thanks. But I was charged twice for it, can I get the extra charge back?"}
)


def test_a_follow_up_on_another_topic_is_searched_on_its_own(retriever: Retriever) -> None:
    """The classifier's category hint belongs to the opening message: with it (and the opening's text),
    the charge question finds the shipping articles again."""
    assert retriever.search(search_text(MOVED_ON), category="shipping")[0].article_id in {"kb_001", "kb_006"}

    hits = grounding(retriever.search, MOVED_ON)

    assert hits and hits[0].article_id == "kb_005"  # Billing & Payment Problems


def test_a_follow_up_that_needs_the_ticket_is_searched_with_it(retriever: Retriever) -> None:
    vague = LATE.model_copy(update={"follow_up": "Any update on this? Nothing has changed."})
    assert retriever.search("Any update on this? Nothing has changed.") == []  # nothing relevant on its own

    hits = grounding(retriever.search, vague)

    assert hits and hits[0].article_id in {"kb_001", "kb_006"}
    assert search_text(vague).splitlines()[:2] == [LATE.subject, vague.follow_up]  # the newest question first


def test_a_follow_up_draft_answers_it_and_does_not_repeat_what_was_sent(
    local: LocalDrafter, retriever: Retriever
) -> None:
    sent = local.draft(LATE, grounding(retriever.search, LATE)).reply
    again = LATE.model_copy(update={"follow_up": "The tracking still says the same. What now?", "last_reply": sent})

    draft = local.draft(again, grounding(retriever.search, again))

    assert "Thank you for getting back to us about order #2021. I've read your latest message" in draft.reply
    quoted = [line for line in draft.reply.split("\n\n")[2:-3]]  # between the acknowledgement and next steps
    assert quoted and all(part not in sent for part in quoted)
    assert draft.articles and not draft.needs_review


def test_a_follow_up_with_nothing_new_to_quote_is_left_for_review(local: LocalDrafter, retriever: Retriever) -> None:
    hits = grounding(retriever.search, LATE)
    everything = "\n".join(h.passage for h in hits)  # the last reply quoted all of it
    again = LATE.model_copy(update={"follow_up": "Where is my lamp?", "last_reply": everything})

    draft = local.draft(again, hits)

    assert draft.needs_review and draft.articles == []
    assert "could you please send us" in draft.reply


def test_the_llm_is_given_the_conversation(llm_server: str, retriever: Retriever) -> None:
    drafter = load_drafter(Settings(groq_api_key="test-key", llm_base_url=llm_server, llm_max_retries=0))
    follow_up = MOVED_ON.model_copy(update={"last_reply": "Your parcel is on its way with the courier."})

    drafter.draft(follow_up, grounding(retriever.search, follow_up))
    drafter.draft(LATE, grounding(retriever.search, LATE))

    with_conversation, opening = (r["messages"][1]["content"] for r in _FakeLLM.requests)
    assert "Our last reply to the customer:\nYour parcel is on its way with the courier." in with_conversation
    assert f"The customer has since written:\n{MOVED_ON.follow_up}" in with_conversation
    assert "Answer the customer's latest message" in with_conversation
    assert "[kb_005]" in with_conversation
    assert "since written" not in opening and "last reply" not in opening
