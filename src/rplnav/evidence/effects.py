"""Per-study effect sizes from 2x2 counts or from a reported estimate and 95 % CI.

Conventions follow metafor's ``escalc`` (Viechtbauer 2010, J Stat Softw 36(3)):

* log odds ratio with the Woolf (1955) variance 1/a + 1/b + 1/c + 1/d;
* log risk ratio with variance 1/a - 1/n1 + 1/c - 1/n2 (Greenland & Robins 1985 large-sample form);
* risk difference with variance p1(1-p1)/n1 + p2(1-p2)/n2.

Continuity correction (``to``): ``"only0"`` (default, metafor's and RevMan 5's rule) adds ``add`` to all
four cells of studies having a zero cell; ``"all"`` adds it to every study; ``"none"`` adds nothing.
Because the correction is added to cells, the arm totals grow by ``2*add`` (RevMan's ``RR.Cochrane`` rule).

Studies that cannot be estimated are kept in the output with ``yi = vi = nan`` and a reason:
an empty arm (n = 0; RevMan "Not estimable") and, for OR/RR with ``drop00=True``, a double-zero study
(no events in both arms, or events in every participant of both arms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

MEASURES = ("OR", "RR", "RD")
RATIO_MEASURES = ("OR", "RR")


@dataclass
class EffectSizes:
    """Per-study outcomes on the analysis scale (log for OR/RR) with sampling variances."""

    measure: str
    yi: np.ndarray
    vi: np.ndarray
    slab: list[str]
    reasons: list[str | None] = field(default_factory=list)

    @property
    def estimable(self) -> np.ndarray:
        """Boolean mask of studies with a usable (yi, vi)."""
        return np.isfinite(self.yi) & np.isfinite(self.vi)

    def ci(self, level: float = 95.0) -> tuple[np.ndarray, np.ndarray]:
        """Wald CI per study (Woolf interval for log OR)."""
        z = float(special.ndtri(0.5 + level / 200.0))
        se = np.sqrt(self.vi)
        return self.yi - z * se, self.yi + z * se


def _arr(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


def check_counts(ai: np.ndarray, n1i: np.ndarray, ci: np.ndarray, n2i: np.ndarray) -> None:
    """Raise ValueError for negative counts or events exceeding totals."""
    for name, a in (("ai", ai), ("n1i", n1i), ("ci", ci), ("n2i", n2i)):
        if np.any(~np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"{name} must be finite and non-negative")
    if np.any(ai > n1i) or np.any(ci > n2i):
        raise ValueError("events exceed totals")


def study_status(measure: str, ai, n1i, ci, n2i, drop00: bool = True) -> list[str | None]:
    """Reason a study is not estimable (None if it is): empty arm, or double zero for OR/RR."""
    ai, n1i, ci, n2i = map(_arr, (ai, n1i, ci, n2i))
    bi, di = n1i - ai, n2i - ci
    out: list[str | None] = []
    for a, n1, c, n2, b, d in zip(ai, n1i, ci, n2i, bi, di, strict=True):
        if n1 == 0 or n2 == 0:
            out.append("empty arm (no participants in one group)")
        elif drop00 and measure in RATIO_MEASURES and ((a == 0 and c == 0) or (b == 0 and d == 0)):
            out.append("no events in either group" if a == 0 else "events in all participants of both groups")
        else:
            out.append(None)
    return out


def continuity_cells(ai, n1i, ci, n2i, add: float = 0.5, to: str = "only0"):
    """Return (a, b, c, d) with ``add`` applied per ``to`` in {"only0", "all", "none"}."""
    ai, n1i, ci, n2i = map(_arr, (ai, n1i, ci, n2i))
    a, b, c, d = ai.copy(), n1i - ai, ci.copy(), n2i - ci
    if to == "all":
        sel = np.ones_like(a, dtype=bool)
    elif to == "only0":
        sel = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    elif to == "none":
        sel = np.zeros_like(a, dtype=bool)
    else:
        raise ValueError(f"unknown continuity-correction rule {to!r} (use only0, all, none)")
    if add:
        a, b, c, d = (x + np.where(sel, add, 0.0) for x in (a, b, c, d))
    return a, b, c, d


def escalc(
    measure: str,
    ai: Sequence[float],
    n1i: Sequence[float],
    ci: Sequence[float],
    n2i: Sequence[float],
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = True,
    slab: Sequence[str] | None = None,
) -> EffectSizes:
    """Effect sizes from events/totals per arm, as metafor's ``escalc(measure, ai, n1i=, ci, n2i=)``.

    ``drop00=True`` (RevMan and meta behaviour) marks double-zero studies not estimable for OR/RR;
    risk differences keep them.  Empty arms are always not estimable.
    """
    measure = measure.upper()
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; use one of {MEASURES}")
    ai, n1i, ci, n2i = map(_arr, (ai, n1i, ci, n2i))
    check_counts(ai, n1i, ci, n2i)
    reasons = study_status(measure, ai, n1i, ci, n2i, drop00=drop00)
    ok = np.array([r is None for r in reasons])
    a, b, c, d = continuity_cells(ai, n1i, ci, n2i, add=add, to=to)
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi = np.log(a) + np.log(d) - np.log(b) - np.log(c)
            vi = 1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d
        elif measure == "RR":
            yi = np.log(a / n1) - np.log(c / n2)
            vi = 1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2
        else:
            p1, p2 = a / n1, c / n2
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    bad = ~ok | ~np.isfinite(yi) | ~np.isfinite(vi) | (vi <= 0)
    for i in np.flatnonzero(bad & ok):
        reasons[i] = "effect not estimable (zero variance or undefined log)"
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    labels = list(slab) if slab is not None else [f"Study {i + 1}" for i in range(len(yi))]
    return EffectSizes(measure, yi, vi, labels, reasons)


def from_ci(
    estimate: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    ratio: bool = True,
    level: float = 95.0,
    slab: Sequence[str] | None = None,
    asym_tol: float = 0.1,
) -> tuple[EffectSizes, list[bool]]:
    """Generic inverse-variance input from a reported estimate and CI.

    Ratio scale: yi = log(est), SE = (log(ub) - log(lb)) / (2 z); difference scale: SE = (ub - lb) / (2 z)
    (Cochrane Handbook section 6.3).  Returns the effects and, per study, whether the CI is asymmetric on
    the analysis scale by more than ``asym_tol`` of its half-width (a flag for rounding or a
    non-Wald interval).
    """
    est, lb, ub = map(_arr, (estimate, lower, upper))
    if ratio and (np.any(est <= 0) or np.any(lb <= 0) or np.any(ub <= 0)):
        raise ValueError("ratio estimates and CI limits must be positive")
    if np.any(lb > est) or np.any(ub < est):
        raise ValueError("CI must contain the estimate")
    z = float(special.ndtri(0.5 + level / 200.0))
    if ratio:
        y, lo, hi = np.log(est), np.log(lb), np.log(ub)
    else:
        y, lo, hi = est, lb, ub
    se = (hi - lo) / (2 * z)
    half = (hi - lo) / 2
    asym = [bool(h > 0 and abs((yy - lo_) - (hi_ - yy)) > 2 * asym_tol * h) for yy, lo_, hi_, h in zip(y, lo, hi, half, strict=True)]
    labels = list(slab) if slab is not None else [f"Study {i + 1}" for i in range(len(y))]
    measure = "GEN(log)" if ratio else "GEN"
    return EffectSizes(measure, y.astype(float), se**2, labels, [None] * len(y)), asym


def woolf_or(a: float, n1: float, c: float, n2: float, level: float = 95.0) -> tuple[float, float, float]:
    """Single-study OR with Woolf (1955) CI, 0.5 added to all cells if any is zero."""
    es = escalc("OR", [a], [n1], [c], [n2])
    lo, hi = es.ci(level)
    return math.exp(es.yi[0]), math.exp(lo[0]), math.exp(hi[0])
