"""Command line: ``rplnav evidence pool FILE.csv --measure OR --method REML ...`` and
``rplnav evidence THERAPY [--for patient.yaml] [--plot out.png|out.svg] [--format json|text]``.

``app`` is a Typer sub-application (mounted by the main CLI as ``rplnav evidence``).  A first argument that
is not a command name is a therapy id (``rplnav evidence ivig`` = ``rplnav evidence show ivig``).  Input
problems are reported on stderr with exit code 2, never a traceback.  ``--format json`` prints exactly one
JSON document on stdout (``pool``: analysis scale, plus ``exp`` back-transforms for ratio measures;
``show``: ratio scale).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .csvio import CSVError, read_csv
from .pool import METHODS, PROFILES, MetaResult, fmt_effect, heterogeneity_line, meta_analysis, overall_line


class _TherapyGroup(TyperGroup):
    """Known command names win; any other first word is a therapy id for ``show``."""

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_TherapyGroup, help="Meta-analysis (metafor / RevMan 5 / RevMan Web reproducible) and the "
                  "knowledge base's studies pooled for a patient's stratum.", no_args_is_help=True, add_completion=False)

_RE_NEEDS_TWO = {m for m in METHODS if m not in ("FE", "MH", "PETO")}


@app.callback()
def _main() -> None:
    """Meta-analysis tools validated against R's metafor."""


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):
        return _clean(obj.item())
    return obj


def _text_report(data: dict[str, Any], res: MetaResult, sub: Any) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    con = Console(file=buf, width=120, force_terminal=False, color_system=None)
    counts = all(c in data for c in ("ai", "n1i", "ci", "n2i"))
    tab = Table(title=f"{res.measure} — {res.method} ({res.model}), profile {res.profile}", show_lines=False)
    tab.add_column("Study")
    if counts:
        for lab in ("Events 1", "Total 1", "Events 2", "Total 2"):
            tab.add_column(lab, justify="right")
    tab.add_column("Weight", justify="right")
    tab.add_column(f"Effect [{res.level:.0f}% CI]", justify="right")
    from scipy import special

    z = float(special.ndtri(0.5 + res.level / 200))
    for i, s in enumerate(res.slab):
        cells = [f"{data[c][i]:g}" for c in ("ai", "n1i", "ci", "n2i")] if counts else []
        if res.included[i] and math.isfinite(res.yi[i]):
            se = math.sqrt(res.vi[i])
            eff = fmt_effect(res.yi[i], res.yi[i] - z * se, res.yi[i] + z * se, ratio=res.ratio)
            w = f"{res.weights[i]:.1f}%"
        else:
            eff, w = "Not estimable", ""
        tab.add_row(s, *cells, w, eff)
    tab.add_row("Total", *([""] * 4 if counts else []), "100.0%", fmt_effect(res.estimate, res.ci_lower, res.ci_upper, ratio=res.ratio))
    con.print(tab)
    con.print(heterogeneity_line(res))
    con.print(overall_line(res))
    if res.model == "random":
        if res.tau2_ci:
            con.print(f"Tau² = {res.tau2:.4g} (Q-profile {res.level:.0f}% CI {res.tau2_ci[0]:.4g} to {res.tau2_ci[1]:.4g}); "
                      f"I² (from tau²) = {res.i2:.1f}%; I² (from Q) = {res.i2_q:.1f}%")
        if res.pi_lower is not None and math.isfinite(res.pi_lower):
            lo, hi = (math.exp(res.pi_lower), math.exp(res.pi_upper)) if res.ratio else (res.pi_lower, res.pi_upper)
            con.print(f"Prediction interval: {lo:.2f} to {hi:.2f}")
    excluded = [f"{s} ({r})" for s, r in zip(res.slab, res.reasons, strict=True) if r]
    if excluded:
        con.print("Not estimable: " + "; ".join(excluded))
    if sub is not None:
        from .analyses import fmt_subgroup_line

        for g, r in sub.groups.items():
            con.print(f"Subgroup {g}: k={r.k}, {fmt_effect(r.estimate, r.ci_lower, r.ci_upper, ratio=r.ratio)}; {heterogeneity_line(r)}")
        con.print(fmt_subgroup_line(sub))
    return buf.getvalue()


@app.command("pool")
def pool_cmd(
    file: Annotated[Path, typer.Argument(help="CSV with study,ai,n1i,ci,n2i or study,yi,vi")],
    measure: Annotated[str, typer.Option("--measure", help="OR, RR or RD")] = "OR",
    method: Annotated[str | None, typer.Option("--method", help="FE, MH, PETO, DL, REML, ML, PM, HE, SJ, EB (also HS, HSk, PMM); default from profile")] = None,
    hksj: Annotated[bool, typer.Option("--hksj", help="Knapp-Hartung (HKSJ) CI and t test")] = False,
    random: Annotated[bool, typer.Option("--random", help="with --method MH: RevMan 5 M-H random effects")] = False,
    profile: Annotated[str, typer.Option("--profile", help="revman5, revman-web or metafor")] = "metafor",
    subgroup: Annotated[str | None, typer.Option("--subgroup", help="column holding subgroup labels")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or text")] = "json",
    plot: Annotated[Path | None, typer.Option("--plot", help="write a forest plot (.png or .svg)")] = None,
    level: Annotated[float, typer.Option("--level", help="confidence level in percent")] = 95.0,
) -> None:
    """Pool the studies in FILE and print the result."""
    measure = measure.upper()
    if measure not in ("OR", "RR", "RD"):
        _fail(f"option --measure: {measure!r} is not one of OR, RR, RD")
    if profile not in PROFILES:
        _fail(f"option --profile: {profile!r} is not one of {', '.join(PROFILES)}")
    meth = (method or PROFILES[profile]["method"]).upper()
    meth = "HSk" if meth == "HSK" else meth
    if meth not in METHODS:
        _fail(f"option --method: {method!r} is not one of {', '.join(METHODS)}")
    if fmt not in ("json", "text"):
        _fail(f"option --format: {fmt!r} is not one of json, text")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        _fail(f"option --plot: {str(plot)!r} must end in .png or .svg")
    if not 0 < level < 100:
        _fail(f"option --level: {level} must be between 0 and 100")
    try:
        data = read_csv(file, subgroup=subgroup)
    except CSVError as exc:
        _fail(f"{file}: {exc}")
    counts = "ai" in data
    if meth in ("MH", "PETO") and not counts:
        _fail(f"{file}: column 'ai': method {meth} needs 2x2 counts (study,ai,n1i,ci,n2i)")
    if meth == "PETO" and measure != "OR":
        _fail("option --measure: Peto's method estimates an odds ratio; use --measure OR")
    needs_two = meth in _RE_NEEDS_TWO or random or hksj
    try:
        res = meta_analysis(data, measure=measure, method=meth, profile=profile, hksj=hksj, random=random, level=level)
    except ValueError as exc:
        _fail(f"{file}: {exc}")
    if needs_two and res.k < 2:
        rows = ", ".join(str(i + 1) for i in range(len(res.slab)) if res.included[i]) or "none"
        _fail(f"{file}: column 'study': method {meth} needs at least 2 estimable studies, found {res.k} (data rows: {rows})")
    sub = None
    if subgroup is not None:
        from .analyses import subgroup_analysis

        try:
            sub = subgroup_analysis(data, data["subgroup"], measure=measure, method=meth, profile=profile, hksj=hksj, random=random, level=level)
        except ValueError as exc:
            _fail(f"{file}: column {subgroup!r}: {exc}")
    if plot is not None:
        from .forest import forest_plot

        try:
            forest_plot(data, res, plot, subgroups=sub, groups=data.get("subgroup"))
        except OSError as exc:
            _fail(f"option --plot: cannot write {str(plot)!r}: {exc.__class__.__name__}")
    if fmt == "json":
        out = res.to_dict()
        if sub is not None:
            out.update(sub.to_dict())
        if plot is not None:
            out["plot"] = str(plot)
        typer.echo(json.dumps(_clean(out), indent=2, allow_nan=False))
    else:
        typer.echo(_text_report(data, res, sub), nl=False)


# ---------------------------------------------------------------------------------------------------------
# rplnav evidence THERAPY: all studies vs the studies matching her stratum


def _fmt_pooled(p: dict[str, Any] | None, measure: str) -> str:
    if p is None:
        return "no study"
    if p["n_complete"]:
        n = f"n = {p['n']}"
    else:
        n = f"n > {p['n']} (a row gives no arm sizes)" if p["n"] else "n not given (no arm sizes)"
    txt = f"{measure} {p['estimate']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}], k = {p['k']}, {n}"
    if p["single_study"]:
        return txt + " (a single study)"
    txt += f"; tau² = {p['tau2']:.3g}, I² = {p['i2']:.0f}%, Q = {p['q']:.2f} (df {p['q_df']}, p = {p['q_pvalue']:.3g})"
    if p.get("pi"):
        txt += f"; prediction interval {p['pi'][0]:.2f} to {p['pi'][1]:.2f}"
    return txt


def _show_text(rep: dict[str, Any], patient_id: str | None) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    con = Console(file=buf, width=140, force_terminal=False, color_system=None, markup=False, highlight=False)
    m = rep["measure"]
    con.print(f"{rep['name']} ({rep['therapy']}): studies in the knowledge base"
              + (f", matched to patient {patient_id}" if patient_id else ""))
    con.print(f"Method: {rep['method']}")
    if not rep["groups"]:
        con.print("No trial rows with numbers: nothing to pool (meta-analyses below are context).")
    for g in rep["groups"]:
        con.print(f"\n[{g['outcome_label']}, {g['design']} studies]")
        con.print(f"  All studies:        {_fmt_pooled(g['all'], m)}")
        if rep["patient_matched"]:
            con.print(f"  Matching her:       {_fmt_pooled(g['stratum'], m)}")
            if g["stratum"] is None:
                con.print("                      no study of this outcome matches her enrolment and timing")
            if g.get("stratum_text"):
                con.print(f"  In words:           {g['stratum_text']}")
            for u in g["unmatched"]:
                con.print(f"  Cannot be matched:  {u['label']} - {u['reason']}")
            for u in g["not_matching"]:
                con.print(f"  Not her stratum:    {u['label']} - {u['reason']}")
        for u in g["not_pooled"]:
            con.print(f"  Not pooled:         {u['label']} - {u['reason']}")
    tab = Table(title="Study rows", show_lines=False)
    for col in ("Study", "Design", "Outcome", "Start", "Effect", "Matches her", "Verified"):
        tab.add_column(col)
    for st in rep["studies"]:
        eff = st.get("effect")
        est = st.get("estimate")
        if est and (st["design"] in ("meta_analysis", "ipd_meta_analysis") or not eff):
            e = f"{est['measure']} {est['value']:.2f} [{est['ci_lower']:.2f}, {est['ci_upper']:.2f}] (published)"
        elif eff:
            e = f"{eff['measure']} {eff['estimate']:.2f} [{eff['ci'][0]:.2f}, {eff['ci'][1]:.2f}]"
        else:
            e = "not estimable"
        match = st.get("match")
        mv = "" if match is None else {True: "yes", False: "no", None: "unknown"}[match["value"]]
        if st["design"] in ("meta_analysis", "ipd_meta_analysis"):
            mv = f"{mv} (context)".strip()
        start = st["start"] + (f" (by {st['start_ga']})" if st["start_ga"] else "")
        tab.add_row(st["label"], st["design"], st["outcome"], start, e, mv, "yes" if st["source"]["verified"] else "no")
    con.print(tab)
    v = rep["verified"]
    con.print(f"{v['verified']} of {v['rows']} rows read in the primary source; for the others, each row's source "
              "says where its numbers were read (a review's table, the seed slides) in the JSON output.")
    return buf.getvalue()


def _stratum_plot(index: Any, rep: dict[str, Any], group: dict[str, Any], path: Path) -> None:
    from .effects import EffectSizes
    from .forest import forest_panels
    from .pool import rma_uni

    def panel(ids: list[str]) -> tuple[dict[str, Any], Any]:
        rows = [index.rows[i] for i in ids]
        if not rows:
            return {}, None
        labels = [r.study.label if len(r.study.label) <= 36 else r.study.label[:35] + "…" for r in rows]
        data: dict[str, Any] = {"study": labels, "yi": [r.yi for r in rows], "vi": [r.vi for r in rows]}
        if all(r.study.counts is not None for r in rows):
            for key in ("ai", "n1i", "ci", "n2i"):
                data[key] = [float(getattr(r.study.counts, key)) for r in rows]
        es = EffectSizes(rep["measure"], __import__("numpy").array(data["yi"], dtype=float),
                         __import__("numpy").array(data["vi"], dtype=float), labels, [None] * len(rows))
        return data, rma_uni(es, method="REML")

    all_ids = group["all"]["studies"] if group["all"] else []
    her_ids = group["stratum"]["studies"] if group.get("stratum") else []
    panels = [(f"All studies (k = {len(all_ids)})", *panel(all_ids))]
    if rep["patient_matched"]:
        panels.append((f"Studies matching her enrolment and timing (k = {len(her_ids)})", *panel(her_ids)))
    forest_panels(panels, path, arm_labels=("Treatment", "Control"), favours=("Favours control", "Favours treatment"),
                  title=f"{rep['name']}: {group['outcome_label']} ({group['design']} studies)")


@app.command("show")
def show_cmd(
    therapy: Annotated[str, typer.Argument(help="therapy id, e.g. ivig (also: rplnav evidence ivig)")],
    patient: Annotated[Path | None, typer.Option("--for", help="patient file (YAML or JSON, or a FHIR R4 Bundle): pool the studies matching her")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="forest plot, all studies vs her stratum (.png or .svg)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    measure: Annotated[str, typer.Option("--measure", help="RR (default) or OR")] = "RR",
    outcome: Annotated[str | None, typer.Option("--outcome", help="outcome to plot (default: the first analysis)")] = None,
) -> None:
    """All studies of a therapy vs the studies whose enrolment and start of treatment match her, both pooled."""
    from rplnav.knowledge.load import default_knowledge

    from .stratify import OUTCOMES, StudyIndex, engine_pooler

    kb = default_knowledge()
    tid = therapy.strip().lower().replace("-", "_")
    if tid not in kb.therapies:
        import difflib

        close = difflib.get_close_matches(tid, list(kb.therapies), n=5, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(kb.therapies))}"
        _fail(f"therapy {therapy!r} is not in the knowledge base{hint}")
    if fmt not in ("json", "text"):
        _fail(f"option --format: {fmt!r} is not one of json, text")
    measure = measure.upper()
    if measure not in ("RR", "OR"):
        _fail(f"option --measure: {measure!r} is not one of RR, OR")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        _fail(f"option --plot: {str(plot)!r} must end in .png or .svg")
    if outcome is not None and outcome not in OUTCOMES:
        _fail(f"option --outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    facts = None
    patient_id = None
    if patient is not None:
        from rplnav.assess import Engine
        from rplnav.patient import InputError, read_text
        from rplnav.usecase import read_input

        try:
            text, name = read_text(str(patient))
            parsed = read_input(text, None, kb, name).parsed  # a patient file or a FHIR R4 Bundle
        except InputError as exc:
            for problem in exc.problems:
                typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(code=2) from None
        facts = Engine(kb).facts(parsed.patient)
        patient_id = parsed.patient.id
    index = StudyIndex(kb, measure=measure, pooler=engine_pooler)
    rep = index.report(tid, facts)
    rep["patient_id"] = patient_id
    if plot is not None:
        groups = [g for g in rep["groups"] if outcome is None or g["outcome"] == outcome]
        if not groups or groups[0]["all"] is None:
            _fail(f"option --plot: no pooled analysis{' of ' + outcome if outcome else ''} for {tid}")
        try:
            _stratum_plot(index, rep, groups[0], plot)
        except OSError as exc:
            _fail(f"option --plot: cannot write {str(plot)!r}: {exc.__class__.__name__}")
        rep["plot"] = str(plot)
    if fmt == "json":
        typer.echo(json.dumps(_clean(rep), indent=2, allow_nan=False, ensure_ascii=False))
    else:
        typer.echo(_show_text(rep, patient_id), nl=False)
        if plot is not None:
            typer.echo(f"Forest plot: {plot}")


@app.command("reproduce")
def reproduce_cmd(
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Published meta-analyses re-computed from the encoded trials: printed vs reproduced, k, and why any differ."""
    from rplnav.knowledge.load import default_knowledge

    from .reproduce import render_table, reproduce_all

    if fmt not in ("text", "json"):
        _fail(f"--format must be text or json, not {fmt!r}")
    rows = reproduce_all(default_knowledge())
    if fmt == "json":
        summary = {"reproductions": len(rows), "matching": sum(r["match"] for r in rows),
                   "reviews": len({r["review"] for r in rows})}
        typer.echo(json.dumps(_clean({"summary": summary, "reproductions": rows}), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_table(rows), nl=False)
