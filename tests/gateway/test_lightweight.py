"""The gateway stays small: building the app imports no model library (each container installs only its group)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "tensorflow", "keras", "sentence_transformers", "chromadb", "onnxruntime", "transformers", "sklearn")


def test_gateway_app_imports_no_model_library():
    code = (
        "import json, sys; from gateway.main import create_app; create_app(sweeper=False).openapi(); "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_alert_worker_imports_no_model_library():
    """It runs from the gateway's image (compose: EXTRAS gateway), and a slow webhook must not cost a model's memory."""
    code = (
        "import json, sys; import classifier_worker.alert_worker as w; w.app.loader.import_default_modules(); "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
