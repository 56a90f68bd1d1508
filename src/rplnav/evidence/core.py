"""Vectorised inverse-variance meta-analysis engine (many analyses at once, shape (B, k)).

Every single fit in :mod:`rplnav.evidence.pool` runs the same code (:func:`fit_row`: the batch root finder on
one row, the per-analysis arithmetic on NumPy scalars), so a single fit equals the batch's row bit for bit
(tests/evidence/test_roots.py).  Ragged analyses (leave-one-out, cumulative,
subgroups) are expressed with a boolean ``mask``; masked-out entries get zero weight.

Estimators of the between-study variance tau^2 (all truncated at 0, as in metafor 3.8):

* ``FE``  -- none (tau^2 = 0; equal/common-effect inverse-variance model).
* ``DL``  -- DerSimonian & Laird (1986) method of moments.
* ``HE``  -- Hedges & Olkin (1985) unweighted method of moments ("Hedges" estimator).
* ``HS``/``HSk`` -- Hunter & Schmidt (2004), and its k/(k-1)-corrected version (Viechtbauer 2005 notation).
* ``SJ``  -- Sidik & Jonkman (2005) two-step estimator started at the unweighted variance.
* ``ML``/``REML`` -- (restricted) maximum likelihood (Viechtbauer 2005); the GLOBAL maximum is found by
  bracketing every local maximum on a log grid of tau^2 values (sign changes of the score), polishing each
  by safeguarded Newton iterations and keeping the one of highest likelihood (see :mod:`._roots`).
* ``PM``  -- Paule & Mandel (1982): generalised Q(tau^2) = k - 1, solved by safeguarded Newton.
* ``EB``  -- Morris (1983) empirical Bayes; for an intercept-only model its estimating equation
  k/(k-1) Q(tau^2) = k is identical to Paule-Mandel's, so the same root is returned.
* ``PMM`` -- median-unbiased Paule-Mandel (Viechtbauer 2021): Q(tau^2) = median of chi^2_{k-1}.

Tests of the pooled effect: Wald ``z``; ``knha`` = Knapp & Hartung (2003) / Hartung & Knapp (2001)
(HKSJ) t_{k-1} with the scale factor s^2 = Q_RE/(k-1); ``adhoc`` = the same with s^2 floored at 1
(Roever et al. 2015).  Heterogeneity: Cochran's Q with fixed-effect weights; I^2 and H^2 as in metafor
(Higgins & Thompson 2002): from Q for FE models, from tau^2 and the "typical" within-study variance
(k-1)/tr(P) for RE models; ``i2_q`` = (Q - df)/Q as RevMan 5 prints it.  CI for tau^2 by the Q-profile
method (Viechtbauer 2007), uncapped.  Prediction interval as metafor's ``predict``: mu +- crit *
sqrt(se^2 + tau^2) with crit from N(0,1) for ``z`` and t_{k-1} for ``knha``/``adhoc``; the
Higgins-Thompson-Spiegelhalter (2009) / Riley et al. (2011) t_{k-2} version is also returned.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from . import _roots

TAU2_METHODS = ("FE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM")
TESTS = ("z", "knha", "adhoc")
_EPS = np.finfo(float).eps
_SQRT2 = math.sqrt(2.0)
_GRID = _roots.GRID
_FRAC = _roots.FRAC  # tau^2 grid as a fraction of its top
_ADD, _MAX, _MIN, _ALL = np.add.reduce, np.maximum.reduce, np.minimum.reduce, np.logical_and.reduce


def _prep(y, v, mask):
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    if y.ndim == 1:
        y, v = y[None, :], v[None, :]
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)[None, :]
    if mask is None:
        mask = np.isfinite(y) & np.isfinite(v)
    else:
        mask = np.asarray(mask, dtype=bool) & np.isfinite(y) & np.isfinite(v)
    m = mask.astype(float)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    return y, v, m


def _rowsum(a):
    # the ufunc's reduce itself: ndarray.sum reaches it through a Python wrapper (about 1 us a call)
    return _ADD(a, axis=-1)


def _wls(y, v, m, t2):
    """Weights, sum of weights, weighted mean and residuals at tau^2 = t2 (broadcast over last axis)."""
    w = m / (v + t2[..., None])
    sw = _rowsum(w)
    mu = _rowsum(w * y) / sw
    r = y - mu[..., None]
    return w, sw, mu, r


def qgen(y, v, m, t2):
    """Generalised Q statistic sum w_i (y_i - mu)^2 with w_i = 1/(v_i + tau^2)."""
    w, sw, mu, r = _wls(y, v, m, t2)
    return _rowsum(w * r * r)


def _loglik(y, v, m, t2, reml):
    """(Restricted) log-likelihood up to constants, profiled over mu."""
    w, sw, mu, r = _wls(y, v, m, t2)
    ll = -0.5 * (_rowsum(np.log(v + t2[..., None]) * m) + _rowsum(w * r * r))
    if reml:
        ll = ll - 0.5 * np.log(sw)
    return ll


def _score_hess(y, v, m, t2, reml):
    """Twice the score and twice the observed second derivative of the (RE)ML log-likelihood."""
    w, sw, mu, r = _wls(y, v, m, t2)
    wr = w * r
    w2 = w * w
    a = _rowsum(wr * wr)  # sum w^2 r^2
    s2 = _rowsum(w2)
    b3 = _rowsum(w2 * wr * r)  # sum w^3 r^2
    c = _rowsum(w * wr)  # sum w^2 r
    ypppy = b3 - c * c / sw
    if reml:
        score = a - sw + s2 / sw
        s3 = _rowsum(w2 * w)
        tpp = s2 - 2.0 * s3 / sw + (s2 / sw) ** 2
        hess = tpp - 2.0 * ypppy
    else:
        score = a - sw
        hess = s2 - 2.0 * ypppy
    return score, hess


def _spread(y, m):
    big = _MAX(np.where(m > 0, y, -np.inf), axis=-1)
    small = _MIN(np.where(m > 0, y, np.inf), axis=-1)
    d = big - small
    return np.where(np.isfinite(d), d, 0.0)


def tau2_ml(y, v, m, reml=True):
    """Global (RE)ML estimate of tau^2 for each analysis (grid bracketing + safeguarded Newton, see _roots)."""
    k = _rowsum(m)
    bt = _roots.Batch(y, v, m, k, *_fe_stats(y, v, m)[:3])
    return _roots.solve(bt, reml, True, (), k > 1)[0]


def solve_qgen(y, v, m, target):
    """Root tau^2 >= 0 of Q_gen(tau^2) = target (0 if Q_gen(0) <= target), for each analysis."""
    k = _rowsum(m)
    bt = _roots.Batch(y, v, m, k, *_fe_stats(y, v, m)[:3])
    return _roots.solve(bt, False, False, (target,), k > 1)[1][0]


def _sp2(w, s, a, b):
    """sum_ij P_ij^2 a_i b_j for P = diag(w) - w w'/s (row-wise)."""
    w2 = w * w
    return _rowsum(w2 * a * b * (1.0 - 2.0 * w / s[..., None])) + _rowsum(w2 * a) * _rowsum(w2 * b) / (s * s)


def _fe_stats(y, v, m):
    """Fixed-effect weights, their sum, the FE mean, Cochran's Q and tr(P) at tau^2 = 0 (row-wise)."""
    w0 = m / v
    sw0 = _rowsum(w0)
    mu0 = _rowsum(w0 * y) / sw0
    q0 = _rowsum(w0 * (y - mu0[..., None]) ** 2)
    trp0 = sw0 - _rowsum(w0 * w0) / sw0
    return w0, sw0, mu0, q0, trp0


def estimate_tau2(y, v, m, method, root=None, fe=None):
    """tau^2 and its standard error (metafor's formulas) for each analysis in the batch.

    ``root``: the ML/REML maximiser or PM/EB/PMM root when already solved (see :func:`fit`); ``fe``: the
    :func:`_fe_stats` of the batch when already computed."""
    k = _rowsum(m)
    km1 = np.maximum(k - 1, 1)
    ones = m
    if method == "FE":
        return np.zeros_like(k), np.full_like(k, np.nan)
    if method in ("DL", "HS", "HSk"):
        w0, sw0, _, q0, trp0 = fe if fe is not None else _fe_stats(y, v, m)
    if method == "DL":
        t2 = np.maximum(0.0, (q0 - (k - 1)) / trp0)
        spp = _sp2(w0, sw0, ones, ones)
        se = np.sqrt((2 * (k - 1) + 4 * t2 * trp0 + 2 * t2 * t2 * spp) / trp0**2)
    elif method in ("HS", "HSk"):
        t2 = (q0 - k) / sw0 if method == "HS" else (k / km1 * q0 - k) / sw0
        t2 = np.maximum(0.0, t2)
        spp = _sp2(w0, sw0, ones, ones)
        se = np.sqrt((2 * (k - 1) + 4 * t2 * trp0 + 2 * t2 * t2 * spp) / sw0**2)
        if method == "HSk":
            se = k / km1 * se
    elif method == "HE":
        ybar = _rowsum(y * m) / k
        rss = _rowsum(m * (y - ybar[..., None]) ** 2)
        sv = _rowsum(v * m)
        trpv = sv * (k - 1) / k
        t2 = np.maximum(0.0, (rss - trpv) / km1)
        trpvpv = _sp2(m, k, v * m, v * m)  # unweighted P = I - J/k
        se = np.sqrt((2 * trpvpv + 4 * t2 * trpv + 2 * t2 * t2 * (k - 1)) / km1**2)
    elif method == "SJ":
        ybar = _rowsum(y * m) / k
        t20 = _rowsum(m * (y - ybar[..., None]) ** 2) / k
        w, sw, mu, r = _wls(y, v, m, t20)
        t2 = np.maximum(0.0, t20 * _rowsum(w * r * r) / km1)
        vm = v * m
        trpvpv = _sp2(w, sw, vm, vm)
        spvp = _sp2(w, sw, ones, vm)
        spp = _sp2(w, sw, ones, ones)
        se = np.sqrt(t20**2 / km1**2 * (2 * trpvpv + 4 * t2 * spvp + 2 * t2 * t2 * spp))
    elif method in ("ML", "REML"):
        t2 = tau2_ml(y, v, m, reml=method == "REML") if root is None else root
        w, sw, mu, r = _wls(y, v, m, t2)
        if method == "ML":
            se = np.sqrt(2.0 / _rowsum(w * w))
        else:
            se = np.sqrt(2.0 / _sp2(w, sw, ones, ones))
    elif method in ("PM", "EB", "PMM"):
        target = k - 1 if method != "PMM" else special.chdtri(km1, 0.5)
        t2 = solve_qgen(y, v, m, target) if root is None else root
        w, sw, mu, r = _wls(y, v, m, t2)
        se = np.sqrt(2 * k * k / km1 / sw**2)
    else:
        raise ValueError(f"unknown tau^2 method {method!r}; use one of {TAU2_METHODS}")
    if bool(_ALL(k > 1, axis=None)):
        return t2, se
    return np.where(k > 1, t2, 0.0), np.where(k > 1, se, np.nan)


def _pick(every, cond, a, b):
    """``np.where(cond, a, b)``, or ``a`` itself when ``every`` says the condition holds in every row."""
    return a if every else np.where(cond, a, b)


def fit(y, v, mask=None, method="REML", test="z", level=95.0, qprofile=True, tau2=None):
    """Fit B intercept-only models at once.  ``y``, ``v``: (B, k) or (k,).  Returns a dict of arrays.

    ``tau2`` (optional, shape (B,)) fixes tau^2 instead of estimating it (as ``rma(..., tau2=)``).
    Every step costs a fixed number of NumPy calls whatever B: the conditions that hold in every row (two or
    more studies, a z test) skip their ``where`` calls.
    """
    _check(method, test)
    y, v, m = _prep(y, v, mask)
    return _fit(y, v, m, method, test, level, qprofile, tau2)


def fit_row(y, v, mask=None, method="REML", test="z", level=95.0, qprofile=True, tau2=None):
    """One analysis (``y``, ``v`` of shape (k,)) through the code of :func:`fit`: the roots are found by the
    batch root finder on one row, and the per-analysis values are held as NumPy scalars instead of
    length-1 arrays (a NumPy call on a length-1 array costs as much as on a long one).  Returns a dict of
    scalars, with ``weights`` of shape (k,); equal to ``fit(...)[key][0]``."""
    _check(method, test)
    y, v, m = _prep(y, v, mask)
    return _fit(y[0], v[0], m[0], method, test, level, qprofile, tau2)


def _check(method, test):
    if method not in TAU2_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {TAU2_METHODS}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; use one of {TESTS}")


def _fit(y, v, m, method, test, level, qprofile, tau2):
    """:func:`fit` on (B, k) arrays, or on one analysis's (k,) arrays (then every per-analysis value is a scalar)."""
    row = y.ndim == 1
    k = _rowsum(m)
    if not _ALL(k >= 1, axis=None):
        raise ValueError("every analysis needs at least one study")
    fe = method == "FE"
    multi = k > 1
    every = bool(_ALL(multi, axis=None))  # every analysis has two or more studies
    shape = np.shape(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - level / 100.0
        dfs = np.maximum(k - 1, 1)
        fstats = _fe_stats(y, v, m)
        w0, sw0, mu0, q0, trp0 = fstats
        # every root of every analysis (the estimator's and both Q-profile bounds) in one polishing loop
        est_root = tau2 is None and method in ("ML", "REML", "PM", "EB", "PMM")
        want_q = qprofile and not fe
        targets = []
        if est_root and method in ("PM", "EB", "PMM"):
            targets.append(k - 1 if method != "PMM" else special.chdtri(dfs, 0.5))
        if want_q:
            targets += [special.chdtri(dfs, alpha / 2), special.chdtri(dfs, 1 - alpha / 2)]
        root = None
        qroots = None
        if est_root or want_q:
            batch = (y[None], v[None], m[None], k[None], w0[None], sw0[None], mu0[None]) if row else (y, v, m, k, w0, sw0, mu0)
            bt = _roots.Batch(*batch)
            lik = est_root and method in ("ML", "REML")
            t_lik, roots = _roots.solve(bt, method == "REML", lik, targets, batch[3] > 1)
            if row:
                t_lik, roots = (None if t_lik is None else t_lik[0]), [r[0] for r in roots]
            root = t_lik if lik else (roots[0] if est_root else None)
            qroots = roots[-2:] if want_q else None
        if tau2 is None:
            t2, se_t2 = estimate_tau2(y, v, m, method, root, fstats)
        else:
            t2 = np.asarray(tau2, dtype=float).reshape(-1)[0] if row else np.broadcast_to(np.asarray(tau2, dtype=float), shape).copy()
            se_t2 = np.full(shape, np.nan)
        w, sw, est, r = _wls(y, v, m, t2)
        vb = 1.0 / sw
        if test == "z":
            s2w = np.ones(shape)
            se = np.sqrt(vb)
            stat = est / se
            df = np.full(shape, np.nan)
            crit = special.ndtri(1 - alpha / 2)
            pval = 2 * special.ndtr(-np.abs(stat))
        else:
            rss = _rowsum(w * r * r)
            s2w = np.where(rss <= _EPS, 0.0, rss / dfs)
            if test == "adhoc":
                s2w = np.maximum(s2w, 1.0)
            s2w = _pick(every, multi, s2w, 1.0)
            se = np.sqrt(s2w * vb)
            stat = est / se
            df = _pick(every, multi, k - 1, np.nan)
            t_crit, t_p = special.stdtrit(dfs, 1 - alpha / 2), 2 * special.stdtr(dfs, -np.abs(stat))
            if every:
                crit, pval = t_crit, t_p
            else:
                crit = np.where(multi, t_crit, special.ndtri(1 - alpha / 2))
                pval = np.where(multi, t_p, 2 * special.ndtr(-np.abs(stat)))
        ci_lb, ci_ub = est - crit * se, est + crit * se
        # heterogeneity (fixed-effect weights)
        q = np.maximum(0.0, q0)
        q = _pick(every, multi, q, 0.0)
        qdf = k - 1
        qp = _pick(every, multi, special.chdtrc(dfs, q), 1.0)
        vt = (k - 1) / trp0
        i2q = np.where(multi & (q > 0), np.maximum(0.0, 100 * (q - qdf) / q), 0.0)
        if fe:
            i2 = i2q
            h2 = _pick(every, multi, q / dfs, 1.0)
        else:
            i2 = _pick(every, multi, 100 * t2 / (vt + t2), 0.0)
            h2 = _pick(every, multi, t2 / vt + 1, 1.0)
        # prediction intervals
        if fe:
            pi_lb = pi_ub = pk_lb = pk_ub = np.full(shape, np.nan)
        else:
            sepred = np.sqrt(se * se + t2)
            pi_lb, pi_ub = est - crit * sepred, est + crit * sepred
            c2 = special.stdtrit(np.maximum(k - 2, 1), 1 - alpha / 2)
            three = k >= 3
            every3 = bool(_ALL(three, axis=None))
            pk_lb = _pick(every3, three, est - c2 * sepred, np.nan)
            pk_ub = _pick(every3, three, est + c2 * sepred, np.nan)
        out = {
            "k": k.astype(int),
            "estimate": est,
            "se": se,
            "stat": stat,
            "df": df,
            "pval": pval,
            "ci_lb": ci_lb,
            "ci_ub": ci_ub,
            "tau2": t2,
            "se_tau2": se_t2,
            "i2": i2,
            "h2": h2,
            "i2_q": i2q,
            "q": q,
            "q_df": qdf.astype(int),
            "q_pval": qp,
            "vt": vt,
            "s2w": s2w,
            "pi_lb": pi_lb,
            "pi_ub": pi_ub,
            "pi_km2_lb": pk_lb,
            "pi_km2_ub": pk_ub,
            "weights": 100 * w / sw[..., None],
        }
        if want_q:
            lb, ub = qroots
            lb = _pick(every, multi, lb, np.nan)
            ub = _pick(every, multi, ub, np.nan)
            out["tau2_ci_lb"], out["tau2_ci_ub"] = lb, ub
            out["i2_ci_lb"], out["i2_ci_ub"] = 100 * lb / (vt + lb), 100 * ub / (vt + ub)
            out["h2_ci_lb"], out["h2_ci_ub"] = lb / vt + 1, ub / vt + 1
    return out
