"""Markdown report: the assessment for a patient file or a message to a colleague."""

from __future__ import annotations

from typing import Any

from rplnav.assessment import Assessment, plain
from rplnav.render.common import (
    GUIDELINE_ORDER,
    assumption_lines,
    evidence_lines,
    fmt_tri,
    medications_text,
    plan_sections,
    result_text,
    source_text,
    stance_label,
)


def assessment_markdown(a: Assessment | dict[str, Any]) -> str:
    a = plain(a)
    out: list[str] = []
    w = out.append
    w(f"# RPL Navigator assessment — {a['patient_id']}")
    w("")
    w(f"*{a['intended_use']}*")
    w("")
    w(f"Knowledge version `{a['knowledge_version']}` · assessed on {a['assessed_on']} · tool {a['tool_version']}")
    w("")
    w(f"## The plan for her — {a['plan']['headline']}" if a.get("plan") else "## The plan for her")
    for title, lines in plan_sections(a):
        w(f"**{title}**")
        for line in lines:
            w(f"- {line}")
        w("")
    assumed = assumption_lines(a)
    if assumed:
        w("## Assumptions: history the record does not give")
        for line in assumed:
            w(f"- {line}")
        w("")
    lo = a["losses"]
    w("## Pregnancy losses")
    w(f"- Total {lo['total']} (clinical {lo['clinical']}, non-visualised {lo['biochemical']}); "
      f"longest consecutive run {lo['consecutive_max']}")
    w(f"- Before 10 weeks: {fmt_tri(lo['early_lt10w'])}; 10+0–15+6: {fmt_tri(lo['early_fetal_10_15w'])}; "
      f"16 weeks or later: {fmt_tri(lo['fetal_ge16w'])}; second trimester: {fmt_tri(lo['second_trimester'])}")
    w(f"- Live births {lo['live_births']}; {'primary' if lo['primary'] else 'secondary' if lo['primary'] is False else 'unknown'} RPL")
    w("")
    w("## Does she meet each definition of RPL?")
    w("| Guideline | Meets | Why | Source |")
    w("|---|---|---|---|")
    for gid, r in a["rpl"].items():
        meets = fmt_tri(r["meets"]) + ("; inside its scope" if r.get("in_scope") and r["meets"] is not True else "")
        w(f"| {gid} | {meets} | {r['reason']} | {source_text(r['source'])} |")
    w("")
    w("## Antiphospholipid syndrome")
    for name, block in a["aps"].items():
        status = block.get("status")
        pts = ""
        if "clinical_points" in block:
            pts = f" (clinical {block['clinical_points']} points, laboratory {block['laboratory_points']} points)"
        w(f"- **{name}**: {status}{pts}")
        for m in block.get("missing", []):
            w(f"  - to decide: {m}")
        if block.get("note"):
            w(f"  - note: {block['note']}")
        for b in block.get("interpretation", []):
            w(f"  - {b}")
    w("")
    w("## Work-up")
    w("| Test | Status | Guidelines |")
    w("|---|---|---|")
    for item in a["workup"]:
        gl = "; ".join(
            f"{r['guideline']} {stance_label(r['stance'])}{'' if r['applies'] else ' (n/a)' if r['applies'] is False else ' (?)'}"
            for r in item["recommendations"])
        status = item["status"] if item["status"] != "missing" else f"missing ({item['priority'].replace('_', ' ')})"
        w(f"| {item['name']} | {status} | {gl} |")
    judged = [b for item in a["workup"] for b in item.get("interpretation", [])]
    if judged:
        w("")
        w("Results read without the laboratory's own limit:")
        for b in judged:
            w(f"- {b}")
    w("")
    e = a.get("entered")
    if e:
        w("## What was entered")
        w(f"Age {e['age']}" + (f", country {e['country']}" if e.get("country") else "") + ".")
        w("")
        if e["pregnancies"]:
            w("| # | Outcome | Weeks | Date | Details |")
            w("|---|---|---|---|---|")
            for i, p in enumerate(e["pregnancies"], 1):
                bits = [f"{k.replace('_', ' ')}: {v}" for k, v in p.items()
                        if k not in ("outcome", "gestational_age", "date")]
                w(f"| {i} | {p['outcome'].replace('_', ' ')} | {p.get('gestational_age') or 'not given'} | "
                  f"{p.get('date') or 'undated'} | {'; '.join(bits) or '—'} |")
            w("")
        listed = {"conditions": e.get("conditions"), "thromboses": e.get("thromboses")}
        for k, v in listed.items():
            w(f"- {k}: " + ("not documented" if v is None else "none" if not v else
                            ", ".join(x if isinstance(x, str) else x["type"] for x in v)))
        for k, v in e.get("findings", {}).items():
            w(f"- {k.replace('_', ' ')}: {v}")
        w("")
    w("## Results as reported")
    w(f"Current medications: {medications_text(a.get('medications'))}.")
    w("")
    if a.get("results"):
        w("| Test | Date | Result |")
        w("|---|---|---|")
        for r in a["results"]:
            w(f"| {r['name']} | {r.get('date') or 'undated'} | {result_text(r)} |")
    else:
        w("No lab results given.")
    w("")
    w("## Treatment options: what each guideline says for her")
    w("Legend: ✔ applies to her · ? may apply (missing facts listed) · – population does not match.")
    w("")
    for o in a["options"]:
        if not o["stances"] and not o["alerts"]:
            continue
        w(f"### {o['name']} (`{o['therapy']}`)")
        w(f"**Summary:** {o['summary']}")
        w("")
        if o["stances"]:
            w("| Guideline | Stance | Strength / certainty | For her | Population | Source |")
            w("|---|---|---|---|---|---|")
            for s in sorted(o["stances"], key=lambda s: GUIDELINE_ORDER.get(s["guideline"], 99)):
                mark = {True: "✔", False: "–", None: "?"}[s["applies"]]
                needs = f" (needs {', '.join(s['needs'])})" if s["needs"] else ""
                assumes = {"sydney-2006": " (APS as defined by Sydney 2006)",
                           "acr-eular-2023": " (APS as defined by ACR/EULAR 2023)"}.get(s.get("aps_definition", ""), "")
                w(f"| {s['guideline']} | {stance_label(s['stance'])} | {s['strength']} / {s['certainty']} | "
                  f"{mark}{needs} | {s['population']}{assumes} | {source_text(s['source'])} |")
            w("")
        t = o["timing"]
        if t["status"] != "n/a" or t["windows"]:
            w(f"**Timing** ({t['status']}):")
            for win in t["windows"]:
                w(f"- {win['label']} [{win['status']}]: {win['text']} — {source_text(win['source'])}")
            w("")
        ev = evidence_lines(o.get("evidence"))
        if ev:
            w("**Evidence:**")
            for line in ev:
                w(f"- {line}")
            w("")
        for al in o["alerts"]:
            w(f"> **{al['level'].upper()}** {al['text']} — {source_text(al['source'])}")
        if o["alerts"]:
            w("")
    if a["alerts"]:
        w("## Alerts")
        for al in a["alerts"]:
            w(f"- **{al['level'].upper()}** {al['text']}" + (f" — {source_text(al['source'])}" if al.get("source") else ""))
        w("")
    p = a["prognosis"]
    w("## Prognosis")
    if p.get("next_pregnancy_live_birth_percent") is not None:
        w(f"Estimated success of the next pregnancy: **{p['next_pregnancy_live_birth_percent']:g}%** ({p['note']}).")
    else:
        w(f"No estimate: {p.get('note', 'not available')}.")
    if p.get("caveat"):
        w(f"Caveat: {p['caveat']}")
    if p.get("source"):
        w(f"Source: {source_text(p['source'])}")
    w("")
    w("## Sources")
    for i, s in enumerate(a["sources"], 1):
        doi = f" doi:{s['doi']}" if s.get("doi") else ""
        w(f"{i}. [{s['id']}] {s['citation']}{doi}")
    w("")
    return "\n".join(out)
