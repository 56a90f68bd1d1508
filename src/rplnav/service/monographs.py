"""Knowledge-base views for the API and the web pages: monographs, the guideline × therapy matrix, figures.

`rplnav.monograph` and `rplnav.kbstats` are used when present; otherwise an equivalent built from the
knowledge base directly (same data, fewer sections) keeps the service working.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rplnav.knowledge.load import Knowledge
from rplnav.patient import closest
from rplnav.render.common import GUIDELINE_ORDER


def monograph(kb: Knowledge, therapy_id: str) -> dict[str, Any]:
    """The therapy monograph; KeyError (with a message naming close matches) for an unknown id."""
    try:
        from rplnav.monograph import build_monograph
    except ImportError:
        build_monograph = None
    if build_monograph is not None:
        return build_monograph(kb, therapy_id)
    if therapy_id not in kb.therapies:
        raise KeyError(f"unknown therapy '{therapy_id}'{closest(therapy_id, sorted(kb.therapies))}")
    t = kb.therapies[therapy_id]
    recs = sorted((r for r in kb.recommendations if r.therapy == therapy_id),
                  key=lambda r: GUIDELINE_ORDER.get(r.guideline, 99))
    return {
        "therapy": t.id, "name": t.name, "class": t.therapy_class, "mechanism": t.mechanism,
        "stances": [{"guideline": r.guideline, "stance": r.stance, "strength": r.strength, "certainty": r.certainty,
                     "population": r.population_text, "statement": r.statement,
                     "source": r.source.model_dump()} for r in recs],
        "regimens": [r.model_dump() for r in t.regimens],
        "timing": [w.model_dump() for w in t.timing],
        "cautions": [{k: v for k, v in c.model_dump().items() if k != "when"} for c in t.cautions],
        "regulatory": [r.model_dump() for r in t.regulatory],
        "cost_burden": t.cost_burden,
        "source": t.source.model_dump(),
    }


def guideline_matrix(kb: Knowledge) -> dict[str, Any]:
    """guideline × therapy: the stances each guideline takes on each therapy (any population)."""
    cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in kb.recommendations:
        if not r.therapy:
            continue
        cells.setdefault(r.therapy, {}).setdefault(r.guideline, []).append({
            "id": r.id, "stance": r.stance, "strength": r.strength, "certainty": r.certainty,
            "population": r.population_text, "statement": r.statement, "source": r.source.model_dump()})
    guidelines = sorted(kb.guidelines, key=lambda g: GUIDELINE_ORDER.get(g, 99))
    return {"guidelines": guidelines, "therapies": list(kb.therapies), "cells": cells}


def knowledge_summary(kb: Knowledge) -> dict[str, Any]:
    counts = {"sources": len(kb.sources), "guidelines": len(kb.guidelines), "therapies": len(kb.therapies),
              "tests": len(kb.tests), "investigations": len(kb.investigations),
              "recommendations": len(kb.recommendations), "alerts": len(kb.alerts)}
    verified = sum(1 for r in kb.recommendations if r.source.verified)
    out: dict[str, Any] = {
        "counts": counts,
        "recommendations_per_guideline": dict(Counter(r.guideline for r in kb.recommendations)),
        "share_verified": round(verified / len(kb.recommendations), 3) if kb.recommendations else None,
    }
    try:
        from rplnav.kbstats import coverage
    except ImportError:
        return out
    try:
        out["coverage"] = coverage(kb)
    except Exception as e:  # noqa: BLE001 - statistics must not take the service down
        out["coverage_error"] = f"{type(e).__name__}: {e}"
    return out
