"""Forest plots as SVG in pure Python: the back end of :mod:`rplnav.evidence.forest`'s row model that the reports
use (no NumPy, no matplotlib: a few milliseconds per plot), and the rows of an assessment's evidence block.

A row is a dict with ``kind`` (header, study, diamond, text, pi, note, blank), ``label``, optionally ``cells``
(events/totals per arm as text), ``est``/``lo``/``hi`` on the analysis scale (log for ratio measures),
``weight`` (%), ``text`` (effect and CI as printed) and ``mark`` (a study of her stratum among all trials).
Numbers are printed as RevMan prints them: effect and CI with two decimals, weights with one.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from typing import Any

from .plain_reml import chi2_sf

_FS = 11.0  # font size, px
_ROW = 17.0  # row height, px
_FONT = "DejaVu Sans, Verdana, sans-serif"
_RATIO_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# which side a ratio above 1 favours depends on whether the outcome is wanted
FAVOURS = {
    "live_birth": ("Favours control", "Favours treatment"),
    "ongoing_pregnancy": ("Favours control", "Favours treatment"),
    "clinical_pregnancy": ("Favours control", "Favours treatment"),
    "miscarriage": ("Favours treatment", "Favours control"),
}
MEASURE_LABEL = {"OR": "Odds Ratio", "RR": "Risk Ratio", "RD": "Risk Difference"}


def fmt_p(p: float) -> str:
    """P value as RevMan 5 prints it ("P = 0.18", "P = 0.005", "P < 0.0001", "P < 0.00001")."""
    if p < 0.00001:
        return "P < 0.00001"
    if p < 0.0001:
        return "P < 0.0001"
    if p < 0.001:
        return f"P = {p:.4f}"
    if p < 0.01:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}"


def axis(rows: list[dict[str, Any]], ratio: bool) -> tuple[float, float, list[tuple[float, str]]]:
    """x limits (analysis scale) and labelled ticks: symmetric around the null effect, decades for ratios."""
    xs = [r[k] for r in rows for k in ("lo", "hi", "est") if r.get(k) is not None and math.isfinite(r[k])]
    if ratio:
        span = max([abs(x) for x in xs] + [math.log(2)])
        lim = next(v for v in (2, 5, 10, 20, 50, 100, 200, 500, 1000) if math.log(v) >= min(span, math.log(1000)))
        xmin, xmax = math.log(1 / lim), math.log(lim)
        ticks = [t for t in _RATIO_TICKS if xmin - 1e-9 <= math.log(t) <= xmax + 1e-9]
        if len(ticks) > 7:
            ticks = [t for t in ticks if str(t).lstrip("0.").startswith("1")]
        return xmin, xmax, [(math.log(t), f"{t:g}") for t in ticks]
    span = max([abs(x) for x in xs] + [1e-3]) * 1.1
    return -span, span, [(f * span, f"{f * span:.2g}") for f in (-1.0, -0.5, 0.0, 0.5, 1.0)]


def _t(x: float, y: float, text: str, anchor: str = "start", bold: bool = False, size: float = _FS) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size:g}"{weight}>'
            f"{html.escape(text)}</text>")


def _clip(label: str, n: int) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def svg(rows: list[dict[str, Any]], has_cells: bool, ratio: bool, heads: tuple[str, str],
        arm_labels: tuple[str, str] = ("Experimental", "Control"),
        favours: tuple[str, str] = ("Favours [control]", "Favours [experimental]"), title: str | None = None,
        desc: str | None = None, sized: bool = True) -> str:
    """The forest plot as one self-contained SVG string (RevMan's columns, text kept as text); ``sized=False``
    leaves out width and height so a page can scale it to its column (the viewBox keeps the proportions).

    ``heads`` is (measure, method) for the effect column.  Rows with ``mark`` set get a triangle before the
    label and a dark square; rows with ``mark`` False a grey square (trials outside her stratum).
    """
    cols = ({"label": 4.0, "e1": 318.0, "n1": 362.0, "e2": 420.0, "n2": 464.0, "w": 520.0, "ci": 700.0}
            if has_cells else {"label": 4.0, "w": 520.0, "ci": 700.0})
    width_chars = 44 if has_cells else 70
    px0, px1 = 715.0, 950.0
    top = 8.0 + (_FS + 8 if title else 0.0)
    y_head = top + 2 * _ROW  # baseline of the column names
    first = y_head + _ROW
    xmin, xmax, ticks = axis(rows, ratio)

    def x(v: float) -> float:
        return px0 + (min(max(v, xmin), xmax) - xmin) / (xmax - xmin) * (px1 - px0)

    out: list[str] = []
    if title:
        out.append(_t(4, 8 + _FS, title, bold=True, size=_FS + 1.5))
    if has_cells:
        for (a, b), lab in ((("e1", "n1"), arm_labels[0]), (("e2", "n2"), arm_labels[1])):
            out.append(_t((cols[a] + cols[b]) / 2 - 12, y_head - _ROW, lab, "middle", True))
        for key, lab in (("e1", "Events"), ("n1", "Total"), ("e2", "Events"), ("n2", "Total")):
            out.append(_t(cols[key], y_head, lab, "end", True))
    out += [_t(cols["label"], y_head, "Study or Subgroup", bold=True), _t(cols["w"], y_head, "Weight", "end", True),
            _t(cols["ci"], y_head - _ROW, heads[0], "end", True), _t(cols["ci"], y_head, heads[1], "end", True),
            _t((px0 + px1) / 2, y_head - _ROW, heads[0], "middle", True),
            _t((px0 + px1) / 2, y_head, heads[1].rsplit(",", 1)[0], "middle", True)]
    out.append(f'<line x1="4" y1="{y_head + 5:.1f}" x2="{px1:.1f}" y2="{y_head + 5:.1f}" stroke="#888" '
               'stroke-width="0.6"/>')
    last_plotted = first
    for i, r in enumerate(rows):
        y = first + i * _ROW
        mid = y - _FS * 0.35
        kind = r["kind"]
        if kind == "blank":
            continue
        if kind in ("header", "note"):
            out.append(_t(cols["label"], y, r["label"], bold=kind == "header", size=_FS if kind == "header" else _FS - 1))
            continue
        bold = kind == "diamond"
        label = ("▸ " if r.get("mark") else "") + r["label"]
        out.append(_t(cols["label"], y, _clip(label, width_chars), bold=bold))
        if has_cells and r.get("cells"):
            for key, val in zip(("e1", "n1", "e2", "n2"), r["cells"], strict=True):
                if val:
                    out.append(_t(cols[key], y, val, "end", bold))
        if r.get("weight") is not None and kind in ("study", "diamond"):
            out.append(_t(cols["w"], y, f"{r['weight']:.1f}%", "end", bold))
        if r.get("text"):
            out.append(_t(cols["ci"], y, r["text"], "end", bold))
        if kind == "study" and r.get("est") is not None:
            lo, hi = x(r["lo"]), x(r["hi"])
            out.append(f'<line x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" y2="{mid:.1f}" stroke="#111" '
                       'stroke-width="1"/>')
            for clipped, tip, back in ((r["lo"] < xmin, px0, px0 + 6), (r["hi"] > xmax, px1, px1 - 6)):
                if clipped:
                    out.append(f'<polygon points="{tip:.1f},{mid:.1f} {back:.1f},{mid - 3:.1f} {back:.1f},'
                               f'{mid + 3:.1f}" fill="#111"/>')
            if xmin <= r["est"] <= xmax:
                side = 3.0 + 9.0 * math.sqrt(max(r.get("weight") or 0.0, 0.0) / 100.0)
                colour = "#767676" if r.get("mark") is False else "#1f4e9c"
                out.append(f'<rect x="{x(r["est"]) - side / 2:.1f}" y="{mid - side / 2:.1f}" width="{side:.1f}" '
                           f'height="{side:.1f}" fill="{colour}"/>')
            last_plotted = y
        elif kind == "diamond":
            out.append(f'<polygon points="{x(r["lo"]):.1f},{mid:.1f} {x(r["est"]):.1f},{mid - 5.5:.1f} '
                       f'{x(r["hi"]):.1f},{mid:.1f} {x(r["est"]):.1f},{mid + 5.5:.1f}" fill="#111"/>')
            last_plotted = y
        elif kind == "pi":
            out.append(f'<line x1="{x(r["lo"]):.1f}" y1="{mid:.1f}" x2="{x(r["hi"]):.1f}" y2="{mid:.1f}" '
                       'stroke="#b03030" stroke-width="2.5"/>')
            last_plotted = y
    y_axis = max(last_plotted, first + (len(rows) - 1) * _ROW) + _ROW * 0.6
    null = x(0.0)
    out.append(f'<line x1="{null:.1f}" y1="{first - _ROW:.1f}" x2="{null:.1f}" y2="{y_axis:.1f}" stroke="#555" '
               'stroke-width="0.8"/>')
    out.append(f'<line x1="{px0:.1f}" y1="{y_axis:.1f}" x2="{px1:.1f}" y2="{y_axis:.1f}" stroke="#111" '
               'stroke-width="0.8"/>')
    for pos, lab in ticks:
        tx = x(pos)
        out.append(f'<line x1="{tx:.1f}" y1="{y_axis:.1f}" x2="{tx:.1f}" y2="{y_axis + 4:.1f}" stroke="#111" '
                   'stroke-width="0.8"/>')
        out.append(_t(tx, y_axis + 4 + _FS, lab, "middle", size=_FS - 1))
    fy = y_axis + 6 + 2 * _FS
    out.append(_t(px0 + 0.25 * (px1 - px0), fy, favours[0], "middle", size=_FS - 1))
    out.append(_t(px0 + 0.75 * (px1 - px0), fy, favours[1], "middle", size=_FS - 1))
    height = fy + 8
    width = px1 + 10
    label = html.escape(desc or title or "Forest plot")
    size = f' width="{width:.0f}" height="{height:.0f}"' if sized else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}"{size} '
            f'font-family="{_FONT}" fill="#111" role="img" class="forest"><title>{label}</title>{"".join(out)}</svg>')


# ------------------------------------------------------------------ from an assessment document

def _effect(est: float, ci: Any) -> str:
    return f"{est:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def pooled_rows(p: Mapping[str, Any], heading: str, mark: bool) -> list[dict[str, Any]]:
    """Forest rows of one pooled analysis as the document carries it (ratio measure, REML, Wald z):
    its trials, the pooled diamond with totals, the prediction interval, heterogeneity and overall effect."""
    trials = list(p.get("trials") or ())
    cells = bool(trials) and all(t.get("treatment_total") is not None for t in trials)
    rows: list[dict[str, Any]] = [{"kind": "header", "label": heading}]
    for t in trials:
        row: dict[str, Any] = {"kind": "study", "label": t["label"], "est": math.log(t["estimate"]),
                               "lo": math.log(t["ci"][0]), "hi": math.log(t["ci"][1]), "weight": t["weight"],
                               "text": _effect(t["estimate"], t["ci"])}
        if mark:
            row["mark"] = bool(t.get("in_stratum"))
        if cells:
            row["cells"] = [str(t["treatment_events"]), str(t["treatment_total"]), str(t["control_events"]),
                            str(t["control_total"])]
        rows.append(row)
    total: dict[str, Any] = {"kind": "diamond", "label": "Subtotal (95% CI)", "est": math.log(p["estimate"]),
                             "lo": math.log(p["ci"][0]), "hi": math.log(p["ci"][1]), "weight": 100.0,
                             "text": _effect(p["estimate"], p["ci"])}
    if cells:
        total["cells"] = ["", str(sum(t["treatment_total"] for t in trials)), "",
                          str(sum(t["control_total"] for t in trials))]
    rows.append(total)
    if cells:
        rows.append({"kind": "text", "label": "Total events", "cells": [
            str(sum(t["treatment_events"] for t in trials)), "", str(sum(t["control_events"] for t in trials)), ""]})
    k = p.get("k", len(trials))
    if p.get("pi") and k > 1:
        rows.append({"kind": "pi", "label": "Prediction interval", "lo": math.log(p["pi"][0]),
                     "hi": math.log(p["pi"][1]), "text": f"[{p['pi'][0]:.2f}, {p['pi'][1]:.2f}]"})
    if k > 1:
        qp = p["q_pvalue"] if p.get("q_pvalue") is not None else chi2_sf(p["q"], p["q_df"])
        rows.append({"kind": "note", "label": f"Heterogeneity: Tau² = {p['tau2']:.2f}; Chi² = {p['q']:.2f}, "
                                              f"df = {p['q_df']} ({fmt_p(qp)}); I² = {p['i2']:.0f}%"})
    else:
        rows.append({"kind": "note", "label": "Heterogeneity: Not applicable"})
    z = abs(p["log_estimate"] / p["se"]) if p.get("se") else 0.0
    pv = f" ({fmt_p(p['pvalue'])})" if p.get("pvalue") is not None else ""
    rows.append({"kind": "note", "label": f"Test for overall effect: Z = {z:.2f}{pv}"})
    return rows


def _evidence_parts(ev: Mapping[str, Any], name: str, outcome_label: str) -> tuple[Any, ...] | None:
    """Rows and labels of the all-trials-then-her-stratum plot (None when nothing was pooled)."""
    all_ = ev.get("all")
    if not all_ or not all_.get("trials"):
        return None
    measure = all_.get("measure") or ev.get("measure") or "RR"
    association = "not a treatment" in (ev.get("comparison") or "")
    arms = ("Exposed", "Not exposed") if association else ("Treatment", "Control")
    favours = (("Lower with the exposure", "Higher with the exposure") if association
               else FAVOURS.get(str(ev.get("outcome")), ("Lower with treatment", "Higher with treatment")))
    rows = pooled_rows(all_, f"All trials (k = {all_['k']}); ▸ = in her stratum", mark=True)
    rows.append({"kind": "blank"})
    stratum = ev.get("stratum")
    if stratum and stratum.get("trials"):
        rows += pooled_rows(stratum, f"Her stratum (k = {stratum['k']})", mark=False)
    else:
        rows += [{"kind": "header", "label": "Her stratum"},
                 {"kind": "note", "label": "No trial enrolled women like her with a start she can still make."}]
    has_cells = all(r.get("cells") is not None for r in rows if r["kind"] == "study")
    heads = (MEASURE_LABEL.get(measure, measure), "IV, Random (REML), 95% CI")
    title = f"{name}: {outcome_label} ({ev.get('design') or 'all'} studies)"
    her = (f"her stratum {measure} {_effect(stratum['estimate'], stratum['ci'])}" if stratum
           else "no trial in her stratum")
    desc = f"Forest plot, {title}: all trials {measure} {_effect(all_['estimate'], all_['ci'])}; {her}"
    return rows, has_cells, heads, arms, favours, title, desc


def evidence_forest_svg(ev: Mapping[str, Any], name: str, outcome_label: str, sized: bool = False) -> str | None:
    """All trials, then her stratum, from an assessment's evidence block (None when nothing was pooled).

    In the all-trials panel the trials of her stratum are marked; weights are per panel.  An association
    (an exposure, not a treatment) is labelled by exposure rather than as treatment vs control.
    """
    parts = _evidence_parts(ev, name, outcome_label)
    if parts is None:
        return None
    rows, has_cells, heads, arms, favours, title, desc = parts
    return svg(rows, has_cells, True, heads, arms, favours, title, desc, sized)


# ------------------------------------------------------------------ HTML table + shapes (paged media)

def html_table(rows: list[dict[str, Any]], has_cells: bool, ratio: bool, heads: tuple[str, str],
               arm_labels: tuple[str, str], favours: tuple[str, str], caption: str) -> str:
    """The same plot as an HTML table for paged media: ordinary table text, and in the last column one text-free
    image spanning the body rows (whiskers, squares, diamonds, the null line running through), row by row at
    the rows' fixed height. An SVG renderer that lays text out glyph by glyph (WeasyPrint) would spend seconds
    on the labels; and one image rather than an inline SVG per row spares the layout engine a box and a style
    cascade for every shape (a tenth of the PDF's time, measured)."""
    xmin, xmax, ticks = axis(rows, ratio)
    w, h = 600.0, 36.0  # viewBox units per row; the CSS gives the image the same proportions per row

    def x(v: float) -> float:  # a margin for the outer tick labels
        return 24 + (min(max(v, xmin), xmax) - xmin) / (xmax - xmin) * (w - 48)

    def shapes(r: dict[str, Any], top: float) -> list[str]:
        m = top + h / 2
        if r["kind"] == "study" and r.get("est") is not None:
            out = [f'<line x1="{x(r["lo"]):.1f}" y1="{m:g}" x2="{x(r["hi"]):.1f}" y2="{m:g}" stroke="#111" '
                   'stroke-width="2"/>']
            if xmin <= r["est"] <= xmax:
                side = 8.0 + 22.0 * math.sqrt(max(r.get("weight") or 0.0, 0.0) / 100.0)
                colour = "#767676" if r.get("mark") is False else "#1f4e9c"
                out.append(f'<rect x="{x(r["est"]) - side / 2:.1f}" y="{m - side / 2:.1f}" width="{side:.1f}" '
                           f'height="{side:.1f}" fill="{colour}"/>')
            return out
        if r["kind"] == "diamond":
            return [f'<polygon points="{x(r["lo"]):.1f},{m:g} {x(r["est"]):.1f},{m - 13:g} {x(r["hi"]):.1f},{m:g} '
                    f'{x(r["est"]):.1f},{m + 13:g}" fill="#111"/>']
        if r["kind"] == "pi":
            return [f'<line x1="{x(r["lo"]):.1f}" y1="{m:g}" x2="{x(r["hi"]):.1f}" y2="{m:g}" stroke="#b03030" '
                    'stroke-width="6"/>']
        return []

    shown = [r for r in rows if r["kind"] != "blank"]
    height = h * len(shown)
    drawn = [f'<line x1="{x(0.0):.1f}" y1="0" x2="{x(0.0):.1f}" y2="{height:g}" stroke="#555" stroke-width="1.5"/>']
    for n, r in enumerate(shown):
        drawn += shapes(r, n * h)
    graphic = (f'<td class="g" rowspan="{len(shown)}">' + image(
        f'<svg viewBox="0 0 {w:g} {height:g}" xmlns="http://www.w3.org/2000/svg">{"".join(drawn)}</svg>',
        f"height: {ROW_MM * len(shown):g}mm") + "</td>")

    e = html.escape
    ncols = 7 if has_cells else 3
    cols = '<col class="l">' + ('<col class="c">' * 4 if has_cells else "") + '<col class="w"><col class="e"><col class="g">'
    head = [f'<table class="fp"><caption>{e(caption)}</caption><colgroup>{cols}</colgroup><thead>']
    if has_cells:
        head.append(f'<tr><th></th><th colspan="2">{e(arm_labels[0])}</th><th colspan="2">{e(arm_labels[1])}</th>'
                    f'<th></th><th class="n">{e(heads[0])}</th><th class="g">{e(heads[0])}</th></tr>')
        head.append('<tr><th>Study or Subgroup</th><th class="n">Events</th><th class="n">Total</th>'
                    '<th class="n">Events</th><th class="n">Total</th>'
                    f'<th class="n">Weight</th><th class="n">{e(heads[1])}</th>'
                    f'<th class="g">{e(heads[1].rsplit(",", 1)[0])}</th></tr>')
    else:
        head.append(f'<tr><th>Study or Subgroup</th><th class="n">Weight</th><th class="n">{e(heads[0])}, '
                    f'{e(heads[1])}</th><th class="g">{e(heads[0])}</th></tr>')
    body = ["</thead><tbody>"]
    for n, r in enumerate(shown):
        kind = r["kind"]
        g = graphic if n == 0 else ""
        if kind in ("header", "note"):
            body.append(f'<tr class="{kind}"><td colspan="{ncols}">{e(r["label"])}</td>{g}</tr>')
            continue
        label = ("▸ " if r.get("mark") else "") + r["label"]
        cells = "".join(f'<td class="n">{e(v)}</td>' for v in (r.get("cells") or [""] * 4)) if has_cells else ""
        weight = f"{r['weight']:.1f}%" if r.get("weight") is not None and kind in ("study", "diamond") else ""
        body.append(f'<tr class="{kind}"><td class="l">{e(label)}</td>{cells}<td class="n">{weight}</td>'
                    f'<td class="n">{e(r.get("text") or "")}</td>{g}</tr>')
    tick_marks = "".join(f'<line x1="{x(p):.1f}" y1="0" x2="{x(p):.1f}" y2="8" stroke="#111" stroke-width="1.5"/>'
                         f'<text x="{x(p):.1f}" y="30" font-size="22" text-anchor="middle">{e(lab)}</text>'
                         for p, lab in ticks)
    axis_svg = (f'<svg viewBox="0 0 {w:g} {h:g}" xmlns="http://www.w3.org/2000/svg" aria-hidden="true">'
                f'<line x1="24" y1="0" x2="{w - 24:g}" y2="0" stroke="#111" stroke-width="2"/>{tick_marks}</svg>')
    body.append(f'<tr class="axis"><td colspan="{ncols}"></td><td class="g">{axis_svg}</td></tr>')
    body.append(f'<tr class="favours"><td colspan="{ncols}"></td><td class="g"><span>{e(favours[0])}</span>'
                f'<span>{e(favours[1])}</span></td></tr></tbody></table>')
    return "".join(head + body)


ROW_MM = 3.5  # a body row's height in mm: the print stylesheet (table.fp td) is written with it, the spanning image drawn to it


def image(svg: str, style: str) -> str:
    """An SVG as a decorative <img> with a data: URL."""
    return f'<img alt="" style="{style}" src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'


def evidence_forest_table(ev: Mapping[str, Any], name: str, outcome_label: str) -> str | None:
    """:func:`evidence_forest_svg`'s plot as :func:`html_table` (for the PDF)."""
    parts = _evidence_parts(ev, name, outcome_label)
    if parts is None:
        return None
    rows, has_cells, heads, arms, favours, title, _ = parts
    return html_table(rows, has_cells, True, heads, arms, favours, title)
