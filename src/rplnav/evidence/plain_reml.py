"""REML pooling of one small analysis in plain Python (no NumPy or SciPy), for the assessment.

Why a second implementation (a decision, 2026-12-03): the assessment attaches a pooled summary to every
therapy option, and importing :mod:`rplnav.evidence.pool` (NumPy + ``scipy.special``) costs 0.40 s of CPU
(median of 9 cold starts on the 2-core development machine; NumPy alone 0.14 s), against a start-up budget of
0.6 s for the whole of ``rplnav assess``.  The assessment's analyses are small (a few trials each), so plain
Python is as fast as NumPy there.  The price is a second copy of the estimator: it must stay equal to the
engine, which tests/evidence/test_stratify.py holds (300 random analyses, and likelihoods with two interior
local maxima where both must pick the same global one), and tests/core/test_cli_start.py fails if the
assessment starts importing NumPy again.  Should the command line ever need NumPy anyway, delete this
module and call ``rma_uni``.

This module reproduces, for one analysis of a few studies, the numbers of
:func:`rplnav.evidence.pool.rma_uni` with ``test="z"`` (the metafor defaults): the same REML algorithm (log-grid
scan for the global maximum, then safeguarded Newton polishing of the two best local maxima; see
:mod:`rplnav.evidence.core`), Wald z interval, Cochran's Q with its chi-square p value, I² and H² from tau² and
the typical within-study variance, and metafor's prediction interval.  The Q-profile interval for tau² is
left to the NumPy engine.  Agreement with ``rma_uni`` is tested to a relative 1e-9.

Effect sizes follow metafor's ``escalc`` exactly as :mod:`rplnav.evidence.effects` does (log RR, log OR with
0.5 added to every cell of a study with a zero cell; empty arms and double-zero studies are not estimable),
and an estimate with its 95% CI gives ``yi = log(est)``, ``SE = (log(ub) - log(lb)) / (2 z)``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_EPS = 2.220446049250313e-16
_GRID = 40
_MAXIT = 200
# the engine's grid: 0, then 39 log-spaced fractions from 1e-10 to 1 (numpy.geomspace(1e-10, 1, 39))
_FRAC = [0.0] + [10.0 ** (-10.0 + 10.0 * i / (_GRID - 2)) for i in range(_GRID - 1)]
_FRAC[-1] = 1.0
_ND = NormalDist()


def z_crit(level: float = 95.0) -> float:
    """Two-sided normal critical value (``qnorm(1 - alpha/2)``)."""
    return _ND.inv_cdf(0.5 + level / 200.0)


def chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution with an integer number of degrees of freedom (closed form)."""
    if df < 1:
        raise ValueError("df must be a positive integer")
    if x <= 0:
        return 1.0
    if df % 2 == 0:
        term = total = 1.0
        h = x / 2.0
        for j in range(1, df // 2):
            term *= h / j
            total += term
        return math.exp(-h) * total
    chi = math.sqrt(x)
    tail = math.erfc(chi / math.sqrt(2.0))
    if df == 1:
        return tail
    pdf = math.exp(-x / 2.0) / math.sqrt(2.0 * math.pi)
    term = chi
    total = chi
    for r in range(2, (df - 1) // 2 + 1):
        term *= x / (2 * r - 1)
        total += term
    return tail + 2.0 * pdf * total


# ------------------------------------------------------------------ effect sizes

def effect_from_counts(measure: str, ai: float, n1i: float, ci: float, n2i: float) -> tuple[float, float, str | None]:
    """(yi, vi, reason): log RR or log OR as metafor's escalc (``to="only0"``, ``drop00=True``)."""
    bi, di = n1i - ai, n2i - ci
    if n1i == 0 or n2i == 0:
        return math.nan, math.nan, "empty arm (no participants in one group)"
    if (ai == 0 and ci == 0) or (bi == 0 and di == 0):
        return math.nan, math.nan, ("no events in either group" if ai == 0 else "events in all participants of both groups")
    a, b, c, d = float(ai), float(bi), float(ci), float(di)
    if a == 0 or b == 0 or c == 0 or d == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    if measure == "OR":
        return math.log(a) + math.log(d) - math.log(b) - math.log(c), 1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d, None
    if measure == "RR":
        n1, n2 = a + b, c + d
        return math.log(a / n1) - math.log(c / n2), 1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2, None
    raise ValueError(f"measure must be RR or OR, not {measure!r}")


def effect_from_ci(value: float, lower: float, upper: float, level: float = 95.0) -> tuple[float, float]:
    """(yi, vi) on the log scale from a ratio estimate and its CI (Cochrane Handbook 6.3)."""
    se = (math.log(upper) - math.log(lower)) / (2.0 * z_crit(level))
    return math.log(value), se * se


# ------------------------------------------------------------------ REML

def _wls(y, v, t):
    w = [1.0 / (vi + t) for vi in v]
    sw = sum(w)
    mu = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sw
    return w, sw, mu


def _loglik(y, v, t):
    w, sw, mu = _wls(y, v, t)
    ll = -0.5 * (sum(math.log(vi + t) for vi in v) + sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, y, strict=True)))
    return ll - 0.5 * math.log(sw)


def _score_hess(y, v, t):
    w, sw, mu = _wls(y, v, t)
    a = s2 = b3 = c = s3 = 0.0
    for wi, yi in zip(w, y, strict=True):
        r = yi - mu
        wr = wi * r
        w2 = wi * wi
        a += wr * wr
        s2 += w2
        b3 += w2 * wr * r
        c += wi * wr
        s3 += w2 * wi
    ypppy = b3 - c * c / sw
    return a - sw + s2 / sw, s2 - 2.0 * s3 / sw + (s2 / sw) ** 2 - 2.0 * ypppy


def _newton(y, v, lo, hi, x):
    for _ in range(_MAXIT):
        s, h = _score_hess(y, v, x)
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


def tau2_reml(y: list[float], v: list[float]) -> float:
    """Global REML estimate of tau² (the engine's algorithm, in plain Python)."""
    k = len(y)
    if k < 2:
        return 0.0
    d = max(y) - min(y)
    top = 2.0 * max(max(v), 8.0 * d * d) + 1e-12
    grid = [top * f for f in _FRAC]
    ll = []
    for g in grid:
        try:
            val = _loglik(y, v, g)
        except (ValueError, ZeroDivisionError):
            val = -math.inf
        ll.append(val if math.isfinite(val) else -math.inf)
    c1 = max(range(_GRID), key=lambda i: (ll[i], -i))
    best2, c2 = -math.inf, None
    for i in range(_GRID):
        left = ll[i - 1] if i > 0 else -math.inf
        right = ll[i + 1] if i < _GRID - 1 else -math.inf
        if i != c1 and ll[i] >= left and ll[i] >= right and ll[i] > best2:
            best2, c2 = ll[i], i
    cands = [c1] if c2 is None else [c1, c2]
    best, best_ll = 0.0, -math.inf
    for j, c in enumerate(cands):
        lo = grid[c - 1] if c > 0 else 0.0
        hi = grid[min(c + 1, _GRID - 1)]
        if c == 0:
            x = 0.0 if _score_hess(y, v, 0.0)[0] <= 0 else _newton(y, v, lo, hi, 0.5 * hi)
        else:
            x = _newton(y, v, lo, hi, grid[c])
        if len(cands) == 1:
            return x
        llx = _loglik(y, v, x)
        if j == 0 or llx > best_ll:
            best, best_ll = x, llx
    return best


def pool(y: list[float], v: list[float], level: float = 95.0) -> dict[str, float | int | None]:
    """REML random-effects pooling of (y, v) with the metafor-default outputs (analysis scale)."""
    k = len(y)
    if k < 1:
        raise ValueError("no estimable studies")
    t2 = tau2_reml(y, v)
    w0 = [1.0 / vi for vi in v]
    sw0 = sum(w0)
    mu0 = sum(wi * yi for wi, yi in zip(w0, y, strict=True)) / sw0
    q = max(0.0, sum(wi * (yi - mu0) ** 2 for wi, yi in zip(w0, y, strict=True))) if k > 1 else 0.0
    trp0 = sw0 - sum(wi * wi for wi in w0) / sw0
    w, sw, est = _wls(y, v, t2)
    se = math.sqrt(1.0 / sw)
    crit = z_crit(level)
    z = est / se
    if k > 1:
        vt = (k - 1) / trp0
        i2 = 100.0 * t2 / (vt + t2)
        h2 = t2 / vt + 1.0
        qp = chi2_sf(q, k - 1)
    else:
        i2, h2, qp = 0.0, 1.0, 1.0
    sepred = math.sqrt(se * se + t2)
    return {
        "k": k,
        "estimate": est,
        "se": se,
        "ci_lower": est - crit * se,
        "ci_upper": est + crit * se,
        "z": z,
        "pvalue": math.erfc(abs(z) / math.sqrt(2.0)),
        "tau2": t2,
        "i2": i2,
        "h2": h2,
        "q": q,
        "q_df": k - 1,
        "q_pvalue": qp,
        "pi_lower": est - crit * sepred,
        "pi_upper": est + crit * sepred,
        "weights": [100.0 * wi / sw for wi in w],
    }
