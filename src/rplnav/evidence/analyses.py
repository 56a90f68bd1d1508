"""Subgroup, leave-one-out and cumulative analyses, and the vectorised batch path.

* Test for subgroup differences (as RevMan prints "Test for subgroup differences: Chi² = …, df = …,
  P = …"): a fixed-effect inverse-variance Q between the subgroup pooled estimates using their standard
  errors (Borenstein et al. 2009, ch. 19; meta's ``Q.b``).  For fixed-effect models the alternative
  Q_total - sum Q_within is returned too.
* Leave-one-out and cumulative analyses refit the same model (metafor ``leave1out``/``cumul``).  For
  inverse-variance models all refits run as one masked batch through :mod:`rplnav.evidence.core`.
* :func:`batch_fit` fits many independent meta-analyses (B x k arrays) at once; the scalar path runs the
  same code with B = 1, so the two agree to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from . import core
from .effects import escalc
from .pool import PROFILES, MetaResult, meta_analysis


def batch_fit(
    yi: np.ndarray,
    vi: np.ndarray,
    mask: np.ndarray | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    qprofile: bool = True,
) -> dict[str, np.ndarray]:
    """Fit B independent intercept-only models; ``yi``, ``vi`` of shape (B, k); ``mask`` for ragged k.

    Returns a dict of arrays (estimate, se, ci_lb, ci_ub, tau2, tau2_ci_lb/ub, i2, h2, q, pi_lb/ub,
    weights, ...), identical (to rounding) to fitting each row with :func:`rplnav.evidence.pool.rma_uni`.
    """
    return core.fit(yi, vi, mask=mask, method=method, test=test, level=level, qprofile=qprofile)


def _subset(data: dict[str, Any], idx: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in data.items():
        if isinstance(val, list | tuple | np.ndarray) and len(val) == len(data["study"]):
            out[key] = [val[i] for i in idx]
        else:
            out[key] = val
    return out


def _row(label: str, r: dict[str, Any]) -> dict[str, Any]:
    return {"study": label, **r}


def _summ(res: MetaResult) -> dict[str, Any]:
    return {
        "k": res.k,
        "estimate": res.estimate,
        "se": res.se,
        "stat": res.stat,
        "pvalue": res.pvalue,
        "ci_lower": res.ci_lower,
        "ci_upper": res.ci_upper,
        "q": res.q,
        "q_pvalue": res.q_pvalue,
        "tau2": res.tau2,
        "i2": res.i2,
        "h2": res.h2,
    }


_UNI = {m for m in core.TAU2_METHODS}


def _iv_inputs(data, measure, method):
    if all(key in data for key in ("ai", "n1i", "ci", "n2i")):
        es = escalc(measure, data["ai"], data["n1i"], data["ci"], data["n2i"], slab=data["study"])
        return es.yi, es.vi
    return np.asarray(data["yi"], float), np.asarray(data["vi"], float)


def _masked_rows(data, measure, method, test, level, masks, labels):
    yi, vi = _iv_inputs(data, measure, method)
    B = masks.shape[0]
    r = core.fit(np.broadcast_to(yi, (B, len(yi))), np.broadcast_to(vi, (B, len(vi))), masks,
                 method=method, test=test, level=level, qprofile=False)
    rows = []
    for b in range(B):
        rows.append(_row(labels[b], {
            "k": int(r["k"][b]), "estimate": float(r["estimate"][b]), "se": float(r["se"][b]),
            "stat": float(r["stat"][b]), "pvalue": float(r["pval"][b]), "ci_lower": float(r["ci_lb"][b]),
            "ci_upper": float(r["ci_ub"][b]), "q": float(r["q"][b]), "q_pvalue": float(r["q_pval"][b]),
            "tau2": float(r["tau2"][b]), "i2": float(r["i2"][b]), "h2": float(r["h2"][b]),
        }))
    return rows


def _resolve(method, profile, hksj, test=None):
    prof = PROFILES[profile]
    method = (method or prof["method"]).upper()
    method = "HSk" if method == "HSK" else method
    test = test or ("knha" if hksj else prof["test"])
    if method == "FE":
        test = "z"
    return method, test


def leave_one_out(
    data: dict[str, Any],
    measure: str = "OR",
    method: str | None = None,
    profile: str = "metafor",
    hksj: bool = False,
    random: bool = False,
    level: float = 95.0,
    test: str | None = None,
) -> list[dict[str, Any]]:
    """Refit omitting each estimable study in turn (metafor ``leave1out``); one row per omitted study."""
    kw = {"measure": measure, "method": method, "profile": profile, "hksj": hksj, "random": random, "level": level, "test": test}
    full = meta_analysis(data, **kw)
    idx = np.flatnonzero(full.included)
    labels = [full.slab[i] for i in idx]
    meth, test = _resolve(method, profile, hksj, test)
    if meth in _UNI and full.method != "MH":
        masks = np.repeat(full.included[None, :], len(idx), axis=0)
        masks[np.arange(len(idx)), idx] = False
        return _masked_rows(data, measure, meth, test, level, masks, labels)
    rows = []
    for j in idx:
        keep = [i for i in range(len(full.slab)) if i != j]
        res = meta_analysis(_subset(data, keep), **kw)
        rows.append(_row(full.slab[j], _summ(res)))
    return rows


def cumulative(
    data: dict[str, Any],
    measure: str = "OR",
    method: str | None = None,
    profile: str = "metafor",
    hksj: bool = False,
    random: bool = False,
    level: float = 95.0,
    order: Sequence[int] | None = None,
    test: str | None = None,
) -> list[dict[str, Any]]:
    """Cumulative meta-analysis adding estimable studies in data order (or ``order``), metafor ``cumul``."""
    kw = {"measure": measure, "method": method, "profile": profile, "hksj": hksj, "random": random, "level": level, "test": test}
    full = meta_analysis(data, **kw)
    seq = [i for i in (order if order is not None else range(len(full.slab))) if full.included[i]]
    labels = [full.slab[i] for i in seq]
    meth, test = _resolve(method, profile, hksj, test)
    if meth in _UNI and full.method != "MH":
        masks = np.zeros((len(seq), len(full.slab)), dtype=bool)
        for b in range(len(seq)):
            masks[b, seq[: b + 1]] = True
        return _masked_rows(data, measure, meth, test, level, masks, labels)
    rows = []
    for b in range(len(seq)):
        res = meta_analysis(_subset(data, seq[: b + 1]), **kw)
        rows.append(_row(labels[b], _summ(res)))
    return rows


@dataclass
class SubgroupResult:
    """Per-subgroup fits, the overall fit and the test for subgroup differences."""

    groups: dict[str, MetaResult]
    overall: MetaResult
    q_between: float
    df_between: int
    p_between: float
    i2_between: float
    q_total_minus_within: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subgroups": {g: r.to_dict() for g, r in self.groups.items()},
            "test_for_subgroup_differences": {
                "q": self.q_between,
                "df": self.df_between,
                "pvalue": self.p_between,
                "i2": self.i2_between,
                "q_total_minus_q_within": self.q_total_minus_within,
                "method": "fixed-effect inverse-variance Q between subgroup estimates",
            },
        }


def subgroup_analysis(
    data: dict[str, Any],
    groups: Sequence[str],
    measure: str = "OR",
    method: str | None = None,
    profile: str = "metafor",
    hksj: bool = False,
    random: bool = False,
    level: float = 95.0,
) -> SubgroupResult:
    """Fit the model within each subgroup (first-appearance order) and test for subgroup differences."""
    overall = meta_analysis(data, measure=measure, method=method, profile=profile, hksj=hksj, random=random, level=level)
    names: list[str] = []
    for g in groups:
        if g not in names:
            names.append(g)
    fits: dict[str, MetaResult] = {}
    for g in names:
        idx = [i for i, gg in enumerate(groups) if gg == g]
        sub = _subset(data, idx)
        try:
            fits[g] = meta_analysis(sub, measure=measure, method=method, profile=profile, hksj=hksj, random=random, level=level)
        except ValueError:
            continue  # no estimable study in this subgroup
    est = np.array([r.estimate for r in fits.values()])
    se = np.array([r.se for r in fits.values()])
    G = len(est)
    if G >= 2:
        w = 1.0 / se**2
        mu = (w * est).sum() / w.sum()
        qb = float(((est - mu) ** 2 * w).sum())
        pb = float(special.chdtrc(G - 1, qb))
        i2b = max(0.0, 100 * (qb - (G - 1)) / qb) if qb > 0 else 0.0
    else:
        qb, pb, i2b = 0.0, 1.0, 0.0
    qdiff = None
    if overall.model == "fixed":
        qdiff = overall.q - sum(r.q for r in fits.values())
    for r in fits.values():
        r.profile = profile
    return SubgroupResult(fits, overall, qb, max(G - 1, 0), pb, i2b, qdiff)


def fmt_subgroup_line(sg: SubgroupResult) -> str:
    """'Test for subgroup differences: Chi² = 0.30, df = 1 (P = 0.58), I² = 0%'."""
    from .pool import fmt_p

    return (f"Test for subgroup differences: Chi² = {sg.q_between:.2f}, df = {sg.df_between} "
            f"({fmt_p(sg.p_between)}), I² = {sg.i2_between:.0f}%")


def isclose_rel(a: float, b: float, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    """Relative comparison with an absolute floor near zero (helper for tests and benchmarks)."""
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
