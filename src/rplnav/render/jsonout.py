"""JSON: exactly one document, stable key order, UTF-8."""

from __future__ import annotations

import json
from typing import Any


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)
