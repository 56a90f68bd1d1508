"""Property tests (hypothesis) and scalar/batch identity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rplnav.evidence import core
from rplnav.evidence.analyses import batch_fit
from rplnav.evidence.cli import app
from rplnav.evidence.pool import meta_analysis, rma_uni

METHODS = ["FE", "DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS", "HSk", "PMM"]

finite_y = st.floats(min_value=-3, max_value=3, allow_nan=False)
pos_v = st.floats(min_value=0.005, max_value=2.0, allow_nan=False)


@st.composite
def studies(draw, min_k=2, max_k=12):
    k = draw(st.integers(min_k, max_k))
    y = draw(st.lists(finite_y, min_size=k, max_size=k))
    v = draw(st.lists(pos_v, min_size=k, max_size=k))
    return np.array(y), np.array(v)


@st.composite
def counts(draw, min_k=2, max_k=8):
    k = draw(st.integers(min_k, max_k))
    rows = []
    for _ in range(k):
        n1 = draw(st.integers(1, 200))
        n2 = draw(st.integers(1, 200))
        rows.append((draw(st.integers(0, n1)), n1, draw(st.integers(0, n2)), n2))
    return rows


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(studies(), st.sampled_from(METHODS), st.sampled_from(["z", "knha", "adhoc"]))
def test_weights_sum_to_100_and_tau2_nonnegative(sv, method, test):
    y, v = sv
    r = rma_uni(y, v, method=method, test=test)
    assert math.isclose(np.nansum(r.weights), 100.0, rel_tol=1e-12)
    assert r.tau2 >= 0
    assert 0 <= r.i2 <= 100 and 0 <= r.i2_q <= 100
    assert r.ci_lower <= r.estimate <= r.ci_upper
    if r.tau2_ci:
        assert 0 <= r.tau2_ci[0] <= r.tau2_ci[1]
        if method in ("PM", "EB"):  # the Q-profile CI is built from the same generalised Q: it contains PM
            assert r.tau2_ci[0] <= r.tau2 * (1 + 1e-9) + 1e-12 and r.tau2 <= r.tau2_ci[1] * (1 + 1e-9) + 1e-12


@SETTINGS
@given(studies(min_k=3), st.sampled_from(METHODS), st.randoms(use_true_random=False))
def test_permutation_invariance(sv, method, rnd):
    y, v = sv
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    a = rma_uni(y, v, method=method)
    b = rma_uni(y[perm], v[perm], method=method)
    assert math.isclose(a.estimate, b.estimate, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(a.tau2, b.tau2, rel_tol=1e-9, abs_tol=1e-12)
    np.testing.assert_allclose(a.weights[perm], b.weights, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(counts(), st.sampled_from(["OR", "RR", "RD"]), st.sampled_from(["FE", "MH", "DL", "REML"]))
def test_permutation_invariance_counts(rows, measure, method):
    data = {"study": [f"S{i}" for i in range(len(rows))], "ai": [r[0] for r in rows], "n1i": [r[1] for r in rows],
            "ci": [r[2] for r in rows], "n2i": [r[3] for r in rows]}
    rev = {key: list(reversed(val)) for key, val in data.items()}
    try:
        a = meta_analysis(data, measure=measure, method=method)
    except ValueError:
        return  # not estimable (e.g. no events at all)
    b = meta_analysis(rev, measure=measure, method=method)
    assert math.isclose(a.estimate, b.estimate, rel_tol=1e-9, abs_tol=1e-12)
    assert a.tau2 >= 0
    assert math.isclose(np.nansum(a.weights), 100.0, rel_tol=1e-12)


@SETTINGS
@given(studies(min_k=2, max_k=15))
def test_reml_is_global_maximum(sv):
    """The REML estimate's restricted likelihood is >= that of a dense grid (bimodal cases included)."""
    y, v = sv
    r = rma_uni(y, v, method="REML", qprofile=False)
    Y, V, M = core._prep(y, v, None)
    grid = np.concatenate([[0.0], np.geomspace(1e-8, 100.0, 4000)])
    ll_grid = np.array([core._loglik(Y, V, M, np.array([g]), True)[0] for g in grid[::20]])
    ll_hat = core._loglik(Y, V, M, np.array([r.tau2]), True)[0]
    assert ll_hat >= ll_grid.max() - 1e-10


def test_bimodal_reml_example():
    """A dataset whose restricted likelihood has a local maximum at 0 and a higher one inside."""
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(4000):
        v = rng.uniform(0.01, 0.3, 10)
        y = rng.normal(0.2, np.sqrt(v + rng.choice([0.0, 0.02, 0.1])))
        Y, V, M = core._prep(y, v, None)
        s0, _ = core._score_hess(Y, V, M, np.zeros(1), True)
        if s0[0] > 0:
            continue
        r = rma_uni(y, v, method="REML", qprofile=False)
        if r.tau2 > 0:  # score at 0 is negative (local max at 0), yet the global maximum is interior
            ll0 = core._loglik(Y, V, M, np.zeros(1), True)[0]
            llh = core._loglik(Y, V, M, np.array([r.tau2]), True)[0]
            assert llh > ll0
            found += 1
    assert found >= 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_batch_identical_to_scalar(method, test):
    rng = np.random.default_rng(20251121)
    B, k = 300, 13
    v = rng.uniform(0.01, 0.3, (B, k))
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.3], B)[:, None]
    y = rng.normal(0.2, np.sqrt(v + tau2))
    mask = rng.uniform(size=(B, k)) > 0.15
    mask[:, :2] = True
    bat = batch_fit(y, v, mask, method=method, test=test)
    for b in range(0, B, 7):
        s = rma_uni(np.where(mask[b], y[b], np.nan), np.where(mask[b], v[b], np.nan), method=method, test=test)
        for key, val in [("estimate", s.estimate), ("se", s.se), ("tau2", s.tau2), ("ci_lb", s.ci_lower),
                         ("ci_ub", s.ci_upper), ("q", s.q), ("i2", s.i2), ("pval", s.pvalue)]:
            assert math.isclose(bat[key][b], val, rel_tol=1e-12, abs_tol=1e-15), (key, b)
        if s.tau2_ci:
            assert math.isclose(bat["tau2_ci_ub"][b], s.tau2_ci[1], rel_tol=1e-12, abs_tol=1e-15)
        if s.pi_lower is not None:
            assert math.isclose(bat["pi_lb"][b], s.pi_lower, rel_tol=1e-12, abs_tol=1e-15)


@SETTINGS
@given(studies(min_k=2, max_k=10), st.sampled_from(["REML", "PM", "ML"]))
def test_batch_equals_scalar_property(sv, method):
    y, v = sv
    bat = batch_fit(np.stack([y, y[::-1]]), np.stack([v, v[::-1]]), method=method)
    s = rma_uni(y, v, method=method)
    assert math.isclose(bat["tau2"][0], s.tau2, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(bat["estimate"][0], s.estimate, rel_tol=1e-12, abs_tol=1e-15)


runner = CliRunner()
_COLS = ["ai", "n1i", "ci", "n2i"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 3), st.sampled_from(_COLS), st.sampled_from(["abc", "-3", "", "2.5", "999"]))
def test_cli_errors_name_row_and_column(tmp_path, row, col, bad):
    rows = [["A", "5", "50", "7", "50"], ["B", "6", "40", "4", "45"], ["C", "3", "30", "8", "35"], ["D", "9", "60", "5", "55"]]
    j = 1 + _COLS.index(col)
    rows[row][j] = bad
    if bad == "999" and col in ("n1i", "n2i"):
        return  # a large total is valid
    p = tmp_path / f"bad_{row}_{col}.csv"
    p.write_text("study,ai,n1i,ci,n2i\n" + "\n".join(",".join(r) for r in rows) + "\n")
    res = runner.invoke(app, ["pool", str(p), "--measure", "OR", "--method", "DL"])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"data row {row + 1}" in err and f"column '{col}'" in err, err


def test_cli_json_is_single_document(tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text("study,ai,n1i,ci,n2i\nA,5,50,7,50\nB,6,40,4,45\nC,0,30,0,35\n")
    res = runner.invoke(app, ["pool", str(p), "--measure", "RR", "--method", "PM"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["k"] == 2 and doc["weights"][2] is None
