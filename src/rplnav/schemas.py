"""The published JSON Schemas: the patient document the tool reads and the assessment document it writes.

One table serves `rplnav schema NAME`, `GET /api/v1/schema/{name}` and the OpenAPI description, so the three
can never publish different schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def assessment_schema() -> dict[str, Any]:
    """`rplnav.assessment/v1`, the output (keys as written, from the typed model)."""
    from rplnav.assessment import json_schema

    return json_schema()


def patient_schema() -> dict[str, Any]:
    """`rplnav.patient/v1`, the input (the fields and types the strict patient model accepts; the checks on
    units, drug names and dates that need the knowledge base are applied on top when a document is read)."""
    from rplnav.patient import SCHEMA, Patient

    out = Patient.model_json_schema(mode="validation", by_alias=True)
    return {"$schema": DRAFT, "$id": SCHEMA, **out}


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {"assessment": assessment_schema, "patient": patient_schema}
