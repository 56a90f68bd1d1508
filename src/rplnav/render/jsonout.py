"""JSON: exactly one document, stable key order, UTF-8."""

from __future__ import annotations

import json
from typing import Any

from rplnav.assessment import Assessment


def render_json(doc: Assessment | dict[str, Any]) -> str:
    """The typed document's own JSON (keys as written); other JSON data as it is."""
    if isinstance(doc, Assessment):
        return doc.to_json()
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)
