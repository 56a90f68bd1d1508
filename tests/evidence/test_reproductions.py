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


def test_rai_1997_counts_are_the_only_ones_that_give_both_printed_pools():
    """Rai 1997's counts were not readable; the row's note says they are the only ones (90 women, any split from
    40/50 to 50/40) that reproduce both Empson 2005's pregnancy-loss and Hamulyák 2020's live-birth figures
    when pooled with Kutteh 1996. Searched here with the M-H random-effects pooling both entries use."""
    lb = KB.reproductions[[r.id for r in KB.reproductions].index("hamulyak-2020-ufh-aspirin")]
    loss = KB.reproductions[[r.id for r in KB.reproductions].index("empson-2005-ufh-aspirin-loss")]
    kl, kd = ROWS["kutteh-1996"].counts, ROWS["kutteh-1996-miscarriage"].counts

    def mh(ai, n1, ci, n2):  # Mantel-Haenszel RR by hand: a cheap filter before the full pooling
        num = sum(a * m / (x + m) for a, x, m in zip(ai, n1, n2, strict=True))
        den = sum(c * x / (x + m) for c, x, m in zip(ci, n1, n2, strict=True))
        return num / den if den else math.inf

    def rounded(target, ai, n1, ci, n2):
        from rplnav.evidence.pool import meta_analysis
        # pruning only: a candidate whose M-H estimate is a third off cannot pool to an interval this narrow
        if abs(math.log(mh(ai, n1, ci, n2) / target[0])) > 0.3:
            return None
        r = meta_analysis({"study": ["k", "r"], "ai": ai, "n1i": n1, "ci": ci, "n2i": n2}, measure="RR",
                          method="MH", random=True, profile="revman5")
        return tuple(_round(math.exp(x), 2) for x in (r.estimate, r.ci_lower, r.ci_upper))

    want_lb = (lb.printed.value, lb.printed.ci_lower, lb.printed.ci_upper)
    want_loss = (loss.printed.value, loss.printed.ci_lower, loss.printed.ci_upper)
    found = []
    for n1 in range(40, 51):
        n2 = 90 - n1
        for a in range(n1 + 1):
            for c in range(n2 + 1):
                if rounded(want_lb, [kl.ai, a], [kl.n1i, n1], [kl.ci, c], [kl.n2i, n2]) != want_lb:
                    continue
                if rounded(want_loss, [kd.ai, n1 - a], [kd.n1i, n1], [kd.ci, n2 - c], [kd.n2i, n2]) == want_loss:
                    found.append((n1, n2, a, c))
    r = ROWS["rai-1997"].counts
    assert found == [(r.n1i, r.n2i, r.ai, r.ci)]
    m = ROWS["rai-1997-miscarriage"].counts
    assert (m.ai, m.ci) == (r.n1i - r.ai, r.n2i - r.ci)
    assert ROWS["rai-1997"].source.verified is False and "derived" in (ROWS["rai-1997"].source.note or "")


def test_revman_random_effects_is_not_dersimonian_laird_on_log_or():
    """Tamblyn 2022's plot says 'M-H, Random': RevMan's M-H random effects gives the printed 2.30 upper limit,
    inverse-variance DerSimonian-Laird on the same six cohorts 2.29, so the method mapping is what matches."""
    rp = next(r for r in KB.reproductions if r.id == "tamblyn-2022-vitamin-d-miscarriage")
    assert pool_reproduction(KB, rp)["match"]
    dl = pool_reproduction(KB, rp.model_copy(update={"method": "DL"}))
    assert not dl["match"] and dl["reproduced_rounded"]["ci_upper"] == 2.29


def test_lmwh_vs_ufh_matches_only_with_mh_random_and_the_women_who_conceived():
    """Hamulyák 2020's LMWH + aspirin vs UFH + aspirin figure, 1.44 (0.80-2.62): M-H random effects on Stephenson
    2004 (the 13 vs 13 who conceived) and Fouda 2011 gives it; DerSimonian-Laird, M-H fixed effect, or Stephenson's
    14 vs 14 randomised women do not, so the entry checks both the method and the analysis set."""
    rp = next(r for r in KB.reproductions if r.id == "hamulyak-2020-lmwh-vs-ufh")
    assert pool_reproduction(KB, rp)["match"]
    for method, want in (("DL", (1.42, 0.82, 2.46)), ("MH", (1.38, 1.01, 1.87))):
        got = pool_reproduction(KB, rp.model_copy(update={"method": method}))["reproduced_rounded"]
        assert (got["value"], got["ci_lower"], got["ci_upper"]) == want, method
    from rplnav.evidence.pool import meta_analysis
    st, fo = ROWS["stephenson-2004"], ROWS["fouda-2011"]
    assert (st.randomised.n1i, st.randomised.n2i) == (14, 14)
    r = meta_analysis({"study": ["s", "f"], "ai": [st.counts.ai, fo.counts.ai], "n1i": [14, fo.counts.n1i],
                       "ci": [st.counts.ci, fo.counts.ci], "n2i": [14, fo.counts.n2i]},
                      measure="RR", method="MH", random=True, profile="revman5")
    assert tuple(_round(math.exp(x), 2) for x in (r.estimate, r.ci_lower, r.ci_upper)) == (1.44, 0.79, 2.60)
