"""Vectorised inverse-variance meta-analysis engine (many analyses at once, shape (B, k)).

Every scalar fit in :mod:`rplnav.evidence.pool` runs through this module with B = 1, so the batch and
scalar paths execute the same per-analysis arithmetic.  Ragged analyses (leave-one-out, cumulative,
subgroups) are expressed with a boolean ``mask``; masked-out entries get zero weight.

Estimators of the between-study variance tau^2 (all truncated at 0, as in metafor 3.8):

* ``FE``  -- none (tau^2 = 0; equal/common-effect inverse-variance model).
* ``DL``  -- DerSimonian & Laird (1986) method of moments.
* ``HE``  -- Hedges & Olkin (1985) unweighted method of moments ("Hedges" estimator).
* ``HS``/``HSk`` -- Hunter & Schmidt (2004), and its k/(k-1)-corrected version (Viechtbauer 2005 notation).
* ``SJ``  -- Sidik & Jonkman (2005) two-step estimator started at the unweighted variance.
* ``ML``/``REML`` -- (restricted) maximum likelihood (Viechtbauer 2005); the GLOBAL maximum is found by
  scanning a log grid of tau^2 values, then polishing the two best local maxima by safeguarded Newton
  iterations on the score (observed information) to relative 1e-14.
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

TAU2_METHODS = ("FE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM")
TESTS = ("z", "knha", "adhoc")
_EPS = np.finfo(float).eps
_GRID = 40
_MAXIT = 200
_FRAC = np.concatenate([[0.0], np.geomspace(1e-10, 1.0, _GRID - 1)])  # tau^2 grid as a fraction of its top


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
    return a.sum(axis=-1)


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
    big = np.where(m > 0, y, -np.inf).max(axis=-1)
    small = np.where(m > 0, y, np.inf).min(axis=-1)
    d = big - small
    return np.where(np.isfinite(d), d, 0.0)


def _newton_reml(y, v, m, lo, hi, x, active, reml):
    """Safeguarded Newton on the score inside [lo, hi]; elements freeze once converged."""
    for _it in range(_MAXIT):
        if not active.any():
            break
        s, h = _score_hess(y, v, m, x, reml)
        lo = np.where(active & (s > 0), x, lo)
        hi = np.where(active & (s < 0), x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - s / h
        ok = (h < 0) & np.isfinite(newton) & (newton > lo) & (newton < hi)
        xn = np.where(ok, newton, 0.5 * (lo + hi))
        xn = np.where(s == 0, x, xn)
        # a Newton step below 1e-9 relative leaves an error ~1e-18 (quadratic convergence): accept and stop
        done = (ok & (np.abs(xn - x) <= 1e-9 * np.abs(x))) | (np.abs(xn - x) <= 1e-14 * np.abs(x)) | (hi - lo <= 4 * _EPS * hi) | (s == 0)
        x = np.where(active, xn, x)
        active = active & ~done
    return x


def tau2_ml(y, v, m, reml=True):
    """Global (RE)ML estimate of tau^2: log-grid scan, then Newton polishing of the two best local maxima."""
    B = y.shape[0]
    k = _rowsum(m)
    d = _spread(y, m)
    vmax = np.where(m > 0, v, 0.0).max(axis=-1)
    # beyond 8 d^2 (and above max v_i) the score is negative for any k >= 2, so the maximum lies below top
    top = 2.0 * np.maximum(vmax, 8.0 * d * d) + 1e-12
    grid = top[:, None] * _FRAC[None, :]  # (B, G)
    chunk = max(1, int(2_000_000 // max(1, B * y.shape[1])))
    lls = []
    for g0 in range(0, _GRID, chunk):
        g = grid[:, g0 : g0 + chunk]
        lls.append(_loglik(y[:, None, :], v[:, None, :], m[:, None, :], g, reml))
    ll = np.concatenate(lls, axis=1)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    left = np.concatenate([np.full((B, 1), -np.inf), ll[:, :-1]], axis=1)
    right = np.concatenate([ll[:, 1:], np.full((B, 1), -np.inf)], axis=1)
    isloc = (ll >= left) & (ll >= right)
    idx = np.arange(_GRID)[None, :]
    c1 = np.argmax(ll, axis=1)
    ll2 = np.where(isloc & (idx != c1[:, None]), ll, -np.inf)
    c2 = np.argmax(ll2, axis=1)
    c2 = np.where(np.isfinite(ll2[np.arange(B), c2]), c2, c1)
    if B == 1 and c2[0] == c1[0]:  # single analysis with one discrete local maximum: refine it only
        cand, Y, V, M, G, R = c1, y, v, m, grid, 1
    else:
        cand = np.concatenate([c1, c2])  # (2B,)
        Y, V, M = (np.concatenate([a, a]) for a in (y, v, m))
        G = np.concatenate([grid, grid])
        R = 2
    rows = np.arange(R * B)
    s0, _ = _score_hess(Y, V, M, np.zeros(R * B), reml)
    x0 = G[rows, cand]
    lo = np.where(cand > 0, G[rows, np.maximum(cand - 1, 0)], 0.0)
    hi = G[rows, np.minimum(cand + 1, _GRID - 1)]
    at0 = cand == 0
    x0 = np.where(at0, 0.5 * hi, x0)
    active = ~(at0 & (s0 <= 0)) & (np.concatenate([k] * R) > 1)
    x0 = np.where(active, x0, 0.0)
    x = _newton_reml(Y, V, M, lo, hi, x0, active, reml)
    if R == 1:
        return x
    llx = _loglik(Y, V, M, x, reml)
    first, second = x[:B], x[B:]
    better = llx[B:] > llx[:B]
    return np.where(better, second, first)


def solve_qgen(y, v, m, target):
    """Root tau^2 >= 0 of Q_gen(tau^2) = target (0 if Q_gen(0) <= target); safeguarded Newton on 1/Q."""
    k = _rowsum(m)
    target = np.broadcast_to(np.asarray(target, dtype=float), k.shape).copy()
    q0 = qgen(y, v, m, np.zeros_like(k))
    d = _spread(y, m)
    hi = np.where(target > 0, 1.1 * k * d * d / np.where(target > 0, target, 1.0), 0.0) + 1e-12
    lo = np.zeros_like(k)
    active = (q0 > target) & (k > 1) & (target > 0)
    w0 = m / v
    sw0 = _rowsum(w0)
    trp0 = sw0 - _rowsum(w0 * w0) / sw0
    x = np.where(active, np.clip((q0 - target) / trp0, 0.0, hi), 0.0)  # generalised-DL one-step start
    for _it in range(_MAXIT):
        if not active.any():
            break
        w, sw, mu, r = _wls(y, v, m, x)
        q = _rowsum(w * r * r)
        dq = -_rowsum(w * w * r * r)  # dQ/dtau^2 (mu is stationary)
        f = 1.0 / q - 1.0 / target  # increasing in tau^2
        lo = np.where(active & (f < 0), x, lo)
        hi = np.where(active & (f > 0), x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - f / (-dq / (q * q))
        ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
        xn = np.where(ok, newton, 0.5 * (lo + hi))
        xn = np.where(f == 0, x, xn)
        done = (ok & (np.abs(xn - x) <= 1e-9 * np.abs(xn))) | (np.abs(xn - x) <= 1e-14 * np.abs(xn)) | (hi - lo <= 4 * _EPS * hi) | (f == 0)
        x = np.where(active, xn, x)
        active = active & ~done
    return x


def _sp2(w, s, a, b):
    """sum_ij P_ij^2 a_i b_j for P = diag(w) - w w'/s (row-wise)."""
    w2 = w * w
    return _rowsum(w2 * a * b * (1.0 - 2.0 * w / s[..., None])) + _rowsum(w2 * a) * _rowsum(w2 * b) / (s * s)


def estimate_tau2(y, v, m, method):
    """tau^2 and its standard error (metafor's formulas) for each analysis in the batch."""
    k = _rowsum(m)
    km1 = np.maximum(k - 1, 1)
    zero = np.zeros_like(k)
    ones = m
    w0 = m / v
    sw0 = _rowsum(w0)
    mu0 = _rowsum(w0 * y) / sw0
    q0 = _rowsum(w0 * (y - mu0[:, None]) ** 2)
    trp0 = sw0 - _rowsum(w0 * w0) / sw0
    if method == "FE":
        return zero, np.full_like(k, np.nan)
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
        rss = _rowsum(m * (y - ybar[:, None]) ** 2)
        sv = _rowsum(v * m)
        trpv = sv * (k - 1) / k
        t2 = np.maximum(0.0, (rss - trpv) / km1)
        trpvpv = _sp2(m, k, v * m, v * m)  # unweighted P = I - J/k
        se = np.sqrt((2 * trpvpv + 4 * t2 * trpv + 2 * t2 * t2 * (k - 1)) / km1**2)
    elif method == "SJ":
        ybar = _rowsum(y * m) / k
        t20 = _rowsum(m * (y - ybar[:, None]) ** 2) / k
        w, sw, mu, r = _wls(y, v, m, t20)
        t2 = np.maximum(0.0, t20 * _rowsum(w * r * r) / km1)
        vm = v * m
        trpvpv = _sp2(w, sw, vm, vm)
        spvp = _sp2(w, sw, ones, vm)
        spp = _sp2(w, sw, ones, ones)
        se = np.sqrt(t20**2 / km1**2 * (2 * trpvpv + 4 * t2 * spvp + 2 * t2 * t2 * spp))
    elif method in ("ML", "REML"):
        t2 = tau2_ml(y, v, m, reml=method == "REML")
        w, sw, mu, r = _wls(y, v, m, t2)
        if method == "ML":
            se = np.sqrt(2.0 / _rowsum(w * w))
        else:
            se = np.sqrt(2.0 / _sp2(w, sw, ones, ones))
    elif method in ("PM", "EB", "PMM"):
        target = k - 1 if method != "PMM" else special.chdtri(km1, 0.5)
        t2 = solve_qgen(y, v, m, target)
        w, sw, mu, r = _wls(y, v, m, t2)
        se = np.sqrt(2 * k * k / km1 / sw**2)
    else:
        raise ValueError(f"unknown tau^2 method {method!r}; use one of {TAU2_METHODS}")
    t2 = np.where(k > 1, t2, 0.0)
    return t2, np.where(k > 1, se, np.nan)


def fit(y, v, mask=None, method="REML", test="z", level=95.0, qprofile=True, tau2=None):
    """Fit B intercept-only models at once.  ``y``, ``v``: (B, k) or (k,).  Returns a dict of arrays.

    ``tau2`` (optional, shape (B,)) fixes tau^2 instead of estimating it (as ``rma(..., tau2=)``).
    """
    if method not in TAU2_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {TAU2_METHODS}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; use one of {TESTS}")
    y, v, m = _prep(y, v, mask)
    k = _rowsum(m)
    if np.any(k < 1):
        raise ValueError("every analysis needs at least one study")
    fe = method == "FE"
    with np.errstate(divide="ignore", invalid="ignore"):
        if tau2 is None:
            t2, se_t2 = estimate_tau2(y, v, m, method)
        else:
            t2 = np.broadcast_to(np.asarray(tau2, dtype=float), k.shape).copy()
            se_t2 = np.full_like(k, np.nan)
        alpha = 1.0 - level / 100.0
        w, sw, est, r = _wls(y, v, m, t2)
        vb = 1.0 / sw
        use_t = (test != "z") & (k > 1)
        rss = _rowsum(w * r * r)
        s2w = np.where(rss <= _EPS, 0.0, rss / np.maximum(k - 1, 1))
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)
        s2w = np.where(use_t, s2w, 1.0)
        se = np.sqrt(s2w * vb)
        stat = est / se
        df = np.where(use_t, k - 1, np.nan)
        dfs = np.maximum(k - 1, 1)
        crit = np.where(use_t, special.stdtrit(dfs, 1 - alpha / 2), special.ndtri(1 - alpha / 2))
        pval = np.where(use_t, 2 * special.stdtr(dfs, -np.abs(stat)), 2 * special.ndtr(-np.abs(stat)))
        ci_lb, ci_ub = est - crit * se, est + crit * se
        # heterogeneity (fixed-effect weights)
        w0 = m / v
        sw0 = _rowsum(w0)
        mu0 = _rowsum(w0 * y) / sw0
        q = np.maximum(0.0, _rowsum(w0 * (y - mu0[:, None]) ** 2))
        q = np.where(k > 1, q, 0.0)
        qdf = k - 1
        qp = np.where(k > 1, special.chdtrc(dfs, q), 1.0)
        trp0 = sw0 - _rowsum(w0 * w0) / sw0
        vt = (k - 1) / trp0
        i2q = np.where((k > 1) & (q > 0), np.maximum(0.0, 100 * (q - qdf) / q), 0.0)
        if fe:
            i2 = i2q
            h2 = np.where(k > 1, q / dfs, 1.0)
        else:
            i2 = np.where(k > 1, 100 * t2 / (vt + t2), 0.0)
            h2 = np.where(k > 1, t2 / vt + 1, 1.0)
        # prediction intervals
        sepred = np.sqrt(se * se + t2)
        if fe:
            pi_lb = pi_ub = pk_lb = pk_ub = np.full_like(k, np.nan)
        else:
            pi_lb, pi_ub = est - crit * sepred, est + crit * sepred
            c2 = special.stdtrit(np.maximum(k - 2, 1), 1 - alpha / 2)
            pk_lb = np.where(k >= 3, est - c2 * sepred, np.nan)
            pk_ub = np.where(k >= 3, est + c2 * sepred, np.nan)
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
            "weights": 100 * w / sw[:, None],
        }
        if qprofile and not fe:
            crit_u = special.chdtri(dfs, alpha / 2)
            crit_l = special.chdtri(dfs, 1 - alpha / 2)
            lb = solve_qgen(y, v, m, crit_u)
            ub = solve_qgen(y, v, m, crit_l)
            lb = np.where(k > 1, lb, np.nan)
            ub = np.where(k > 1, ub, np.nan)
            out["tau2_ci_lb"], out["tau2_ci_ub"] = lb, ub
            out["i2_ci_lb"], out["i2_ci_ub"] = 100 * lb / (vt + lb), 100 * ub / (vt + ub)
            out["h2_ci_lb"], out["h2_ci_ub"] = lb / vt + 1, ub / vt + 1
    return out


# ----------------------------------------------------------------------------------------------------
# Low-overhead path for a single analysis.  Same algorithm and decisions as the batch path above (same
# grid, candidates, brackets, safeguarded Newton updates and stopping rules), written with 1-D arrays and
# Python floats so that one fit costs tens of microseconds.  The batch/scalar identity is tested.

FAST_METHODS = ("FE", "DL", "REML", "ML", "PM", "EB", "PMM")


def _score_hess1(y, v, t, reml):
    one = np.ones_like(y)
    w = 1.0 / (v + t)
    sw = w @ one
    mu = (w @ y) / sw
    r = y - mu
    wr = w * r
    a = wr @ wr
    s2 = w @ w
    ww = w * wr
    b3 = ww @ wr
    c = w @ wr
    ypppy = b3 - c * c / sw
    if reml:
        s3 = (w * w) @ w
        return a - sw + s2 / sw, s2 - 2.0 * s3 / sw + (s2 / sw) ** 2 - 2.0 * ypppy
    return a - sw, s2 - 2.0 * ypppy


def _ll1(y, v, t, reml):
    one = np.ones_like(y)
    w = 1.0 / (v + t)
    sw = w @ one
    r = y - (w @ y) / sw
    ll = -0.5 * (np.log(v + t) @ one + (w * r) @ r)
    return ll - 0.5 * np.log(sw) if reml else ll


def _newton1(y, v, lo, hi, x, reml):
    for _ in range(_MAXIT):
        s, h = _score_hess1(y, v, x, reml)
        if s > 0:
            lo = x
        elif s < 0:
            hi = x
        else:
            return x
        newton = x - s / h if h != 0 else math.nan
        ok = h < 0 and math.isfinite(newton) and lo < newton < hi
        xn = newton if ok else 0.5 * (lo + hi)
        done = (ok and abs(xn - x) <= 1e-9 * abs(x)) or abs(xn - x) <= 1e-14 * abs(x) or hi - lo <= 4 * _EPS * hi
        x = xn
        if done:
            break
    return x


def _tau2_ml1(y, v, reml):
    k = len(y)
    if k < 2:
        return 0.0
    d = float(y.max() - y.min())
    top = 2.0 * max(float(v.max()), 8.0 * d * d) + 1e-12
    grid = top * _FRAC
    ll = _loglik(y[None, None, :], v[None, None, :], np.ones((1, 1, k)), grid[None, :], reml)[0]
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    left = np.concatenate([[-np.inf], ll[:-1]])
    right = np.concatenate([ll[1:], [-np.inf]])
    isloc = (ll >= left) & (ll >= right)
    c1 = int(np.argmax(ll))
    ll2 = np.where(isloc & (np.arange(_GRID) != c1), ll, -np.inf)
    c2 = int(np.argmax(ll2))
    cands = [c1] if not np.isfinite(ll2[c2]) else [c1, c2]
    s0 = None
    best, best_ll = 0.0, -math.inf
    for j, c in enumerate(cands):
        lo = float(grid[c - 1]) if c > 0 else 0.0
        hi = float(grid[min(c + 1, _GRID - 1)])
        if c == 0:
            if s0 is None:
                s0 = _score_hess1(y, v, 0.0, reml)[0]
            x = 0.0 if s0 <= 0 else _newton1(y, v, lo, hi, 0.5 * hi, reml)
        else:
            x = _newton1(y, v, lo, hi, float(grid[c]), reml)
        if len(cands) == 1:
            return x
        llx = _ll1(y, v, x, reml)
        if j == 0 or llx > best_ll:
            best, best_ll = x, llx
    return best


def _qroot1(y, v, target, q0, trp0):
    """Scalar version of :func:`solve_qgen`."""
    k = len(y)
    if not (q0 > target and k > 1 and target > 0):
        return 0.0
    d = float(y.max() - y.min())
    hi = 1.1 * k * d * d / target + 1e-12
    lo = 0.0
    x = min(max((q0 - target) / trp0, 0.0), hi)
    one = np.ones_like(y)
    for _ in range(_MAXIT):
        w = 1.0 / (v + x)
        sw = w @ one
        r = y - (w @ y) / sw
        wr = w * r
        q = wr @ r
        dq = -(wr @ wr)
        f = 1.0 / q - 1.0 / target
        if f < 0:
            lo = x
        elif f > 0:
            hi = x
        else:
            return x
        newton = x - f / (-dq / (q * q))
        ok = math.isfinite(newton) and lo < newton < hi
        xn = newton if ok else 0.5 * (lo + hi)
        done = (ok and abs(xn - x) <= 1e-9 * abs(xn)) or abs(xn - x) <= 1e-14 * abs(xn) or hi - lo <= 4 * _EPS * hi
        x = xn
        if done:
            break
    return x


def fit_one(y, v, mask=None, method="REML", test="z", level=95.0, qprofile=True):
    """Single-analysis version of :func:`fit` (same keys; scalars as floats, weights as a (1, K) array)."""
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    inc = np.isfinite(y) & np.isfinite(v) if mask is None else (np.asarray(mask, bool) & np.isfinite(y) & np.isfinite(v))
    yy, vv = y[inc], v[inc]
    k = len(yy)
    one = np.ones(k)
    if k < 1:
        raise ValueError("every analysis needs at least one study")
    w0 = 1.0 / vv
    sw0 = w0 @ one
    s20 = w0 @ w0
    trp0 = sw0 - s20 / sw0
    r0 = yy - (w0 @ yy) / sw0
    q0 = max(0.0, float((w0 * r0) @ r0)) if k > 1 else 0.0
    km1 = max(k - 1, 1)
    fe = method == "FE"
    se_t2 = math.nan
    if fe:
        t2 = 0.0
    elif k < 2:
        t2 = 0.0
    elif method == "DL":
        t2 = max(0.0, (q0 - (k - 1)) / trp0)
        spp = float(_sp2(w0[None], np.array([sw0]), np.ones((1, k)), np.ones((1, k)))[0])
        se_t2 = math.sqrt((2 * (k - 1) + 4 * t2 * trp0 + 2 * t2 * t2 * spp) / trp0**2)
    elif method in ("REML", "ML"):
        t2 = _tau2_ml1(yy, vv, method == "REML")
        w = 1.0 / (vv + t2)
        if method == "ML":
            se_t2 = math.sqrt(2.0 / (w @ w))
        else:
            sw = w @ one
            spp = float(_sp2(w[None], np.array([sw]), np.ones((1, k)), np.ones((1, k)))[0])
            se_t2 = math.sqrt(2.0 / spp)
    elif method in ("PM", "EB", "PMM"):
        target = float(k - 1) if method != "PMM" else float(special.chdtri(km1, 0.5))
        t2 = _qroot1(yy, vv, target, q0, trp0)
        se_t2 = math.sqrt(2 * k * k / km1) / ((1.0 / (vv + t2)) @ one)
    else:
        raise ValueError(f"fit_one does not handle method {method!r}")
    alpha = 1.0 - level / 100.0
    w = 1.0 / (vv + t2)
    sw = w @ one
    est = float(w @ yy) / sw
    r = yy - est
    use_t = test != "z" and k > 1
    if use_t:
        rss = float((w * r) @ r)
        s2w = 0.0 if rss <= _EPS else rss / (k - 1)
        if test == "adhoc":
            s2w = max(s2w, 1.0)
        crit = float(special.stdtrit(k - 1, 1 - alpha / 2))
    else:
        s2w = 1.0
        crit = float(special.ndtri(1 - alpha / 2))
    se = math.sqrt(s2w / sw)
    stat = est / se if se > 0 else math.copysign(math.inf, est)
    pval = float(2 * special.stdtr(k - 1, -abs(stat))) if use_t else float(2 * special.ndtr(-abs(stat)))
    qp = float(special.chdtrc(km1, q0)) if k > 1 else 1.0
    vt = (k - 1) / trp0 if k > 1 else math.nan
    i2q = max(0.0, 100 * (q0 - (k - 1)) / q0) if (k > 1 and q0 > 0) else 0.0
    if fe:
        i2, h2 = i2q, (q0 / km1 if k > 1 else 1.0)
    else:
        i2 = 100 * t2 / (vt + t2) if k > 1 else 0.0
        h2 = t2 / vt + 1 if k > 1 else 1.0
    nan = math.nan
    sepred = math.sqrt(se * se + t2)
    if fe:
        pi_lb = pi_ub = pk_lb = pk_ub = nan
    else:
        pi_lb, pi_ub = est - crit * sepred, est + crit * sepred
        if k >= 3:
            c2 = float(special.stdtrit(k - 2, 1 - alpha / 2))
            pk_lb, pk_ub = est - c2 * sepred, est + c2 * sepred
        else:
            pk_lb = pk_ub = nan
    weights = np.full((1, len(y)), nan)
    weights[0, inc] = 100 * w / sw
    out = {
        "k": k, "estimate": est, "se": se, "stat": stat, "df": float(k - 1) if use_t else nan, "pval": pval,
        "ci_lb": est - crit * se, "ci_ub": est + crit * se, "tau2": t2, "se_tau2": se_t2, "i2": i2, "h2": h2,
        "i2_q": i2q, "q": q0, "q_df": k - 1, "q_pval": qp, "vt": vt, "s2w": s2w, "pi_lb": pi_lb, "pi_ub": pi_ub,
        "pi_km2_lb": pk_lb, "pi_km2_ub": pk_ub, "weights": weights,
    }
    if qprofile and not fe:
        if k > 1:
            lb = _qroot1(yy, vv, float(special.chdtri(km1, alpha / 2)), q0, trp0)
            ub = _qroot1(yy, vv, float(special.chdtri(km1, 1 - alpha / 2)), q0, trp0)
            out.update({"tau2_ci_lb": lb, "tau2_ci_ub": ub, "i2_ci_lb": 100 * lb / (vt + lb),
                        "i2_ci_ub": 100 * ub / (vt + ub), "h2_ci_lb": lb / vt + 1, "h2_ci_ub": ub / vt + 1})
        else:
            out.update(dict.fromkeys(("tau2_ci_lb", "tau2_ci_ub", "i2_ci_lb", "i2_ci_ub", "h2_ci_lb", "h2_ci_ub"), nan))
    return out
