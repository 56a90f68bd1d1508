"""Publication-quality forest plots from a fitted analysis: the RevMan row model, drawn as SVG by the pure-Python
back end (:mod:`rplnav.evidence.forest_svg`, shared with the reports) or as PNG by matplotlib (Agg, no pyplot).

Layout follows RevMan's: study rows with events/totals per arm (or the generic estimate), percentage
weights, effect and CI as text, CI whiskers with squares sized by weight, a diamond per pooled estimate,
heterogeneity (Tau², Chi², df, P, I²) and overall-effect (Z, P) lines, subgroup subtotals and the test
for subgroup differences, log scale for ratio measures, "Not estimable" rows.  SVG keeps text as text, so
labels are searchable.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib import rc_context  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from .analyses import SubgroupResult, fmt_subgroup_line  # noqa: E402
from .forest_svg import MEASURE_LABEL, axis, svg  # noqa: E402
from .pool import MetaResult, heterogeneity_line, overall_line  # noqa: E402

_MODEL_LABEL = {"MH": "M-H", "PETO": "Peto", "FE": "IV"}


def _method_label(res: MetaResult) -> str:
    base = _MODEL_LABEL.get(res.method, "IV")
    model = "Fixed" if res.model == "fixed" else "Random"
    if res.model == "random" and res.method not in ("MH",):
        model = f"Random ({res.method}{', HKSJ' if res.test != 'z' else ''})"
    return f"{base}, {model}, {res.level:.0f}% CI"


def _measure_label(measure: str) -> str:
    return MEASURE_LABEL.get(measure, "Estimate")


def _fmt_ci(res: MetaResult, est: float, lo: float, hi: float) -> str:
    if res.ratio:
        est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]"


def _rows_for(res: MetaResult, data: dict[str, Any], idx: list[int]) -> list[dict[str, Any]]:
    from scipy import special

    z = float(special.ndtri(0.5 + res.level / 200))
    rows = []
    for i in idx:
        y, v = res.yi[i], res.vi[i]
        row: dict[str, Any] = {"kind": "study", "label": res.slab[i]}
        if all(c in data for c in ("ai", "n1i", "ci", "n2i")):
            row["cells"] = [f"{data['ai'][i]:g}", f"{data['n1i'][i]:g}", f"{data['ci'][i]:g}", f"{data['n2i'][i]:g}"]
        if res.included[i] and math.isfinite(y) and math.isfinite(v):
            se = math.sqrt(v)
            row.update(est=y, lo=y - z * se, hi=y + z * se, weight=float(res.weights[i]))
            row["text"] = _fmt_ci(res, y, y - z * se, y + z * se)
        else:
            row["text"] = "Not estimable"
            row["weight"] = None
        rows.append(row)
    return rows


def _summary_rows(res: MetaResult, label: str, data: dict[str, Any], idx: list[int], scale: float = 100.0) -> list[dict[str, Any]]:
    totals = None
    if all(c in data for c in ("ai", "n1i", "ci", "n2i")):
        totals = [f"{sum(data['ai'][i] for i in idx):g}", f"{sum(data['n1i'][i] for i in idx):g}",
                  f"{sum(data['ci'][i] for i in idx):g}", f"{sum(data['n2i'][i] for i in idx):g}"]
    out = [{"kind": "diamond", "label": f"{label} ({res.level:.0f}% CI)", "est": res.estimate, "lo": res.ci_lower,
            "hi": res.ci_upper, "text": _fmt_ci(res, res.estimate, res.ci_lower, res.ci_upper),
            "weight": scale, "cells": ["", totals[1], "", totals[3]] if totals else None}]
    if totals:
        out.append({"kind": "text", "label": "Total events", "cells": [totals[0], "", totals[2], ""]})
    if res.pi_lower is not None and math.isfinite(res.pi_lower) and res.model == "random" and res.k > 1:
        out.append({"kind": "pi", "label": "Prediction interval", "lo": res.pi_lower, "hi": res.pi_upper,
                    "text": _fmt_ci(res, res.estimate, res.pi_lower, res.pi_upper).split(" ", 1)[1]})
    out.append({"kind": "note", "label": heterogeneity_line(res)})
    out.append({"kind": "note", "label": overall_line(res)})
    return out


def forest_plot(
    data: dict[str, Any],
    result: MetaResult,
    path: str | Path,
    subgroups: SubgroupResult | None = None,
    groups: list[str] | None = None,
    arm_labels: tuple[str, str] = ("Experimental", "Control"),
    favours: tuple[str, str] = ("Favours [control]", "Favours [experimental]"),
    title: str | None = None,
) -> Path:
    """Draw a RevMan-style forest plot to ``path`` (.png or .svg) and return the path."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    n = len(result.slab)
    if subgroups is not None and groups is not None:
        for g, gres in subgroups.groups.items():
            idx = [i for i in range(n) if groups[i] == g]
            rows.append({"kind": "header", "label": g})
            sub_rows = _rows_for(result, data, idx)
            share = sum(result.weights[i] for i in idx if result.included[i]) if result.k else 0.0
            for r, i in zip(sub_rows, idx, strict=True):  # weights relative to the overall analysis
                if r.get("weight") is not None:
                    r["weight"] = float(result.weights[i])
            rows.extend(sub_rows)
            rows.extend(_summary_rows(gres, "Subtotal", data, idx, scale=share))
            rows.append({"kind": "blank"})
        rows.extend(_summary_rows(result, "Total", data, list(range(n))))
        rows.append({"kind": "note", "label": fmt_subgroup_line(subgroups)})
    else:
        rows.extend(_rows_for(result, data, list(range(n))))
        rows.append({"kind": "blank"})
        rows.extend(_summary_rows(result, "Total", data, list(range(n))))

    has_cells = all(c in data for c in ("ai", "n1i", "ci", "n2i"))
    return _draw(rows, has_cells, result, path, arm_labels, favours, title)


def forest_panels(
    panels: list[tuple[str, dict[str, Any], MetaResult | None]],
    path: str | Path,
    arm_labels: tuple[str, str] = ("Experimental", "Control"),
    favours: tuple[str, str] = ("Favours [control]", "Favours [experimental]"),
    title: str | None = None,
) -> Path:
    """Several independent analyses stacked in one RevMan-style figure (e.g. all studies vs her stratum).

    Each panel is ``(heading, data, result)``; weights, totals and heterogeneity are per panel.  A panel with
    ``result=None`` shows its heading and "no study" only.  Arm counts are shown when every panel has them.
    """
    path = Path(path)
    has_cells = all(all(c in d for c in ("ai", "n1i", "ci", "n2i")) for _, d, r in panels if r is not None)
    rows: list[dict[str, Any]] = []
    first: MetaResult | None = None
    for heading, data, res in panels:
        rows.append({"kind": "header", "label": heading})
        if res is None:
            rows.append({"kind": "note", "label": "No study to pool."})
            rows.append({"kind": "blank"})
            continue
        first = first or res
        d = data if has_cells else {k: v for k, v in data.items() if k not in ("ai", "n1i", "ci", "n2i")}
        idx = list(range(len(res.slab)))
        rows.extend(_rows_for(res, d, idx))
        rows.extend(_summary_rows(res, "Subtotal" if len(panels) > 1 else "Total", d, idx))
        rows.append({"kind": "blank"})
    if first is None:
        raise ValueError("no panel has a pooled result")
    return _draw(rows, has_cells, first, path, arm_labels, favours, title)


def _draw(rows: list[dict[str, Any]], has_cells: bool, result: MetaResult, path: Path,
          arm_labels: tuple[str, str], favours: tuple[str, str], title: str | None) -> Path:
    """SVG through the pure-Python back end (the one the reports use), PNG through matplotlib."""
    heads = (_measure_label(result.measure), _method_label(result))
    if path.suffix.lower() == ".svg":
        path.write_text(svg(rows, has_cells, result.ratio, heads, arm_labels, favours, title), encoding="utf-8")
        return path
    return _draw_png(rows, has_cells, result.ratio, heads, path, arm_labels, favours, title)


def _draw_png(rows: list[dict[str, Any]], has_cells: bool, ratio: bool, heads: tuple[str, str], path: Path,
              arm_labels: tuple[str, str], favours: tuple[str, str], title: str | None) -> Path:
    nrows = len(rows) + 3
    height = 0.9 + 0.26 * nrows
    fig = Figure(figsize=(12.5, height), dpi=150)
    text_ax = fig.add_axes((0.01, 0.04, 0.64, 0.92))
    plot_ax = fig.add_axes((0.66, 0.04, 0.32, 0.92), sharey=text_ax)
    text_ax.set_xlim(0, 1)
    text_ax.axis("off")
    top = 1.5
    text_ax.set_ylim(-(len(rows) + 0.5), top + 0.8)

    cols = {"label": 0.0, "e1": 0.36, "n1": 0.44, "e2": 0.53, "n2": 0.61, "w": 0.71, "ci": 0.99}
    if not has_cells:
        cols = {"label": 0.0, "w": 0.71, "ci": 0.99}
    fs = 8.5
    head = {"fontsize": fs, "fontweight": "bold", "va": "center"}
    text_ax.text(cols["label"], top, "Study or Subgroup", ha="left", **head)
    if has_cells:
        text_ax.text((cols["e1"] + cols["n1"]) / 2, top + 0.6, arm_labels[0], ha="center", **head)
        text_ax.text((cols["e2"] + cols["n2"]) / 2, top + 0.6, arm_labels[1], ha="center", **head)
        for key, lab in (("e1", "Events"), ("n1", "Total"), ("e2", "Events"), ("n2", "Total")):
            text_ax.text(cols[key], top, lab, ha="right", **head)
    text_ax.text(cols["w"], top, "Weight", ha="right", **head)
    text_ax.text(cols["ci"], top + 0.6, heads[0], ha="right", **head)
    text_ax.text(cols["ci"], top, heads[1], ha="right", **head)
    xmin, xmax, ticks = axis(rows, ratio)
    plot_ax.set_xlim(xmin, xmax)
    for y, r in enumerate(rows):
        yy = -y
        kind = r["kind"]
        if kind == "blank":
            continue
        if kind == "header":
            text_ax.text(0.0, yy, r["label"], ha="left", va="center", fontsize=fs, fontweight="bold")
            continue
        if kind == "note":
            text_ax.text(0.0, yy, r["label"], ha="left", va="center", fontsize=fs - 0.5)
            continue
        bold = kind == "diamond"
        style = {"fontsize": fs, "va": "center", "fontweight": "bold" if bold else "normal"}
        text_ax.text(cols["label"] + (0.0 if kind != "study" else 0.0), yy, r["label"], ha="left", **style)
        if has_cells and r.get("cells"):
            for key, val in zip(("e1", "n1", "e2", "n2"), r["cells"], strict=True):
                text_ax.text(cols[key], yy, val, ha="right", **style)
        if r.get("weight") is not None and kind in ("study", "diamond"):
            text_ax.text(cols["w"], yy, f"{r['weight']:.1f}%", ha="right", **style)
        if r.get("text"):
            text_ax.text(cols["ci"], yy, r["text"], ha="right", **style)
        if kind == "study" and "est" in r:
            lo, hi = max(r["lo"], xmin), min(r["hi"], xmax)
            plot_ax.plot([lo, hi], [yy, yy], color="k", lw=0.9, solid_capstyle="butt")
            if r["lo"] < xmin:
                plot_ax.annotate("", xy=(xmin, yy), xytext=(xmin + 0.04 * (xmax - xmin), yy), arrowprops={"arrowstyle": "->", "lw": 0.9})
            if r["hi"] > xmax:
                plot_ax.annotate("", xy=(xmax, yy), xytext=(xmax - 0.04 * (xmax - xmin), yy), arrowprops={"arrowstyle": "->", "lw": 0.9})
            if xmin <= r["est"] <= xmax:
                size = 3.0 + 9.0 * math.sqrt(max(r["weight"], 0.0) / 100.0)
                plot_ax.plot([r["est"]], [yy], marker="s", ms=size, color="#1f4e9c", mec="#1f4e9c")
        elif kind == "diamond":
            h = 0.32
            poly = Polygon([(r["lo"], yy), (r["est"], yy + h), (r["hi"], yy), (r["est"], yy - h)], closed=True,
                           facecolor="k", edgecolor="k")
            plot_ax.add_patch(poly)
        elif kind == "pi":
            plot_ax.plot([max(r["lo"], xmin), min(r["hi"], xmax)], [yy, yy], color="#b03030", lw=2.2, alpha=0.8)
    if ratio:
        plot_ax.set_xticks([t for t, _ in ticks])
        plot_ax.set_xticklabels([lab for _, lab in ticks], fontsize=fs - 0.5)
    else:
        plot_ax.tick_params(axis="x", labelsize=fs - 0.5)
    plot_ax.tick_params(axis="y", left=False, labelleft=False)
    for side in ("left", "right", "top"):
        plot_ax.spines[side].set_visible(False)
    last = max(i for i, r in enumerate(rows) if r["kind"] in ("study", "diamond", "pi"))
    y_axis = -(last + 0.8)
    plot_ax.plot([0.0, 0.0], [y_axis, 0.6], color="0.3", lw=0.8)
    plot_ax.spines["bottom"].set_position(("data", y_axis))
    plot_ax.spines["bottom"].set_bounds(xmin, xmax)
    for xf, lab in ((0.25, favours[0]), (0.75, favours[1])):
        plot_ax.text(xmin + xf * (xmax - xmin), y_axis - 1.1, lab, ha="center", va="top", fontsize=fs - 0.5)
    if title:
        fig.suptitle(title, fontsize=fs + 2, x=0.01, ha="left")
    with rc_context({"font.family": "DejaVu Sans"}):
        fig.savefig(path, format="png", bbox_inches="tight")
    return path
