"""Every case of the metafor 3.8-1 reference set (full convergence), to 1e-9 relative.

The JSON (copied from the shared reference material) holds inputs and outputs computed by R 4.2.2 /
metafor 3.8-1 with control=list(tol=1e-15, threshold=1e-14, maxiter=10000, stepadj=0.5) and Q-profile
tol=1e-13, uncapped.  Closed-form quantities are compared at 1e-9 as well (they agree to ~1e-13).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rplnav.evidence import analyses, core, effects, pool

HERE = Path(__file__).parent
CASES = json.loads((HERE / "metafor-reference-subset.json").read_text())
RTOL = 1e-9
ATOL = 1e-12


def _close(got, want, what, rtol=RTOL, atol=ATOL):
    if want is None:
        return
    assert got is not None, f"{what}: expected {want}, got None"
    got, want = float(got), float(want)
    assert math.isclose(got, want, rel_tol=rtol, abs_tol=atol), f"{what}: got {got!r}, want {want!r}"


def _vec(got, want, what, rtol=RTOL, atol=ATOL):
    want = list(np.atleast_1d(np.asarray(want, dtype=object)))
    assert len(got) == len(want), f"{what}: length {len(got)} != {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        _close(g, w, f"{what}[{i}]", rtol, atol)


def _nan(x):
    return [np.nan if v is None else v for v in x]


def _ids(method_pred):
    return [c["id"] for c in CASES if method_pred(c)]


def _case(cid):
    return next(c for c in CASES if c["id"] == cid)


UNI = _ids(lambda c: c["method"].startswith("RE-") or c["method"] == "IV-fixed")
MH = _ids(lambda c: c["method"] in ("MH", "Peto", "RevMan5-MH-random") and "subgroups" not in c["id"])
ESCALC = _ids(lambda c: "ai" in c["inputs"] and "yi" in c["inputs"] and c["measure"] in ("OR", "RR", "RD"))


def test_reference_file_complete():
    assert len(CASES) == 471
    assert len(UNI) == 434


@pytest.mark.parametrize("cid", UNI)
def test_uni_case(cid):
    c = _case(cid)
    o = c["outputs"]
    method = "FE" if c["method"] == "IV-fixed" else c["method"][3:]
    test = c["options"].get("test", "z")
    yi, vi = _nan(c["inputs"]["yi"]), _nan(c["inputs"]["vi"])
    r = pool.rma_uni(yi, vi, method=method, test=test, slab=c["inputs"]["slab"])
    assert r.k == o["k"]
    for key, attr in [("estimate", "estimate"), ("se", "se"), ("stat", "stat"), ("pval", "pvalue"),
                      ("ci_lb", "ci_lower"), ("ci_ub", "ci_upper"), ("tau2", "tau2"), ("I2", "i2"), ("H2", "h2"),
                      ("Q", "q"), ("Q_pval", "q_pvalue")]:
        _close(getattr(r, attr), o[key], key)
    assert r.q_df == o["Q_df"]
    if o.get("se_tau2") is not None:
        _close(r.se_tau2, o["se_tau2"], "se_tau2")
    _close(math.sqrt(r.tau2), o["tau"], "tau")
    if o["stat_dist"] == "t":
        assert r.stat_dist == "t" and r.df == o["df"]
        _close(r.extra["s2w"], o["s2w_knha_scale"], "s2w")
    w = r.weights[r.included]
    _vec(w, o["weights_pct"], "weights")
    p = o["pred"]
    if p["pi_lb"] is None:
        assert r.pi_lower is None
    else:
        _close(r.pi_lower, p["pi_lb"], "pi_lb")
        _close(r.pi_upper, p["pi_ub"], "pi_ub")
    if p["pi_t_km2_lb"] is None:
        assert r.pi_km2 is None
    else:
        _close(r.pi_km2[0], p["pi_t_km2_lb"], "pi_km2_lb")
        _close(r.pi_km2[1], p["pi_t_km2_ub"], "pi_km2_ub")
    if "confint_qprofile" in o:
        qp = o["confint_qprofile"]
        _vec(r.tau2_ci, qp["tau2"][1:], "tau2_ci")
        _vec(r.i2_ci, qp["I2"][1:], "i2_ci")
        _vec(r.h2_ci, qp["H2"][1:], "h2_ci")
        _vec([math.sqrt(x) for x in r.tau2_ci], qp["tau"][1:], "tau_ci")


# metafor's Fisher scoring stops when |change in tau^2| < 1e-14 (absolute).  On the risk-difference
# scale some leave-one-out/cumulative tau^2 values are ~1e-6, so the reference itself is only converged to
# ~1e-9 relative there (its score is ~1e-7 while ours is at rounding level).  For such rows we check that
# the tau^2 values agree within that absolute threshold, then compare every other output at 1e-9 with
# tau^2 fixed at metafor's value (so the formulas are still verified exactly).
METAFOR_ABS_TAU2_THRESHOLD = 1e-13


@pytest.mark.parametrize("cid", UNI)
def test_uni_leave1out_and_cumul(cid):
    c = _case(cid)
    o = c["outputs"]
    method = "FE" if c["method"] == "IV-fixed" else c["method"][3:]
    test = c["options"].get("test", "z")
    yi, vi = np.asarray(_nan(c["inputs"]["yi"]), float), np.asarray(_nan(c["inputs"]["vi"]), float)
    data = {"study": c["inputs"]["slab"], "yi": yi, "vi": vi}
    inc = np.flatnonzero(np.isfinite(yi))
    keys = [("estimate", "estimate", "estimate"), ("se", "se", "se"), ("pval", "pvalue", "pval"),
            ("ci_lb", "ci_lower", "ci_lb"), ("ci_ub", "ci_upper", "ci_ub"), ("Q", "q", "q"),
            ("Q_pval", "q_pvalue", "q_pval"), ("tau2", "tau2", "tau2"), ("I2", "i2", "i2"), ("H2", "h2", "h2"),
            ("stat", "stat", "stat")]
    for name, fn, labkey in (("leave1out", analyses.leave_one_out, "omitted"), ("cumul", analyses.cumulative, "added")):
        ref = o[name]
        rows = fn(data, measure="GEN", method=method, test=test)
        assert [r["study"] for r in rows] == ref[labkey]
        for j, row in enumerate(rows):
            want = {key: ref[key][j] for key, _, _ in keys if ref.get(key)}
            ok = all(math.isclose(row[rk], want[key], rel_tol=RTOL, abs_tol=ATOL) for key, rk, _ in keys if key in want)
            if ok:
                continue
            assert abs(row["tau2"] - want["tau2"]) <= METAFOR_ABS_TAU2_THRESHOLD, (name, j, row["tau2"], want["tau2"])
            mask = np.zeros(len(yi), bool)
            mask[inc[:j + 1]] = True
            if name == "leave1out":
                mask[:] = False
                mask[inc] = True
                mask[inc[j]] = False
            fixed = core.fit(yi, vi, mask, method=method, test=test, qprofile=False, tau2=np.array([want["tau2"]]))
            for key, _, ck in keys:
                if key in want:
                    _close(fixed[ck][0], want[key], f"{name}[{j}].{key} (tau2 fixed at metafor's)")


@pytest.mark.parametrize("cid", [i for i in UNI if "metafor_default" in _case(i)["outputs"]])
def test_uni_against_metafor_defaults_loosely(cid):
    """metafor's default control is loose (uniroot tol = .Machine$double.eps^0.25 ~ 1.2e-4 absolute on tau^2,
    Fisher-scoring threshold 1e-5): our converged values must lie within that of its defaults."""
    c = _case(cid)
    md = c["outputs"]["metafor_default"]
    method = c["method"][3:]
    r = pool.rma_uni(_nan(c["inputs"]["yi"]), _nan(c["inputs"]["vi"]), method=method, test=c["options"]["test"])
    tol = {"rtol": 1e-3, "atol": 5e-4}  # RD-scale PM: a 1.2e-4 tau^2 error moves the CI by ~2.5e-4
    for key, attr in [("estimate", "estimate"), ("se", "se"), ("ci_lb", "ci_lower"), ("ci_ub", "ci_upper"),
                      ("tau2", "tau2"), ("I2", "i2")]:
        _close(getattr(r, attr), md[key], key, **tol)
    lo, hi = md["tau2_ci"][1:]
    _close(r.tau2_ci[0], lo, "tau2_ci_lb", **tol)
    if hi != 100:  # metafor's default caps the Q-profile upper limit at tau2.max = 100
        _close(r.tau2_ci[1], hi, "tau2_ci_ub", **tol)
    else:
        assert r.tau2_ci[1] >= 100


@pytest.mark.parametrize("cid", ESCALC)
def test_escalc_parity(cid):
    c = _case(cid)
    i, opt = c["inputs"], c["options"]
    es = effects.escalc(c["measure"], i["ai"], i["n1i"], i["ci"], i["n2i"], add=opt.get("add", 0.5),
                        to=opt.get("to", "only0"), drop00=opt.get("drop00", True))
    for j, (y, v) in enumerate(zip(i["yi"], i["vi"], strict=True)):
        if y is None:
            assert not es.estimable[j]
        else:
            _close(es.yi[j], y, f"yi[{j}]", rtol=1e-12)
            _close(es.vi[j], v, f"vi[{j}]", rtol=1e-12)


@pytest.mark.parametrize("cid", MH)
def test_mh_peto_revman5(cid):
    c = _case(cid)
    i, o = c["inputs"], c["outputs"]
    args = (i["ai"], i["n1i"], i["ci"], i["n2i"])
    if c["method"] == "Peto":
        r = pool.rma_peto(*args)
    elif c["method"] == "MH":
        r = pool.rma_mh(*args, measure=c["measure"], mh_cc="only0" if c["id"].endswith("cc0.5") else "none")
    else:
        r = pool.revman5_mh_random(*args, measure=c["measure"])
    if "k_used" in o:
        assert r.k == o["k_used"]
    else:
        assert r.k == o["k"]
    for key, attr in [("estimate", "estimate"), ("se", "se"), ("stat", "stat"), ("pval", "pvalue"),
                      ("ci_lb", "ci_lower"), ("ci_ub", "ci_upper"), ("Q", "q"), ("Q_MH", "q"), ("Q_pval", "q_pvalue"),
                      ("I2", "i2"), ("H2", "h2"), ("tau2", "tau2"), ("I2_from_Q", "i2_q")]:
        if key in o:
            _close(getattr(r, attr), o[key], key)
    assert r.q_df == o["Q_df"]
    for key, ek in [("CMH", "cmh"), ("CMH_pval", "cmh_pvalue"), ("tarone", "tarone"), ("tarone_pval", "tarone_pvalue"),
                    ("se_greenland_robins_1985", "se_greenland_robins_1985")]:
        if o.get(key) is not None:
            _close(r.extra[ek], o[key], key)
    w = np.asarray(o["weights_pct"], float)
    if len(w) == len(r.weights):
        _vec(np.nan_to_num(r.weights), w, "weights")
    else:
        _vec(r.weights[r.included], w, "weights")
    if "mh_fixed_estimate" in o:
        _close(r.extra["mh_fixed_estimate"], o["mh_fixed_estimate"], "mh_fixed_estimate")
    if "meta_RevMan5" in o:  # the second oracle (meta 8.0-3, settings.meta("RevMan5"))
        m = o["meta_RevMan5"]
        _close(r.estimate, m["TE_random"], "meta TE_random")
        _close(r.se, m["seTE_random"], "meta seTE_random")
        _close(r.ci_lower, m["lower_random"], "meta lower")
        _close(r.ci_upper, m["upper_random"], "meta upper")
        _close(r.i2_q, 100 * m["I2"], "meta I2")


def test_revman5_rd_uses_greenland_robins_variance():
    c = _case("dat.bcg/RD/MH/exact")
    i, o = c["inputs"], c["outputs"]
    r = pool.rma_mh(i["ai"], i["n1i"], i["ci"], i["n2i"], measure="RD", rd_variance="GR1985")
    _close(r.se, o["se_greenland_robins_1985"], "se GR1985")
    _close(r.estimate, o["estimate"], "estimate")


def test_subgroup_case():
    c = _case("seed.CNI_LBR/OR/MH/subgroups")
    i, o = c["inputs"], c["outputs"]
    data = {"study": i["slab"], "ai": i["ai"], "n1i": i["n1i"], "ci": i["ci"], "n2i": i["n2i"]}
    sg = analyses.subgroup_analysis(data, c["options"]["subgroups"], measure="OR", method="MH", profile="metafor")
    for g in ("CsA", "TAC"):
        r, ref = sg.groups[g], o[g]
        for key, attr in [("estimate", "estimate"), ("se", "se"), ("ci_lb", "ci_lower"), ("ci_ub", "ci_upper"),
                          ("pval", "pvalue"), ("Q", "q"), ("Q_pval", "q_pvalue"), ("CMH", None)]:
            if attr:
                _close(getattr(r, attr), ref[key], f"{g}.{key}")
        _close(r.extra["cmh"], ref["CMH"], f"{g}.CMH")
    _close(sg.overall.estimate, o["total"]["estimate"], "total")
    _close(sg.q_between, o["subgroup_Q"], "subgroup_Q")
    _close(sg.p_between, o["subgroup_pval"], "subgroup_pval")
    assert sg.df_between == o["subgroup_df"]
    _close(sg.q_total_minus_within, o["Qtotal_minus_Qwithin"], "Qtotal-Qwithin")


def test_single_study_woolf_and_printed():
    c = _case("seed.single_study_2x2/OR/Woolf")
    i, o = c["inputs"], c["outputs"]
    es = effects.escalc("OR", i["ai"], i["n1i"], i["ci"], i["n2i"])
    lo, hi = es.ci()
    _vec(es.yi, o["yi"], "yi")
    _vec(es.vi, o["vi"], "vi")
    _vec(np.exp(lo), o["ci_lb"], "ci_lb")
    _vec(np.exp(hi), o["ci_ub"], "ci_ub")
    for j, printed in enumerate(o["printed"]):
        if j in (1, 3):  # the two "IVIG start 6 weeks" rows are inconsistent in the source (see notes)
            continue
        mine = f"{math.exp(es.yi[j]):.2f} ({math.exp(lo[j]):.2f}-{math.exp(hi[j]):.2f})"
        assert mine == printed, (j, mine, printed)


def test_generic_from_ci_alife2():
    c = _case("seed.ALIFE2_thrombophilia_generic/GEN(logOR)/RE-REML/z")
    i = c["inputs"]
    es, asym = effects.from_ci(i["reported_est"], i["reported_lb"], i["reported_ub"], ratio=True)
    _vec(es.yi, i["yi"], "yi")
    _vec(es.vi, i["vi"], "vi")
    assert len(asym) == 4
