"""The forecast service's OpenAPI document, as the gateway ships it: `python -m forecast_service.openapi`.

The gateway relays `/api/forecast/*` and lists those operations in its own document, but it does not
install the forecast service's libraries, so it reads this copy (gateway/forecast_openapi.json); a
test fails when the copy and the service's routes drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COPY = Path(__file__).resolve().parent.parent / "gateway" / "forecast_openapi.json"


def document() -> dict[str, Any]:
    """The service's OpenAPI document, built from its routes (no model is loaded)."""
    from forecast_service.main import create_app
    from shared.config import Settings

    return create_app(Settings()).openapi()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def main() -> int:
    """Write the gateway's copy (or print it with `-`)."""
    text = render(document())
    if sys.argv[1:] == ["-"]:
        sys.stdout.write(text)
    else:
        COPY.write_text(text)
        print(f"wrote {COPY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
