"""Trial rows carry the trial they belong to, the analysis set, the randomised totals, dose and risk of bias."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from rplnav.knowledge.load import KNOWLEDGE_DIR, load

ROW = {
    "id": "example-trial-live-birth",
    "therapy": "ivig",
    "label": "Example 2000",
    "year": 2000,
    "design": "rct",
    "enrolment": "losses.clinical >= 3",
    "enrolment_text": "three or more unexplained losses",
    "comparator": "albumin placebo",
    "start": "gestational_week",
    "start_ga": "5+0",
    "outcome": "live_birth",
    "counts": {"ai": 10, "n1i": 20, "ci": 9, "n2i": 19},
    "trial": "example-2000",
    "analysis": "per_protocol",
    "randomised": {"n1i": 22, "n2i": 21},
    "dose": "0.4 g/kg IV every 3 weeks",
    "duration": "until 28 weeks",
    "conception": "natural",
    "risk_of_bias": "Example review: low",
    "source": {"document": "eshre-2022", "locator": "Table 1", "verified": False},
}


def _kb_with(tmp_path: Path, row: dict) -> tuple[object, list[str]]:
    kdir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, kdir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (kdir / "studies" / "zz_example.yaml").write_text(yaml.safe_dump({"studies": [row]}))
    return load(kdir, strict=False)


def test_a_row_with_the_trial_fields_loads(tmp_path):
    kb, problems = _kb_with(tmp_path, ROW)
    assert problems == []
    st = next(s for s in kb.studies if s.id == ROW["id"])
    assert (st.trial, st.analysis, st.conception) == ("example-2000", "per_protocol", "natural")
    assert (st.randomised.n1i, st.randomised.n2i) == (22, 21)
    assert st.dose.startswith("0.4 g/kg") and st.duration == "until 28 weeks"
    assert st.risk_of_bias == "Example review: low"


def test_defaults_when_the_fields_are_absent(tmp_path):
    row = {k: v for k, v in ROW.items()
           if k not in ("trial", "analysis", "randomised", "dose", "duration", "conception", "risk_of_bias")}
    kb, problems = _kb_with(tmp_path, row)
    assert problems == []
    st = next(s for s in kb.studies if s.id == ROW["id"])
    assert (st.trial, st.analysis, st.randomised, st.conception) == (None, "as_reported", None, "unknown")


def test_an_unknown_analysis_set_is_rejected(tmp_path):
    _, problems = _kb_with(tmp_path, {**ROW, "analysis": "whatever"})
    assert any("analysis" in p for p in problems)


def test_more_analysed_than_randomised_is_rejected(tmp_path):
    _, problems = _kb_with(tmp_path, {**ROW, "randomised": {"n1i": 19, "n2i": 21}})
    assert any("more women analysed than randomised" in p for p in problems)
