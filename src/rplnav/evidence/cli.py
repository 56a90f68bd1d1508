"""Command line: ``rplnav evidence pool FILE.csv --measure OR --method REML ...``.

``app`` is a Typer sub-application (mounted by the main CLI as ``rplnav evidence``).  Input problems are
reported as one line on stderr with exit code 2, never a traceback.  ``--format json`` prints exactly one
JSON document on stdout (analysis scale, plus ``exp`` back-transforms for ratio measures).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from .csvio import CSVError, read_csv
from .pool import METHODS, PROFILES, MetaResult, fmt_effect, heterogeneity_line, meta_analysis, overall_line

app = typer.Typer(help="Meta-analysis (metafor / RevMan 5 / RevMan Web reproducible).", no_args_is_help=True, add_completion=False)

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
