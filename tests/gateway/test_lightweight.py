"""The gateway stays small: building the app imports no model library (each container installs only its group)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "tensorflow", "keras", "sentence_transformers", "chromadb", "onnxruntime", "transformers", "sklearn")


def heavy_after(statements: str) -> list[str]:
    """The model libraries a fresh interpreter has imported after running `statements`."""
    code = f"import json, sys; {statements}; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_gateway_app_imports_no_model_library():
    assert heavy_after("from gateway.main import create_app; create_app(sweeper=False).openapi()") == []


def test_the_alert_worker_imports_no_model_library():
    """It runs from the gateway's image (compose: EXTRAS gateway), and a slow webhook must not cost a model's memory."""
    statements = "import classifier_worker.alert_worker as w; w.app.loader.import_default_modules()"
    assert heavy_after(statements) == []


def test_the_bulk_worker_imports_no_model_library():
    """It changes tickets through the gateway's services: a long job must not cost a model's memory."""
    statements = "import gateway.bulk_worker as w; w.app.loader.import_default_modules()"
    assert heavy_after(statements) == []
