"""The classifier_worker Celery app: `celery -A classifier_worker.worker worker -Q classify`.

The model loads once per worker process (worker_process_init), never at import time.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery.signals import worker_process_init

from shared.celery import make_celery

app = make_celery("classifier_worker")
app.conf.imports = ("classifier_worker.tasks",)
log = logging.getLogger(__name__)


@lru_cache
def get_classifier():  # type: ignore[no-untyped-def]
    """The process-wide classifier (loads the trained artifact)."""
    from classifier_worker.classifier import load_classifier
    from classifier_worker.corrections import load_corrections
    from shared.config import get_settings

    return load_classifier(get_settings(), corrections_source=load_corrections)


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    get_classifier()
    log.info("classifier loaded")
