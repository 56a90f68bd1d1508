"""Coverage of the knowledge base: which guideline speaks to which therapy and test, and how much is verified."""

from __future__ import annotations

from typing import Any

from rplnav.knowledge.load import Knowledge

ABBREV = {
    "strong_for": "S+", "conditional_for": "C+", "good_practice": "GP", "research_only": "R",
    "no_recommendation": "NR", "insufficient_evidence": "IE", "conditional_against": "C-",
    "strong_against": "S-", "not_permitted": "NP",
}
SILENT = "silent"


def _share(n: int, d: int) -> float:
    return round(n / d, 3) if d else 0.0


def coverage(kb: Knowledge) -> dict[str, Any]:
    """Therapy x guideline and test x guideline matrices of stances ("silent" where none), counts and shares."""
    guidelines = list(kb.guidelines)
    therapies = list(kb.therapies)
    tests = kb.workup_ids()

    def matrix(rows: list[str], attr: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {r: {g: SILENT for g in guidelines} for r in rows}
        for rec in kb.recommendations:
            key = getattr(rec, attr)
            if key is None or key not in out:
                continue
            cell = out[key][rec.guideline]
            stances = [] if cell == SILENT else cell
            if rec.stance not in stances:
                stances.append(rec.stance)
            out[key][rec.guideline] = stances
        return out

    per_guideline: dict[str, dict[str, Any]] = {}
    for g in guidelines:
        recs = [r for r in kb.recommendations if r.guideline == g]
        ver = sum(r.source.verified for r in recs)
        per_guideline[g] = {
            "therapy": sum(r.therapy is not None for r in recs),
            "test": sum(r.test is not None for r in recs),
            "total": len(recs),
            "verified": ver,
            "share_verified": _share(ver, len(recs)),
        }
    total = len(kb.recommendations)
    verified = sum(r.source.verified for r in kb.recommendations)
    t_matrix = matrix(therapies, "therapy")
    w_matrix = matrix(tests, "test")
    return {
        "knowledge_version": kb.version,
        "guidelines": guidelines,
        "therapies": therapies,
        "tests": tests,
        "therapy_matrix": t_matrix,
        "test_matrix": w_matrix,
        "recommendations_per_guideline": per_guideline,
        "verified": {"total": total, "verified": verified, "share": _share(verified, total)},
        "silent_therapies": [t for t in therapies if all(v == SILENT for v in t_matrix[t].values())],
        "silent_tests": [t for t in tests if all(v == SILENT for v in w_matrix[t].values())],
        "alerts": len(kb.alerts),
        "alerts_verified": sum(a.source.verified for a in kb.alerts),
    }


def _short(g: str) -> str:
    return {"GLADEL-PANLAR-2018": "GLADEL18", "NICE-NG126": "NICE", "LANCET-2021": "LANCET21"}.get(
        g, g.replace("-20", ""))


def _table(title: str, rows: list[str], m: dict[str, dict[str, Any]], guidelines: list[str]) -> list[str]:
    heads = [_short(g) for g in guidelines]
    first = max(len(title), *(len(r) for r in rows))
    def cell(r: str, g: str) -> str:
        v = m[r][g]
        return "." if v == SILENT else "/".join(ABBREV[s] for s in v)

    widths = [max(len(h), *(len(cell(r, g)) for r in rows)) for h, g in zip(heads, guidelines, strict=True)]
    line = [title.ljust(first) + "  " + "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    line.append("-" * len(line[0]))
    for r in rows:
        cells = [cell(r, g).ljust(w) for g, w in zip(guidelines, widths, strict=True)]
        line.append(r.ljust(first) + "  " + "  ".join(cells))
    return line


def render_stats(stats: dict[str, Any]) -> str:
    g = stats["guidelines"]
    out = [f"Knowledge base {stats['knowledge_version']}", ""]
    out += _table("therapy", stats["therapies"], stats["therapy_matrix"], g)
    out += [""]
    out += _table("test / investigation", stats["tests"], stats["test_matrix"], g)
    out += ["", "Legend: " + ", ".join(f"{v} = {k.replace('_', ' ')}" for k, v in ABBREV.items()) + ", . = silent", ""]
    out.append(f"{'guideline':<20} {'therapy':>7} {'test':>5} {'total':>6} {'verified':>9} {'share':>6}")
    for name, c in stats["recommendations_per_guideline"].items():
        out.append(f"{name:<20} {c['therapy']:>7} {c['test']:>5} {c['total']:>6} {c['verified']:>9} "
                   f"{c['share_verified']:>6.0%}")
    v = stats["verified"]
    out.append(f"{'all':<20} {'':>7} {'':>5} {v['total']:>6} {v['verified']:>9} {v['share']:>6.0%}")
    out += ["", f"Alerts: {stats['alerts']} ({stats['alerts_verified']} verified)"]
    if stats["silent_therapies"]:
        out.append("Therapies no guideline speaks to: " + ", ".join(stats["silent_therapies"]))
    if stats["silent_tests"]:
        out.append("Tests no guideline speaks to: " + ", ".join(stats["silent_tests"]))
    return "\n".join(out) + "\n"
