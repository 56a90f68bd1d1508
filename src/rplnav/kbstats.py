"""Coverage of the knowledge base: which guideline speaks to which therapy and test, and how much is verified."""

from __future__ import annotations

from typing import Any

from rplnav.knowledge.load import Knowledge
from rplnav.knowledge.model import TIERS
from rplnav.knowledge.refs import source_refs

ABBREV = {
    "strong_for": "S+", "conditional_for": "C+", "good_practice": "GP", "research_only": "R",
    "no_recommendation": "NR", "insufficient_evidence": "IE", "conditional_against": "C-",
    "strong_against": "S-", "not_permitted": "NP",
}
SILENT = "silent"
NOT_ENCODED = "not_encoded"


def topics_of(kb: Knowledge) -> dict[str, set[str]]:
    """therapy or test id -> the topics it belongs to."""
    out: dict[str, set[str]] = {}
    for tp in kb.topics.values():
        for x in [*tp.therapies, *tp.tests]:
            out.setdefault(x, set()).add(tp.id)
    return out


def empty_cell(kb: Knowledge, item: str, guideline: str, item_topics: dict[str, set[str]]) -> str:
    """What a guideline with no encoded statement on `item` means: silent, or a gap in this knowledge base.

    It is a gap ("not_encoded") when the guideline covers a topic the item belongs to, or when the guideline
    has no topic list (so its silence is not established); otherwise the guideline is silent.
    """
    g = kb.guidelines[guideline]
    if g.covers is None or item_topics.get(item, set()) & set(g.covers.topics):
        return NOT_ENCODED
    return SILENT


def _share(n: int, d: int) -> float:
    return round(n / d, 3) if d else 0.0


def _tally(sites: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"total": len(sites)} | {t: 0 for t in TIERS}
    for s in sites:
        out[s.ref.tier] += 1
    out["share_primary"] = _share(out["primary"], len(sites))
    out["share_primary_or_secondary"] = _share(out["primary"] + out["secondary"], len(sites))
    return out


def verification(kb: Knowledge) -> dict[str, Any]:
    """Source references by tier (primary / secondary / unverified): overall, per guideline, per other kind.

    A reference belongs to a guideline when it sits on one of its recommendations or cites the guideline's
    own document; the rest (trials, labels, seed documents, criteria) are grouped by the kind of document.
    Secondary reads in a seed document are counted apart, since the seeds are where the statements came from.
    """
    sites = list(source_refs(kb))
    groups: dict[str, list[Any]] = {g: [] for g in kb.guidelines}
    others: dict[str, list[Any]] = {}
    sections: dict[str, list[Any]] = {}
    for s in sites:
        if s.guideline is not None:
            groups[s.guideline].append(s)
        else:
            src = kb.sources.get(s.ref.document)
            others.setdefault(src.kind if src else "unknown", []).append(s)
        sections.setdefault(s.section, []).append(s)
    secondary_docs: dict[str, int] = {}
    for s in sites:
        if s.ref.secondary is not None:
            secondary_docs[s.ref.secondary.document] = secondary_docs.get(s.ref.secondary.document, 0) + 1
    seed_secondary = sum(1 for s in sites if s.ref.tier == "secondary" and s.ref.secondary is not None
                         and getattr(kb.sources.get(s.ref.secondary.document), "kind", None) == "seed")
    return {
        **_tally(sites),
        "secondary_in_seed_documents": seed_secondary,
        "by_guideline": {g: _tally(v) for g, v in groups.items()},
        "by_document_kind": {k: _tally(v) for k, v in sorted(others.items())},
        "by_section": {k: _tally(v) for k, v in sections.items()},
        "secondary_sources": dict(sorted(secondary_docs.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def trial_registry(kb: Knowledge) -> dict[str, Any]:
    """Per therapy: randomised trials (each counted once, subgroup rows not counted), women, verified rows.

    A trial is a randomised row without `subgroup`, identified by its `trial` id (or its own id); several
    outcome rows of one trial count once. Women are the randomised totals where given, else the largest
    analysed totals among the trial's rows. A trial is verified when every one of its primary rows is.
    Reviews reproduced are the reviews with a reproduction entry that matches its printed figures.
    """
    from rplnav.evidence.reproduce import reproduce_all

    trials: dict[str, dict[str, dict[str, Any]]] = {}
    for st in kb.studies:
        if st.design != "rct" or st.subgroup is not None:
            continue
        key = st.trial or st.id
        t = trials.setdefault(st.therapy, {}).setdefault(key, {"rows": 0, "verified_rows": 0, "women": 0})
        t["rows"] += 1
        t["verified_rows"] += st.source.verified
        n = 0
        if st.randomised is not None:
            n = st.randomised.n1i + st.randomised.n2i
        elif st.counts is not None:
            n = st.counts.n1i + st.counts.n2i
        t["women"] = max(t["women"], n)
    repro = reproduce_all(kb)
    out: dict[str, Any] = {}
    for th in kb.therapies:
        ts = trials.get(th, {})
        rows = sum(t["rows"] for t in ts.values())
        vrows = sum(t["verified_rows"] for t in ts.values())
        mine = [r for r in repro if r["therapy"] == th]
        out[th] = {
            "primary_trials": len(ts),
            "women_randomised": sum(t["women"] for t in ts.values()),
            "primary_rows": rows,
            "rows_verified": vrows,
            "share_rows_verified": _share(vrows, rows),
            "trials_verified": sum(t["rows"] == t["verified_rows"] for t in ts.values()),
            "reviews_reproduced": sorted({r["review"] for r in mine if r["match"]}),
            "reproductions": len(mine),
            "reproductions_matching": sum(r["match"] for r in mine),
            "trials": sorted(ts),
        }
    everyone: dict[str, int] = {}  # a trial of two therapies (e.g. a three-arm trial) counts once overall
    for ts in trials.values():
        for key, t in ts.items():
            everyone[key] = max(everyone.get(key, 0), t["women"])
    total_rows = sum(v["primary_rows"] for v in out.values())
    total_vrows = sum(v["rows_verified"] for v in out.values())
    return {
        "per_therapy": {k: v for k, v in out.items() if v["primary_trials"] or v["reproductions"]},
        "total": {
            "primary_trials": len(everyone),
            "women_randomised": sum(everyone.values()),
            "primary_rows": total_rows,
            "rows_verified": total_vrows,
            "share_rows_verified": _share(total_vrows, total_rows),
            "trials_verified": sum(v["trials_verified"] for v in out.values()),
            "reproductions": len(repro),
            "reproductions_matching": sum(r["match"] for r in repro),
            "reviews_reproduced": sorted({r["review"] for r in repro if r["match"]}),
        },
    }


def coverage(kb: Knowledge) -> dict[str, Any]:
    """Therapy x guideline and test x guideline matrices of stances ("silent" where none), counts and shares."""
    guidelines = list(kb.guidelines)
    therapies = list(kb.therapies)
    tests = kb.workup_ids()

    item_topics = topics_of(kb)

    def matrix(rows: list[str], attr: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {r: {g: empty_cell(kb, r, g, item_topics) for g in guidelines}
                                          for r in rows}
        for rec in kb.recommendations:
            key = getattr(rec, attr)
            if key is None or key not in out:
                continue
            cell = out[key][rec.guideline]
            stances = cell if isinstance(cell, list) else []
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
        "silent_therapies": [t for t in therapies if not any(isinstance(v, list) for v in t_matrix[t].values())],
        "silent_tests": [t for t in tests if not any(isinstance(v, list) for v in w_matrix[t].values())],
        "not_encoded": sum(v == NOT_ENCODED for m in (t_matrix, w_matrix) for row in m.values() for v in row.values()),
        "topics": {tp.id: {"label": tp.label, "therapies": tp.therapies, "tests": tp.tests} for tp in kb.topics.values()},
        "covers": {g.id: (g.covers.topics if g.covers else None) for g in kb.guidelines.values()},
        "alerts": len(kb.alerts),
        "alerts_verified": sum(a.source.verified for a in kb.alerts),
        "verification": verification(kb),
        "trial_registry": trial_registry(kb),
    }


def _short(g: str) -> str:
    return {"GLADEL-PANLAR-2018": "GLADEL18", "NICE-NG126": "NICE126", "NICE-NG133": "NICE133",
            "LANCET-2021": "LANCET21"}.get(
        g, g.replace("-20", ""))


def _table(title: str, rows: list[str], m: dict[str, dict[str, Any]], guidelines: list[str]) -> list[str]:
    heads = [_short(g) for g in guidelines]
    first = max(len(title), *(len(r) for r in rows))
    def cell(r: str, g: str) -> str:
        v = m[r][g]
        if v == SILENT:
            return "."
        return "?" if v == NOT_ENCODED else "/".join(ABBREV[s] for s in v)

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
    out += ["", "Legend: " + ", ".join(f"{v} = {k.replace('_', ' ')}" for k, v in ABBREV.items()) + ", . = silent (the guideline does not cover the topic), ? = not encoded (the guideline covers the "
            "topic; no statement of it is in this knowledge base)", ""]
    out.append(f"{'guideline':<20} {'therapy':>7} {'test':>5} {'total':>6} {'verified':>9} {'share':>6}")
    for name, c in stats["recommendations_per_guideline"].items():
        out.append(f"{name:<20} {c['therapy']:>7} {c['test']:>5} {c['total']:>6} {c['verified']:>9} "
                   f"{c['share_verified']:>6.0%}")
    v = stats["verified"]
    out.append(f"{'all':<20} {'':>7} {'':>5} {v['total']:>6} {v['verified']:>9} {v['share']:>6.0%}")
    out += ["", f"Alerts: {stats['alerts']} ({stats['alerts_verified']} verified)"]
    out += [""] + render_verification(stats["verification"])
    out += [""] + render_registry(stats["trial_registry"])
    if stats["silent_therapies"]:
        out.append("Therapies with no encoded statement: " + ", ".join(stats["silent_therapies"]))
    if stats["silent_tests"]:
        out.append("Tests with no encoded statement: " + ", ".join(stats["silent_tests"]))
    return "\n".join(out) + "\n"


def _tier_row(name: str, c: dict[str, Any], width: int) -> str:
    return (f"{name:<{width}} {c['total']:>6} {c['primary']:>8} {c['secondary']:>10} {c['unverified']:>11} "
            f"{c['share_primary']:>8.0%} {c['share_primary_or_secondary']:>10.0%}")


def render_verification(v: dict[str, Any]) -> list[str]:
    """The tier table: every source reference, by guideline and by kind of other document."""
    names = [*v["by_guideline"], *(f"{k} documents" for k in v["by_document_kind"]), "all source references"]
    w = max(len(n) for n in names)
    out = ["Verification of source references (primary = read in the source itself; secondary = read in a "
           "named source that reports it)",
           f"{'':<{w}} {'refs':>6} {'primary':>8} {'secondary':>10} {'unverified':>11} {'primary%':>8} "
           f"{'checked%':>10}"]
    out += [_tier_row(g, c, w) for g, c in v["by_guideline"].items()]
    out += [_tier_row(f"{k} documents", c, w) for k, c in v["by_document_kind"].items()]
    out.append(_tier_row("all source references", v, w))
    if v["secondary_in_seed_documents"]:
        out.append(f"({v['secondary_in_seed_documents']} of the secondary reads are in the seed documents.)")
    if v["secondary_sources"]:
        out.append("Secondary sources read: " + ", ".join(f"{k} ({n})" for k, n in v["secondary_sources"].items()))
    return out


def render_registry(reg: dict[str, Any]) -> list[str]:
    """The trial-registry table: per therapy, trials, women, verified rows, reproductions matching."""
    out = ["Trial registry (randomised trials, each counted once; subgroup rows not counted)",
           f"{'therapy':<26} {'trials':>6} {'women':>7} {'rows':>5} {'verified':>9} {'share':>6} {'reproduced':>11}"]
    rows = [*reg["per_therapy"].items(), ("all", reg["total"])]
    for name, v in rows:
        rep = f"{v['reproductions_matching']}/{v['reproductions']}"
        out.append(f"{name:<26} {v['primary_trials']:>6} {v['women_randomised']:>7} {v['primary_rows']:>5} "
                   f"{v['rows_verified']:>9} {v['share_rows_verified']:>6.0%} {rep:>11}")
    return out
