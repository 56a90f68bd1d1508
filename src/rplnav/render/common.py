"""Shared wording for every renderer."""

from __future__ import annotations

from typing import Any

GUIDELINE_ORDER = {g: i for i, g in enumerate([
    "ESHRE-2022", "ESHRE-2017", "ASRM-2012", "RCOG-2023", "RCOG-2011", "NICE-NG126", "LANCET-2021", "ASRI-2025",
    "ACR-2020", "EULAR-2019", "GLADEL-PANLAR-2018",
])}

STANCE_LABEL = {
    "strong_for": "strong for",
    "conditional_for": "conditional for",
    "good_practice": "good practice",
    "research_only": "research only",
    "no_recommendation": "no recommendation",
    "insufficient_evidence": "insufficient evidence",
    "conditional_against": "conditional AGAINST",
    "strong_against": "strong AGAINST",
    "not_permitted": "NOT PERMITTED",
}

STANCE_SHORT = {
    "strong_for": "++", "conditional_for": "+", "good_practice": "GPP", "research_only": "R",
    "no_recommendation": "0", "insufficient_evidence": "?ev", "conditional_against": "−",
    "strong_against": "−−", "not_permitted": "✖",
}

STANCE_STYLE = {
    "strong_for": "bold green", "conditional_for": "green", "good_practice": "cyan", "research_only": "magenta",
    "no_recommendation": "white", "insufficient_evidence": "yellow", "conditional_against": "red",
    "strong_against": "bold red", "not_permitted": "bold white on red",
}


def stance_label(stance: str) -> str:
    return STANCE_LABEL.get(stance, stance)


def fmt_tri(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if v is None:
        return "unknown"
    return str(v)


def source_text(src: dict[str, Any] | None) -> str:
    if not src:
        return ""
    mark = "" if src.get("verified") else " (unverified)"
    sec = src.get("secondary")
    if sec and src.get("tier") == "secondary":
        mark = f" (not read in the source itself; read in {sec['document']}, {sec['locator']})"
    return f"{src['document']}, {src['locator']}{mark}"


def pooled_text(block: dict[str, Any] | None) -> str:
    """'RR 1.67 [1.07, 2.62], k=1, n=99, I² 0%' — or why there is nothing to pool."""
    if not block or not block.get("k"):
        return "no study"
    lo, hi = block["ci"]
    txt = f"{block['measure']} {block['estimate']:.2f} [{lo:.2f}, {hi:.2f}], k={block['k']}, n={block['n']}"
    if block["k"] > 1:
        txt += f", I² {block['i2']:.0f}%, τ² {block['tau2']:.3g}"
    return txt


def evidence_lines(ev: dict[str, Any] | None) -> list[str]:
    """Plain-language lines for an option's evidence summary (pooled for all, and for patients like her)."""
    if not ev:
        return []
    outcome = (ev.get("outcome") or "outcome not stated").replace("_", " ")
    lines = [f"{outcome} ({ev.get('design') or 'all'} studies): all studies {pooled_text(ev.get('all'))}; "
             f"studies matching her {pooled_text(ev.get('stratum'))}"]
    if ev.get("stratum_text"):
        lines.append(ev["stratum_text"])
    if ev.get("comparison"):
        lines.append(f"compared: {ev['comparison']}")
    for x in (ev.get("excluded") or [])[:6]:
        lines.append(f"not her stratum: {x['label']} ({x['reason']})")
    for x in ev.get("not_pooled") or []:
        lines.append(f"not pooled: {x['label']} ({x['reason']})")
    unmatched = ev.get("unmatched") or []
    if unmatched:
        names = ", ".join(u.get("label", u.get("id", "?")) for u in unmatched[:4])
        lines.append(f"could not be matched to her: {names}" + (" …" if len(unmatched) > 4 else ""))
    for c in (ev.get("context") or [])[:3]:
        mark = "" if c.get("verified") else " (unverified)"
        lines.append(f"context: {c['label']}: {c['measure']} {c['estimate']} [{c['ci'][0]}, {c['ci'][1]}]{mark}")
    lines.append(f"method: {ev.get('method', '')}")
    return lines


def assumption_lines(a: dict[str, Any]) -> list[str]:
    """One line per assumption: what was taken as absent, what rests on it, and what to record to confirm it."""
    out = []
    for asm in a.get("assumptions") or []:
        ds = asm["decisions"]
        named = [d.split(".", 1)[1] for d in ds if d.startswith(("aps.", "rpl."))]
        n_stances = sum(d.startswith("stance.") for d in ds)
        parts = [f"APS {', '.join(named)}"] if named else []
        if n_stances:
            parts.append(f"{n_stances} guideline statement(s)")
        other = len(ds) - len(named) - n_stances
        if other:
            parts.append(f"{other} other decision(s)")
        out.append(f"Assumed {asm['text']}; this decides {'; '.join(parts) or 'nothing'}. "
                   f"Record `{asm['confirm']}` (an empty list if none) to confirm.")
    return out


def result_text(r: dict[str, Any]) -> str:
    """One lab result as entered: value or qualitative result, unit, the lab's limit and its comment."""
    if r.get("value") is not None:
        text = f"{r['value']:g} {r.get('unit') or ''}".rstrip()
    else:
        text = str(r.get("result", "")).replace("_", " ")
    lo, hi, p99 = r.get("reference_low"), r.get("reference_high"), r.get("cutoff_p99")
    if lo is not None and hi is not None:
        text += f" (lab range {lo:g}-{hi:g})"
    elif hi is not None:
        text += f" (lab limit {hi:g})"
    elif lo is not None:
        text += f" (lab lower limit {lo:g})"
    if p99 is not None:
        text += f" (99th percentile {p99:g})"
    if r.get("note"):
        text += f" — lab comment: “{r['note']}”"
    return text


def medications_text(meds: list[str] | None) -> str:
    """Current medications, saying apart 'not documented' (None) and 'none' ([])."""
    if meds is None:
        return "not documented"
    return ", ".join(meds) if meds else "none"
def _cite(statements: list[dict[str, Any]], compact: bool = False) -> str:
    if compact:
        n = sum(not s.get("verified") for s in statements)
        return f" ({n} unverified)" if n else ""
    ids = [s["id"] + ("" if s.get("verified") else " (unverified)") for s in statements]
    return f" [{'; '.join(ids)}]" if ids else ""


def short_name(name: str) -> str:
    """A therapy's name without its examples in brackets ("TNF-α inhibitor (etanercept, adalimumab)"), for narrow
    screens; a bracket that names a dose ("prophylactic dose") is kept, it tells two therapies apart."""
    head, sep, rest = name.partition(" (")
    return name if not sep or "dose" in rest else head


def _brief(x: dict[str, Any], other: dict[str, dict[str, Any]], other_word: str) -> str:
    """A plan line in one breath for a narrow terminal: the strongest guideline, how many others agree, and the
    strongest one on the other side, if any (the full agreement is in every other view and below)."""
    sts = x["statements"]
    if not sts:
        return "not permitted"
    head = f"{sts[0]['guideline']} {sts[0]['stance'].replace('_', ' ')}"
    if len(sts) > 1:
        head += f" +{len(sts) - 1} more"
    opp = (other.get(x["therapy"]) or {}).get("statements") or []
    if opp:
        head += f"; {other_word}: {opp[0]['guideline']} {opp[0]['stance'].replace('_', ' ')}"
        if len(opp) > 1:
            head += f" +{len(opp) - 1} more"
    return head


def _against_brief(lines: list[dict[str, Any]], supported_by: dict[str, dict[str, Any]],
                   shown_above: set[str]) -> list[str]:
    """Advised-against therapies for a narrow terminal, every one named: those one guideline leads against
    with no guideline for them share a line per leading statement ("ESHRE-2022 strong against: aspirin,
    heparin …"); a therapy some guideline supports for her keeps its own line, with the disagreement, unless
    its supported line above already gives both sides (then it is named once more, on one shared line)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    out, disputed = [], []
    for x in lines:
        sts = x["statements"]
        if x["therapy"] in shown_above and sts:
            disputed.append(short_name(x["name"]))
            continue
        if x["therapy"] in supported_by or x.get("regulatory") or not sts:
            blocked = x.get("regulatory") and not (sts and sts[0]["stance"] == "not_permitted")
            out.append(f"{short_name(x['name'])}: {_brief(x, supported_by, 'for')}" + _cite(sts, True)
                       + ("; not permitted in her country" if blocked else ""))
            continue
        groups.setdefault(f"{sts[0]['guideline']} {sts[0]['stance'].replace('_', ' ')}", []).append(x)
    lead = []
    for head, xs in groups.items():
        names = ", ".join(short_name(x["name"]) + (f" (+{len(x['statements']) - 1} more)" if len(x["statements"]) > 1 else "")
                          for x in xs)
        lead.append(f"{head}: {names}" + _cite([st for x in xs for st in x["statements"]], True))
    if disputed:
        out.append("also advised against by a guideline (both sides above): " + ", ".join(disputed))
    return lead + out


DISPUTED = "Guidelines disagree for her (both sides under advised against)"


def plan_sections(a: dict[str, Any], limit: int = 6, compact: bool = False) -> list[tuple[str, list[str]]]:
    """The plan as titled lists of plain lines, in reading order; the renderers share them so the bottom
    line reads the same in every view. Each line ends with the statement ids it rests on (``compact``, for
    narrow terminals: one short line per therapy, only how many statements are unverified, and at most
    ``limit`` next steps, so the whole bottom line fits the first screen at 80 columns)."""
    p = a.get("plan")
    if not p:
        return []
    out: list[tuple[str, list[str]]] = []
    if p["assumptions"]:
        out.append(("Assumed (record to confirm)", [
            f"{x['text'].split(' (')[0]}: record {x['confirm']}" if compact else
            f"{x['text']} — decides {x['decides']}; record {x['confirm']}"
            for x in p["assumptions"]]))
    supported_by = {x["therapy"]: x for x in p["supported"]}
    against_by = {x["therapy"]: x for x in p["against"]}
    sup = []
    particular = [x for x in p["supported"] if not x.get("general")]
    general = [x for x in p["supported"] if x.get("general") and not x.get("disputed")]
    contested = [x for x in p["supported"] if x.get("general") and x.get("disputed")]
    for x in particular[:limit]:
        if compact:
            when = "; ".join(w["status_text"] for w in x["when"][:1])
            sup.append(f"{short_name(x['name'])}: {_brief(x, against_by, 'against')}" + (f" · {when}" if when else "")
                       + _cite(x["statements"], compact))
            continue
        when = "; ".join(f"{w['label']}: {w['text']} ({w['status_text']})" for w in x["when"][:1])
        dose = "; ".join(f"{r['dose']}" for r in x["regimens"][:1] if r.get("dose"))
        extra = " · ".join(t for t in (dose, when) if t)
        sup.append(f"{x['name']}: {x['agreement']}" + (f" — {extra}" if extra else "") + _cite(x["statements"], compact))
    named = short_name if compact else (lambda n: n)
    if len(particular) > limit:
        sup.append(f"also supported for her: {', '.join(named(x['name']) for x in particular[limit:])}"
                   + ("" if compact else " (see treatment options)"))
    if general:
        sup.append("For every woman with RPL: " + ", ".join(named(x["name"]) for x in general)
                   + _cite([s for x in general for s in x["statements"]], compact))
    if contested:
        sup.append(("disputed (both sides below)" if compact else DISPUTED) + ": " + ", ".join(named(x["name"]) for x in contested)
                   + _cite([s for x in contested for s in x["statements"]], compact))
    out.append(("Supported for her", sup or ["no current guideline statement for a treatment applies to her yet"]))
    if compact:
        against = _against_brief(p["against"], supported_by, {x["therapy"] for x in particular[:limit]})
    else:
        against = [f"{x['name']}: {x['agreement'] or 'not permitted'}" + _cite(x["statements"], compact)
                   + "".join(f" — {r['text']}" for r in x.get("regulatory", [])) for x in p["against"]]
    out.append(("Advised against for her", against or ["no current guideline statement against a treatment "
                                                       "applies to her"]))
    nxt = [f"{x['text']}: decides {x['decides']} statement(s)" for x in p["decide_first"]]
    nxt += [f"{w['name']}: {w['status'].replace('_', ' ')} ({w['priority']})" + _cite(w["statements"], compact)
            for w in p["workup_next"][:limit]]
    if compact and len(nxt) > limit:
        nxt = nxt[:limit - 1] + [f"… and {len(nxt) - limit + 1} more: see the work-up below"]
    if nxt:
        out.append(("Next: record or test", nxt))
    if p["safety"]:
        out.append(("Safety", [f"{x['level'].upper()} {x['name'] + ': ' if x['name'] else ''}{x['text']}"
                               for x in p["safety"][:limit]]))
    if p["research_only"]:
        out.append(("Research only", [f"{x['name']}: {_brief(x, {}, '') if compact else x['agreement']}"
                                      + _cite(x["statements"], compact) for x in p["research_only"][:limit]]))
    if p["would_change"]:
        out.append(("Would change the plan", [
            f"{x['statement']['guideline']} {x['statement']['stance'].replace('_', ' ')} {x['name']} if "
            f"{x['population'] or 'its population'} (decided by: {', '.join(x['if'][:3])})"
            for x in p["would_change"]]))
    return out
