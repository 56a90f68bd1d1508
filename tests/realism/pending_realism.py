"""Realism checks the engine does not pass yet: APS status and stances, alerts, prognosis, leaf needs.

The file name keeps them out of the default run (CI stays green); run them with
`pytest tests/realism/pending_realism.py`. Each check moves into test_realism.py as soon as it passes on main.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.realism.test_realism import (
    EXPECT,
    doc_of,
    stances,
    with_key,
)

# ---------------------------------------------------------------- (b) what a specialist concludes

@pytest.mark.parametrize("name", with_key("aps"))
def test_aps_status(name: str):
    doc = doc_of(name)
    wrong = {}
    for definition, e in EXPECT[name]["aps"].items():
        allowed = e["status"] if isinstance(e["status"], list) else [e["status"]]
        got = (doc["aps"].get(definition) or {}).get("status")
        if got not in allowed:
            wrong[definition] = f"{got} (expected {' or '.join(allowed)})"
    assert not wrong, f"{name}: APS: {wrong}"


def stance_verdict(doc: dict[str, Any], guideline: str, therapy: str, stance: str) -> bool | None | str:
    """True if a matching statement includes her; False if all listed exclude her; None if any is undecided."""
    found = [s for s in stances(doc)
             if (s["guideline"], s["therapy"], s["stance"]) == (guideline, therapy, stance)]
    if not found:
        return "not listed"
    if any(s["applies"] is True for s in found):
        return True
    return None if any(s["applies"] is None for s in found) else False


@pytest.mark.parametrize("name", with_key("stances"))
def test_stances(name: str):
    doc = doc_of(name)
    wrong = []
    for e in EXPECT[name]["stances"]:
        got = stance_verdict(doc, e["guideline"], e["therapy"], e["stance"])
        if got is not e["applies"]:
            wrong.append(f"{e['guideline']} {e['stance']} {e['therapy']}: applies {got}, expected {e['applies']}")
    assert not wrong, f"{name}:\n  " + "\n  ".join(wrong)
