"""Studies of women like her: the knowledge base's study rows, stratum selection, pooling, CLI and assessment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rplnav.evidence import escalc, from_ci, plain_reml, rma_uni
from rplnav.evidence.cli import app
from rplnav.evidence.stratify import StudyIndex, engine_pooler, timing_match
from rplnav.knowledge.load import default_knowledge, load
from rplnav.patient import parse_patient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "02-unexplained-4-losses.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def kb():
    return default_knowledge()


@pytest.fixture(scope="module")
def engine(kb):
    from rplnav.assess import Engine

    return Engine(kb)


@pytest.fixture(scope="module")
def index(kb):
    return StudyIndex(kb)


def facts_for(kb, engine, **over):
    d = {"schema": "rplnav.patient/v1", "id": "t", "age": 32, "assessed_on": "2026-11-01"}
    d.update(over)
    return engine.facts(parse_patient(d, kb.tests, set(kb.therapies)).patient)


def losses(n, ga=7):
    return [{"outcome": "miscarriage", "gestational_age": ga}] * n


WORKUP = {"findings": {"uterus": "normal", "parental_karyotype": "normal", "thromboses": []},
          "labs": [{"test": "lupus_anticoagulant", "result": "negative", "date": "2026-01-10"},
                   {"test": "anticardiolipin_igg", "value": 3, "unit": "GPL", "reference_high": 20, "date": "2026-01-10"},
                   {"test": "anticardiolipin_igm", "value": 3, "unit": "MPL", "reference_high": 20, "date": "2026-01-10"},
                   {"test": "anti_b2gpi_igg", "value": 2, "unit": "U/mL", "reference_high": 20, "date": "2026-01-10"},
                   {"test": "anti_b2gpi_igm", "value": 1, "unit": "U/mL", "reference_high": 20, "date": "2026-01-10"},
                   {"test": "tsh", "value": 1.5, "unit": "mIU/L", "reference_high": 4.0, "date": "2026-01-10"}],
          "conditions": []}


# ------------------------------------------------------------------ data

def test_study_rows_load_without_problems():
    kb, problems = load(strict=False)
    assert problems == []
    assert len(kb.studies) >= 60
    ids = [s.id for s in kb.studies]
    assert len(ids) == len(set(ids))
    for s in kb.studies:
        assert s.source.locator
        if s.source.document == "seed-002":
            assert s.source.verified is False  # seed-only numbers are never marked verified


def test_meta_analyses_are_context_only(index):
    for tid in index.therapies():
        for top in index.groups[tid].values():
            for r in top:
                assert r.primary and r.parent is None
                assert all(c.primary for c in r.children)


def test_every_therapy_with_trial_rows_pools(index):
    pooled = 0
    for tid in index.therapies():
        rep = index.report(tid)
        for g in rep["groups"]:
            if g["all"] is not None:
                pooled += 1
                assert g["all"]["k"] >= 1
                assert math.isfinite(g["all"]["estimate"]) and g["all"]["ci"][0] <= g["all"]["estimate"] <= g["all"]["ci"][1]
    assert pooled >= 10
    # a therapy with only meta-analyses says so
    assert index.report("hcg")["groups"] == []
    assert index.report("hcg")["context"]
    # corticosteroid trials (Laskin 1997, Tang 2013) now pool
    assert any(g["all"] for g in index.report("prednisolone")["groups"])


def test_head_to_head_trials_are_listed_but_never_pooled(kb, index):
    """IVIG vs LMWH + aspirin (Dendrinos 2009) answers 'which treatment', not 'IVIG or nothing'."""
    row = index.rows["dendrinos-2009"]
    assert row.study.comparator_kind == "active" and not row.poolable
    assert "head-to-head" in row.reason
    rep = index.report("ivig")
    lb = next(g for g in rep["groups"] if g["outcome"] == "live_birth" and g["design"] == "randomised")
    assert "dendrinos-2009" in {x["id"] for x in lb["not_pooled"]}
    inactive = [r for r in index.groups["ivig"][("live_birth", "randomised")] if r.poolable]
    assert lb["all"]["k"] == len(inactive) and all(r.study.comparator_kind == "inactive" for r in inactive)
    # LMWH vs aspirin trials (Dolitzky 2006, HABENOX) are head-to-head too
    assert not index.rows["dolitzky-2006"].poolable and not index.rows["visser-2011-enoxaparin"].poolable


def test_known_published_numbers(index):
    # PROMISE 262/398 vs 271/428: RR 1.04 (0.94-1.15) as published
    p = index.pooled([index.rows["promise-2015"]])
    assert p["single_study"] and p["k"] == 1
    assert round(p["estimate"], 2) == 1.04 and [round(x, 2) for x in p["ci"]] == [0.94, 1.15]
    # TABLET 176/470 vs 178/470: RR 0.97 (0.83-1.14)
    t = index.pooled([index.rows["tablet-2019"]])
    assert round(t["estimate"], 2) == 0.99 or round(t["estimate"], 2) == 0.97  # published RR is adjusted
    assert round(t["ci"][0], 2) in (0.83, 0.84)


# ------------------------------------------------------------------ matching

def test_two_losses_do_not_match_three_loss_trial(kb, engine, index):
    f = facts_for(kb, engine, pregnancies=losses(2), **WORKUP)
    m = index.match(index.rows["promise-2015"], f)
    assert m.enrolment is False and m.value is False
    assert any("losses.total = 2" in b for b in m.because)
    f3 = facts_for(kb, engine, pregnancies=losses(3), **WORKUP)
    assert index.match(index.rows["promise-2015"], f3).value is True


def test_unknown_fact_cannot_be_matched_and_is_named(kb, engine, index):
    f = facts_for(kb, engine, pregnancies=losses(3), **WORKUP)  # no thrombophilia testing
    m = index.match(index.rows["alife2-2023"], f)
    assert m.value is None
    assert "thrombophilia.inherited" in m.needs
    s = index.summary("lmwh", f)
    assert any("thrombophilia.inherited" in u["needs"] and "thrombophilia.inherited" in u["reason"] for u in s["unmatched"])


def test_pregnant_at_8_weeks_does_not_match_preconception_start(kb, engine, index):
    f = facts_for(kb, engine, pregnancies=losses(3), current={"gestational_age": "8+0"}, **WORKUP)
    for sid in ("tablet-2019", "eapen-2019", "scarpellini-2009"):
        m = index.match(index.rows[sid], f)
        assert m.timing is False and m.value is False, sid
    # the same woman before pregnancy: the start is still ahead of her
    g = facts_for(kb, engine, pregnancies=losses(3), **WORKUP)
    assert index.match(index.rows["eapen-2019"], g).timing is True
    # PROMISE started by 6 weeks: not for her at 8 weeks
    assert index.match(index.rows["promise-2015"], f).timing is False


def test_timing_rules(kb, index):
    st = index.rows["yamada-2022-live-birth-4-5w"]
    base = {"current.pregnant": True}
    assert timing_match(st.study, st.start_days, {**base, "current.ga_days": 38})[0] is True
    assert timing_match(st.study, st.start_days, {**base, "current.ga_days": 43})[0] is False
    v, text, needs = timing_match(st.study, st.start_days, {**base, "current.ga_days": None})
    assert v is None and needs == ("current.ga_days",)
    spin = index.rows["spin-2010"]
    assert timing_match(spin.study, spin.start_days, {**base, "current.ga_days": 40})[0] is None
    assert timing_match(spin.study, spin.start_days, {"current.pregnant": False})[0] is True


def test_subgroup_rows_replace_their_trial_in_the_stratum(kb, engine, index):
    # at 6+2 weeks only Yamada's 6-week-start subgroup is still achievable
    f = facts_for(kb, engine, pregnancies=[{"outcome": "miscarriage", "gestational_age": 7, "poc_karyotype": "euploid"}] * 4,
                  current={"gestational_age": "6+2"}, **WORKUP)
    rep = index.report("ivig", f)
    g = rep["groups"][0]
    yamada = [r for r in g["stratum_rows"] if r.startswith("yamada-2022")]
    assert yamada == ["yamada-2022-live-birth-6w"]
    # trials that started before 6+2 weeks are out of her reach
    assert "coulam-1995" not in g["stratum_rows"]
    # before pregnancy both start windows are open: the whole trial is used, never with its own subgroups
    f0 = facts_for(kb, engine, pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 4, **WORKUP)
    g0 = index.report("ivig", f0)["groups"][0]
    assert [r for r in g0["stratum_rows"] if r.startswith("yamada-2022")] == ["yamada-2022-live-birth"]
    assert [s for s in g0["all"]["studies"] if s.startswith("yamada-2022")] == ["yamada-2022-live-birth"]


def test_nested_subgroups_count_each_woman_once_in_the_narrowest_row(kb, engine, index):
    """PRISM: the one-or-more-miscarriage subgroup holds the three-or-more subgroup; a bleeding woman is
    matched to the narrowest of the trial's rows that fits her, never to two of them."""
    bleeding = {"gestational_age": "7+0", "intrauterine_confirmed": True, "fetal_heart_activity": True,
                "bleeding": True}

    def prism_rows(n):
        f = facts_for(kb, engine, pregnancies=losses(n), current=bleeding, **WORKUP)
        g = index.report("progesterone", f)["groups"][0]
        return [r for r in g["stratum_rows"] if r.startswith("prism-2019")]

    assert prism_rows(2) == ["prism-2019-ge1"]
    assert prism_rows(3) == ["prism-2019-ge3"]
    assert prism_rows(0) == ["prism-2019"]
    # the all-studies list marks PRISM as in her stratum when its nested three-or-more row is the one used
    f3 = facts_for(kb, engine, pregnancies=losses(3), current=bleeding, **WORKUP)
    trials = index.summary("progesterone", f3)["all"]["trials"]
    assert [t["in_stratum"] for t in trials if t["id"] == "prism-2019"] == [True]
    # the trial counts once among all studies, with its whole population
    g = index.report("progesterone")["groups"][0]
    assert [s for s in g["all"]["studies"] if s.startswith("prism-2019")] == ["prism-2019"]
    assert index.rows["prism-2019-ge3"].parent is index.rows["prism-2019-ge1"]
    assert [m.id for m in index.rows["prism-2019"].family()] == ["prism-2019", "prism-2019-ge1", "prism-2019-ge3"]

# ------------------------------------------------------------------ pooling

def test_stratum_pooling_equals_direct_rma_uni(kb, engine, index):
    # four losses: Scarpellini 2009 enrolled four or more consecutive, Eapen 2019 three or more
    f = facts_for(kb, engine, pregnancies=losses(4), **WORKUP)
    s = index.summary("g_csf", f)
    ids = s["stratum"]["studies"]
    assert len(ids) >= 2
    rows = [kb_study(kb, i) for i in ids]
    es = escalc("RR", [r.counts.ai for r in rows], [r.counts.n1i for r in rows],
                [r.counts.ci for r in rows], [r.counts.n2i for r in rows])
    ref = rma_uni(es, method="REML")
    p = s["stratum"]
    for mine, theirs in ((p["log_estimate"], ref.estimate), (p["se"], ref.se), (p["tau2"], ref.tau2),
                         (p["i2"], ref.i2), (p["q"], ref.q), (p["q_pvalue"], ref.q_pvalue),
                         (math.log(p["ci"][0]), ref.ci_lower), (math.log(p["pi"][1]), ref.pi_upper)):
        assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12)


def test_all_studies_with_estimate_rows_equal_rma_uni(kb, engine, index):
    """PRISM's subgroup (an RR with CI) pooled with PROMISE (counts), as one would by hand."""
    rows = [index.rows["promise-2015"], index.rows["prism-2019-ge3"]]
    p = index.pooled(rows)
    y1 = escalc("RR", [262], [398], [271], [428])
    y2, _ = from_ci([1.28], [1.08], [1.51])
    ref = rma_uni(np.r_[y1.yi, y2.yi], np.r_[y1.vi, y2.vi], method="REML")
    assert math.isclose(p["log_estimate"], ref.estimate, rel_tol=1e-9)
    assert math.isclose(p["tau2"], ref.tau2, rel_tol=1e-9, abs_tol=1e-15)


POOLED_KEYS = ("estimate", "se", "ci_lower", "ci_upper", "pvalue", "tau2", "i2", "h2", "q", "q_pvalue", "pi_lower",
               "pi_upper")


def test_plain_reml_matches_rma_uni_on_random_data():
    """The assessment's plain-Python REML (no NumPy at start-up) equals the NumPy engine on 300 analyses."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        k = int(rng.integers(1, 12))
        v = rng.uniform(0.005, 0.5, k)
        y = rng.normal(0.1, np.sqrt(v + rng.choice([0.0, 0.02, 0.3])))
        a = plain_reml.pool([float(x) for x in y], [float(x) for x in v])
        b = engine_pooler(list(y), list(v), [type("R", (), {"study": type("S", (), {"label": str(i)})})() for i in range(k)])
        for key in POOLED_KEYS:
            assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-12), key


# Restricted likelihoods with two interior local maxima (found by a search over small analyses, then checked
# below on a dense grid). Two clusters far apart with small variances alone give one maximum; what makes two
# is a precise cluster next to imprecise, spread-out studies: a small tau² explains the precise cluster, a
# large one the spread.
BIMODAL = [
    # precise cluster near -1.8, imprecise pair near 1.0: maxima at tau² ~ 0.006 and ~ 1.32, the larger global
    ([-1.9, -1.8, 1.0, 1.1, -1.6], [0.047, 0.031, 0.921, 1.357, 0.003]),
    # precise pair near -0.85, imprecise studies at -0.4 and -5.5: maxima at ~ 0.043 (global) and ~ 2.02
    ([-0.7, -0.4, -5.5, -1.0], [0.009, 1.801, 2.542, 0.026]),
    ([0.4, 0.3, -1.0, -0.3, 1.5], [0.002, 0.005, 0.241, 0.326, 0.35]),
    ([2.6, -0.9, -0.3, 2.0, 0.4, -0.4], [1.737, 1.004, 0.006, 2.18, 0.149, 0.006]),
]


def _interior_maxima(y: list[float], v: list[float]) -> list[tuple[float, float]]:
    """(tau², restricted log-likelihood) at every interior local maximum of a dense log grid (NumPy engine)."""
    from rplnav.evidence import core

    Y, V, M = core._prep(y, v, None)
    top = 50.0 * ((max(y) - min(y)) ** 2 + max(v))
    grid = top * np.geomspace(1e-9, 1.0, 6000)
    ll = core._loglik(np.repeat(Y, grid.size, 0), np.repeat(V, grid.size, 0), np.repeat(M, grid.size, 0), grid, True)
    inner = np.flatnonzero((ll[1:-1] > ll[:-2]) & (ll[1:-1] > ll[2:])) + 1
    return [(float(grid[i]), float(ll[i])) for i in inner]


@pytest.mark.parametrize("y, v", BIMODAL)
def test_plain_reml_and_rma_uni_find_the_same_global_maximum_of_a_bimodal_likelihood(y, v):
    peaks = _interior_maxima(y, v)
    assert len(peaks) == 2, peaks
    best, other = sorted(peaks, key=lambda p: -p[1])
    ref = rma_uni(y, v, method="REML")
    mine = plain_reml.pool(y, v)
    assert math.isclose(ref.tau2, best[0], rel_tol=0.01), (ref.tau2, peaks)  # the higher peak, not the other
    for key in POOLED_KEYS:
        assert math.isclose(mine[key], getattr(ref, key), rel_tol=1e-9, abs_tol=1e-12), key
    # a local search started at the other peak stays there: picking the global maximum is not a given
    lo, hi = other[0] * 0.9, other[0] * 1.1
    stuck = plain_reml._newton(y, v, lo, hi, other[0])
    assert math.isclose(stuck, other[0], rel_tol=0.01) and not math.isclose(stuck, ref.tau2, rel_tol=0.1)


def test_chi2_sf_closed_form():
    from scipy import special

    for df in range(1, 35):
        for x in (0.01, 0.7, 2.0, 9.5, 40.0, 150.0):
            assert math.isclose(plain_reml.chi2_sf(x, df), float(special.chdtrc(df, x)), rel_tol=1e-11, abs_tol=1e-300)


def test_no_matching_study_is_said(kb, engine, index):
    f = facts_for(kb, engine, pregnancies=losses(2), current={"gestational_age": "9+0"}, **WORKUP)
    s = index.summary("g_csf", f)
    assert s["stratum"] is None and "no study" in s["stratum_note"]


def kb_study(kb, sid):
    return next(s for s in kb.studies if s.id == sid)


# ------------------------------------------------------------------ CLI

def test_cli_ivig_for_patient_json_and_plot(tmp_path):
    out = tmp_path / "ivig.png"
    r = runner.invoke(app, ["ivig", "--for", str(EXAMPLE), "--format", "json", "--plot", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["therapy"] == "ivig" and doc["patient_matched"] and doc["patient_id"] == "demo-unexplained-4"
    g = doc["groups"][0]
    assert g["outcome"] == "live_birth" and g["all"]["k"] >= 1 and g["stratum"]["k"] >= 1
    assert "tau2_ci" in g["all"] or g["all"]["single_study"]
    assert any(c["id"] == "kofod-2025" for c in doc["context"])
    assert out.exists() and out.stat().st_size > 10_000


def test_cli_svg_and_text(tmp_path):
    out = tmp_path / "g.svg"
    r = runner.invoke(app, ["show", "g_csf", "--for", str(EXAMPLE), "--plot", str(out)])
    assert r.exit_code == 0, r.output
    assert "All studies" in r.stdout and "Matching her" in r.stdout
    assert "Studies matching her" in out.read_text()


def test_cli_pool_still_works():
    data = Path(__file__).parent / "data" / "vitd_miscarriage.csv"
    r = runner.invoke(app, ["pool", str(data), "--measure", "OR", "--method", "MH", "--random", "--profile", "revman5"])
    assert r.exit_code == 0, r.output
    assert abs(json.loads(r.stdout)["exp"]["estimate"] - 1.60) < 0.005


def test_cli_unknown_therapy_exits_2_with_close_matches():
    r = runner.invoke(app, ["ivgi"])
    assert r.exit_code == 2
    assert "ivig" in r.stderr


def test_cli_bad_patient_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: rplnav.patient/v1\nid: x\nage: -3\npregnancies: nope\n")
    r = runner.invoke(app, ["ivig", "--for", str(bad)])
    assert r.exit_code == 2
    assert r.stderr.count("error:") >= 1
    r2 = runner.invoke(app, ["ivig", "--format", "xml"])
    assert r2.exit_code == 2
    r3 = runner.invoke(app, ["ivig", "--plot", str(tmp_path / "x.pdf")])
    assert r3.exit_code == 2


def test_main_cli_routes_therapy_and_pool(capsys):
    from rplnav.cli import main

    with pytest.raises(SystemExit) as e:
        main(["evidence", "progesterone", "--format", "json"])
    assert e.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["therapy"] == "progesterone"


# ------------------------------------------------------------------ assessment

def test_assessment_options_carry_an_evidence_summary(kb, engine):
    from rplnav.patient import read_patient

    a = engine.assess(read_patient(str(EXAMPLE), kb.tests, set(kb.therapies)))
    ivig = next(o for o in a["options"] if o["therapy"] == "ivig")
    ev = ivig["evidence"]
    assert ev["outcome"] == "live_birth" and ev["measure"] == "RR" and "REML" in ev["method"]
    assert ev["all"]["k"] >= 1 and ev["stratum"]["k"] >= 1
    assert {"tau2", "i2", "q", "q_pvalue", "n", "ci"} <= set(ev["all"])
    assert any(c["id"] == "kofod-2025" for c in ev["context"])
    cited = {s["id"] for s in a["sources"]}
    assert {"yamada-2022", "kofod-2025"} <= cited
    # a therapy with no study rows has no evidence summary
    with_rows = {st.therapy for st in kb.studies}
    bare = [o for o in a["options"] if o["therapy"] not in with_rows]
    assert bare and all(o["evidence"] is None for o in bare)
    a.to_json()


def test_her_stratum_is_explained_in_counts_and_words(kb, engine, index):
    """Item 4: how many studies and women match her, which were excluded and why, her effect next to all."""
    f = facts_for(kb, engine, pregnancies=losses(4), **WORKUP)  # four losses, no live birth: primary RM
    s = index.summary("ivig", f)
    a, h = s["all"], s["stratum"]
    assert h["k"] < a["k"] and h["n"] < a["n"]
    assert f"{h['k']} of {a['k']} studies ({h['n']} of {a['n']} women)" in s["stratum_text"]
    assert f"RR {h['estimate']:.2f}" in s["stratum_text"] and f"RR {a['estimate']:.2f}" in s["stratum_text"]
    excluded = {x["id"]: x["reason"] for x in s["excluded"]}
    # the trials of secondary recurrent miscarriage do not fit a woman without a live birth
    assert {"christiansen-2015", "stephenson-2010"} <= set(excluded)
    assert "rpl.secondary = false" in excluded["stephenson-2010"]
    assert set(excluded).isdisjoint(h["studies"])
    assert f"{len([i for i in excluded if index.rows[i].poolable])} excluded" in s["stratum_text"]
    # the two trials against LMWH + aspirin are listed, never pooled with the placebo trials
    assert [x["id"] for x in s["not_pooled"]] == ["dendrinos-2009", "triolo-2003"]
    assert "head-to-head" in s["stratum_text"]


def test_a_stratum_of_one_trial_is_called_so(kb, engine, index):
    # not pregnant, three losses: of the progesterone trials only PROMISE (PRISM enrolled bleeding pregnancies)
    f = facts_for(kb, engine, pregnancies=losses(3), **WORKUP)
    s = index.summary("progesterone", f)
    assert s["stratum"]["single_study"] and s["stratum"]["studies"] == ["promise-2015"]
    assert "single study, PROMISE 2015" in s["stratum_text"] and "not a pooled estimate" in s["stratum_text"]


def test_cli_says_her_stratum_in_words():
    res = runner.invoke(app, ["ivig", "--for", str(EXAMPLE)])
    assert res.exit_code == 0, res.output
    assert "In words:" in res.stdout and "Her stratum:" in res.stdout
    doc = json.loads(runner.invoke(app, ["ivig", "--for", str(EXAMPLE), "--format", "json"]).stdout)
    lb = next(g for g in doc["groups"] if g["outcome"] == "live_birth")
    assert lb["stratum_text"].startswith("Her stratum")


def test_pooled_results_carry_the_forest_plot_rows(kb, engine, index):
    """Each pooled analysis lists its rows as a forest plot prints them: the arms' counts from the knowledge
    base, the row's own RR and CI (escalc), and its weight in the analysis as the NumPy engine computes it."""
    f = facts_for(kb, engine, pregnancies=losses(4), **WORKUP)
    s = index.summary("ivig", f)
    for p in (s["all"], s["stratum"]):
        rows = [index.rows[t["id"]] for t in p["trials"]]
        assert [t["id"] for t in p["trials"]] == p["studies"]
        counts = [r.study.counts for r in rows]
        es = escalc("RR", [c.ai for c in counts], [c.n1i for c in counts], [c.ci for c in counts],
                    [c.n2i for c in counts])
        ref = rma_uni(es, method="REML")
        for t, c, y, v, w in zip(p["trials"], counts, es.yi, es.vi, ref.weights, strict=True):
            assert (t["treatment_events"], t["treatment_total"], t["control_events"], t["control_total"]) == (
                c.ai, c.n1i, c.ci, c.n2i)
            assert math.isclose(math.log(t["estimate"]), y, rel_tol=1e-12)
            assert math.isclose(math.log(t["ci"][1]) - math.log(t["ci"][0]), 2 * 1.959963984540054 * math.sqrt(v),
                                rel_tol=1e-9)
            assert math.isclose(t["weight"], w, rel_tol=1e-9)
        assert math.isclose(sum(t["weight"] for t in p["trials"]), 100.0)
    # the all-studies rows say which trials are her stratum; the excluded secondary-RM trials are not
    marked = {t["id"]: t["in_stratum"] for t in s["all"]["trials"]}
    assert {i for i, v in marked.items() if v} == set(s["stratum"]["studies"]) & set(marked)
    assert marked["stephenson-2010"] is False


def test_a_subgroup_in_her_stratum_marks_its_trial(kb, engine, index):
    """At 6+2 weeks only Yamada 2022's 6-week-start subgroup is hers: the whole trial's all-studies row is
    marked as in her stratum, and the stratum's own row is the subgroup with its own counts."""
    f = facts_for(kb, engine, pregnancies=[{"outcome": "miscarriage", "gestational_age": 7, "poc_karyotype": "euploid"}] * 4,
                  current={"gestational_age": "6+2"}, **WORKUP)
    s = index.summary("ivig", f)
    whole = next(t for t in s["all"]["trials"] if t["id"] == "yamada-2022-live-birth")
    assert whole["in_stratum"] is True
    part = next(t for t in s["stratum"]["trials"] if t["id"].startswith("yamada-2022"))
    assert part["id"] == "yamada-2022-live-birth-6w" and part["subgroup"]
    assert part["treatment_total"] < whole["treatment_total"]
