"""The grid-bracketed root engine: Q-profile bounds solve their equations; bimodal batch == scalar."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from rplnav.evidence import core
from rplnav.evidence.analyses import batch_fit
from rplnav.evidence.pool import rma_uni


def test_qprofile_bounds_solve_the_generalised_q_equation():
    rng = np.random.default_rng(11)
    for _ in range(200):
        k = int(rng.integers(3, 25))
        v = rng.uniform(0.01, 0.5, k)
        y = rng.normal(0.1, np.sqrt(v + rng.choice([0.0, 0.05, 0.3])))
        r = rma_uni(y, v, method="REML")
        Y, V, M = core._prep(y, v, None)
        for bound, p in ((r.tau2_ci[0], 0.025), (r.tau2_ci[1], 0.975)):
            target = special.chdtri(k - 1, p)
            q = core.qgen(Y, V, M, np.array([bound]))[0]
            if bound > 0:
                assert math.isclose(q, target, rel_tol=1e-12)
            else:
                assert q <= target * (1 + 1e-12)


def test_reml_score_vanishes_at_interior_estimate():
    rng = np.random.default_rng(12)
    for _ in range(200):
        v = rng.uniform(0.01, 0.3, 13)
        y = rng.normal(0.2, np.sqrt(v + 0.1))
        r = rma_uni(y, v, method="REML", qprofile=False)
        if r.tau2 > 0:
            Y, V, M = core._prep(y, v, None)
            s, h = core._score_hess(Y, V, M, np.array([r.tau2]), True)
            assert abs(s[0]) <= 1e-9 * abs(h[0]) * r.tau2 + 1e-12


def test_bimodal_batch_equals_scalar():
    rng = np.random.default_rng(7)
    ys, vs = [], []
    while len(ys) < 5:
        v = rng.uniform(0.01, 0.3, 10)
        y = rng.normal(0.2, np.sqrt(v + rng.choice([0.0, 0.02, 0.1])))
        Y, V, M = core._prep(y, v, None)
        if core._score_hess(Y, V, M, np.zeros(1), True)[0][0] <= 0 and rma_uni(y, v, qprofile=False).tau2 > 0:
            ys.append(y)
            vs.append(v)
    bat = batch_fit(np.array(ys), np.array(vs))
    for b, (y, v) in enumerate(zip(ys, vs, strict=True)):
        s = rma_uni(y, v)
        assert math.isclose(bat["tau2"][b], s.tau2, rel_tol=1e-12)
        assert math.isclose(bat["tau2_ci_ub"][b], s.tau2_ci[1], rel_tol=1e-12)


def test_single_analysis_is_the_batch_fit_with_one_row_value_for_value():
    """rma_uni's core.fit_row runs fit's code on one row: every output equal to the batch's, bit for bit."""
    rng = np.random.default_rng(13)
    for _ in range(40):
        k = int(rng.integers(1, 15))
        v = rng.uniform(0.005, 0.5, k)
        y = rng.normal(0.1, np.sqrt(v + rng.choice([0.0, 0.05, 0.3])))
        mask = rng.random(k) > 0.15
        mask[int(rng.integers(k))] = True
        for method in core.TAU2_METHODS:
            for test in core.TESTS:
                one = core.fit_row(y, v, mask, method=method, test=test)
                bat = core.fit(y[None], v[None], mask[None], method=method, test=test)
                assert one.keys() == bat.keys()
                for key, val in one.items():
                    assert np.array_equal(np.ravel(val), bat[key][0].ravel(), equal_nan=True), (method, test, key)
