"""A small client for OpenAI-compatible chat completions (Groq, Ollama, vLLM, ...).

Used by the classifier (JSON classification) and the RAG worker (reply drafting). Transient
failures (timeouts, connection errors, 429, 5xx) are retried with exponential backoff, honouring
`Retry-After`; when the retries run out a `TransientError` is raised so callers fall back to the
local providers.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from shared.config import Settings
from shared.errors import TransientError

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 10.0
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def llm_enabled(settings: Settings) -> bool:
    """True when an LLM key is configured, i.e. the remote provider should be tried first."""
    return bool(settings.groq_key)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait, from a numeric or HTTP-date `Retry-After`."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class LLMClient:
    """Chat completions against `settings.llm_base_url` with bounded retries."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.model = settings.llm_model
        self.max_retries = settings.llm_max_retries
        headers = {"Content-Type": "application/json"}
        if settings.groq_key:
            headers["Authorization"] = f"Bearer {settings.groq_key}"
        self._client = httpx.Client(
            base_url=settings.llm_base_url.rstrip("/"),
            headers=headers,
            timeout=settings.llm_timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float,
        json_mode: bool = False,
        max_tokens: int | None = None,
    ) -> str:
        """The assistant message's text; raises `TransientError` once retries are exhausted."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens

        last_error = "no attempt made"
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            try:
                response = self._client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._content(response)
                if response.status_code not in RETRYABLE_STATUS:
                    # 400/401/404: retrying will not help; the caller falls back to local.
                    raise TransientError(
                        f"LLM request rejected with HTTP {response.status_code}: {response.text[:200]}"
                    )
                last_error = f"HTTP {response.status_code}"
                wait = _retry_after(response)
            if attempt == self.max_retries:
                break
            delay = min(BACKOFF_MAX_S, wait if wait is not None else BACKOFF_BASE_S * 2**attempt)
            log.info("LLM call failed (%s); retry %d in %.1fs", last_error, attempt + 1, delay)
            time.sleep(delay)
        raise TransientError(f"LLM unavailable after {self.max_retries + 1} attempts: {last_error}")

    @staticmethod
    def _content(response: httpx.Response) -> str:
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientError(f"LLM response is not a chat completion: {response.text[:200]}") from exc
        if not isinstance(content, str):
            raise TransientError("LLM response has no text content")
        return content
