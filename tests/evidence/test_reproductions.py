"""Published meta-analyses re-computed from the encoded trials must match their printed figures, or say why not."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rplnav.evidence.cli import app
from rplnav.evidence.reproduce import _round, pool_reproduction, reproduce_all
from rplnav.knowledge.load import KNOWLEDGE_DIR, default_knowledge, load

KB = default_knowledge()
ROWS = {s.id: s for s in KB.studies}


@pytest.mark.parametrize("rp", KB.reproductions, ids=lambda r: r.id)
def test_reproduction_matches_or_states_why(rp):
    r = pool_reproduction(KB, rp)
    if rp.discrepancy is None:
        assert r["match"], f"{rp.id}: printed {r['printed']} but reproduced {r['reproduced_rounded']}"
        assert not rp.not_encoded
    else:
        # a recorded discrepancy that no longer exists is stale and must be removed
        assert not r["match"], f"{rp.id} now matches; drop its `discrepancy`"


@pytest.mark.parametrize("rp", [r for r in KB.reproductions if r.method == "IV"], ids=lambda r: r.id)
def test_inverse_variance_against_hand_formula(rp):
    """Inverse-variance fixed effect on log RR, written out here independently of the engine."""
    num = den = 0.0
    for sid in rp.studies:
        c = ROWS[sid].counts
        y = math.log((c.ai / c.n1i) / (c.ci / c.n2i))
        v = 1 / c.ai - 1 / c.n1i + 1 / c.ci - 1 / c.n2i
        num += y / v
        den += 1 / v
    mu, se = num / den, math.sqrt(1 / den)
    r = pool_reproduction(KB, rp)["reproduced"]
    assert math.isclose(r["value"], math.exp(mu), rel_tol=1e-12)
    assert math.isclose(r["ci_lower"], math.exp(mu - 1.959963984540054 * se), rel_tol=1e-9)
    assert math.isclose(r["ci_upper"], math.exp(mu + 1.959963984540054 * se), rel_tol=1e-9)


def test_rounding_is_half_away_from_zero():
    assert _round(0.125, 2) == 0.13
    assert _round(2.5, 0) == 3.0


def test_at_least_one_exact_reproduction_and_reviews_named():
    rows = reproduce_all(KB)
    assert any(r["match"] for r in rows)
    for r in rows:
        assert r["review"] in KB.sources and KB.sources[r["review"]].kind in ("meta_analysis", "review")


def test_cli_reproduce_json_and_text():
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["summary"]["reproductions"] == len(KB.reproductions)
    assert doc["summary"]["matching"] == sum(r["match"] for r in doc["reproductions"])
    text = runner.invoke(app, ["reproduce"])
    assert text.exit_code == 0 and "printed" in text.stdout and "reproductions match" in text.stdout
    bad = runner.invoke(app, ["reproduce", "--format", "xml"])
    assert bad.exit_code == 2 and "--format" in bad.output


def _kb_with(tmp_path: Path, entry: dict) -> list[str]:
    root = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (root / "reproductions.yaml").write_text(yaml.safe_dump({"reproductions": [entry]}), encoding="utf-8")
    _, problems = load(root, strict=False)
    return problems


BASE = {
    "id": "x", "review": "empson-2005", "label": "x", "therapy": "aspirin_lmwh", "comparison": "x",
    "outcome": "miscarriage", "measure": "RR", "method": "IV", "method_text": "x",
    "studies": ["farquharson-2002-miscarriage"], "k_printed": 1,
    "printed": {"value": 0.78, "ci_lower": 0.39, "ci_upper": 1.57},
    "source": {"document": "empson-2005", "locator": "x", "verified": False},
}


def test_loader_rejects_unknown_study_wrong_outcome_and_k(tmp_path):
    assert not _kb_with(tmp_path, BASE)
    p = _kb_with(tmp_path / "a", {**BASE, "studies": ["no-such-trial"]})
    assert any("unknown study 'no-such-trial'" in x for x in p)
    p = _kb_with(tmp_path / "b", {**BASE, "studies": ["farquharson-2002"]})
    assert any("reports live_birth" in x for x in p)
    p = _kb_with(tmp_path / "c", {**BASE, "k_printed": 2})
    assert any("k_printed 2" in x for x in p)
    p = _kb_with(tmp_path / "d", {**BASE, "k_printed": 2, "not_encoded": ["rai-1997"]})
    assert any("discrepancy" in x for x in p)
