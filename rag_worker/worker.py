"""The rag_worker Celery app: `celery -A rag_worker.worker worker -Q draft,kb`.

Retriever and drafter load once per worker process (worker_process_init), never at import time.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery.signals import worker_process_init

from shared.celery import make_celery

app = make_celery("rag_worker")
app.conf.imports = ("rag_worker.tasks",)
log = logging.getLogger(__name__)


@lru_cache
def get_retriever():  # type: ignore[no-untyped-def]
    """The process-wide retriever over the knowledge-base index."""
    from rag_worker.retrieval import load_retriever
    from shared.config import get_settings

    return load_retriever(get_settings())


@lru_cache
def get_drafter():  # type: ignore[no-untyped-def]
    """The process-wide reply drafter (LLM when configured, local otherwise)."""
    from rag_worker.drafting import load_drafter
    from shared.config import get_settings

    return load_drafter(get_settings())


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    get_retriever()
    get_drafter()
    log.info("retriever and drafter loaded")
