"""HTML report: one self-contained page (inline CSS and SVG, no network) from the assessment document.

Used by the web app, by `rplnav assess --format html` and, with `for_print=True`, by the PDF renderer.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from rplnav.assessment import Assessment, plain
from rplnav.evidence.forest_svg import evidence_forest_svg
from rplnav.evidence.stratify import OUTCOME_LABEL
from rplnav.knowledge.model import STANCE_ORDER
from rplnav.render.common import (
    GUIDELINE_ORDER,
    assumption_lines,
    fmt_tri,
    medications_text,
    plan_sections,
    result_text,
    stance_label,
)

SERVICE = Path(__file__).resolve().parent.parent / "service"
TEMPLATES = SERVICE / "templates"
CSS = SERVICE / "static" / "style.css"
# Where each anchor sits on a weeks-of-gestation axis (for drawing only).
ANCHOR_WEEKS = {"preconception": -4.0, "ovulation": 2.0, "positive_test": 4.0, "scan_confirmed": 6.0,
                "heartbeat": 6.5, "delivery": 40.0}
AXIS_MAX = 42.0


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(tri=fmt_tri, label=stance_label, cell_class=_cell_class, result_text=result_text,
                       medications_text=medications_text)
    return env


def _cell_class(cell: list[dict[str, Any]]) -> str:
    if not cell:
        return "empty"
    if any(s["applies"] is True for s in cell):
        return "applies"
    if any(s["applies"] is None for s in cell):
        return "maybe"
    return "na"


def _week(tp: dict[str, Any]) -> float | None:
    """Where a window bound sits in weeks, from the bound the document carries (never the knowledge base: a
    stored report re-rendered after a knowledge update still draws its own windows)."""
    if tp.get("anchor") == "gestational_age" and tp.get("ga_days") is not None:
        return tp["ga_days"] / 7
    if tp.get("anchor") == "postpartum":
        return 40.0 + (tp.get("weeks_after") or 6)
    return ANCHOR_WEEKS.get(tp.get("anchor", ""))


def _window_bounds(w: dict[str, Any]) -> tuple[float, float] | None:
    """Start/stop weeks of a timing window, as the document states them."""
    s, e = _week(w.get("start") or {}), _week(w.get("stop") or {})
    if s is not None and e is not None:
        return s, e
    return None


def timeline_svg(a: dict[str, Any]) -> str | None:
    ga_days = (a.get("facts") or {}).get("current.ga_days")
    if not (a.get("facts") or {}).get("current.pregnant") or ga_days is None:
        return None
    rows = []
    for o in a["options"]:
        relevant = any(s["applies"] is not False for s in o["stances"]) or o["alerts"]
        if not relevant:
            continue
        for w in o["timing"]["windows"]:
            b = _window_bounds(w)
            if b:
                rows.append((o["name"], w, b))
    if not rows:
        return None
    left, width, row_h = 230, 620, 22
    lo = -4.0
    x = lambda wk: left + (min(max(wk, lo), AXIS_MAX) - lo) / (AXIS_MAX - lo) * width  # noqa: E731
    h = 40 + row_h * len(rows) + 20
    colour = {"open": "#2e7d32", "closing": "#b26a00", "passed": "#9e9e9e", "not_yet": "#0b5394", "n/a": "#9e9e9e"}
    out = [f'<svg role="img" aria-labelledby="tl-title" viewBox="0 0 {left + width + 20} {h}" width="100%" '
           f'xmlns="http://www.w3.org/2000/svg"><title id="tl-title">Timing windows against her gestational age '
           f'({ga_days // 7}+{ga_days % 7} weeks)</title>']
    for wk in range(0, 43, 4):
        out.append(f'<line x1="{x(wk):.1f}" y1="28" x2="{x(wk):.1f}" y2="{h - 18}" stroke="#ddd"/>'
                   f'<text x="{x(wk):.1f}" y="22" font-size="11" text-anchor="middle">{wk}w</text>')
    out.append(f'<text x="{x(-4) + 2:.1f}" y="22" font-size="11">pre</text>')
    for i, (name, w, (s, e)) in enumerate(rows):
        y = 34 + i * row_h
        col = colour.get(w["status"], "#607d8b")
        label = html.escape(f"{name} — {w['label']}")[:60]
        out.append(f'<text x="4" y="{y + 13}" font-size="11">{label}</text>'
                   f'<rect x="{x(s):.1f}" y="{y + 3}" width="{max(x(e) - x(s), 3):.1f}" height="{row_h - 8}" '
                   f'fill="{col}" rx="3"><title>{html.escape(w["label"])}: {html.escape(w["text"])} '
                   f'({w["status"]})</title></rect>')
    gx = x(ga_days / 7)
    out.append(f'<line x1="{gx:.1f}" y1="26" x2="{gx:.1f}" y2="{h - 14}" stroke="#b71c1c" stroke-width="2"/>'
               f'<text x="{gx + 3:.1f}" y="{h - 4}" font-size="11" fill="#b71c1c">now {ga_days // 7}+{ga_days % 7}'
               f'</text></svg>')
    return "".join(out)


def _effect(p: dict[str, Any] | None) -> str:
    """'RR 1.21 (0.98-1.49), k = 5, 465 women' — two decimals, as trials and reviews print them."""
    if not p:
        return "no trial matches her"
    women = f", {p['n']:,} women" if p.get("n") else ""
    single = " (a single study)" if p.get("single_study") else ""
    het = f", I² {p['i2']:.0f} %" if p.get("k", 0) > 1 and p.get("i2") is not None else ""
    return (f"{p['measure']} {p['estimate']:.2f} ({p['ci'][0]:.2f}–{p['ci'][1]:.2f}), k = {p['k']}{women}{het}"
            f"{single}")


def forest_figure(ev: dict[str, Any], name: str) -> str:
    """The forest plot of all trials and her stratum as an accessible figure: the SVG is an image named by its
    summary, the caption says how to read it, and a table gives every row's numbers (RevMan rounding)."""
    outcome = OUTCOME_LABEL.get(ev.get("outcome") or "", "outcome")
    plot = evidence_forest_svg(ev, name, outcome)
    if plot is None:
        return ""
    e = html.escape
    measure = ev["all"].get("measure") or "RR"
    arm = "exposed group" if "not a treatment" in (ev.get("comparison") or "") else "treatment arm"
    her = {t["id"]: t for t in ((ev.get("stratum") or {}).get("trials") or ())}
    rows = []
    for t in ev["all"]["trials"]:
        arms = (f"{t['treatment_events']}/{t['treatment_total']}", f"{t['control_events']}/{t['control_total']}") \
            if t.get("treatment_total") is not None else ("—", "—")
        rows.append(f"<tr><th scope=\"row\">{e(t['label'])}{'' if t.get('verified') else ' (unverified)'}</th>"
                    f"<td>{arms[0]}</td><td>{arms[1]}</td><td>{t['weight']:.1f}%</td>"
                    f"<td>{t['estimate']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]</td>"
                    f"<td>{'yes' if t.get('in_stratum') else 'no'}</td></tr>")
    for t in her.values():  # a subgroup of a trial pooled in her stratum in place of the whole trial
        if not any(x["id"] == t["id"] for x in ev["all"]["trials"]):
            arms = (f"{t['treatment_events']}/{t['treatment_total']}", f"{t['control_events']}/{t['control_total']}") \
                if t.get("treatment_total") is not None else ("—", "—")
            rows.append(f"<tr><th scope=\"row\">{e(t['label'])} (subgroup in her stratum)</th><td>{arms[0]}</td>"
                        f"<td>{arms[1]}</td><td>{t['weight']:.1f}% of her stratum</td>"
                        f"<td>{t['estimate']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]</td><td>yes</td></tr>")
    return (f'<figure class="forest-fig"><div class="forest-wrap" tabindex="0">{plot}</div><figcaption>Forest plot, {e(outcome)}: '
            f"each row is a trial with events/total per arm, its weight in the analysis and its {e(measure)} with "
            "95% CI (squares sized by weight); the diamonds are the pooled estimates of all trials and of her "
            "stratum. ▸ and dark squares mark the trials of her stratum. Values right of 1 mean more of the "
            f"outcome in the {arm}.</figcaption></figure>"
            f'<details class="more"><summary>The plot as a table ({len(rows)} trials)</summary><div class="why-wrap" tabindex="0">'
            '<table class="forest-table"><thead><tr><th scope="col">Trial</th><th scope="col">Treatment events/total'
            '</th><th scope="col">Control events/total</th><th scope="col">Weight (all trials)</th>'
            f'<th scope="col">{e(measure)} [95% CI]</th><th scope="col">In her stratum</th></tr></thead><tbody>'
            f'{"".join(rows)}</tbody></table></div></details>')


def _evidence_html(ev: dict[str, Any], name: str = "") -> str:
    """One therapy's evidence for her, readable in seconds: her stratum in words, her effect beside all
    trials', the forest plot, then (folded) which trials were excluded or not pooled and why, and the
    meta-analyses as context."""
    e = html.escape
    out = []
    if ev.get("stratum_text"):
        out.append(f"<p>{e(ev['stratum_text'])}</p>")
    elif ev.get("note"):
        out.append(f"<p>{e(ev['note'])}</p>")
    if ev.get("outcome"):
        verified = (f"{ev['verified_rows']} of {ev['rows']} trial rows verified against the trial report"
                    if ev.get("rows") else "")
        out.append('<table class="evidence"><thead><tr><th scope="col">Outcome</th><th scope="col">Her stratum'
                   '</th><th scope="col">All trials</th></tr></thead><tbody>'
                   f"<tr><td>{e(OUTCOME_LABEL.get(ev['outcome'], str(ev['outcome'])))} ({e(str(ev.get('design') or ''))})"
                   f"</td><td>{e(_effect(ev.get('stratum')))}</td><td>{e(_effect(ev.get('all')))}</td></tr></tbody>"
                   "</table>")
        if verified:
            out.append(f'<p class="muted">{e(verified)}.</p>')
        out.append(forest_figure(ev, name))
    folded = []
    for key, title in (("excluded", "Not her stratum"), ("unmatched", "Cannot be matched yet"),
                       ("not_pooled", "Listed, not pooled")):
        items = ev.get(key) or []
        if items:
            lis = "".join(f"<li><strong>{e(x.get('label') or x.get('id'))}</strong>: "
                          f"{e(x.get('reason') or ', '.join(x.get('needs') or []))}</li>" for x in items)
            folded.append(f"<p>{title} ({len(items)})</p><ul>{lis}</ul>")
    ctx = ev.get("context") or []
    if ctx:
        lis = "".join(f"<li>{e(c.get('label') or c.get('id'))}: {e(str(c.get('measure') or ''))} "
                      f"{c['estimate']:.2f} ({c['ci'][0]:.2f}–{c['ci'][1]:.2f})"
                      f"{'' if c.get('verified') else ' (unverified)'}</li>"
                      if c.get("estimate") is not None and c.get("ci") else f"<li>{e(c.get('label') or c.get('id'))}</li>"
                      for c in ctx)
        folded.append(f"<p>Meta-analyses (context, not pooled here)</p><ul>{lis}</ul>")
    if ev.get("comparison"):
        folded.append(f"<p>Compared: {e(ev['comparison'])}</p>")
    if folded:
        out.append(f'<details class="more"><summary>Trials and reviews behind it</summary>{"".join(folded)}</details>')
    return "".join(out)


def prepare(a: dict[str, Any]) -> dict[str, Any]:
    fit: dict[str, list[int]] = {}  # per guideline: statements that apply to her, that may apply (negated)
    for o in a["options"]:
        for s in o["stances"]:
            f = fit.setdefault(s["guideline"], [0, 0])
            f[0] -= s["applies"] is True
            f[1] -= s["applies"] is None
    # the columns that matter for her first: most statements applying to her, then may apply, then the usual order
    guidelines = sorted(fit, key=lambda g: (fit[g][0], fit[g][1], GUIDELINE_ORDER.get(g, 99)))
    options = []
    for o in a["options"]:
        if not o["stances"]:
            continue
        by: dict[str, list[dict[str, Any]]] = {}
        for s in sorted(o["stances"], key=lambda s: {True: 0, None: 1, False: 2}[s["applies"]]):
            by.setdefault(s["guideline"], []).append(s)
        options.append({**o, "by_guideline": by})
    plan = a.get("plan") or {}
    first = [x["therapy"] for part in ("supported", "against") for x in plan.get(part) or []]
    rank = {t: i for i, t in enumerate(dict.fromkeys(first))}
    with_evidence = [o for o in a["options"] if o.get("evidence")]
    with_evidence.sort(key=lambda o: rank.get(o["therapy"], len(rank)))  # the plan's therapies first
    evidence = [(o, _evidence_html(o["evidence"], o["name"])) for o in with_evidence]
    by_tid = {o["therapy"]: o for o in a["options"]}
    order = {s: i for i, s in enumerate(STANCE_ORDER)}
    rationale = []
    for part, title in (("supported", "supported"), ("against", "advised against")):
        for x in plan.get(part) or []:
            o = by_tid[x["therapy"]]
            stances = sorted((s for s in o["stances"] if s["applies"] is not False),
                             key=lambda s: (s["applies"] is not True, order.get(s["stance"], len(order))))
            rationale.append({"name": x["name"], "therapy": x["therapy"], "part": title,
                              "agreement": x.get("agreement"), "stances": stances})
    evidence_method = next((o["evidence"].get("method") for o in with_evidence if o["evidence"].get("method")), None)
    return {"guidelines": guidelines, "options": options, "evidence": evidence, "evidence_method": evidence_method,
            "rationale": rationale,
            "timeline": timeline_svg(a),
            "assumed": [line.replace("`", "") for line in assumption_lines(a)],
            "plan_sections": plan_sections(a)}


def render_html(a: Assessment | dict[str, Any], *, pdf_url: str | None = None, nav: bool = False,
                for_print: bool = False) -> str:
    """The full report as one HTML document."""
    a = plain(a)
    env = environment()
    return env.get_template("report.html").render(
        a=a, css=CSS.read_text(encoding="utf-8"), pdf_url=pdf_url, nav=nav, for_print=for_print, **prepare(a))
