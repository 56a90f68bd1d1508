"""Published meta-analyses re-computed from the encoded trial rows (knowledge section `reproductions`).

Each entry names the review, the trial rows it pools and the method as the review states it; this module pools
those rows with the evidence engine (Mantel-Haenszel, inverse-variance fixed effect, DerSimonian-Laird, or
RevMan 5's M-H random effects) and compares the result with the printed estimate and CI at the printed
precision. A mismatch is reported with the entry's recorded reason; an unexplained mismatch is a failure of
either the data or the engine, and the test suite treats it so.
"""

from __future__ import annotations

import math
from typing import Any

from rplnav.knowledge.load import Knowledge
from rplnav.knowledge.model import Reproduction

from .pool import meta_analysis

_METHOD = {"MH": ("MH", False), "IV": ("FE", False), "DL": ("DL", False), "MH-DL": ("MH", True)}


def _round(x: float, nd: int) -> float:
    """Round half away from zero (as review software prints), not Python's banker's rounding."""
    q = 10 ** nd
    return math.copysign(math.floor(abs(x) * q + 0.5) / q, x)


def pool_reproduction(kb: Knowledge, rp: Reproduction) -> dict[str, Any]:
    """Pool the entry's trial rows as the review did; return printed vs reproduced and whether they agree."""
    rows = {s.id: s for s in kb.studies}
    studies = [rows[sid] for sid in rp.studies]
    data: dict[str, Any] = {"study": [s.label for s in studies]}
    for key in ("ai", "n1i", "ci", "n2i"):
        data[key] = [getattr(s.counts, key) for s in studies]
    method, random = _METHOD[rp.method]
    res = meta_analysis(data, measure=rp.measure, method=method, random=random, profile="revman5")
    est, lo, hi = (math.exp(x) if rp.measure != "RD" else x for x in (res.estimate, res.ci_lower, res.ci_upper))
    nd = rp.printed.decimals
    got = tuple(_round(x, nd) for x in (est, lo, hi))
    want = (rp.printed.value, rp.printed.ci_lower, rp.printed.ci_upper)
    match = all(math.isclose(a, b, abs_tol=10 ** -(nd + 3)) for a, b in zip(got, want, strict=True))
    women = sum(s.counts.n1i + s.counts.n2i for s in studies)  # type: ignore[union-attr]
    return {
        "id": rp.id,
        "review": rp.review,
        "label": rp.label,
        "therapy": rp.therapy,
        "comparison": rp.comparison,
        "outcome": rp.outcome,
        "measure": rp.measure,
        "method": rp.method,
        "method_text": rp.method_text,
        "k_printed": rp.k_printed,
        "k_reproduced": len(studies),
        "women_pooled": women,
        "studies": list(rp.studies),
        "not_encoded": list(rp.not_encoded),
        "printed": {"value": want[0], "ci_lower": want[1], "ci_upper": want[2], "decimals": nd},
        "reproduced": {"value": est, "ci_lower": lo, "ci_upper": hi},
        "reproduced_rounded": {"value": got[0], "ci_lower": got[1], "ci_upper": got[2]},
        "match": match,
        "discrepancy": rp.discrepancy,
        "source": {"document": rp.source.document, "locator": rp.source.locator, "verified": rp.source.verified},
    }


def reproduce_all(kb: Knowledge) -> list[dict[str, Any]]:
    """Every reproduction entry, pooled."""
    return [pool_reproduction(kb, rp) for rp in kb.reproductions]


def render_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table: review, comparison, k printed/encoded, printed vs reproduced, status."""
    def fmt(d: dict[str, float], nd: int) -> str:
        return f"{d['value']:.{nd}f} ({d['ci_lower']:.{nd}f}-{d['ci_upper']:.{nd}f})"

    out = [f"{'reproduction':<34} {'k':>5} {'printed':>20} {'reproduced':>20}  status"]
    for r in rows:
        nd = r["printed"]["decimals"]
        status = "match" if r["match"] else "DIFFERS: " + (r["discrepancy"] or "no reason recorded")
        out.append(f"{r['id']:<34} {r['k_reproduced']:>2}/{r['k_printed']:<2} "
                   f"{r['measure']} {fmt(r['printed'], nd):>17} {fmt(r['reproduced'], nd):>20}  {status}")
        out.append(f"{'':<34} {r['label']}; {r['comparison']}, {r['outcome'].replace('_', ' ')}; {r['method_text']}")
    n = sum(r["match"] for r in rows)
    out.append(f"{n} of {len(rows)} reproductions match the printed figures to their printed precision.")
    return "\n".join(out) + "\n"
