"""Therapy monographs: everything the knowledge base says about one therapy, guideline by guideline.

The shape follows the cited clinical answer in seed 003: a bottom line, the standard of care with dose and
timing, a stance matrix (guideline x population), population-specific advice, research versus guidelines,
pitfalls, safety, clearly labelled off-guideline considerations with consent advice, and numbered references in
which every cited source appears once.

Nothing clinical is written here: every sentence a clinician reads comes from the YAML knowledge base (with its
source) or is assembled from its structured fields (stances, populations, guideline ids). The bottom line is
derived from the stances, so it changes when the knowledge base changes.
"""

from __future__ import annotations

import difflib
import io
import json
from collections import OrderedDict
from typing import Any

from rplnav import rules
from rplnav.knowledge.load import Knowledge
from rplnav.knowledge.model import AGAINST, FOR, STANCE_ORDER, SourceRef, TimePoint
from rplnav.render.common import STANCE_LABEL

SCHEMA = "rplnav.monograph/v1"
NEUTRAL = ("research_only", "insufficient_evidence", "no_recommendation")
FORMATS = ("md", "text", "json")


class UnknownTherapy(KeyError):
    """An id that is not in therapies.yaml; carries close matches for the caller to list."""

    def __init__(self, therapy_id: str, suggestions: list[str]):
        self.therapy_id = therapy_id
        self.suggestions = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown therapy '{therapy_id}'{hint}")

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return self.args[0]


def suggest(kb: Knowledge, therapy_id: str, n: int = 5) -> list[str]:
    """Close matches by id and by name (e.g. 'IVIg', 'heparin', 'hydroxychloroquin')."""
    ids = list(kb.therapies)
    q = therapy_id.strip().lower().replace("-", "_").replace(" ", "_")
    out = difflib.get_close_matches(q, ids, n=n, cutoff=0.5)
    names = {t.name.lower(): t.id for t in kb.therapies.values()}
    for name in difflib.get_close_matches(therapy_id.lower(), list(names), n=n, cutoff=0.5):
        if names[name] not in out:
            out.append(names[name])
    for tid in ids:  # substring hits ('heparin' -> lmwh names, 'lmwh' -> aspirin_lmwh)
        t = kb.therapies[tid]
        if len(q) >= 3 and (q in tid or q.replace("_", " ") in t.name.lower()) and tid not in out:
            out.append(tid)
    return out[:n]


class _Refs:
    """Numbers each cited source once, in order of first citation."""

    def __init__(self, kb: Knowledge):
        self.kb = kb
        self.order: OrderedDict[str, int] = OrderedDict()

    def cite(self, ref: SourceRef) -> dict[str, Any]:
        if ref.document not in self.order:
            self.order[ref.document] = len(self.order) + 1
        out: dict[str, Any] = {"ref": self.order[ref.document], "document": ref.document, "locator": ref.locator,
                               "verified": ref.verified}
        if ref.note:
            out["note"] = ref.note
        return out

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for doc, n in self.order.items():
            s = self.kb.sources.get(doc)
            entry: dict[str, Any] = {"n": n, "id": doc}
            if s is not None:
                entry.update({"citation": s.citation, "kind": s.kind})
                for k in ("year", "doi", "url", "note"):
                    v = getattr(s, k)
                    if v:
                        entry[k] = v
            out.append(entry)
        return out


def describe_point(tp: TimePoint) -> str:
    if tp.anchor == "gestational_age":
        return f"{tp.ga} weeks" if tp.ga else "a gestational age"
    if tp.anchor == "postpartum":
        return f"{tp.weeks_after} weeks after delivery" if tp.weeks_after is not None else "the postpartum period"
    return {
        "preconception": "before conception", "ovulation": "ovulation", "positive_test": "the positive pregnancy test",
        "scan_confirmed": "a scan-confirmed intrauterine pregnancy", "heartbeat": "a fetal heartbeat on scan",
        "delivery": "delivery",
    }[tp.anchor]


def _join(items: list[str]) -> str:
    return ", ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def _bottom_line(name: str, stances: list[dict[str, Any]]) -> dict[str, Any]:
    """A verdict assembled from the stances (not hand-written per therapy)."""
    if not stances:
        return {"verdict": "no_statement", "text": f"No guideline in the knowledge base makes a statement on {name}.",
                "for": [], "against": [], "uncertain": []}

    def group(keys: tuple[str, ...] | set[str]) -> list[str]:
        by_pop: OrderedDict[str, list[str]] = OrderedDict()
        for s in stances:
            if s["stance"] in keys:
                by_pop.setdefault(s["population"], []).append(f"{s['guideline']} {STANCE_LABEL[s['stance']]}")
        return [f"{pop} ({'; '.join(gs)})" for pop, gs in by_pop.items()]

    pos, neg, unc = group(FOR), group(AGAINST), group(NEUTRAL)
    kinds = {s["stance"] for s in stances}
    if kinds & AGAINST and kinds & set(FOR):
        verdict, head = "disagreement", "guidelines disagree or differ by population"
    elif "strong_for" in kinds:
        verdict, head = "standard_in_selected", "recommended in the populations below"
    elif kinds & set(FOR):
        verdict, head = "option_in_selected", "an option in the populations below, without a strong recommendation"
    elif kinds & AGAINST:
        verdict, head = "not_recommended", "not recommended by the guidelines that address it"
    else:
        verdict, head = "uncertain", "guidelines find the evidence insufficient or confine it to research"
    n_ver = sum(1 for s in stances if s["verified"])
    guidelines = sorted({s["guideline"] for s in stances})
    text = (f"{name}: {head}. {len(stances)} statement(s) from {_join(guidelines)}; "
            f"{n_ver} verified in the primary source.")
    return {"verdict": verdict, "text": text, "for": pos, "against": neg, "uncertain": unc}


def build_monograph(kb: Knowledge, therapy_id: str) -> dict[str, Any]:
    """The monograph of one therapy as a plain dictionary (renderable as md, text or json)."""
    if therapy_id not in kb.therapies:
        raise UnknownTherapy(therapy_id, suggest(kb, therapy_id))
    t = kb.therapies[therapy_id]
    refs = _Refs(kb)
    year = {g: kb.guidelines[g].year for g in kb.guidelines}
    superseded = {g.supersedes for g in kb.guidelines.values() if g.supersedes}

    recs = [r for r in kb.recommendations if r.therapy == therapy_id]
    recs.sort(key=lambda r: (-year.get(r.guideline, 0), r.guideline, STANCE_ORDER.index(r.stance)))
    matrix = []
    for r in recs:
        row: dict[str, Any] = {
            "id": r.id, "guideline": r.guideline, "year": year.get(r.guideline),
            "superseded": r.guideline in superseded,
            "population": r.population_text, "population_condition": rules.parse(r.population).to_text(),
            "stance": r.stance, "strength": r.strength, "certainty": r.certainty,
            "statement": r.statement, "verified": r.source.verified, "source": refs.cite(r.source),
        }
        if r.certainty_as_stated:
            row["certainty_as_stated"] = r.certainty_as_stated
        if r.aps_definition:
            row["aps_definition"] = r.aps_definition
        matrix.append(row)

    bottom = _bottom_line(t.name, matrix)

    regimens = []
    for g in t.regimens:
        src = kb.sources.get(g.source.document)
        regimens.append({
            "label": g.label, "dose": g.dose, "route": g.route, "frequency": g.frequency,
            "basis": src.kind if src else "other", "off_guideline": "off-guideline" in g.label.lower(),
            "source": refs.cite(g.source),
        })
    timing = []
    for w in t.timing:
        timing.append({
            "label": w.label, "start": describe_point(w.start), "stop": describe_point(w.stop), "text": w.text,
            "off_guideline": "off-guideline" in w.label.lower(), "source": refs.cite(w.source),
        })
    indications = [
        {"guideline": s["guideline"], "population": s["population"], "stance": s["stance"],
         "strength": s["strength"], "verified": s["verified"], "ref": s["source"]["ref"]}
        for s in matrix if s["stance"] in FOR
    ]
    standard = {
        "indications": indications,
        "regimens": [g for g in regimens if not g["off_guideline"]],
        "timing": [w for w in timing if not w["off_guideline"]],
    }

    populations: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for s in matrix:
        populations.setdefault(s["population"], []).append(s)
    population_advice = []
    for pop, rows in populations.items():
        parts = [f"{r['guideline']} {STANCE_LABEL[r['stance']]}" + ("" if r["verified"] else " (unverified)")
                 for r in rows]
        population_advice.append({
            "population": pop, "condition": rows[0]["population_condition"],
            "stances": [{"guideline": r["guideline"], "stance": r["stance"], "id": r["id"],
                         "verified": r["verified"], "ref": r["source"]["ref"]} for r in rows],
            "advice": f"{pop}: {'; '.join(parts)}.",
        })

    def alert_entry(a: Any) -> dict[str, Any]:
        return {"id": a.id, "level": a.level, "kind": a.kind, "text": a.text,
                "population": a.population_text, "trigger": kb.condition(f"alert:{a.id}").to_text(),
                "general": a.therapy is None,
                "source": refs.cite(a.source)}

    own = [a for a in kb.alerts if a.therapy == therapy_id]
    general = [a for a in kb.alerts if a.therapy is None]
    research = [alert_entry(a) for a in own if a.kind == "research_vs_guideline"]
    pitfalls = [alert_entry(a) for a in own if a.kind == "pitfall"]
    pitfalls += [alert_entry(a) for a in general if a.kind == "pitfall"]

    safety = []
    for c in t.cautions:
        safety.append({"kind": c.kind, "level": c.level, "text": c.text,
                       "when": rules.parse(c.when).to_text() if c.when is not None else None,
                       "source": refs.cite(c.source)})
    safety += [alert_entry(a) for a in own if a.kind == "safety"]
    regulatory = [{"country": g.country, "status": g.status, "text": g.text, "source": refs.cite(g.source)}
                  for g in t.regulatory]
    known = {g["text"] for g in regulatory}
    regulatory += [{"country": None, "status": a.level, "text": a.text, "trigger": kb.condition(f"alert:{a.id}").to_text(),
                    "population": a.population_text, "source": refs.cite(a.source)}
                   for a in own if a.kind == "regulatory" and a.text not in known]

    consent = [alert_entry(a) for a in own if a.kind == "consent"]
    if not consent:
        consent = [alert_entry(a) for a in general if a.kind == "consent"]
    outside = [s["population"] for s in matrix if s["stance"] in AGAINST or s["stance"] in NEUTRAL]
    off_guideline = {
        "label": "OFF-GUIDELINE CONSIDERATIONS: outside guideline support; for shared decision-making only",
        "applies_when": sorted(set(outside), key=outside.index) or (
            ["any use: no guideline in the knowledge base speaks to it"] if not matrix else
            ["any population not listed in the stance matrix"]),
        "regimens": [g for g in regimens if g["off_guideline"]],
        "timing": [w for w in timing if w["off_guideline"]],
        "consent": consent,
    }

    drug_names = [{"id": d.id, "names": list(d.names),
                   "rxnorm": [{"code": c.code, "display": c.display, "tier": c.source.tier} for c in d.rxnorm],
                   "source": refs.cite(d.source)} for d in kb.drugs.values() if d.therapy == t.id]
    return {
        "schema": SCHEMA,
        "knowledge_version": kb.version,
        "therapy": {"id": t.id, "name": t.name, "class": t.therapy_class, "mechanism": t.mechanism,
                    "cost_burden": t.cost_burden, "source": refs.cite(t.source)},
        "bottom_line": bottom,
        "standard_of_care": standard,
        "stance_matrix": matrix,
        "population_advice": population_advice,
        "research_vs_guideline": research,
        "pitfalls": pitfalls,
        "safety": safety,
        "regulatory": regulatory,
        "off_guideline": off_guideline,
        "drug_names": drug_names,
        "references": refs.listing(),
    }


# ------------------------------------------------------------------ rendering

def _r(src: dict[str, Any]) -> str:
    return f"[{src['ref']}]" + ("" if src["verified"] else "*")


def _regimen_line(g: dict[str, Any]) -> str:
    bits = [b for b in (g["dose"], g["route"], g["frequency"]) if b]
    return f"{g['label']}: {', '.join(bits) if bits else 'no dose stated'} {_r(g['source'])}"


def _timing_line(w: dict[str, Any]) -> str:
    return f"{w['label']}: from {w['start']} to {w['stop']}. {w['text']} {_r(w['source'])}"


def monograph_markdown(m: dict[str, Any]) -> str:
    t = m["therapy"]
    out: list[str] = [f"# {t['name']} (`{t['id']}`)", "",
                      f"*{t['class']}.* {t['mechanism']} {_r(t['source'])}", ""]
    if t["cost_burden"]:
        out += [f"**Cost and burden:** {t['cost_burden']}", ""]
    b = m["bottom_line"]
    out += ["## Bottom line", "", f"**{b['text']}**", ""]
    for label, key in (("For", "for"), ("Against", "against"), ("Uncertain / research only", "uncertain")):
        if b[key]:
            out.append(f"- **{label}:** " + "; ".join(b[key]))
    if m.get("drug_names"):
        out += ["", "**Read from charts as:** " + "; ".join(
            f"{', '.join(d['names'])} {_r(d['source'])}" for d in m["drug_names"])]
    out += ["", "## Standard of care", ""]
    soc = m["standard_of_care"]
    if soc["indications"]:
        out += ["Where guidelines support it:", ""]
        out += [f"- {i['population']}: {i['guideline']} {STANCE_LABEL[i['stance']]} ({i['strength']}) [{i['ref']}]"
                + ("" if i["verified"] else " *unverified*") for i in soc["indications"]]
        out.append("")
    else:
        out += ["No guideline in the knowledge base supports routine use.", ""]
    if soc["regimens"]:
        out += ["**Dose:**", ""] + [f"- {_regimen_line(g)}" for g in soc["regimens"]] + [""]
    if soc["timing"]:
        out += ["**Timing:**", ""] + [f"- {_timing_line(w)}" for w in soc["timing"]] + [""]
    out += ["## Stance matrix", ""]
    if m["stance_matrix"]:
        out += ["| Guideline | Population | Stance | Strength | Certainty | Verified | Ref |",
                "|---|---|---|---|---|---|---|"]
        for s in m["stance_matrix"]:
            cert = s["certainty"] + (f" ({s['certainty_as_stated']})" if s.get("certainty_as_stated") else "")
            g = s["guideline"] + (" (superseded)" if s["superseded"] else "")
            out.append(f"| {g} | {s['population']} | {STANCE_LABEL[s['stance']]} | {s['strength']} | {cert} | "
                       f"{'yes' if s['verified'] else 'no'} | [{s['source']['ref']}] |")
        out.append("")
        out += ["Statements:", ""] + [f"- **{s['guideline']}** ({s['id']}): {s['statement']} {_r(s['source'])}"
                                      for s in m["stance_matrix"]] + [""]
    else:
        out += ["No guideline in the knowledge base speaks to this therapy.", ""]
    if m["population_advice"]:
        out += ["## By population", ""] + [f"- {p['advice']}" for p in m["population_advice"]] + [""]
    out += ["## Research versus guidelines", ""]
    out += [f"- {a['text']} {_r(a['source'])}" for a in m["research_vs_guideline"]] or ["- Nothing recorded."]
    out += ["", "## Pitfalls", ""]
    out += [f"- {a['text']} {_r(a['source'])}" for a in m["pitfalls"]] or ["- Nothing recorded."]
    out += ["", "## Safety", ""]
    out += [f"- **{c['kind']}**: {c['text']}" + (f" (flagged when: `{c['when']}`)" if c.get("when") else "")
            + f" {_r(c['source'])}" for c in m["safety"]] or ["- Nothing recorded."]
    if m["regulatory"]:
        out += ["", "## Regulatory status", ""]
        out += [f"- {g['country'] or 'alert'} ({g['status']}): {g['text']}"
                + (f" (flagged when: `{g['trigger']}`)" if g.get("trigger") else "") + f" {_r(g['source'])}"
                for g in m["regulatory"]]
    og = m["off_guideline"]
    out += ["", f"## {og['label']}", "", "Applies to: " + "; ".join(og["applies_when"]), ""]
    out += [f"- Regimen reported outside guidelines: {_regimen_line(g)}" for g in og["regimens"]]
    out += [f"- Timing reported outside guidelines: {_timing_line(w)}" for w in og["timing"]]
    out += [f"- **Consent:** {a['text']} {_r(a['source'])}" for a in og["consent"]]
    out += ["", "## References", "", "\\* = the statement was not verified in the primary source.", ""]
    for r in m["references"]:
        extra = f" doi:{r['doi']}" if r.get("doi") else ""
        out.append(f"{r['n']}. {r.get('citation', r['id'])}{extra} (`{r['id']}`)")
    out += ["", f"Knowledge base {m['knowledge_version']}"]
    return "\n".join(out) + "\n"


def render_text(m: dict[str, Any], width: int = 110) -> str:
    """A terminal rendering with Rich, returned as plain text."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False, color_system=None, record=False)
    t = m["therapy"]
    con.print(Panel(Text(f"{t['class']}. {t['mechanism']} {_r(t['source'])}"
                         + (f"\nCost and burden: {t['cost_burden']}" if t["cost_burden"] else "")),
                    title=Text(f"{t['name']} ({t['id']})")))
    b = m["bottom_line"]
    lines = [b["text"]]
    for label, key in (("For", "for"), ("Against", "against"), ("Uncertain", "uncertain")):
        lines += [f"{label}: {x}" for x in b[key]]
    con.print(Panel(Text("\n".join(lines)), title="Bottom line"))
    soc = m["standard_of_care"]
    con.rule("Standard of care")
    for i in soc["indications"]:
        con.print(f"- {i['population']}: {i['guideline']} {STANCE_LABEL[i['stance']]} ({i['strength']}) [{i['ref']}]"
                  + ("" if i["verified"] else " (unverified)"), markup=False)
    if not soc["indications"]:
        con.print("No guideline in the knowledge base supports routine use.")
    for g in soc["regimens"]:
        con.print(f"Dose - {_regimen_line(g)}", markup=False)
    for w in soc["timing"]:
        con.print(f"Timing - {_timing_line(w)}", markup=False)
    con.rule("Stance matrix")
    if m["stance_matrix"]:
        tab = Table(show_lines=False, expand=True)
        for col in ("Guideline", "Population", "Stance", "Strength", "Certainty", "Ver.", "Ref"):
            tab.add_column(col)
        for s in m["stance_matrix"]:
            tab.add_row(*(Text(x) for x in (
                s["guideline"], s["population"], STANCE_LABEL[s["stance"]], s["strength"],
                s.get("certainty_as_stated") or s["certainty"], "yes" if s["verified"] else "no",
                f"[{s['source']['ref']}]")))
        con.print(tab)
    else:
        con.print("No guideline in the knowledge base speaks to this therapy.")
    for title, key in (("Research versus guidelines", "research_vs_guideline"), ("Pitfalls", "pitfalls")):
        con.rule(title)
        for a in m[key]:
            con.print(f"- {a['text']} {_r(a['source'])}", markup=False)
        if not m[key]:
            con.print("- Nothing recorded.")
    con.rule("Safety")
    for c in m["safety"]:
        con.print(f"- {c['kind']}: {c['text']}" + (f" (flagged when {c['when']})" if c.get("when") else "")
                  + f" {_r(c['source'])}", markup=False)
    for g in m["regulatory"]:
        con.print(f"- regulatory {g['country'] or 'alert'} ({g['status']}): {g['text']} {_r(g['source'])}",
                  markup=False)
    og = m["off_guideline"]
    body = ["Applies to: " + "; ".join(og["applies_when"])]
    body += [f"Regimen: {_regimen_line(g)}" for g in og["regimens"]]
    body += [f"Timing: {_timing_line(w)}" for w in og["timing"]]
    body += [f"Consent: {a['text']} {_r(a['source'])}" for a in og["consent"]]
    con.print(Panel(Text("\n".join(body)), title=Text(og["label"])))
    con.rule("References (* = not verified in the primary source)")
    for r in m["references"]:
        con.print(f"{r['n']}. {r.get('citation', r['id'])}", markup=False)
    con.print(f"Knowledge base {m['knowledge_version']}", markup=False)
    return buf.getvalue()


def render_monograph(mono: dict[str, Any], fmt: str = "md") -> str:
    if fmt == "md":
        return monograph_markdown(mono)
    if fmt == "text":
        return render_text(mono)
    if fmt == "json":
        return json.dumps(mono, indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
