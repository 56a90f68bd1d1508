"""Pooling: inverse-variance fixed/random effects, Mantel-Haenszel, Peto, and reproduction profiles.

References for every estimator are in :mod:`rplnav.evidence.core` (inverse-variance models) and in the
docstrings below (Mantel-Haenszel, Peto, RevMan 5's M-H random-effects procedure).

Profiles (see ``PROFILES``) fix the choices that differ between programs:

* ``metafor`` -- metafor 3.8 defaults: REML, Wald z test, tau^2-based I^2, normal prediction interval,
  ``rma.mh`` without continuity correction inside the MH estimator, Sato-Greenland-Robins (1989) MH
  risk-difference variance.
* ``revman5`` -- RevMan 5: M-H (fixed by default; ``random=True`` gives RevMan's "M-H, Random": DL tau^2
  from Q computed around the MH estimate, then inverse-variance pooling of the per-study log effects),
  0.5 added to all cells of zero-cell studies inside MH, Greenland & Robins (1985) RD variance, I^2 from
  Q, Wald intervals, empty-arm and double-zero studies "Not estimable".
* ``revman-web`` -- the Cochrane 2022/2024 methods now in RevMan: REML tau^2, Q-profile CI for tau^2,
  HKSJ (Knapp-Hartung) CI for the pooled effect, prediction interval (t_{k-1}, metafor's convention with
  test="knha"), I^2 from tau^2.

Empty-arm studies are excluded ("not estimable") under every profile; metafor itself would keep them
in Q through their 0.5-corrected log odds ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from . import core
from .effects import RATIO_MEASURES, EffectSizes, continuity_cells, escalc, study_status
from .forest_svg import fmt_p  # noqa: F401  (RevMan P formatting, shared with the pure-Python plots)

PROFILES: dict[str, dict[str, Any]] = {
    "metafor": {
        "method": "REML",
        "test": "z",
        "mh_cc": "none",
        "rd_variance": "SGR1989",
        "label": "metafor 3.8 defaults",
    },
    "revman5": {
        "method": "MH",
        "test": "z",
        "mh_cc": "only0",
        "rd_variance": "GR1985",
        "label": "RevMan 5 (Cochrane, to 2020)",
    },
    "revman-web": {
        "method": "REML",
        "test": "knha",
        "mh_cc": "only0",
        "rd_variance": "GR1985",
        "label": "RevMan Web (Cochrane methods 2022-2025: REML, Q-profile, HKSJ, PI)",
    },
}
METHODS = ("FE", "MH", "PETO", *[m for m in core.TAU2_METHODS if m != "FE"])


@dataclass
class MetaResult:
    """One pooled analysis, on the analysis scale (log for OR/RR).  Arrays are in input order."""

    measure: str
    method: str
    model: str
    test: str
    level: float
    slab: list[str]
    yi: np.ndarray
    vi: np.ndarray
    included: np.ndarray
    reasons: list[str | None]
    k: int
    estimate: float
    se: float
    stat: float
    stat_dist: str
    df: float | None
    pvalue: float
    ci_lower: float
    ci_upper: float
    tau2: float
    se_tau2: float | None
    tau2_ci: tuple[float, float] | None
    i2: float
    i2_ci: tuple[float, float] | None
    h2: float
    h2_ci: tuple[float, float] | None
    i2_q: float
    q: float
    q_df: int
    q_pvalue: float
    pi_lower: float | None
    pi_upper: float | None
    pi_km2: tuple[float, float] | None
    weights: np.ndarray
    profile: str | None = None
    q_label: str = "Q (inverse variance)"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES or self.measure.startswith("GEN(log")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the CLI's output schema)."""

        def f(x):
            if x is None:
                return None
            x = float(x)
            return x if math.isfinite(x) else None

        out: dict[str, Any] = {
            "profile": self.profile,
            "method": self.method,
            "model": self.model,
            "measure": self.measure,
            "test": self.test,
            "level": self.level,
            "k": self.k,
            "k_total": len(self.slab),
            "estimate": f(self.estimate),
            "se": f(self.se),
            "ci_lower": f(self.ci_lower),
            "ci_upper": f(self.ci_upper),
            "statistic": f(self.stat),
            "statistic_dist": self.stat_dist,
            "df": f(self.df),
            "pvalue": f(self.pvalue),
            "tau2": f(self.tau2),
            "se_tau2": f(self.se_tau2),
            "tau2_ci": [f(self.tau2_ci[0]), f(self.tau2_ci[1])] if self.tau2_ci else None,
            "i2": f(self.i2),
            "i2_ci": [f(self.i2_ci[0]), f(self.i2_ci[1])] if self.i2_ci else None,
            "i2_q": f(self.i2_q),
            "h2": f(self.h2),
            "q": f(self.q),
            "q_df": int(self.q_df),
            "q_pvalue": f(self.q_pvalue),
            "q_label": self.q_label,
            "pi_lower": f(self.pi_lower),
            "pi_upper": f(self.pi_upper),
            "pi_t_km2": [f(self.pi_km2[0]), f(self.pi_km2[1])] if self.pi_km2 else None,
            "weights": [f(w) for w in self.weights],
            "studies": [
                {"study": s, "yi": f(y), "vi": f(v), "weight": f(w), "excluded": r}
                for s, y, v, w, r in zip(self.slab, self.yi, self.vi, self.weights, self.reasons, strict=True)
            ],
        }
        if self.ratio:
            out["exp"] = {
                "estimate": f(math.exp(self.estimate)),
                "ci": [f(math.exp(self.ci_lower)), f(math.exp(self.ci_upper))],
                "pi": [f(math.exp(self.pi_lower)), f(math.exp(self.pi_upper))]
                if self.pi_lower is not None and math.isfinite(self.pi_lower)
                else None,
            }
        for key, val in self.extra.items():
            out[key] = f(val) if isinstance(val, float | int | np.floating) else val
        return out


def _pair(x: float, y: float) -> tuple[float, float] | None:
    return None if not (math.isfinite(x) and math.isfinite(y)) else (x, y)


_BAD = "missing or invalid yi/vi"


def _as_es(yi, vi, slab, measure) -> tuple[EffectSizes, np.ndarray]:
    """Effect sizes from raw (yi, vi), and the mask of estimable studies (finite yi and vi)."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    n = len(yi)
    labels = list(slab) if slab is not None else _labels(n)
    fin = np.isfinite(yi)
    fin &= np.isfinite(vi)
    good = fin & (vi > 0)
    all_good = int(np.count_nonzero(good)) == n
    reasons: list[str | None] = [None] * n if all_good else [None if g else _BAD for g in good.tolist()]
    return EffectSizes(measure, yi, vi, labels, reasons), fin


_LABELS: list[str] = []


def _labels(n: int) -> list[str]:
    while len(_LABELS) < n:
        _LABELS.append(f"Study {len(_LABELS) + 1}")
    return _LABELS[:n]


def rma_uni(
    yi: Sequence[float] | EffectSizes,
    vi: Sequence[float] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    slab: Sequence[str] | None = None,
    measure: str = "GEN",
    tau2: float | None = None,
    qprofile: bool = True,
) -> MetaResult:
    """Inverse-variance fixed (``FE``) or random-effects model, as metafor's ``rma(yi, vi, method, test)``.

    Non-finite (yi, vi) pairs are treated as excluded studies.  ``tau2`` fixes tau^2.
    """
    if isinstance(yi, EffectSizes):
        es, inc = yi, yi.estimable
    else:
        es, inc = _as_es(yi, vi, slab, measure)
    n_inc = int(np.count_nonzero(inc))
    if n_inc == 0:
        raise ValueError("no estimable studies")
    full = n_inc == len(inc)
    # one analysis runs the batch code (core.fit_row): one implementation of every estimator
    r = core.fit_row(es.yi, es.vi, inc, method=method, test=test, level=level, qprofile=qprofile, tau2=tau2)
    r = {key: (val if key == "weights" else val.item()) for key, val in r.items()}
    weights = r["weights"] if full else np.where(inc, r["weights"], np.nan)
    k = int(r["k"])
    t_used = test != "z" and k > 1
    fe = method == "FE"
    ci = "tau2_ci_lb" in r
    return MetaResult(
        measure=es.measure,
        method=method,
        model="fixed" if fe else "random",
        test=test if k > 1 else "z",
        level=level,
        slab=es.slab,
        yi=es.yi,
        vi=es.vi,
        included=inc,
        reasons=es.reasons,
        k=k,
        estimate=r["estimate"],
        se=r["se"],
        stat=r["stat"],
        stat_dist="t" if t_used else "z",
        df=r["df"] if t_used else None,
        pvalue=r["pval"],
        ci_lower=r["ci_lb"],
        ci_upper=r["ci_ub"],
        tau2=r["tau2"],
        se_tau2=None if fe else r["se_tau2"],
        tau2_ci=_pair(r["tau2_ci_lb"], r["tau2_ci_ub"]) if ci else None,
        i2=r["i2"],
        i2_ci=_pair(r["i2_ci_lb"], r["i2_ci_ub"]) if ci else None,
        h2=r["h2"],
        h2_ci=_pair(r["h2_ci_lb"], r["h2_ci_ub"]) if ci else None,
        i2_q=r["i2_q"],
        q=r["q"],
        q_df=int(r["q_df"]),
        q_pvalue=r["q_pval"],
        pi_lower=None if fe else r["pi_lb"],
        pi_upper=None if fe else r["pi_ub"],
        pi_km2=None if fe else _pair(r["pi_km2_lb"], r["pi_km2_ub"]),
        weights=weights,
        extra={"s2w": r["s2w"]} if t_used else {},
    )


def _z(level: float) -> float:
    return float(special.ndtri(0.5 + level / 200.0))


def _het_from_q(q: float, k: int) -> tuple[float, float, float, float]:
    """Q p-value, I^2 = (Q - df)/Q (Higgins & Thompson 2002) and H^2 = Q/df; k = number of Q terms."""
    if k <= 1:
        return 1.0, 0.0, 1.0, 0.0
    df = k - 1
    qp = float(special.chdtrc(df, q))
    i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
    return qp, i2, q / df, float(df)


@dataclass
class _MH:
    estimate: float
    se: float
    weights: np.ndarray
    se_gr1985: float | None = None
    cmh: float | None = None
    cmh_p: float | None = None
    tarone: float | None = None
    tarone_p: float | None = None


def mantel_haenszel(measure: str, a, b, c, d, correct: bool = True) -> _MH:
    """Mantel-Haenszel (1959) pooled log OR / log RR / RD from cells (already corrected if wanted).

    Variances: OR -- Robins, Breslow & Greenland (1986); RR -- Greenland & Robins (1985);
    RD -- Sato, Greenland & Robins (1989) as metafor's ``rma.mh`` (``se``), and Greenland & Robins
    (1985) as RevMan 5 / meta (``se_gr1985``).  For OR also the Cochran-Mantel-Haenszel test (with
    continuity correction when ``correct``) and Tarone's (1985) heterogeneity test, as metafor.
    """
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    n1, n2 = a + b, c + d
    N = n1 + n2
    if measure == "OR":
        P, Qv = (a + d) / N, (b + c) / N
        Ri, Si = a * d / N, b * c / N
        R, S = Ri.sum(), Si.sum()
        if R <= 0 or S <= 0:
            raise ValueError("Mantel-Haenszel odds ratio not estimable (no events, or all events, in one arm)")
        est = math.log(R / S)
        se = math.sqrt(0.5 * ((P * Ri).sum() / R**2 + (P * Si + Qv * Ri).sum() / (R * S) + (Qv * Si).sum() / S**2))
        w = Si
        xt, yt = a + c, b + d
        cmh = cmh_p = ta = ta_p = None
        if xt.sum() > 0 and yt.sum() > 0:
            num = (abs((a - n1 / N * xt).sum()) - (0.5 if correct else 0.0)) ** 2
            cmh = float(num / ((n1 / N) * (n2 / N) * (xt * (yt / (N - 1)))).sum())
            cmh_p = float(special.chdtrc(1, cmh))
        psi = R / S
        if psi == 1:
            n11 = n1 / N * xt
        else:
            A = psi * (n1 + xt) + (n2 - xt)
            Bq = np.sqrt(A * A - 4 * n1 * xt * psi * (psi - 1))
            n11 = (A - Bq) / (2 * (psi - 1))
        pos = (n11 > 0) & (xt > 0) & (yt > 0)
        if pos.any():
            e11 = n11[pos]
            e12, e21 = n1[pos] - e11, xt[pos] - e11
            e22 = e11 - n1[pos] - xt[pos] + N[pos]
            vv = 1.0 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
            dev = a[pos] - e11
            bd = max(0.0, float((dev * dev / vv).sum()))
            ta = max(0.0, bd - float(dev.sum() ** 2 / vv.sum()))
            ta_p = float(special.chdtrc(pos.sum() - 1, ta)) if pos.sum() > 1 else None
        return _MH(est, se, w, cmh=cmh, cmh_p=cmh_p, tarone=ta, tarone_p=ta_p)
    if measure == "RR":
        R, S = (a * n2 / N).sum(), (c * n1 / N).sum()
        if a.sum() <= 0 or c.sum() <= 0:
            raise ValueError("Mantel-Haenszel risk ratio not estimable (no events in one arm)")
        est = math.log(R / S)
        se = math.sqrt(((n1 / N) * (n2 / N) * (a + c) - (a / N) * c).sum() / (R * S))
        return _MH(est, se, c * n1 / N)
    if measure == "RD":
        wsum = (n1 * n2 / N).sum()
        est = float((a * (n2 / N) - c * (n1 / N)).sum() / wsum)
        se = math.sqrt(
            (est * (c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + (n1 / N) * (n2 / N) * (n2 - n1) / 2).sum()
             + (a * (n2 - c) / N + c * (n1 - a) / N).sum() / 2)
            / wsum**2
        )
        se_gr = math.sqrt(((a / N**2) * b * (n2**2 / n1) + (c / N**2) * d * (n1**2 / n2)).sum() / wsum**2)
        return _MH(est, se, n1 * n2 / N, se_gr1985=se_gr)
    raise ValueError(f"Mantel-Haenszel needs measure OR, RR or RD, not {measure!r}")


def _wald(est: float, se: float | None, level: float) -> tuple[float, float, float, float]:
    if se is None or not (math.isfinite(se) and se > 0) or not math.isfinite(est):
        raise ValueError("pooled estimate not estimable (zero or undefined standard error)")
    z = est / se
    crit = _z(level)
    return z, float(2 * special.ndtr(-abs(z))), est - crit * se, est + crit * se


def rma_mh(
    ai: Sequence[float],
    n1i: Sequence[float],
    ci: Sequence[float],
    n2i: Sequence[float],
    measure: str = "OR",
    mh_cc: str = "none",
    add: float = 0.5,
    drop00: bool = True,
    rd_variance: str = "SGR1989",
    level: float = 95.0,
    slab: Sequence[str] | None = None,
    correct: bool = True,
) -> MetaResult:
    """Mantel-Haenszel fixed-effect model (metafor ``rma.mh`` semantics).

    ``mh_cc="none"`` (metafor) uses the raw counts in the MH estimator; ``"only0"`` (RevMan 5, meta's
    ``MH.exact=FALSE``) first adds ``add`` to every cell of studies with a zero cell.  Q is Cochran's
    statistic around the MH estimate with inverse-variance weights of the escalc (0.5-corrected
    where needed) per-study effects; I^2 = (Q - df)/Q, H^2 = Q/df.  Weights: OR b*c/N, RR c*n1/N,
    RD n1*n2/N (of the cells used in the MH estimator).
    """
    measure = measure.upper()
    es = escalc(measure, ai, n1i, ci, n2i, add=add, to="only0", drop00=drop00, slab=slab)
    reasons = study_status(measure, ai, n1i, ci, n2i, drop00=drop00)
    inc = np.array([r is None for r in reasons])
    if inc.sum() < 1:
        raise ValueError("no estimable studies")
    a, b, c, d = continuity_cells(np.asarray(ai, float)[inc], np.asarray(n1i, float)[inc],
                                  np.asarray(ci, float)[inc], np.asarray(n2i, float)[inc], add=add, to=mh_cc)
    mh = mantel_haenszel(measure, a, b, c, d, correct=correct)
    se = mh.se
    if measure == "RD" and rd_variance == "GR1985":
        se = mh.se_gr1985
    z, p, lo, hi = _wald(mh.estimate, se, level)
    qmask = inc & es.estimable
    yq, vq = es.yi[qmask], es.vi[qmask]
    q = float(max(0.0, (((yq - mh.estimate) ** 2) / vq).sum())) if len(yq) > 1 else 0.0
    qp, i2, h2, _ = _het_from_q(q, len(yq))
    weights = np.full(len(es.yi), np.nan)
    weights[inc] = 100 * mh.weights / mh.weights.sum()
    extra: dict[str, Any] = {}
    if measure == "RD":
        extra["se_sato_greenland_robins_1989"] = mh.se
        extra["se_greenland_robins_1985"] = mh.se_gr1985
        extra["rd_variance"] = rd_variance
    if measure == "OR":
        extra.update({"cmh": mh.cmh, "cmh_pvalue": mh.cmh_p, "tarone": mh.tarone, "tarone_pvalue": mh.tarone_p})
    extra["mh_continuity_correction"] = mh_cc
    return MetaResult(
        measure=measure, method="MH", model="fixed", test="z", level=level, slab=es.slab, yi=es.yi, vi=es.vi,
        included=inc, reasons=reasons, k=int(inc.sum()), estimate=mh.estimate, se=se, stat=z, stat_dist="z",
        df=None, pvalue=p, ci_lower=lo, ci_upper=hi, tau2=0.0, se_tau2=None, tau2_ci=None, i2=i2, i2_ci=None,
        h2=h2, h2_ci=None, i2_q=i2, q=q, q_df=max(len(yq) - 1, 0), q_pvalue=qp, pi_lower=None, pi_upper=None,
        pi_km2=None, weights=weights, q_label="Q around the MH estimate (inverse-variance weights)", extra=extra,
    )


def rma_peto(
    ai: Sequence[float],
    n1i: Sequence[float],
    ci: Sequence[float],
    n2i: Sequence[float],
    level: float = 95.0,
    slab: Sequence[str] | None = None,
    drop00: bool = True,
) -> MetaResult:
    """Peto's one-step odds ratio (Yusuf et al. 1985), as metafor ``rma.peto``; no continuity correction.

    log OR = sum(O - E)/sum(V), SE = 1/sqrt(sum V); Q = sum (O-E)^2/V - (sum(O-E))^2/sum V over studies
    with V > 0; weights V/sum V.
    """
    es = escalc("OR", ai, n1i, ci, n2i, drop00=drop00, slab=slab)
    reasons = study_status("OR", ai, n1i, ci, n2i, drop00=drop00)
    inc = np.array([r is None for r in reasons])
    a, n1, c, n2 = (np.asarray(x, float)[inc] for x in (ai, n1i, ci, n2i))
    b, d = n1 - a, n2 - c
    N = n1 + n2
    xt, yt = a + c, b + d
    E = xt * n1 / N
    with np.errstate(invalid="ignore", divide="ignore"):
        V = np.where(N > 1, xt * yt * (n1 / N) * (n2 / N) / (N - 1), 0.0)
    sv = V.sum()
    if sv <= 0:
        raise ValueError("Peto odds ratio not estimable (no events)")
    oe = a - E
    est = float(oe.sum() / sv)
    se = 1.0 / math.sqrt(sv)
    z, p, lo, hi = _wald(est, se, level)
    pos = V > 0
    q = float(max(0.0, (oe[pos] ** 2 / V[pos]).sum() - oe.sum() ** 2 / sv)) if pos.sum() > 1 else 0.0
    qp, i2, h2, _ = _het_from_q(q, int(pos.sum()))
    weights = np.full(len(es.yi), np.nan)
    weights[inc] = 100 * V / sv
    return MetaResult(
        measure="OR", method="PETO", model="fixed", test="z", level=level, slab=es.slab, yi=es.yi, vi=es.vi,
        included=inc, reasons=reasons, k=int(inc.sum()), estimate=est, se=se, stat=z, stat_dist="z", df=None,
        pvalue=p, ci_lower=lo, ci_upper=hi, tau2=0.0, se_tau2=None, tau2_ci=None, i2=i2, i2_ci=None, h2=h2,
        h2_ci=None, i2_q=i2, q=q, q_df=max(int(pos.sum()) - 1, 0), q_pvalue=qp, pi_lower=None, pi_upper=None,
        pi_km2=None, weights=weights, q_label="Peto Q", extra={},
    )


def revman5_mh_random(
    ai: Sequence[float],
    n1i: Sequence[float],
    ci: Sequence[float],
    n2i: Sequence[float],
    measure: str = "OR",
    level: float = 95.0,
    slab: Sequence[str] | None = None,
    test: str = "z",
    mh_cc: str = "only0",
) -> MetaResult:
    """RevMan 5 "M-H, Random" (DerSimonian & Laird 1986 with Cochrane's Q around the MH estimate).

    1. per-study log effects and variances (0.5 added to zero-cell studies; escalc ``to="only0"``);
    2. Q_MH = sum w_i (y_i - MH)^2 with w_i = 1/v_i, the MH estimate computed with 0.5 added inside MH;
    3. tau^2 = max(0, (Q_MH - df) / (sum w - sum w^2 / sum w));
    4. inverse-variance pooling with 1/(v_i + tau^2), Wald z interval; I^2 = (Q_MH - df)/Q_MH.
    Matches meta::metabin under settings.meta("RevMan5") (see the shared meta-analysis notes).
    """
    measure = measure.upper()
    mh = rma_mh(ai, n1i, ci, n2i, measure=measure, mh_cc=mh_cc, level=level, slab=slab)
    es = escalc(measure, ai, n1i, ci, n2i, slab=slab)
    inc = es.estimable & mh.included
    y, v = es.yi[inc], es.vi[inc]
    k = len(y)
    if k > 1:
        w = 1.0 / v
        trp = w.sum() - (w * w).sum() / w.sum()
        t2 = max(0.0, (mh.q - (k - 1)) / trp)
    else:
        t2 = 0.0
    es2 = EffectSizes(measure, np.where(inc, es.yi, np.nan), np.where(inc, es.vi, np.nan), es.slab, mh.reasons)
    res = rma_uni(es2, method="DL", test=test, level=level, tau2=t2)
    res.method = "MH"
    res.q, res.q_df, res.q_pvalue = mh.q, mh.q_df, mh.q_pvalue
    res.i2_q = mh.i2_q
    res.i2 = mh.i2_q  # for DL tau^2 the tau^2-based I^2 equals (Q - df)/Q
    res.h2 = mh.h2
    res.q_label = "Q around the MH estimate (RevMan 5 M-H random effects)"
    res.extra["mh_fixed_estimate"] = mh.estimate
    res.reasons = mh.reasons
    return res


def _fmt_num(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def fmt_effect(est: float, lo: float, hi: float, ratio: bool = True, nd: int = 2) -> str:
    """'1.60 [1.11, 2.30]' (back-transformed for ratio measures)."""
    if ratio:
        est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
    return f"{est:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def heterogeneity_line(res: MetaResult) -> str:
    """RevMan-style heterogeneity line, e.g. 'Tau² = 0.07; Chi² = 7.67, df = 5 (P = 0.18); I² = 35%'."""
    if res.k < 2:
        return "Heterogeneity: Not applicable"
    parts = []
    if res.model == "random":
        parts.append(f"Tau² = {res.tau2:.2f}; ")
    i2 = res.i2_q if res.profile == "revman5" or res.model == "fixed" else res.i2
    parts.append(f"Chi² = {res.q:.2f}, df = {res.q_df} ({fmt_p(res.q_pvalue)}); I² = {i2:.0f}%")
    return "Heterogeneity: " + "".join(parts)


def overall_line(res: MetaResult) -> str:
    """'Test for overall effect: Z = 2.51 (P = 0.01)' (or t for HKSJ)."""
    lab = "Z" if res.stat_dist == "z" else f"t({res.df:.0f})"
    return f"Test for overall effect: {lab} = {abs(res.stat):.2f} ({fmt_p(res.pvalue)})"


def meta_analysis(
    data: dict[str, Any],
    measure: str = "OR",
    method: str | None = None,
    profile: str = "metafor",
    hksj: bool = False,
    random: bool = False,
    level: float = 95.0,
    test: str | None = None,
) -> MetaResult:
    """High-level entry: ``data`` holds ``study`` plus either ``ai,n1i,ci,n2i`` or ``yi,vi``.

    ``method``: FE, MH, PETO, or a tau^2 estimator (DL, REML, ML, PM, HE, SJ, EB, HS, HSk, PMM);
    ``random=True`` with MH gives RevMan 5's M-H random-effects model.  ``hksj`` forces the
    Knapp-Hartung test; ``test`` (z, knha, adhoc) overrides it.  Defaults come from ``PROFILES[profile]``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {tuple(PROFILES)}")
    prof = PROFILES[profile]
    method = (method or prof["method"]).upper() if (method or prof["method"]).upper() != "HSK" else "HSk"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    measure = measure.upper()
    test = test or ("knha" if hksj else prof["test"])
    slab = data.get("study")
    counts = all(key in data for key in ("ai", "n1i", "ci", "n2i"))
    if method in ("MH", "PETO") and not counts:
        raise ValueError(f"method {method} needs 2x2 counts (columns ai,n1i,ci,n2i)")
    if method == "PETO" and measure != "OR":
        raise ValueError("Peto's method estimates an odds ratio; use --measure OR")
    if counts:
        args = (data["ai"], data["n1i"], data["ci"], data["n2i"])
        if method == "MH":
            if random:
                res = revman5_mh_random(*args, measure=measure, level=level, slab=slab, test=test, mh_cc=prof["mh_cc"])
            else:
                res = rma_mh(*args, measure=measure, mh_cc=prof["mh_cc"], rd_variance=prof["rd_variance"], level=level, slab=slab)
        elif method == "PETO":
            res = rma_peto(*args, level=level, slab=slab)
        else:
            es = escalc(measure, *args, slab=slab)
            res = rma_uni(es, method=method, test=test if method != "FE" else "z", level=level)
    else:
        es = _as_es(data["yi"], data["vi"], slab, measure)[0]
        res = rma_uni(es, method=method, test=test if method != "FE" else "z", level=level)
    res.profile = profile
    return res
